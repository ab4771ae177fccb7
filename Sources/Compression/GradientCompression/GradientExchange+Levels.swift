import CBLAS
import Foundation
import SqueezeCore

// PowerSGD's round and L-GreCo's per-layer levels.
extension GradientExchange {
    /// Draws PowerSGD's starting factors: every compressed tensor's P (N(0,1), [n × r]), then every Q ([m × r]);
    /// factors already set are kept.
    mutating func initFactors(_ rng: inout RandomGenerator) {
        let counts = self.counts
        for l in 0..<shapes.count where powerCompresses(l, rank: Int(levels[l])) && p[l].isEmpty {
            let n = shapes[l][0], r = min(Int(levels[l]), n, counts[l] / n)
            p[l] = (0..<(n * r)).map { _ in Float(rng.normal()) }
        }
        for l in 0..<shapes.count where powerCompresses(l, rank: Int(levels[l])) && q[l].isEmpty {
            let n = shapes[l][0], m = counts[l] / n, r = min(Int(levels[l]), n, m)
            q[l] = (0..<(m * r)).map { _ in Float(rng.normal()) }
        }
    }

    /// One half power iteration for tensor l (epfml/powersgd `BasicPowerSGD.aggregate`, one iteration
    /// per step): even steps orthogonalise P and all-reduce Q = Σ wᵢ Mᵢᵀ P, odd steps orthogonalise Q and
    /// all-reduce P = Σ wᵢ Mᵢ Q; the average is P Qᵀ and each memory keeps Mᵢ − P Qᵀ (with error feedback).
    /// Returns the bits each worker sends.
    mutating func powerRound(_ l: Int, rank r: Int, _ grads: [[[Float]]], _ weights: [Float], _ average: inout [Float]) -> Int {
        let n = shapes[l][0], m = counts[l] / n
        if p[l].count != n * r || q[l].count != m * r {
            // A new rank (L-GreCo): fresh factors for this tensor.
            var rng = RandomGenerator(seed: UInt64(l * 7919 + r))
            p[l] = (0..<(n * r)).map { _ in Float(rng.normal()) }
            q[l] = (0..<(m * r)).map { _ in Float(rng.normal()) }
        }
        let ef = spec?.feedback == .ef
        let buffers = (0..<workers).map { w -> [Float] in
            var x = grads[w][l]
            if ef { axpy(1, states[w].memory[l], &x) }
            return x
        }
        let even = compressedSteps % 2 == 0
        var P = p[l], Q = q[l]
        if even {
            Compressors.orthogonalize(&P, rows: n, rank: r)
            Q = [Float](repeating: 0, count: m * r)
            for w in 0..<workers { Self.gemm(buffers[w], P, &Q, m: m, n: r, k: n, transA: true, alpha: weights[w], lda: m) }
        } else {
            Compressors.orthogonalize(&Q, rows: m, rank: r)
            P = [Float](repeating: 0, count: n * r)
            for w in 0..<workers { Self.gemm(buffers[w], Q, &P, m: n, n: r, k: m, transA: false, alpha: weights[w], lda: m) }
        }
        p[l] = P
        q[l] = Q
        var approx = [Float](repeating: 0, count: n * m)
        P.withUnsafeBufferPointer { pp in
            Q.withUnsafeBufferPointer { qq in
                approx.withUnsafeMutableBufferPointer { a in
                    cblas_sgemm(
                        CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(m), Int32(r), 1, pp.baseAddress, Int32(r), qq.baseAddress,
                        Int32(r), 0, a.baseAddress, Int32(m))
                }
            }
        }
        for w in 0..<workers {
            if ef {
                var e = buffers[w]
                axpy(-1, approx, &e)
                states[w].memory[l] = e
            } else {
                states[w].memory[l] = [Float](repeating: 0, count: n * m)
            }
        }
        average = approx
        return 32 * r * (even ? m : n)
    }

