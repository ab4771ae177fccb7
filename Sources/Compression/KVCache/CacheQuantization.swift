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
    /// number of outliers kept.
    @discardableResult
    public static func nonUniform(
        _ p: UnsafeMutablePointer<Float>, count: Int, stride: Int, lo: Float, hi: Float, levels: UnsafeBufferPointer<Float>,
        outliers: Bool
    ) -> Int {
        let z = half((hi + lo) / 2), r = half(hi > lo ? (hi - lo) / 2 : 1)
        var kept = 0
        for i in 0..<count {
            let x = p[i * stride]
            if outliers && (x > hi || x < lo) {
                p[i * stride] = half(x)
                kept += 1
                continue
            }
            p[i * stride] = levels[nearest((x - z) / r, levels)] * r + z
        }
        return kept
    }
}
