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
    /// Per window: the base's log-probabilities of the scored rows ([context − 1, vocab]).
    let logProbabilities: [[Float]]

    public init(base: LanguageModel, tokens: [Int], context: Int, cancellation: CancellationToken? = nil) throws {
        try base.checkWindows(tokens, context: context)
        self.base = base
        windows = base.windows(tokens, context: context, preset: .gptq).windows
        let layout = LanguageModel.Layout(sequences: [windows[0]])
        var inputs: [[Tensor]] = [], logProbabilities: [[Float]] = []
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
            logProbabilities.append(try Self.logSoftmax(base, x, rows: window.count - 1))
        }
        self.inputs = inputs
        self.logProbabilities = logProbabilities
    }

    /// The variant's mean KL, running it from block `from` (every block before must equal the base's).
    public func meanKL(_ model: LanguageModel, from block: Int = 0, cancellation: CancellationToken? = nil) throws -> Double {
        guard model.config.vocab == base.config.vocab, model.config.layers == base.config.layers else {
            throw ModelError("the model has another shape than the scorer's base")
        }
        let b = max(0, min(block, base.config.layers - 1)), V = base.config.vocab
        var total = 0.0, count = 0
        for (w, window) in windows.enumerated() {
            try cancellation?.check()
            var x = inputs[w][b]
            var none: [LanguageModel.KVCache]? = nil
            var out = LanguageModel.Output(final: Tensor.zeros([0, base.config.hidden]), lengths: [window.count])
            let layout = LanguageModel.Layout(sequences: [window])
            for i in b..<base.config.layers {
                try model.block(i, &x, layout, caches: &none, capture: LanguageModel.Capture(), out: &out, cancellation: cancellation)
            }
            let rows = window.count - 1
            let lm = try Self.logSoftmax(model, x, rows: rows)
            var kl = [Double](repeating: 0, count: rows)
            logProbabilities[w].withUnsafeBufferPointer { bp in
                lm.withUnsafeBufferPointer { mp in
                    kl.withUnsafeMutableBufferPointer { kp in
                        nonisolated(unsafe) let kp = kp
                        Parallel.forEach(rows, grain: 4) { rr in
                            for r in rr {
                                var d = 0.0
                                for j in (r * V)..<((r + 1) * V) { let lb = Double(bp[j]); d += exp(lb) * (lb - Double(mp[j])) }
                                kp[r] = max(d, 0)
                            }
                        }
                    }
                }
            }
            total += kl.reduce(0, +)
            count += rows
        }
        return total / Double(count)
    }

    /// log softmax of the head's logits on the first `rows` rows of the last block's output.
    static func logSoftmax(_ m: LanguageModel, _ hidden: Tensor, rows: Int) throws -> [Float] {
        var x = hidden
        m.rmsNorm(&x, m.weights["output_norm.weight"]!)
        let L = try m.logits(x, rows: 0..<rows), V = m.config.vocab
        var out = L.storage
        out.withUnsafeMutableBufferPointer { op in
            nonisolated(unsafe) let op = op
            Parallel.forEach(rows, grain: 4) { rr in
                for r in rr {
                    var mx = -Float.infinity
                    for j in (r * V)..<((r + 1) * V) { mx = max(mx, op[j]) }
                    var s = 0.0
                    for j in (r * V)..<((r + 1) * V) { s += exp(Double(op[j] - mx)) }
                    let lse = mx + Float(log(s))
                    for j in (r * V)..<((r + 1) * V) { op[j] -= lse }
                }
            }
        }
        return out
    }
}
