import Foundation
import SqueezeCore

/// Mean KL(base ‖ model) over fixed windows, for scoring many variants of one base model: the base's
/// log-probabilities and its hidden state entering every block are computed once, and a variant that
/// differs from the base only from block b on is run from the base's state at block b. Windows and
/// scored predictions follow GPTQ's convention (every prediction of each window scored).
public struct DivergenceScorer: Sendable {
    public let base: LanguageModel
    let windows: [[Int]]
    /// Per window: the base's hidden state entering each block (blocks × [context, hidden]).
    let inputs: [[Tensor]]
    /// Per window: the base's probabilities of the scored rows ([context − 1, vocab]) and each row's
    /// Σ p log p (as Σ p z − logsumexp(z)), so a variant's KL is Σ p log p − Σ p z + logsumexp(z) over its logits z: one pass
    /// over the logits with one single-precision exp per entry.
    let probabilities: [[Float]]
    let negativeEntropy: [[Double]]

    public init(base: LanguageModel, tokens: [Int], context: Int, cancellation: CancellationToken? = nil) throws {
        try base.checkWindows(tokens, context: context)
        self.base = base
        windows = base.windows(tokens, context: context, preset: .gptq).windows
        let layout = LanguageModel.Layout(sequences: [windows[0]])
        var inputs: [[Tensor]] = [], probabilities: [[Float]] = [], negativeEntropy: [[Double]] = []
        let V = base.config.vocab
        for window in windows {
            try cancellation?.check()
            var x = base.embed([window]), states: [Tensor] = []
            var none: [LanguageModel.KVCache]? = nil
            var out = LanguageModel.Output(final: Tensor.zeros([0, base.config.hidden]), lengths: [window.count])
            for i in 0..<base.config.layers {
                states.append(x)
                try base.block(i, &x, layout, caches: &none, capture: LanguageModel.Capture(), out: &out, cancellation: cancellation)
            }
            inputs.append(states)
            let rows = window.count - 1
            let logits = try Self.logits(base, x, rows: rows)
            var p = [Float](repeating: 0, count: rows * V), h = [Double](repeating: 0, count: rows)
            logits.withUnsafeBufferPointer { zp in
                p.withUnsafeMutableBufferPointer { pp in
                    h.withUnsafeMutableBufferPointer { hp in
                        nonisolated(unsafe) let (pp, hp) = (pp, hp)
                        Parallel.forEach(rows, grain: 4) { rr in
                            for r in rr {
                                let row = UnsafeBufferPointer(rebasing: zp[(r * V)..<((r + 1) * V)])
                                let lse = Self.logSumExp(row)
                                for j in 0..<V { pp[r * V + j] = Float(exp(Double(row[j]) - lse)) }
                                // Σ p log p = Σ p z − logsumexp(z), computed with the arithmetic meanKL uses on a
                                // variant's logits, so the base against itself gives exactly 0.
                                hp[r] = Self.dot(UnsafeBufferPointer(rebasing: pp[(r * V)..<((r + 1) * V)]), row) - lse
                            }
                        }
                    }
                }
            }
            probabilities.append(p)
            negativeEntropy.append(h)
        }
        self.inputs = inputs
        self.probabilities = probabilities
        self.negativeEntropy = negativeEntropy
    }

    /// Per window, the hidden state entering each block of one model's run (windows × blocks).
    public typealias States = [[Tensor]]

    /// The variant's mean KL, running it from block `from` (every block before must equal the base's).
    public func meanKL(_ model: LanguageModel, from block: Int = 0, cancellation: CancellationToken? = nil) throws -> Double {
        try run(model, from: block, cancellation: cancellation).kl
    }

