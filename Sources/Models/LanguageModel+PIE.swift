import Foundation
import SqueezeCore

/// Position-independent editing of a prompt's cache (PIE): after an edit (insert, delete or
/// replace a span), only the edited tokens are recomputed; the cached keys of the tokens that
/// follow are moved to their new positions by one RoPE rotation, R(p + Δ) = R(Δ)R(p), instead of
/// being recomputed — which ignores that their context changed.
extension LanguageModel {
    public struct EditResult: Sendable {
        /// KL(full recomputation ‖ PIE) of the next token after the edited prompt, and whether the two agree on the arg-max.
        public var kl: Double, sameTop: Bool
        /// Largest |Δ| between PIE's and the recomputed keys of the moved tokens in block 0 (keys
        /// there depend only on the token and its position, so the rotation is exact up to rounding).
        public var layer0KeyError: Double
        /// Largest |Δ| of the moved tokens' keys over all blocks (the context PIE ignores).
        public var keyError: Double
        /// Tokens PIE recomputes (the new span and the last token) and tokens a full recomputation does.
        public var recomputed: Int, full: Int
        /// Common prefix and suffix (tokens), and the shift Δ of the suffix.
        public var prefix: Int, suffix: Int, shift: Int
    }

    /// Rotates rows of cached keys (rows × kv_dim, after RoPE at some positions) by `delta` more positions.
    func rerotate(_ keys: inout [Float], rows: Int, by delta: Int) {
        let d = config.headDim, half = config.ropeDims / 2, kvd = config.kvDim
        for i in 0..<half {
            let angle = Double(delta) * pow(config.ropeBase, -2 * Double(i) / Double(config.ropeDims))
            let c = Float(cos(angle)), s = Float(sin(angle))
            for r in 0..<rows {
                for h in 0..<config.kvHeads {
                    let base = r * kvd + h * d
                    let a = keys[base + 2 * i], b = keys[base + 2 * i + 1]
                    keys[base + 2 * i] = a * c - b * s
                    keys[base + 2 * i + 1] = a * s + b * c
                }
            }
        }
    }

    public func editCache(original o: [Int], edited e: [Int], cancellation: CancellationToken?) throws -> EditResult {
        guard o.count >= 2, e.count >= 2 else { throw ModelError("both prompts need at least two tokens") }
        guard o.last == e.last else { throw ModelError("the edit must keep the prompt's last token (it is the query both caches answer)") }
        let n = o.count, m = e.count, c = config, kvd = c.kvDim
        var p = 0
        while p < min(n, m) - 1 && o[p] == e[p] { p += 1 }
        var s = 0
        while s < min(n, m) - p && o[n - 1 - s] == e[m - 1 - s] { s += 1 }
        let shift = m - n
        // The original prompt's cache without its last token, and the full recomputation's.
        var original: [KVCache]? = [KVCache(layers: c.layers)]
        _ = try forward([Array(o.dropLast())], caches: &original, cancellation: cancellation)
        var full: [KVCache]? = [KVCache(layers: c.layers)]
        _ = try forward([Array(e.dropLast())], caches: &full, cancellation: cancellation)
        // PIE: the prefix reused, the new span recomputed on top of it, the suffix (but the query) moved.
        var pie: [KVCache]? = [KVCache(layers: c.layers)]
        for l in 0..<c.layers {
            pie![0].keys[l] = Array(original![0].keys[l].prefix(p * kvd))
            pie![0].values[l] = Array(original![0].values[l].prefix(p * kvd))
        }
        pie![0].count = p
        let span = Array(e[p..<(m - s)])
        if !span.isEmpty { _ = try forward([span], caches: &pie, cancellation: cancellation) }
        let moved = s - 1  // suffix tokens other than the query
        var layer0 = 0.0, worst = 0.0
        for l in 0..<c.layers {
            var K = Array(original![0].keys[l][((n - s) * kvd)..<((n - 1) * kvd)])
            rerotate(&K, rows: moved, by: shift)
            let recomputed = full![0].keys[l][((m - s) * kvd)..<((m - 1) * kvd)]
            let err = zip(K, recomputed).reduce(0.0) { max($0, Double(abs($1.0 - $1.1))) }
            if l == 0 { layer0 = err }
            worst = max(worst, err)
            pie![0].keys[l] += K
            pie![0].values[l] += original![0].values[l][((n - s) * kvd)..<((n - 1) * kvd)]
        }
        pie![0].count = m - 1
        let query = [[e[m - 1]]]
        let a = try logits(try forward(query, caches: &full, cancellation: cancellation).final)
        let b = try logits(try forward(query, caches: &pie, cancellation: cancellation).final)
        let d = a.withBuffer { ap in b.withBuffer { bp in DivergenceScorer.divergence(ap, bp) } }
        return EditResult(
            kl: max(0, d.kl), sameTop: d.sameTop, layer0KeyError: layer0, keyError: worst, recomputed: span.count + 1, full: m, prefix: p,
            suffix: s, shift: shift)
    }
}
