import CBLAS
import Foundation
import SqueezeCore

/// What one worker keeps between exchanges, per parameter tensor: the error memory (DGC: the
/// accumulated velocity), EControl's tracking term h, DGC's momentum.
public struct WorkerMemory: Sendable, Equatable {
    public var memory: [[Float]]
    public var tracking: [[Float]]
    public var momentum: [[Float]]

    public init(counts: [Int]) {
        memory = counts.map { [Float](repeating: 0, count: $0) }
        tracking = memory
        momentum = memory
    }
}

/// One simulated data-parallel exchange: W workers each compress their gradient with their own memory,
/// the messages are averaged (PowerSGD's factors in compressed form), the server optionally
/// re-compresses the average with its own error memory and broadcasts it. Every bit sent is counted:
/// `up` is what all workers send, `down` what all workers receive.
public struct GradientExchange: Sendable {
    public let spec: CompressorSpec?
    public let server: CompressorSpec?
    public let workers: Int
    public let shapes: [[Int]]
    public var states: [WorkerMemory]
    public var serverMemory: WorkerMemory
    /// PowerSGD's warm-started factors per tensor (empty for tensors sent dense).
    public var p: [[Float]], q: [[Float]]
    /// Exchanges done, and those PowerSGD compressed (its alternation counts these).
    public var exchanges = 0
    public var compressedSteps = 0
    /// The level each tensor is compressed at (the spec's own unless L-GreCo chose others).
    public var levels: [Double]
    /// L-GreCo: the averaged gradients summed since the last solve, and the solves so far.
    public var accumulated: [[Float]]
    public var solves: [[Double]] = []

    public struct Outcome: Sendable {
        public var average: [[Float]]
        public var up = MessageBits()
        public var down = 0
        /// Worker 0's message for each tensor.
        public var messages: [TensorMessage] = []
    }

    public init(spec: CompressorSpec?, server: CompressorSpec? = nil, workers: Int, shapes: [[Int]]) throws {
        guard workers >= 1 else { throw CoreError.invalidArgument("workers must be ≥ 1, got \(workers)") }
        try spec?.validate()
        try server?.validate()
        if let server, server.isLinear || server.method == .dgc || server.feedback != .ef && server.feedback != .none {
            throw CoreError.invalidArgument(
                "the server compressor must be topk, randk, threshold, sign or qsgd with or without error feedback")
        }
        self.spec = spec
        self.server = server
        self.workers = workers
        self.shapes = shapes
        let counts = shapes.map { $0.reduce(1, *) }
        states = Array(repeating: WorkerMemory(counts: counts), count: workers)
        serverMemory = WorkerMemory(counts: counts)
        p = shapes.map { _ in [] }
        q = p
        levels = shapes.map { _ in spec?.uniformLevel ?? 1 }
        accumulated = counts.map { [Float](repeating: 0, count: $0) }
    }

    var counts: [Int] { shapes.map { $0.reduce(1, *) } }

    /// Whether tensor `l` is compressed by PowerSGD at rank `r` (a matrix view [shape₀, rest] with
    /// numel / (½·r·(n+m)) above the least rate).
    func powerCompresses(_ l: Int, rank: Int) -> Bool {
        let s = shapes[l]
        guard let spec, s.count >= 2 else { return false }
        let n = s[0], m = counts[l] / max(n, 1), r = min(rank, n, m)
        guard r >= 1 else { return false }
        return Double(n * m) / (0.5 * Double(r * (n + m))) > spec.minCompressionRate
    }

