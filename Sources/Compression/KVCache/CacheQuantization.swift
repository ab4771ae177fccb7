import Foundation

/// The quantizers of a live KV cache, on strided vectors of a tokens × channels matrix (a row is a
/// token, a column a channel): a vector is `count` floats `stride` apart, so one kernel serves
/// per-token groups (stride 1) and per-channel groups (stride = channels). Stored scales, offsets
/// and exact values are fp16, and the reconstruction uses their fp16 values.
public enum CacheQuantization {
    /// x rounded to the nearest fp16 (what a stored scale, offset or exact value gives back).
    @inlinable public static func half(_ x: Float) -> Float { Float(Float16(x)) }

    /// KIVI's asymmetric uniform quantization of one group, in place: s = (max − min)/(2^b − 1),
    /// q = clamp(round((x − min)/s), 0, 2^b − 1), x̂ = q·s + min, with s and min in fp16 (ties to
    /// even, numpy's rounding). A constant group gives back its fp16 minimum.
    public static func uniform(_ p: UnsafeMutablePointer<Float>, count: Int, stride: Int, bits: Int) {
        guard count > 0 else { return }
        var lo = Float.infinity, hi = -Float.infinity
        for i in 0..<count {
            let x = p[i * stride]
            lo = min(lo, x)
            hi = max(hi, x)
        }
        let maxq = Float((1 << bits) - 1)
        let s = half((hi - lo) / maxq), m = half(lo)
        guard s > 0 else {
            for i in 0..<count { p[i * stride] = m }
            return
        }
        for i in 0..<count {
            let q = min(maxq, max(0, ((p[i * stride] - m) / s).rounded(.toNearestOrEven)))
            p[i * stride] = q * s + m
        }
    }

    /// numpy's percentile (linear interpolation) of sorted values.
    public static func percentile(_ sorted: [Float], _ p: Double) -> Float {
        let n = sorted.count
        guard n > 1 else { return sorted.first ?? 0 }
        let pos = p * Double(n - 1), lo = Int(pos.rounded(.down)), frac = Float(pos - Double(lo))
        return lo + 1 < n ? sorted[lo] + (sorted[lo + 1] - sorted[lo]) * frac : sorted[lo]
    }

    /// The index of the level nearest to x in ascending `levels` (the lower one on a tie).
    @inlinable public static func nearest(_ x: Float, _ levels: UnsafeBufferPointer<Float>) -> Int {
        var lo = 0, hi = levels.count - 1
        while lo < hi {
            let mid = (lo + hi) / 2
            if levels[mid + 1] <= x { lo = mid + 1 } else { hi = mid }
        }
        // levels[lo] ≤ x < levels[lo + 1] (or an end): pick the closer of the two.
        if lo + 1 < levels.count, levels[lo + 1] - x < x - levels[lo] { return lo + 1 }
        return lo
    }

    /// KVQuant's non-uniform quantization of one vector, in place: values outside [lo, hi] stay
    /// exact (fp16, the dense-and-sparse outliers) when `outliers` is set, else they are clamped to
    /// the end levels; the rest is normalised by the zero point z = (hi + lo)/2 and half range
    /// r = (hi − lo)/2 (both fp16) and replaced by the nearest level: x̂ = level·r + z. Returns the
    /// number of outliers kept. A code decodes to `decode[code]` when given (Q-Norm's moved levels).
    @discardableResult
    public static func nonUniform(
        _ p: UnsafeMutablePointer<Float>, count: Int, stride: Int, lo: Float, hi: Float, levels: UnsafeBufferPointer<Float>,
        decode: UnsafeBufferPointer<Float>? = nil, outliers: Bool
    ) -> Int {
        let decode = decode ?? levels
        let z = half((hi + lo) / 2), r = half(hi > lo ? (hi - lo) / 2 : 1)
        var kept = 0
        for i in 0..<count {
            let x = p[i * stride]
            if outliers && (x > hi || x < lo) {
                p[i * stride] = half(x)
                kept += 1
                continue
            }
            p[i * stride] = decode[nearest((x - z) / r, levels)] * r + z
        }
        return kept
    }

    /// 1-D k-means (Lloyd) on ascending values with optional weights (KVQuant weights by Fisher
    /// information): started at the k quantiles (i + ½)/k and iterated until no centroid moves (at
    /// most `iterations`), each step exact through prefix sums: a value goes to the nearest centroid
    /// (the lower on a tie), a centroid to its cluster's weighted mean (kept when the cluster is
    /// empty). Deterministic, unlike the reference's k-means++ start, whose seed moves 3-bit
    /// perplexity by several percent. Fewer distinct values than k give those values.
    public static func levels(sorted x: [Float], weights: [Float]? = nil, k: Int, iterations: Int = 500) -> [Float] {
        let n = x.count
        guard n > 0, k > 0 else { return [] }
        var distinct: [Float] = []
        for v in x where distinct.last != v {
            distinct.append(v)
            if distinct.count > k { break }
        }
        if distinct.count <= k { return distinct }
        var W = [Double](repeating: 0, count: n + 1), S = W
        for i in 0..<n {
            let w = Double(weights?[i] ?? 1)
            W[i + 1] = W[i] + w
            S[i + 1] = S[i] + w * Double(x[i])
        }
        var c = (0..<k).map { x[min(n - 1, Int((Double($0) + 0.5) / Double(k) * Double(n)))] }
        // Values at or below a boundary belong to the lower centroid.
        func cut(_ b: Float) -> Int {
            var lo = 0, hi = n
            while lo < hi {
                let mid = (lo + hi) / 2
                if x[mid] <= b { lo = mid + 1 } else { hi = mid }
            }
            return lo
        }
        for _ in 0..<iterations {
            var start = 0, moved = false
            var next = c
            for i in 0..<k {
                let end = i == k - 1 ? n : cut((c[i] + c[i + 1]) / 2)
                let w = W[end] - W[start]
                if end > start, w > 0 { next[i] = Float((S[end] - S[start]) / w) }
                if next[i] != c[i] { moved = true }
                start = max(start, end)
            }
            c = next.sorted()
            if !moved { break }
        }
        return c
    }
}
