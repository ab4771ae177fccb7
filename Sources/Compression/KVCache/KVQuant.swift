import Foundation
import SqueezeCore

/// KVQuant (Hooper et al. 2024), without the Fisher weighting (no gradients here): per channel
/// (keys) or per token (values), the values outside the [1 − t, t] percentiles (t = 1 − outliers/2)
/// are kept exactly as sparse outliers; the rest is normalised to [−1, 1] with zero point
/// (hi + lo)/2 and range (hi − lo)/2 and rounded to the nearest of 2^b non-uniform levels learned by
/// 1-D k-means on the normalised values (NUQ).
public enum KVQuant {
    public struct Result: Sendable {
        public let recon: Tensor
        public let levels: [Float]
        public let outliers: Int
        public let vectors: Int
    }

    public static func compress(_ X: Tensor, bits: Int, perChannel: Bool, outliers: Double, rng: inout RandomGenerator) throws -> Result {
        guard X.rank == 2 else { throw CoreError.invalidParameter("X", "expected tokens × channels, got shape \(Shape.describe(X.shape))") }
        let (m, n) = (X.shape[0], X.shape[1])
        let lines = perChannel ? n : m, len = perChannel ? m : n
        guard len >= 2 else { throw CoreError.invalidParameter("X", "each vector needs at least two values") }
        func at(_ l: Int, _ i: Int) -> Int { perChannel ? i * n + l : l * n + i }
        var normalized = [Float](repeating: 0, count: m * n)
        var exact = [Bool](repeating: false, count: m * n)
        var zero = [Float](repeating: 0, count: lines), half = [Float](repeating: 1, count: lines)
        var count = 0
        let t = 1 - outliers / 2
        for l in 0..<lines {
            let v = (0..<len).map { X.storage[at(l, $0)] }.sorted()
            let hi = outliers > 0 ? CacheQuantization.percentile(v, t) : v[len - 1]
            let lo = outliers > 0 ? CacheQuantization.percentile(v, 1 - t) : v[0]
            zero[l] = (hi + lo) / 2
            half[l] = hi > lo ? (hi - lo) / 2 : 1
            for i in 0..<len {
                let x = X.storage[at(l, i)]
                if outliers > 0 && (x > hi || x < lo) { exact[at(l, i)] = true; count += 1 }
                normalized[at(l, i)] = (x - zero[l]) / half[l]
            }
        }
        // NUQ levels: 1-D k-means over (a sample of) the normalised inliers.
        var sample = (0..<(m * n)).filter { !exact[$0] }.map { normalized[$0] }
        if sample.count > 100_000 { sample = rng.choice(sample.count, count: 100_000).map { sample[$0] } }
        let k = min(1 << bits, Set(sample).count)
        guard k >= 1 else { throw CoreError.invalidParameter("X", "no values left to quantize") }
        let km = try KMeans.fit(Tensor(shape: [sample.count, 1], storage: sample), k: k, maxIter: 50, rng: &rng)
        let levels = km.centroids.storage.sorted()
        var out = [Float](repeating: 0, count: m * n)
        for l in 0..<lines {
            for i in 0..<len {
                let idx = at(l, i)
                if exact[idx] { out[idx] = X.storage[idx]; continue }
                var best = levels[0]
                for c in levels where abs(c - normalized[idx]) < abs(best - normalized[idx]) { best = c }
                out[idx] = best * half[l] + zero[l]
            }
        }
        return Result(recon: Tensor(shape: X.shape, storage: out), levels: levels, outliers: count, vectors: lines)
    }
}

extension Compressed {
    /// KVQuant with its storage account: codes, an fp16 zero point and half range per vector, the
    /// fp16 levels, and every outlier as an fp16 value with a 32-bit index.
    public static func kvQuant(
        _ X: Tensor, bits: Int, perChannel: Bool, outliers: Double,
        rng: inout RandomGenerator
    ) throws -> Compressed {
        let r = try KVQuant.compress(X, bits: bits, perChannel: perChannel, outliers: outliers, rng: &rng)
        return Compressed(
            method: "kvquant", recon: r.recon,
            parts: [("levels", .tensor(Tensor(r.levels))), ("outliers", .integer(r.outliers))],
            storage: [
                Line("codes", "one code per value", count: X.count, bits: Double(bits)),
                Line("vectors", "an fp16 zero point and half range per vector", count: r.vectors, bits: 32),
                Line("levels", "the non-uniform levels", count: r.levels.count, bits: 16),
                Line("outliers", "an fp16 value and a 32-bit index", count: r.outliers, bits: 48),
            ])
    }
}