    /// Exchanges `grads[w][l]` (worker w's gradient of tensor l) with averaging weights (summing to 1).
    public mutating func exchange(_ grads: [[[Float]]], weights: [Float], epoch: Int, rng: inout RandomGenerator) throws -> Outcome {
        guard grads.count == workers, weights.count == workers else {
            throw CoreError.invalidArgument("expected \(workers) workers' gradients, got \(grads.count)")
        }
        let counts = self.counts
        var grads = grads
        if let clip = spec?.clip, spec?.method == .dgc { Self.clip(&grads, to: clip / Double(workers).squareRoot()) }
        var out = Outcome(average: counts.map { [Float](repeating: 0, count: $0) })
        if spec?.every ?? 0 > 0 {
            for l in 0..<counts.count { for w in 0..<workers { axpy(weights[w], grads[w][l], &accumulated[l]) } }
        }
        let powerActive = spec?.method == .powersgd && exchanges >= spec!.startAfter
        if powerActive && compressedSteps == 0 { initFactors(&rng) }
        for l in 0..<counts.count {
            try exchangeTensor(l, grads, weights, epoch: epoch, powerActive: powerActive, &out, &rng)
        }
        if powerActive { compressedSteps += 1 }
        exchanges += 1
        if let spec, spec.every > 0, exchanges % spec.every == 0 { resolveLevels() }
        return out
    }

    private mutating func exchangeTensor(
        _ l: Int, _ grads: [[[Float]]], _ weights: [Float], epoch: Int, powerActive: Bool, _ out: inout Outcome,
        _ rng: inout RandomGenerator
    ) throws {
        let d = counts[l]
        let dense = { (g: [Float]) -> TensorMessage in
            var b = MessageBits()
            b.dense = 32 * g.count
            return TensorMessage(decoded: g, bits: b)
        }
        guard let spec, spec.method != .none else {
            for w in 0..<workers { axpy(weights[w], grads[w][l], &out.average[l]) }
            out.up.dense += workers * 32 * d
            out.messages.append(dense(grads[0][l]))
            try finishDown(l, &out, union: nil, factorBits: nil, &rng)
            return
        }
        if spec.method == .powersgd {
            let r = min(Int(levels[l]), shapes[l].first ?? 1, d / max(shapes[l].first ?? 1, 1))
            if powerActive && powerCompresses(l, rank: Int(levels[l])) {
                let bits = powerRound(l, rank: r, grads, weights, &out.average[l])
                var b = MessageBits()
                b.factors = bits
                out.up = out.up + MessageBits.scaled(b, workers)
                out.messages.append(TensorMessage(decoded: out.average[l], bits: b))
                try finishDown(l, &out, union: nil, factorBits: bits, &rng)
            } else {
                // Sent dense; what was left in the memories goes with it (the reference's all-reduce clears them).
                for w in 0..<workers {
                    var g = grads[w][l]
                    if spec.feedback == .ef { axpy(1, states[w].memory[l], &g) }
                    states[w].memory[l] = [Float](repeating: 0, count: d)
                    axpy(weights[w], g, &out.average[l])
                }
                out.up.dense += workers * 32 * d
                out.messages.append(dense(grads[0][l]))
                try finishDown(l, &out, union: nil, factorBits: nil, &rng)
            }
            return
        }
        if spec.method == .dgc && shapes[l].count < 2 {
            // Vectors (biases) are sent dense; the momentum is applied to their average.
            var avg = [Float](repeating: 0, count: d)
            for w in 0..<workers { axpy(weights[w], grads[w][l], &avg) }
            let mu = Float(spec.momentum)
            var mmt = serverMemory.momentum[l]
            for i in 0..<d {
                if spec.nesterov {
                    mmt[i] = (mmt[i] + avg[i]) * mu
                    out.average[l][i] = mmt[i] + avg[i]
                } else {
                    mmt[i] = mu * mmt[i] + avg[i]
                    out.average[l][i] = mmt[i]
                }
            }
            serverMemory.momentum[l] = mmt
            out.up.dense += workers * 32 * d
            out.messages.append(dense(grads[0][l]))
            try finishDown(l, &out, union: nil, factorBits: nil, &rng)
            return
        }
        // The indices any worker sent (for the down link): a bitmap, counted as it fills.
        var sent = spec.isSparse && workers > 1 ? [UInt64](repeating: 0, count: (d + 63) / 64) : []
        var union = 0
        for w in 0..<workers {
            let msg: TensorMessage
            var contribution: [Float]
            switch spec.feedback {
            case .econtrol(let eta):
                var x = grads[w][l]
                let e = states[w].memory[l], h = states[w].tracking[l]
                for i in 0..<d { x[i] = Float(eta) * e[i] + x[i] - h[i] }
                msg = try compress(x, l, level: levels[l], epoch: epoch, &rng)
                var e2 = e, h2 = h
                for i in 0..<d {
                    e2[i] = e[i] + grads[w][l][i] - h[i] - msg.decoded[i]
                    h2[i] = h[i] + msg.decoded[i]
                }
                states[w].memory[l] = e2
                states[w].tracking[l] = h2
                contribution = h2
            case .ef, .none:
                if spec.method == .dgc {
                    msg = dgcStep(w, l, grads[w][l], ratio: spec.dgcRatio(epoch: epoch), &rng)
                } else {
                    var x = grads[w][l]
                    if spec.feedback == .ef { axpy(1, states[w].memory[l], &x) }
                    msg = try compress(x, l, level: levels[l], epoch: epoch, &rng)
                    if spec.feedback == .ef {
                        axpy(-1, msg.decoded, &x)
                        states[w].memory[l] = x
                    }
                }
                contribution = msg.decoded
            }
            axpy(weights[w], contribution, &out.average[l])
            out.up = out.up + msg.bits
            if w == 0 { out.messages.append(msg) }
            if spec.isSparse {
                if workers == 1 {
                    union = msg.indices.count
                } else {
                    sent.withUnsafeMutableBufferPointer { bits in
                        for i in msg.indices {
                            let (word, bit) = (i >> 6, UInt64(1) << UInt64(i & 63))
                            if bits[word] & bit == 0 {
                                bits[word] |= bit
                                union += 1
                            }
                        }
                    }
                }
            }
        }
        try finishDown(l, &out, union: spec.isSparse ? union : nil, factorBits: nil, &rng)
    }

