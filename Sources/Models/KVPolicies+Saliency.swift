import Compression
import Foundation
import SqueezeCore

/// ZipCache (He et al. 2024): mixed-precision cache quantization by token saliency. Keys are
/// quantized channel-separably — each channel divided by c_j = √max_i |K_ij| (fp16), then each
/// token's normalised vector on one asymmetric grid per group of `group` channels — and values
/// per token in groups (0: the whole token); the `salient` fraction of tokens with the highest score get `high` bits,
/// the rest `low`. Scores: "normalized" (ZipCache: a token's attention summed over the queries
/// that can see it, divided by their number), "accumulated" (H2O's sum, biased to early tokens)
/// or "random" (a seeded split, the ablation); summed over query heads, from all queries or from
/// a `probes` fraction (half the most recent, half drawn at random: the approximation that lets
/// the rest run without attention scores). Whole-window statistics (simulated mode), or streaming
/// (`buffer` > 0: each full buffer of new tokens quantized on its own, scored by its own queries, as
/// the paper re-quantizes while decoding; both modes).
public struct ZipCacheTransform: KVTransform {
    public enum Score: String, Sendable, CaseIterable { case normalized, accumulated, random }
    public let high: Int, low: Int, salient: Double, group: Int, score: Score, probes: Double, seed: UInt64, buffer: Int
    public init(
        high: Int, low: Int, salient: Double, group: Int, score: Score, probes: Double, seed: UInt64, buffer: Int = 0
    ) {
        (self.high, self.low, self.salient, self.group, self.score, self.probes, self.seed, self.buffer) =
            (high, low, salient, group, score, probes, seed, buffer)
    }

    public var preRoPE: Bool { false }
    public var causal: Bool { false }
    public var kvDim: Int? { nil }
    public var description: String {
        "cache.zipcache(high: \(high), low: \(low), salient: \(salient), group: \(group), score: \(score.rawValue), probes: \(probes)"
            + (buffer > 0 ? ", buffer: \(buffer))" : ")")
    }

    /// Each token's saliency (rows), from the queries (rows × hidden) and keys (rows × kv_dim).
    public func scores(queries: [Float], keys: [Float], rows n: Int, layer: Int, config c: LanguageModel.Config) -> [Double] {
        var rng = RandomGenerator(seed: seed &+ UInt64(layer) &* 0x9E37_79B9)
        if score == .random { return (0..<n).map { _ in rng.uniform() } }
        // Probe queries: all, or the most recent half and a random half of the fraction asked.
        var probe = Array(0..<n)
        if probes < 1 {
            let m = max(1, Int((probes * Double(n)).rounded())), recent = (m + 1) / 2
            let older = n - recent
            probe = (older..<n).map { $0 } + rng.choice(older, count: min(older, m - recent)).sorted()
        }
        let d = c.headDim, group = c.heads / c.kvHeads, scale = 1 / Float(d).squareRoot()
        var mass = [Double](repeating: 0, count: n), seen = [Int](repeating: 0, count: n)
        let p = UnsafeMutablePointer<Float>.allocate(capacity: max(n, 1))
        defer { p.deallocate() }
        queries.withUnsafeBytes { qb in
            keys.withUnsafeBytes { kb in
                for i in probe {
                    for head in 0..<c.heads {
                        let g = head / group
                        // The row-reproducible attention's dot products (LanguageModel.scores).
                        LanguageModel.scores(
                            qb.baseAddress! + 4 * (i * c.hidden + head * d), chunks: d / 8, keys: i + 1, scale: scale, into: p
                        ) { j in kb.baseAddress! + 4 * (j * c.kvDim + g * d) }
                        var mx = -Float.infinity
                        for j in 0...i { mx = max(mx, p[j]) }
                        var sum: Float = 0
                        for j in 0...i { p[j] = expf(p[j] - mx); sum += p[j] }
                        for j in 0...i { mass[j] += Double(p[j] / sum) }
                    }
                    for j in 0...i { seen[j] += 1 }
                }
            }
        }
        if score == .accumulated { return mass }
        return (0..<n).map { seen[$0] > 0 ? mass[$0] / Double(seen[$0]) : 0 }
    }

