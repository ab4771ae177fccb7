import Foundation
import SqueezeCore

/// Low-rank approximations (ALGORITHMS.md §B6).
public enum LowRank {
    /// Truncated SVD (Eckart–Young optimal): factors B = U_r Σ_r (m × r) and A = V_rᵀ (r × n).
    public static func truncated(_ W: Tensor, rank: Int?, energy: Double?) throws -> (B: Tensor, A: Tensor, rank: Int, S: Tensor) {
        guard W.rank == 2 else { throw CoreError.invalidArgument("lowrank: expected a matrix, got shape \(Shape.describe(W.shape))") }
        let (m, n) = (W.shape[0], W.shape[1])
        guard m > 0, n > 0 else { throw CoreError.invalidArgument("lowrank: the matrix is empty") }
        let f = try W.svd()
        var r: Int
        if let rank {
            guard rank >= 1, rank <= min(m, n) else {
                throw CoreError.invalidArgument("lowrank: rank \(rank) must be between 1 and min(m, n) = \(min(m, n))")
            }
            r = rank
        } else {
            let e = energy ?? 0.9
            guard e > 0, e <= 1 else { throw CoreError.invalidArgument("lowrank: energy must be in (0, 1], got \(e)") }
            let sq = f.S.storage.map { Double($0) * Double($0) }
            let total = sq.reduce(0, +)
            var acc = 0.0
            r = sq.count
            for (i, v) in sq.enumerated() {
                acc += v
                if total == 0 || acc >= e * total - 1e-12 * total { r = i + 1; break }
            }
        }
        let B = Tensor(shape: [m, r]) { out in
            for i in 0..<m { for j in 0..<r { out[i * r + j] = f.U.storage[i * f.U.shape[1] + j] * f.S.storage[j] } }
        }
        let A = Tensor(shape: [r, n]) { out in for i in 0..<r { for j in 0..<n { out[i * n + j] = f.Vt.storage[i * n + j] } } }
        return (B, A, r, f.S)
    }

    /// Randomized SVD (Halko, Martinsson & Tropp 2011): a Gaussian sketch of rank + oversample
    /// columns, `iters` power iterations re-orthonormalised by QR, then the SVD of the small QᵀW.
    public static func randomized(
        _ W: Tensor, rank: Int, oversample: Int, iters: Int, rng: inout RandomGenerator
    ) throws -> (B: Tensor, A: Tensor) {
        guard W.rank == 2 else { throw CoreError.invalidArgument("rsvd: expected a matrix, got shape \(Shape.describe(W.shape))") }
        let (m, n) = (W.shape[0], W.shape[1])
        guard rank >= 1, rank <= min(m, n) else {
            throw CoreError.invalidArgument("rsvd: rank \(rank) must be between 1 and min(m, n) = \(min(m, n))")
        }
        let l = min(n, min(m, rank + max(0, oversample)))
        let omega = Tensor.randn([n, l], using: &rng)
        var Q = try Tensor.gemm(W, omega).qr().Q
        for _ in 0..<max(0, iters) {
            let Z = try Tensor.gemm(W, Q, transA: true).qr().Q
            Q = try Tensor.gemm(W, Z).qr().Q
        }
        let small = try Tensor.gemm(Q, W, transA: true)  // l × n
        let f = try small.svd()
        let Ur = try Tensor.gemm(Q, f.U)  // m × l
        let B = Tensor(shape: [m, rank]) { out in
            for i in 0..<m { for j in 0..<rank { out[i * rank + j] = Ur.storage[i * Ur.shape[1] + j] * f.S.storage[j] } }
        }
        let A = Tensor(shape: [rank, n]) { out in for i in 0..<rank { for j in 0..<n { out[i * n + j] = f.Vt.storage[i * n + j] } } }
        return (B, A)
    }
}

extension Compressed {
    /// Truncated SVD W ≈ B·A with its storage account: r·(m + n) factor values at 32 bits.
    public static func lowRank(_ W: Tensor, rank: Int?, energy: Double?) throws -> Compressed {
        let f = try LowRank.truncated(W, rank: rank, energy: energy)
        return Compressed(
            method: "lowrank", recon: try Tensor.gemm(f.B, f.A),
            parts: [("B", .tensor(f.B)), ("A", .tensor(f.A)), ("rank", .integer(f.rank)), ("S", .tensor(f.S))],
            storage: [factors(W, rank: f.rank, bits: 32)])
    }

    /// Randomized SVD with the same account as `lowRank`.
    public static func randomizedLowRank(
        _ W: Tensor, rank: Int, oversample: Int, iters: Int,
        rng: inout RandomGenerator
    ) throws -> Compressed {
        let f = try LowRank.randomized(W, rank: rank, oversample: oversample, iters: iters, rng: &rng)
        return Compressed(
            method: "rsvd", recon: try Tensor.gemm(f.B, f.A),
            parts: [("B", .tensor(f.B)), ("A", .tensor(f.A)), ("rank", .integer(rank))],
            storage: [factors(W, rank: rank, bits: 32)])
    }

    /// B (m × r) and A (r × n) of an m × n matrix, at `bits` per value.
    static func factors(_ W: Tensor, rank: Int, bits: Double) -> Line {
        Line("factors", "B (m × r) and A (r × n)", count: rank * (W.shape[0] + W.shape[1]), bits: bits)
    }
}
