import Foundation
import SqueezeCore
import Synchronization

/// The most recent KVQuant calibration capture: a sweep over bit widths and outlier fractions
/// calibrates on the same text again and again, and the passes through the model (a backward pass
/// per window with Fisher weights) are then done once. Exact reuse: the same weights, tokens and
/// windows give the same activations.
private let lastCapture = Mutex<KVQuantCache.CalibrationCapture?>(nil)

extension KVQuantCache {
    /// Per layer, the calibration's keys (before or after RoPE) and values, rows of kv_dim, and
    /// with Fisher weights the squared gradients of the loss with respect to each.
    struct CalibrationCapture: Sendable {
        struct Key: Hashable {
            let model: UUID, tokens: [Int], window: Int, preRoPE: Bool, sink: Int
        }
        let key: Key
        let fisher: Bool
        var keys: [[Float]], values: [[Float]], keyFisher: [[Float]], valueFisher: [[Float]]

        var parts: ([[Float]], [[Float]], [[Float]], [[Float]]) { (keys, values, keyFisher, valueFisher) }

        static func of(
            _ model: LanguageModel, tokens: [Int], window: Int, preRoPE: Bool, fisher: Bool, sink: Int,
            cancellation: CancellationToken?
        ) throws -> CalibrationCapture {
            let key = Key(model: model.identity, tokens: tokens, window: window, preRoPE: preRoPE, sink: sink)
            if let hit = lastCapture.withLock({ $0 }), hit.key == key, hit.fisher || !fisher {
                guard !fisher else { return hit }
                return CalibrationCapture(key: key, fisher: false, keys: hit.keys, values: hit.values, keyFisher: [], valueFisher: [])
            }
            let c = model.config, kvd = c.kvDim
            let empty = Array(repeating: [Float](), count: c.layers)
            var capture = CalibrationCapture(key: key, fisher: fisher, keys: empty, values: empty, keyFisher: empty, valueFisher: empty)
            /// Rows of a window past its first `sink`.
            func kept(_ t: Tensor) -> ArraySlice<Float> { t.storage[min(t.count, sink * kvd)...] }
            if fisher {
                guard tokens.count >= 2 else { throw ModelError("Fisher weights need at least 2 calibration tokens") }
                // A last window of one token predicts nothing: it joins the window before.
                var starts = Array(stride(from: 0, to: tokens.count, by: window))
                if starts.count > 1, tokens.count - starts.last! < 2 { starts.removeLast() }
                for (j, w) in starts.enumerated() {
                    let end = j + 1 < starts.count ? starts[j + 1] : tokens.count
                    let g = try model.kvGradients(Array(tokens[w..<end]), cancellation: cancellation)
                    for l in 0..<c.layers where g.values[l] != nil {
                        capture.keys[l] += kept(preRoPE ? g.keysBeforeRoPE[l]! : g.keys[l]!)
                        capture.values[l] += kept(g.values[l]!)
                        capture.keyFisher[l] += kept(preRoPE ? g.dKeysBeforeRoPE[l]! : g.dKeys[l]!).map { $0 * $0 }
                        capture.valueFisher[l] += kept(g.dValues[l]!).map { $0 * $0 }
                    }
                }
            } else {
                try model.calibrationPasses(tokens, window: window, cancellation: cancellation) { out, _ in
                    for l in 0..<c.layers where out.values[l] != nil {
                        capture.keys[l] += kept(preRoPE ? out.keysBeforeRoPE[l]! : out.keys[l]!)
                        capture.values[l] += kept(out.values[l]!)
                    }
                }
            }
            lastCapture.withLock { $0 = capture }
            return capture
        }
    }
}