    /// The variant's mean KL, running it from block `from` on `start` — the states of a model whose
    /// blocks before `from` equal the variant's (the base's states when nil) — and, with `record`,
    /// the variant's own states, from which a later variant agreeing with it up to some block can start.
    public func run(
        _ model: LanguageModel, from block: Int, start: States? = nil, record: Bool = false, cancellation: CancellationToken? = nil
    ) throws -> (kl: Double, states: States?) {
        guard model.config.vocab == base.config.vocab, model.config.layers == base.config.layers else {
            throw ModelError("the model has another shape than the scorer's base")
        }
        guard start.map({ $0.count == windows.count && $0.allSatisfy { $0.count == base.config.layers } }) ?? true else {
            throw ModelError("the starting states are not this scorer's (\(windows.count) windows × \(base.config.layers) blocks)")
        }
        let b = max(0, min(block, base.config.layers - 1)), V = base.config.vocab
        var total = 0.0, count = 0, recorded: States = []
        for (w, window) in windows.enumerated() {
            try cancellation?.check()
            let from = start?[w] ?? inputs[w]
            var x = from[b], states = record ? Array(from.prefix(b)) : []
            var none: [LanguageModel.KVCache]? = nil
            var out = LanguageModel.Output(final: Tensor.zeros([0, base.config.hidden]), lengths: [window.count])
            let layout = LanguageModel.Layout(sequences: [window])
            for i in b..<base.config.layers {
                if record { states.append(x) }
                try model.block(i, &x, layout, caches: &none, capture: LanguageModel.Capture(), out: &out, cancellation: cancellation)
            }
            if record { recorded.append(states) }
            let rows = window.count - 1
            let logits = try Self.logits(model, x, rows: rows)
            var kl = [Double](repeating: 0, count: rows)
            probabilities[w].withUnsafeBufferPointer { pp in
                logits.withUnsafeBufferPointer { zp in
                    kl.withUnsafeMutableBufferPointer { kp in
                        nonisolated(unsafe) let kp = kp
                        let h = negativeEntropy[w]
                        Parallel.forEach(rows, grain: 4) { rr in
                            for r in rr {
                                let z = UnsafeBufferPointer(rebasing: zp[(r * V)..<((r + 1) * V)])
                                let p = UnsafeBufferPointer(rebasing: pp[(r * V)..<((r + 1) * V)])
                                kp[r] = max(h[r] - Self.dot(p, z) + Self.logSumExp(z), 0)
                            }
                        }
                    }
                }
            }
            total += kl.reduce(0, +)
            count += rows
        }
        return (total / Double(count), record ? recorded : nil)
    }

    /// The head's logits on the first `rows` rows of the last block's output.
    static func logits(_ m: LanguageModel, _ hidden: Tensor, rows: Int) throws -> [Float] {
        var x = hidden
        m.rmsNorm(&x, m.weights["output_norm.weight"]!)
        return try m.logits(x, rows: 0..<rows).storage
    }

    /// log Σ exp(z), single-precision exponentials summed in double precision per block of 256.
    static func logSumExp(_ z: UnsafeBufferPointer<Float>) -> Double {
        var mx = -Float.infinity
        for v in z { mx = max(mx, v) }
        return logSumExp(z, maximum: mx)
    }

    /// log Σ exp(z) given max z.
    static func logSumExp(_ z: UnsafeBufferPointer<Float>, maximum mx: Float) -> Double {
        var s = 0.0, j = 0
        while j < z.count {
            let end = min(j + 256, z.count)
            var part: Float = 0
            for k in j..<end { part += exp(z[k] - mx) }
            s += Double(part)
            j = end
        }
        return Double(mx) + log(s)
    }

    /// KL(softmax(zb) ‖ softmax(zm)) = Σ p_b (zb − zm) + (lse_m − lse_b) Σ p_b, with p_b = exp(zb − lse_b);
    /// single-precision exponentials summed in double precision per block of 256. Returns the two
    /// log-sum-exps and whether both rows have their largest entry at the same index (each row's
    /// maximum found once, for the log-sum-exp and the top token). Equal logits give exactly 0.
    static func divergence(
        _ zb: UnsafeBufferPointer<Float>, _ zm: UnsafeBufferPointer<Float>
    ) -> (
        kl: Double, lseb: Double, lsem: Double, sameTop: Bool
    ) {
        let ib = argmax(zb)
        return divergence(zb, zm, top: ib, logSumExp: logSumExp(zb, maximum: zb[ib]))
    }

    /// The same, given the base row's arg-max and log-sum-exp (as computed above).
    static func divergence(
        _ zb: UnsafeBufferPointer<Float>, _ zm: UnsafeBufferPointer<Float>, top ib: Int, logSumExp lseb: Double
    ) -> (
        kl: Double, lseb: Double, lsem: Double, sameTop: Bool
    ) {
        let im = argmax(zm)
        let lsem = logSumExp(zm, maximum: zm[im]), shift = Float(lseb)
        var weighted = 0.0, mass = 0.0, j = 0
        while j < zb.count {
            let end = min(j + 256, zb.count)
            var w: Float = 0, m: Float = 0
            for k in j..<end {
                let p = exp(zb[k] - shift)
                w += p * (zb[k] - zm[k])
                m += p
            }
            weighted += Double(w)
            mass += Double(m)
            j = end
        }
        return (weighted + (lsem - lseb) * mass, lseb, lsem, ib == im)
    }

    /// The index of the largest entry (the first on ties).
    static func argmax(_ z: UnsafeBufferPointer<Float>) -> Int {
        var best = 0
        for j in 1..<z.count where z[j] > z[best] { best = j }
        return best
    }

    /// Σ p z in double precision per block of 256.
    static func dot(_ p: UnsafeBufferPointer<Float>, _ z: UnsafeBufferPointer<Float>) -> Double {
        var s = 0.0, j = 0
        while j < z.count {
            let end = min(j + 256, z.count)
            var part: Float = 0
            for k in j..<end { part += p[k] * z[k] }
            s += Double(part)
            j = end
        }
        return s
    }
}
