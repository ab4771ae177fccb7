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
            /// Appends one window's rows past its first `sink` (with their squared gradients when given).
            func add(_ layer: Int, _ k: Tensor, _ v: Tensor, _ dk: Tensor?, _ dv: Tensor?) {
                func kept(_ t: Tensor) -> ArraySlice<Float> { t.storage[min(t.count, sink * kvd)...] }
                capture.keys[layer] += kept(k)
                capture.values[layer] += kept(v)
                guard fisher else { return }
                capture.keyFisher[layer] += dk.map { kept($0).map { $0 * $0 } } ?? [Float](repeating: 0, count: kept(k).count)
                capture.valueFisher[layer] += dv.map { kept($0).map { $0 * $0 } } ?? [Float](repeating: 0, count: kept(v).count)
            }
            if fisher {
                guard tokens.count >= 2 else { throw ModelError("Fisher weights need at least 2 calibration tokens") }
                // The windows calibrationPasses cuts, so that one capture serves both calibrations alike; a
                // window of one token predicts nothing: its keys and values come with zero weight.
                for w in stride(from: 0, to: tokens.count, by: window) {
                    try cancellation?.check()
                    let ids = Array(tokens[w..<min(tokens.count, w + window)])
                    guard ids.count >= 2 else {
                        var one = LanguageModel.Capture()
                        one.kv = Set(0..<c.layers)
                        let out = try model.forward([ids], capture: one, cancellation: cancellation)
                        for l in 0..<c.layers where out.values[l] != nil {
                            add(l, preRoPE ? out.keysBeforeRoPE[l]! : out.keys[l]!, out.values[l]!, nil, nil)
                        }
                        continue
                    }
                    let g = try model.kvGradients(ids, cancellation: cancellation)
                    for l in 0..<c.layers where g.values[l] != nil {
                        add(
                            l, preRoPE ? g.keysBeforeRoPE[l]! : g.keys[l]!, g.values[l]!, preRoPE ? g.dKeysBeforeRoPE[l]! : g.dKeys[l]!,
                            g.dValues[l]!)
                    }
                }
            } else {
                try model.calibrationPasses(tokens, window: window, cancellation: cancellation) { out, _ in
                    for l in 0..<c.layers where out.values[l] != nil {
                        add(l, preRoPE ? out.keysBeforeRoPE[l]! : out.keys[l]!, out.values[l]!, nil, nil)
                    }
                }
            }
            lastCapture.withLock { $0 = capture }
            return capture
        }
    }
}
