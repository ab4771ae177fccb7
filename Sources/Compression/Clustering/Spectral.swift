import Foundation
import SqueezeCore

/// Spectral clustering (Ng, Jordan & Weiss 2001) on a symmetrised k-nearest-neighbour graph, as
/// scikit-learn's SpectralClustering(affinity="nearest_neighbors") builds it: A = ½(K + Kᵀ) with
/// K the 0/1 kNN connectivity (self excluded), the k leading eigenvectors of D^−½ A D^−½, rows
/// normalised to unit length, then k-means (10 restarts).
public enum Spectral {
    public static func affinity(_ X: Tensor, neighbors: Int) throws -> [Double] {
        guard X.rank == 2 else {
            throw CoreError.invalidParameter("X", "spectral: expected samples as rows (n × d), got shape \(Shape.describe(X.shape))")
        }
        let n = X.shape[0]
        guard neighbors >= 1, neighbors < n else {
            throw CoreError.invalidParameter("neighbors", "spectral: neighbors must be between 1 and n − 1 = \(n - 1)")
        }
        try Memory.check(elements: n * n, copies: 3, "spectral clustering's n × n affinity")
        try X.requireFinite("spectral")
        let G = try Tensor.gemm(X, X, transB: true)
        let sq = (0..<n).map { G.storage[$0 * n + $0] }
        var A = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            let d = (0..<n).map { j -> (Float, Int) in (j == i ? .infinity : sq[i] + sq[j] - 2 * G.storage[i * n + j], j) }
            for (_, j) in d.sorted(by: { $0.0 < $1.0 || ($0.0 == $1.0 && $0.1 < $1.1) }).prefix(neighbors) {
                A[i * n + j] += 0.5
                A[j * n + i] += 0.5
            }
        }
        return A
    }

    /// Labels for k clusters of the rows of X.
    public static func cluster(
        _ X: Tensor, k: Int, neighbors: Int, rng: inout RandomGenerator, cancellation: CancellationToken? = nil
    ) throws -> [Int] {
        let n = X.shape.first ?? 0
        guard k >= 1, k <= n else { throw CoreError.invalidParameter("k", "spectral: k = \(k) needs at least \(k) samples") }
        return try cluster(affinity: try affinity(X, neighbors: neighbors), n: n, k: k, rng: &rng, cancellation: cancellation)
    }

    /// Labels for k clusters of a non-negative n × n affinity (row-major), symmetrised as ½(A + Aᵀ)
    /// (a no-op, exactly, for a symmetric A).
    public static func cluster(
        affinity given: [Double], n: Int, k: Int, rng: inout RandomGenerator, cancellation: CancellationToken? = nil
    ) throws -> [Int] {
        guard given.count == n * n else { throw CoreError.invalidParameter("affinity", "spectral: the affinity must be n × n") }
        let bad = given.reduce(0) { $0 + ($1.isFinite ? 0 : 1) }
        if bad > 0 {
            throw CoreError.invalidParameter(
                "affinity", "spectral: the affinity contains \(bad) NaN or infinite value\(bad == 1 ? "" : "s")")
        }
        let A = (0..<(n * n)).map { 0.5 * (given[$0] + given[($0 % n) * n + $0 / n]) }
        guard k >= 1, k <= n else { throw CoreError.invalidParameter("k", "spectral: k = \(k) needs at least \(k) samples") }
        let deg = (0..<n).map { i in (0..<n).reduce(0.0) { $0 + A[i * n + $1] } }
        let inv = deg.map { $0 > 0 ? 1 / $0.squareRoot() : 0 }
        let M = Tensor(shape: [n, n]) { o in for i in 0..<n { for j in 0..<n { o[i * n + j] = Float(inv[i] * A[i * n + j] * inv[j]) } } }
        if let c = cancellation, c.isCancelled { throw CoreError.cancelled }
        let e = try M.eigh()  // ascending eigenvalues; eigenvectors in columns
        var U = [Float](repeating: 0, count: n * k)
        for i in 0..<n {
            var norm: Float = 0
            for t in 0..<k { let v = e.vectors.storage[i * n + (n - 1 - t)]; U[i * k + t] = v; norm += v * v }
            norm = max(norm.squareRoot(), 1e-12)
            for t in 0..<k { U[i * k + t] /= norm }
        }
        return try KMeans.fit(Tensor(shape: [n, k], storage: U), k: k, nInit: 10, rng: &rng, cancellation: cancellation).labels
    }
}
