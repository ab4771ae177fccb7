import Foundation

/// CacheGen (Liu et al. 2024) turns a KV cache into a bitstream: each token's vector quantized
/// symmetrically against its own maximum (`bins` intervals: symbols −h…h with h = bins/2 − 1),
/// optionally as the delta to the anchor of its group of tokens (the paper's token-wise locality;
/// the released code does not delta-encode), then entropy coded by rANS with a frequency table per
/// (layer, channel) — the grouping the paper finds most informative.
public enum CacheGen {
    public struct Quantized: Sendable {
        /// rows × cols symbols, row-major.
        public var symbols: [Int]
        public var recon: [Float]
        /// fp16 scales stored (one per token vector, anchors and deltas alike).
        public var scales: Int
    }

    /// The largest symbol magnitude for `bins` intervals.
    public static func half(_ bins: Int) -> Int { max(1, bins / 2 - 1) }

    /// Quantizes rows × cols values token by token; with `delta`, every row after the first of
    /// each group of `group` rows is coded as its difference from the anchor's reconstruction.
    public static func quantize(_ X: [Float], rows: Int, cols: Int, bins: Int, delta: Bool, group: Int = 10) -> Quantized {
        let h = Float(half(bins))
        var out = Quantized(
            symbols: [Int](repeating: 0, count: rows * cols), recon: [Float](repeating: 0, count: rows * cols), scales: rows)
        var anchor = [Float](repeating: 0, count: cols)
        for r in 0..<rows {
            let isAnchor = !delta || r % group == 0
            var v = (0..<cols).map { X[r * cols + $0] - (isAnchor ? 0 : anchor[$0]) }
            var mx: Float = 0
            for x in v { mx = max(mx, abs(x)) }
            let s = CacheQuantization.half(mx / h)
            for j in 0..<cols {
                let q = s > 0 ? Int(min(h, max(-h, (v[j] / s).rounded(.toNearestOrEven)))) : 0
                out.symbols[r * cols + j] = q
                v[j] = Float(q) * s + (isAnchor ? 0 : anchor[j])
                out.recon[r * cols + j] = v[j]
            }
            if isAnchor { anchor = v }
        }
        return out
    }

    /// Bits of `symbols` (rows × cols) as rANS streams, one per column, each with its own table.
    public static func bitsPerColumn(_ symbols: [Int], rows: Int, cols: Int) -> Int {
        (0..<cols).reduce(0) { total, j in total + Entropy.encode((0..<rows).map { symbols[$0 * cols + j] }).totalBits }
    }

    /// H(symbol | group) in bits per symbol: the groups' empirical entropies weighted by their sizes.
    public static func conditionalEntropy(_ groups: [[Int]]) -> Double {
        let n = groups.reduce(0) { $0 + $1.count }
        guard n > 0 else { return 0 }
        return groups.reduce(0.0) { $0 + Double($1.count) / Double(n) * Entropy.empirical($1) }
    }
}
