import Foundation
import SqueezeCore

extension LowRank {
    /// BitStack (Wang et al. 2025): R₀ = W; each block stores S = sign(R) (0 → +1) as bits and a
    /// rank-k approximation of |R| in fp16; R ← R − S ⊙ (U_k Σ_k V_kᵀ). ‖R‖ never increases.
    public static func bitstack(_ W: Tensor, blocks: Int, rank: Int) throws -> (recon: Tensor, residualNorms: [Double]) {
        guard W.rank == 2 else { throw CoreError.invalidParameter("W", "expected a matrix, got shape \(Shape.describe(W.shape))") }
        let (m, n) = (W.shape[0], W.shape[1])
        guard rank >= 1, rank <= min(m, n) else {
            throw CoreError.invalidParameter("rank", "rank \(rank) must be between 1 and min(m, n) = \(min(m, n))")
        }
        guard blocks >= 1 else { throw CoreError.invalidParameter("blocks", "blocks must be at least 1") }
        var R = W.storage
        var norms = [R.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()]
        for _ in 0..<blocks {
            let sign = R.map { $0 >= 0 ? Float(1) : -1 }
            let absR = Tensor(shape: [m, n], storage: R.map { abs($0) })
            let f = try truncated(absR, rank: rank, energy: nil)
            let approx = try Tensor.gemm(fp16(f.B), fp16(f.A))
            for i in 0..<(m * n) { R[i] -= sign[i] * approx.storage[i] }
            norms.append(R.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot())
        }
        return (Tensor(shape: W.shape, storage: zip(W.storage, R).map { $0 - $1 }), norms)
    }
}

extension Compressed {
    /// BitStack with its storage account: per block, one sign bit per weight and a rank-k fp16
    /// approximation of the residual's magnitude.
    public static func bitStack(_ W: Tensor, blocks: Int, rank: Int) throws -> Compressed {
        let r = try LowRank.bitstack(W, blocks: blocks, rank: rank)
        let (m, n) = (W.shape[0], W.shape[1])
        return Compressed(
            method: "bitstack", recon: r.recon,
            parts: [("norms", .numbers(r.residualNorms)), ("blocks", .integer(blocks))],
            storage: [
                Line("signs", "one sign bit per weight and block", count: blocks * m * n, bits: 1),
                Line("factors", "a rank-k factorization per block", count: blocks * rank * (m + n), bits: 16),
            ])
    }
}
