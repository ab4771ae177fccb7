import Foundation
import SqueezeCore

/// Sparse subspace clustering by orthogonal matching pursuit, SSC-OMP (You, Robinson & Vidal,
/// CVPR 2016): every point, normalised to unit length, is written as a sparse combination of the
/// other points, chosen greedily — the point most correlated with the current residual joins the
/// support, the coefficients are refitted by least squares on the support, and it stops after
/// `maxNonzeros` points or when ‖residual‖ ≤ tol. Points on a union of independent subspaces pick
/// points of their own subspace, so the affinity |C| + |C|ᵀ connects each subspace only within
/// itself; spectral clustering of it gives the labels.
public enum SubspaceClustering {
    /// The n × n self-expressive coefficients (row j expresses point j; the diagonal is zero).
    public static func ompCoefficients(
        _ X: Tensor, maxNonzeros: Int, tol: Double = 1e-6, cancellation: CancellationToken? = nil
    ) throws -> [Double] {
        guard X.rank == 2, X.shape[0] >= 2 else {
            throw CoreError.invalidParameter("X", "subspace: expected at least two samples as rows of a matrix")
        }
        try X.requireFinite("subspace")
        let n = X.shape[0], d = X.shape[1]
        guard maxNonzeros >= 1 else { throw CoreError.invalidParameter("nonzeros", "subspace: nonzeros must be at least 1") }
        try Memory.check(elements: n * n, copies: 4, "subspace clustering's n × n coefficients")
        // Unit rows (a zero row stays zero and is expressed by nothing).
        let Xn = Tensor(shape: [n, d]) { o in
            X.withBuffer { x in
                for i in 0..<n {
                    var s: Float = 0
                    for j in 0..<d { s += x[i * d + j] * x[i * d + j] }
                    let inv = s > 0 ? 1 / s.squareRoot() : 0
                    for j in 0..<d { o[i * d + j] = x[i * d + j] * inv }
                }
            }
        }
        let kmax = min(maxNonzeros, n - 1, d)
        var C = [Double](repeating: 0, count: n * n)
        var support = [[Int]](repeating: [], count: n)
        var residual = Xn
        var active = (0..<n).filter { i in (0..<d).contains { Xn.storage[i * d + $0] != 0 } }
        for _ in 0..<kmax where !active.isEmpty {
            try cancellation?.check()
            let corr = try Tensor.gemm(residual, Xn, transB: true)  // n × n correlations
            var stillActive: [Int] = []
            var newResidual = residual.storage
            for j in active {
                var best = -1
                var bestValue: Float = -1
                for i in 0..<n where i != j && !support[j].contains(i) {
                    let v = abs(corr.storage[j * n + i])
                    if v > bestValue { bestValue = v; best = i }
                }
                guard best >= 0 else { continue }
                support[j].append(best)
                // Least squares on the support: (X_S X_Sᵀ) c = X_S x_j, in Float64.
                let S = support[j], t = S.count
                var G = [Double](repeating: 0, count: t * t), b = [Double](repeating: 0, count: t)
                for a in 0..<t {
                    for c in 0..<t {
                        var s = 0.0; for q in 0..<d { s += Double(Xn.storage[S[a] * d + q]) * Double(Xn.storage[S[c] * d + q]) };
                        G[a * t + c] = s
                    }
                    var s = 0.0; for q in 0..<d { s += Double(Xn.storage[S[a] * d + q]) * Double(Xn.storage[j * d + q]) }; b[a] = s
                }
                guard let coef = solveSymmetric(G, b, t) else { support[j].removeLast(); continue }
                var norm = 0.0
                for q in 0..<d {
                    var r = Double(Xn.storage[j * d + q])
                    for a in 0..<t { r -= coef[a] * Double(Xn.storage[S[a] * d + q]) }
                    newResidual[j * d + q] = Float(r)
                    norm += r * r
                }
                for i in 0..<n { C[j * n + i] = 0 }
                for a in 0..<t { C[j * n + S[a]] = coef[a] }
                if norm.squareRoot() > tol { stillActive.append(j) }
            }
            residual = Tensor(shape: [n, d], storage: newResidual)
            active = stillActive
        }
        return C
    }

    /// Solves G c = b for a small symmetric positive (semi)definite G by Gaussian elimination with
    /// partial pivoting; nil when G is singular (a repeated point in the support).
    static func solveSymmetric(_ G: [Double], _ b: [Double], _ t: Int) -> [Double]? {
        var A = G, x = b
        for col in 0..<t {
            var piv = col
            for r in (col + 1)..<t where abs(A[r * t + col]) > abs(A[piv * t + col]) { piv = r }
            guard abs(A[piv * t + col]) > 1e-12 else { return nil }
            if piv != col {
                for c in 0..<t { A.swapAt(col * t + c, piv * t + c) }
                x.swapAt(col, piv)
            }
            for r in (col + 1)..<t {
                let f = A[r * t + col] / A[col * t + col]
                if f == 0 { continue }
                for c in col..<t { A[r * t + c] -= f * A[col * t + c] }
                x[r] -= f * x[col]
            }
        }
        for r in stride(from: t - 1, through: 0, by: -1) {
            var s = x[r]
            for c in (r + 1)..<t { s -= A[r * t + c] * x[c] }
            x[r] = s / A[r * t + r]
        }
        return x
    }

    /// SSC-OMP labels: spectral clustering of the affinity |C| + |C|ᵀ.
    public static func cluster(
        _ X: Tensor, k: Int, maxNonzeros: Int, rng: inout RandomGenerator,
        cancellation: CancellationToken? = nil
    ) throws -> (labels: [Int], coefficients: [Double]) {
        let n = X.shape.first ?? 0
        let C = try ompCoefficients(X, maxNonzeros: maxNonzeros, cancellation: cancellation)
        var A = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for j in 0..<n { A[i * n + j] = abs(C[i * n + j]) + abs(C[j * n + i]) } }
        return (try Spectral.cluster(affinity: A, n: n, k: k, rng: &rng, cancellation: cancellation), C)
    }
}