    /// The down link for tensor l: the server's re-compression of the average, or the average itself
    /// (sparse as (index, value) pairs when that is smaller, PowerSGD's averaged factor).
    private mutating func finishDown(_ l: Int, _ out: inout Outcome, union: Int?, factorBits: Int?, _ rng: inout RandomGenerator) throws {
        let d = counts[l]
        if let server {
            var x = out.average[l]
            if server.feedback == .ef { axpy(1, serverMemory.memory[l], &x) }
            let msg = try compress(x, l, level: server.uniformLevel, epoch: 0, &rng, spec: server)
            if server.feedback == .ef {
                axpy(-1, msg.decoded, &x)
                serverMemory.memory[l] = x
            }
            out.average[l] = msg.decoded
            out.down += workers * msg.bits.total
        } else if let factorBits {
            out.down += workers * factorBits
        } else if let union {
            out.down += workers * min(union * (32 + Compressors.indexBits(d)), 32 * d)
        } else {
            out.down += workers * 32 * d
        }
    }

    /// One of the element-wise compressors applied to `x` (tensor l) at `level`.
    func compress(
        _ x: [Float], _ l: Int, level: Double, epoch: Int, _ rng: inout RandomGenerator, spec given: CompressorSpec? = nil
    ) throws -> TensorMessage {
        let spec = given ?? self.spec!
        let d = x.count
        switch spec.method {
        case .topk:
            return Compressors.sparse(x, Compressors.topK(x, Self.kept(d, level)))
        case .randk:
            return Compressors.sparse(x, Compressors.randomSubset(d, Self.kept(d, level), &rng))
        case .threshold:
            return Compressors.sparse(x, Compressors.threshold(x, Float(spec.threshold)))
        case .sign:
            return Compressors.sign(x, chunk: spec.chunk)
        case .qsgd:
            let u = (0..<d).map { _ in rng.uniformFloat() }
            return Compressors.qsgd(x, levels: Int(level), bucket: spec.bucket, uniforms: u)
        case .none, .powersgd, .dgc:
            throw CoreError.invalidArgument("\(spec.method.rawValue) is not an element-wise compressor")
        }
    }