    /// C += alpha·op(A)·B with A [k × m] when transposed (else [m × k]), B [k × n], all row-major.
    static func gemm(_ a: [Float], _ b: [Float], _ c: inout [Float], m: Int, n: Int, k: Int, transA: Bool, alpha: Float, lda: Int) {
        a.withUnsafeBufferPointer { aa in
            b.withUnsafeBufferPointer { bb in
                c.withUnsafeMutableBufferPointer { cc in
                    cblas_sgemm(
                        CblasRowMajor, transA ? CblasTrans : CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k), alpha,
                        aa.baseAddress,
                        Int32(lda), bb.baseAddress, Int32(n), 1, cc.baseAddress, Int32(n))
                }
            }
        }
    }

    /// L-GreCo: for each tensor and candidate level, the compression error ‖A − C(A)‖² of the gradients
    /// accumulated since the last solve and the bits C(A) takes; then the levels with the fewest bits
    /// whose total error stays within the error of the uniform level (`LayerAllocation.solve`).
    mutating func resolveLevels() {
        guard let spec else { return }
        let table = levelTable(spec)
        let uniform = zip(table.errors, table.uniform).map { $0[$1] }.reduce(0, +)
        if let choice = LayerAllocation.solve(errors: table.errors, bits: table.bits, budget: uniform) {
            levels = choice.enumerated().map { table.levels[$0.offset][$0.element] }
            solves.append(levels)
        }
        accumulated = accumulated.map { [Float](repeating: 0, count: $0.count) }
    }

    /// Errors and bits of every tensor at every candidate (plus the uniform level, placed last).
    func levelTable(_ spec: CompressorSpec) -> (errors: [[Double]], bits: [[Double]], levels: [[Double]], uniform: [Int]) {
        var errors = [[Double]](), bits = [[Double]](), levels = [[Double]](), uniform = [Int]()
        for l in 0..<shapes.count {
            let candidates = spec.choices + (spec.choices.contains(spec.uniformLevel) ? [] : [spec.uniformLevel])
            let a = accumulated[l]
            var e = [Double](), b = [Double]()
            for c in candidates {
                let (err, size) = levelCost(spec, l, a, c)
                e.append(err)
                b.append(size)
            }
            errors.append(e)
            bits.append(b)
            levels.append(candidates)
            uniform.append(candidates.firstIndex(of: spec.uniformLevel)!)
        }
        return (errors, bits, levels, uniform)
    }

    /// ‖A − C_c(A)‖² and the bits of C_c(A) for tensor l at level c (qsgd: the expected error).
    func levelCost(_ spec: CompressorSpec, _ l: Int, _ a: [Float], _ c: Double) -> (Double, Double) {
        let d = a.count
        let total = a.reduce(0.0) { $0 + Double($1) * Double($1) }
        switch spec.method {
        case .topk:
            let k = Self.kept(d, c)
            let kept = Compressors.topK(a, k).reduce(0.0) { $0 + Double(a[$1]) * Double(a[$1]) }
            return (max(total - kept, 0), Double(k * (32 + Compressors.indexBits(d))))
        case .powersgd:
            guard powerCompresses(l, rank: Int(c)) else { return (0, Double(32 * d)) }
            let n = shapes[l][0], m = d / n, r = min(Int(c), n, m)
            let sigma = (try? Tensor(shape: [n, m], storage: a).svd().S.storage) ?? []
            let kept = sigma.prefix(r).reduce(0.0) { $0 + Double($1) * Double($1) }
            return (max(total - kept, 0), 0.5 * Double(r * (n + m)) * 32)
        case .qsgd:
            let s = Double(c), buckets = Compressors.chunks(d, spec.bucket)
            var err = 0.0
            for r in buckets {
                let norm = a[r].reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
                guard norm > 0 else { continue }
                for i in r {
                    let level = s * abs(Double(a[i])) / norm, f = level - level.rounded(.down)
                    err += (norm / s) * (norm / s) * f * (1 - f)
                }
            }
            return (err, Double(32 * buckets.count + d * (1 + Compressors.indexBits(Int(c) + 1))))
        default:
            return (0, Double(32 * d))
        }
    }
}

/// Per-layer levels under a total error budget (L-GreCo, Markov et al., MLSys 2024): choose one candidate
/// per layer to minimise Σ bits subject to Σ error ≤ budget. Solved exactly by dynamic programming over the
/// layers, keeping after each layer only the Pareto-optimal (error, bits) partial choices — the reference's
/// DP over discretised error bins without the discretisation.
public enum LayerAllocation {
    public static func solve(errors: [[Double]], bits: [[Double]], budget: Double) -> [Int]? {
        struct State {
            var error: Double
            var bits: Double
            var choice: [Int]
        }
        let slack = budget * 1e-9 + 1e-12  // the uniform choice's own sum may round differently
        var front = [State(error: 0, bits: 0, choice: [])]
        for l in 0..<errors.count {
            var next = [State]()
            for s in front {
                for c in 0..<errors[l].count {
                    let e = s.error + errors[l][c]
                    if e <= budget + slack { next.append(State(error: e, bits: s.bits + bits[l][c], choice: s.choice + [c])) }
                }
            }
            next.sort { $0.error != $1.error ? $0.error < $1.error : $0.bits < $1.bits }
            front = []
            var best = Double.infinity
            for s in next where s.bits < best {
                front.append(s)
                best = s.bits
            }
            if front.isEmpty { return nil }
        }
        return front.min { $0.bits != $1.bits ? $0.bits < $1.bits : $0.error < $1.error }?.choice
    }

    /// Every combination tried (for checking `solve`): the least bits within the budget.
    public static func bruteForce(errors: [[Double]], bits: [[Double]], budget: Double) -> (choice: [Int], bits: Double)? {
        var best: ([Int], Double)? = nil
        func visit(_ l: Int, _ choice: [Int], _ e: Double, _ b: Double) {
            if l == errors.count {
                if e <= budget * (1 + 1e-9) + 1e-12, best == nil || b < best!.1 { best = (choice, b) }
                return
            }
            for c in 0..<errors[l].count { visit(l + 1, choice + [c], e + errors[l][c], b + bits[l][c]) }
        }
        visit(0, [], 0, 0)
        return best.map { (choice: $0.0, bits: $0.1) }
    }
}
