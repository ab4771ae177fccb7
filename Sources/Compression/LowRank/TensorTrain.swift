import Foundation
import SqueezeCore

/// Tensor-train (MPO) decomposition by sequential truncated SVDs (Oseledets 2011; CompactifAI):
/// W's values are viewed as a tensor of extents `shape` (their product is W.count, row-major) and
/// factored into cores G_k of r_{k−1} × n_k × r_k with r_k ≤ ranks[k].
public enum TensorTrain {
    public static func decompose(_ W: Tensor, shape: [Int], ranks: [Int]) throws -> (cores: [Tensor], recon: Tensor) {
        guard shape.count >= 2, shape.allSatisfy({ $0 >= 1 }), shape.reduce(1, *) == W.count else {
            throw CoreError.invalidParameter(
                "shape", "shape \(shape) must have at least two extents whose product is W's \(W.count) values")
        }
        guard ranks.count == shape.count - 1, ranks.allSatisfy({ $0 >= 1 }) else {
            throw CoreError.invalidParameter("ranks", "give \(shape.count - 1) ranks (one between each pair of extents), each ≥ 1")
        }
        var cores: [Tensor] = []
        var C = W.storage
        var rPrev = 1
        var rest = W.count
        for k in 0..<(shape.count - 1) {
            let rowsK = rPrev * shape[k]
            rest /= shape[k]
            let f = try Tensor(shape: [rowsK, rest], storage: C).svd()
            let r = min(ranks[k], f.S.count)
            let q = f.U.shape[1]
            cores.append(
                Tensor(shape: [rPrev, shape[k], r]) { o in for i in 0..<rowsK { for j in 0..<r { o[i * r + j] = f.U.storage[i * q + j] } } }
            )
            C = [Float](repeating: 0, count: r * rest)
            for i in 0..<r { for j in 0..<rest { C[i * rest + j] = f.S.storage[i] * f.Vt.storage[i * rest + j] } }
            rPrev = r
        }
        cores.append(Tensor(shape: [rPrev, shape.last!, 1], storage: C))
        // Contract left to right: M (prefix × r) @ core (r × n·r′).
        var M = try cores[0].reshaped([shape[0], cores[0].shape[2]])
        for k in 1..<cores.count {
            let c = cores[k]
            let prod = try Tensor.gemm(M, try c.reshaped([c.shape[0], c.shape[1] * c.shape[2]]))
            M = try prod.reshaped([prod.count / c.shape[2], c.shape[2]])
        }
        return (cores, try M.reshaped(W.shape))
    }
}

extension Compressed {
    /// Tensor-train cores with their storage account: every core value at 32 bits.
    public static func tensorTrain(_ W: Tensor, shape: [Int], ranks: [Int]) throws -> Compressed {
        let r = try TensorTrain.decompose(W, shape: shape, ranks: ranks)
        return Compressed(
            method: "tt", recon: r.recon, parts: [("cores", .tensors(r.cores))],
            storage: [Line("cores", "the values of every core", count: r.cores.reduce(0) { $0 + $1.count }, bits: 32)])
    }
}