    /// Entries kept at `ratio` of d: ⌈ratio·d⌉, at least 1.
    public static func kept(_ d: Int, _ ratio: Double) -> Int { d == 0 ? 0 : min(d, max(1, Int((ratio * Double(d)).rounded(.up)))) }

    /// DGC for worker w, tensor l: momentum correction into the velocity, sparsify, momentum-factor masking.
    private mutating func dgcStep(_ w: Int, _ l: Int, _ g: [Float], ratio: Double, _ rng: inout RandomGenerator) -> TensorMessage {
        let spec = self.spec!
        let plan = Compressors.dgcPlan(count: g.count, ratio: ratio, sampleRatio: spec.sampleRatio)
        let start = plan.stride > 1 ? rng.integer(below: plan.stride) : 0
        var mmt = states[w].momentum[l], vec = states[w].memory[l]
        states[w].momentum[l] = []
        states[w].memory[l] = []
        let msg = Compressors.dgcStep(
            g, momentum: &mmt, velocity: &vec, mu: Float(spec.momentum), nesterov: spec.nesterov,
            ratio: ratio, sampleStart: start, sampleRatio: spec.sampleRatio, keepResidual: spec.feedback == .ef)
        states[w].momentum[l] = mmt
        states[w].memory[l] = vec
        return msg
    }

    static func clip(_ grads: inout [[[Float]]], to maxNorm: Double) {
        for w in 0..<grads.count {
            let norm = grads[w].reduce(0.0) { $0 + $1.reduce(0.0) { $0 + Double($1) * Double($1) } }.squareRoot()
            guard norm > maxNorm, norm > 0 else { continue }
            let s = Float(maxNorm / (norm + 1e-6))
            for l in 0..<grads[w].count { for i in 0..<grads[w][l].count { grads[w][l][i] *= s } }
        }
    }
}

func axpy(_ a: Float, _ x: [Float], _ y: inout [Float]) {
    x.withUnsafeBufferPointer { xs in y.withUnsafeMutableBufferPointer { ys in for i in 0..<ys.count { ys[i] += a * xs[i] } } }
}

extension MessageBits {
    static func scaled(_ b: MessageBits, _ k: Int) -> MessageBits {
        var r = MessageBits()
        r.values = b.values * k
        r.indices = b.indices * k
        r.signs = b.signs * k
        r.levels = b.levels * k
        r.scales = b.scales * k
        r.factors = b.factors * k
        r.dense = b.dense * k
        return r
    }
}

extension Compressors {
    /// DGC's per-worker step (synxlin `Memory.compensate` + `_sparsify` + `Memory.update`):
    /// mmt ← μ·mmt + g, vec ← vec + mmt (Nesterov: mmt ← (mmt + g)·μ, vec ← vec + mmt + g); send the
    /// selected entries of vec; clear them in vec and mmt. Without `keepResidual` the unsent velocity is dropped.
    public static func dgcStep(
        _ g: [Float], momentum mmt: inout [Float], velocity vec: inout [Float], mu: Float, nesterov: Bool, ratio: Double,
        sampleStart: Int, sampleRatio: Double = 0.01, keepResidual: Bool = true
    ) -> TensorMessage {
        for i in 0..<g.count {
            if nesterov {
                mmt[i] = (mmt[i] + g[i]) * mu
                vec[i] += mmt[i] + g[i]
            } else {
                mmt[i] = mu * mmt[i] + g[i]
                vec[i] += mmt[i]
            }
        }
        let idx = ratio >= 1 ? Array(0..<g.count) : dgcSelect(vec, ratio: ratio, sampleStart: sampleStart, sampleRatio: sampleRatio)
        let msg = sparse(vec, idx)
        for i in idx {
            vec[i] = 0
            mmt[i] = 0
        }
        if !keepResidual { for i in 0..<vec.count { vec[i] = 0 } }
        return msg
    }
}
