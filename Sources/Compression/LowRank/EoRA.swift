import Foundation
import SqueezeCore

extension LowRank {
    static func fp16(_ t: Tensor) -> Tensor { t.map { Float(Float16($0)) } }

    /// EoRA (Liu et al. 2024): compensate ΔW = W − C in the eigenspace of the calibration
    /// covariance: C_X = XᵀX/N = QΛQᵀ (negative eigenvalues clamped to the smallest positive),
    /// Q′ = QΛ^½, SVD of ΔW Q′ = USVᵀ, B = U_r S_r^½, A = S_r^½ V_rᵀ Q′⁻¹; factors stored in fp16.
    /// Minimises ‖(ΔW − BA) Xᵀ‖ over rank r.
    public static func eora(_ W: Tensor, _ C: Tensor, X: Tensor, rank: Int) throws -> (B: Tensor, A: Tensor) {
        guard W.rank == 2, C.shape == W.shape else {
            throw CoreError.invalidParameter("C", "C must have W's shape \(Shape.describe(W.shape))")
        }
        let (m, n) = (W.shape[0], W.shape[1])
        guard X.rank == 2, X.shape[1] == n, X.shape[0] > 0 else { throw CoreError.invalidParameter("X", "X must be tokens × \(n)") }
        guard rank >= 1, rank <= min(m, n) else {
            throw CoreError.invalidParameter("rank", "rank \(rank) must be between 1 and min(m, n) = \(min(m, n))")
        }
        let cov = try Tensor.gemm(X, X, transA: true, alpha: 1 / Float(X.shape[0]))
        let e = try cov.eigh()
        let positive = e.values.storage.filter { $0 > 0 }
        guard let floor = positive.min() else {
            throw CoreError.invalidParameter("X", "the calibration covariance has no positive eigenvalue")
        }
        let lam = e.values.storage.map { $0 > 0 ? $0 : floor }
        let Q = e.vectors  // columns are eigenvectors
        let Qp = Tensor(shape: [n, n]) { o in
            for i in 0..<n { for j in 0..<n { o[i * n + j] = Q.storage[i * n + j] * lam[j].squareRoot() } }
        }
        let dW = Tensor(shape: W.shape, storage: zip(W.storage, C.storage).map { $0 - $1 })
        let f = try Tensor.gemm(dW, Qp).svd()
        let root = f.S.storage.map { $0.squareRoot() }
        let B = Tensor(shape: [m, rank]) { o in
            for i in 0..<m { for j in 0..<rank { o[i * rank + j] = f.U.storage[i * f.U.shape[1] + j] * root[j] } }
        }
        // Q′⁻¹ = Λ^−½ Qᵀ, so A = S^½ Vᵀ Λ^−½ Qᵀ.
        let VtScaled = Tensor(shape: [rank, n]) { o in
            for i in 0..<rank { for j in 0..<n { o[i * n + j] = root[i] * f.Vt.storage[i * n + j] / lam[j].squareRoot() } }
        }
        let A = try Tensor.gemm(VtScaled, Q, transB: true)
        return (fp16(B), fp16(A))
    }
}

extension Compressed {
    /// EoRA's correction of a compressed base C with its storage account: C's own account (or C at
    /// 32 bits when it is a plain tensor) plus the fp16 factors.
    public static func eora(_ W: Tensor, base C: Tensor, baseAccount: Compressed?, X: Tensor, rank: Int) throws -> Compressed {
        let f = try LowRank.eora(W, C, X: X, rank: rank)
        let base = baseAccount?.storage(prefixed: "base") ?? [Line("base", "C at 32 bits", count: C.count, bits: 32)]
        return Compressed(
            method: "eora", recon: try C + Tensor.gemm(f.B, f.A),
            parts: [("B", .tensor(f.B)), ("A", .tensor(f.A)), ("base", .tensor(C))],
            storage: base + [factors(W, rank: f.B.shape[1], bits: 16)])
    }
}