    public func apply(
        layer: Int, keys: inout [Float], values: inout [Float], queries: [Float], rows n: Int, past: Int, config c: LanguageModel.Config
    ) throws -> KVAccount {
        let kvd = c.kvDim, group = self.group == 0 ? kvd : self.group
        guard kvd % group == 0 else { throw ModelError("group \(group) does not divide the model's kv_dim \(kvd)") }
        let s = scores(queries: queries, keys: keys, rows: n, layer: layer, config: c)
        let top = Int((salient * Double(n)).rounded())
        let order = (0..<n).sorted { s[$0] > s[$1] || (s[$0] == s[$1] && $0 < $1) }
        var bits = [Int](repeating: low, count: n)
        for r in order.prefix(top) { bits[r] = high }
        // Keys: per-channel normalisation, then per-token groups.
        var channel = [Float](repeating: 1, count: kvd)
        for j in 0..<kvd {
            var mx: Float = 0
            for r in 0..<n { mx = max(mx, abs(keys[r * kvd + j])) }
            channel[j] = mx > 0 ? CacheQuantization.half(mx.squareRoot()) : 1
        }
        keys.withUnsafeMutableBufferPointer { kp in
            values.withUnsafeMutableBufferPointer { vp in
                for r in 0..<n {
                    for j in 0..<kvd { kp[r * kvd + j] /= channel[j] }
                    for g0 in stride(from: 0, to: kvd, by: group) {
                        CacheQuantization.uniform(kp.baseAddress! + r * kvd + g0, count: group, stride: 1, bits: bits[r])
                        CacheQuantization.uniform(vp.baseAddress! + r * kvd + g0, count: group, stride: 1, bits: bits[r])
                    }
                    for j in 0..<kvd { kp[r * kvd + j] *= channel[j] }
                }
            }
        }
        var a = KVAccount(elements: n * kvd)
        let codes = Double(bits.reduce(0, +) * kvd), scales = Double(32 * n * (kvd / group))
        a.keys = ["codes": codes, "scales": scales, "channel scales": Double(16 * kvd), "precision flags": Double(n)]
        a.values = ["codes": codes, "scales": scales]
        return a
    }
}

/// GEAR (Kang et al. 2024) on the live cache: keys and values (tokens × kv_dim) as D̂ = Q(D − S) +
/// L + S — per-token groups at `bits`, a rank-r residual, exact sparse outliers (`GEAR.compress`) —
/// either streaming (`buffer` > 0, the reference's `streaming_gap`: new tokens wait at fp16 and each
/// full buffer is compressed on its own, in both modes) or the whole window at once (simulated only).
public struct GEARTransform: KVTransform {
    public let bits: Int, group: Int, rank: Int, outliers: Double, buffer: Int
    public init(bits: Int, group: Int, rank: Int, outliers: Double, buffer: Int = 0) {
        (self.bits, self.group, self.rank, self.outliers, self.buffer) = (bits, group, rank, outliers, buffer)
    }

    public var preRoPE: Bool { false }
    public var causal: Bool { false }
    public var kvDim: Int? { nil }
    public var description: String {
        "cache.gear(bits: \(bits), group: \(group), rank: \(rank), outliers: \(outliers), buffer: \(buffer))"
    }

    public func apply(
        layer: Int, keys: inout [Float], values: inout [Float], queries: [Float], rows n: Int, past: Int, config c: LanguageModel.Config
    ) throws -> KVAccount {
        let kvd = c.kvDim
        var a = KVAccount(elements: n * kvd)
        for part in [\KVAccount.keys, \KVAccount.values] {
            let D = Tensor(shape: [n, kvd], storage: part == \KVAccount.keys ? keys : values)
            let g: Compressed
            do { g = try Compressed.gear(D, bits: bits, group: group, rank: min(rank, n, kvd), outliers: outliers) } catch let e
                as CoreError
            {
                throw ModelError("\(e)")
            }
            if part == \KVAccount.keys { keys = g.recon.storage } else { values = g.recon.storage }
            for line in g.storage where line.total > 0 { a[keyPath: part][line.part, default: 0] += line.total }
        }
        return a
    }
}
