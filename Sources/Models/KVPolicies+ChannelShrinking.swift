import Compression
import Foundation
import SqueezeCore

/// CSKV (Wang et al. 2024): the cache stores each token's keys and values projected onto r of
/// the kv_dim channels — a latent K·P (tokens × r) read back as K·P·Pᵀ — with P (kv_dim × r,
/// orthonormal columns) from the SVD of the key/value projection weights (source "weights": the
/// top left singular vectors of W_k, since K = X·W_kᵀ lies in their span) or of the keys and
/// values themselves on calibration text (source "activations": the top right singular vectors,
/// the rank-r subspace that loses least of them, as SVD-LLM and EoRA weight by activations).
/// Keys are shrunk before RoPE. Optionally the latent is quantized per token (`bits` < 16), and
/// the last `recent` tokens of a window stay whole at fp16 (the bi-branch cache; simulated mode).
public struct ChannelShrinkTransform: KVTransform {
    public let rank: Int, recent: Int, bits: Int, source: String
    /// Per layer, P for keys and for values, row-major kv_dim × r.
    public let keyBasis: [Tensor], valueBasis: [Tensor]
    public let kvDim: Int?

    public init(rank: Int, recent: Int, bits: Int, source: String, keyBasis: [Tensor], valueBasis: [Tensor]) {
        (self.rank, self.recent, self.bits, self.source, self.keyBasis, self.valueBasis) = (
            rank, recent, bits, source, keyBasis, valueBasis
        )
        kvDim = keyBasis.first?.shape[0]
    }

    public var preRoPE: Bool { true }
    public var causal: Bool { recent == 0 }
    /// P for keys and values of every layer at fp16 (they replace the projections' factors).
    public var constantBits: [String: Double] { ["bases": Double(16 * (keyBasis + valueBasis).reduce(0) { $0 + $1.count })] }
    public var description: String { "cache.cskv(rank: \(rank), source: \(source), recent: \(recent), bits: \(bits))" }

    /// The bases from the model's weights, or from its pre-RoPE keys and values on `tokens`.
    public static func calibrate(
        _ model: LanguageModel, rank: Int, source: String, tokens: [Int], window: Int, recent: Int, bits: Int,
        cancellation: CancellationToken?
    ) throws -> ChannelShrinkTransform {
        let c = model.config, kvd = c.kvDim
        guard rank >= 1, rank <= kvd else { throw ModelError("rank \(rank) must be between 1 and the model's kv_dim \(kvd)") }
        var K = Array(repeating: [Float](), count: c.layers), V = K
        if source == "activations" {
            try model.calibrationPasses(tokens, window: window, cancellation: cancellation) { out, _ in
                for l in 0..<c.layers where out.values[l] != nil {
                    K[l] += out.keysBeforeRoPE[l]!.storage
                    V[l] += out.values[l]!.storage
                }
            }
        }
        func basis(_ layer: Int, _ role: String, _ data: [Float]) throws -> Tensor {
            if source == "weights" {
                guard let W = model.weight("blk.\(layer).\(role)") else { throw ModelError("the model has no blk.\(layer).\(role)") }
                let U = try W.svd().U  // kv_dim × kv_dim
                return Tensor(shape: [kvd, rank]) { o in
                    for i in 0..<kvd { for j in 0..<rank { o[i * rank + j] = U.storage[i * U.shape[1] + j] } }
                }
            }
            let n = data.count / kvd
            guard n >= rank else { throw ModelError("\(n) calibration tokens are fewer than the rank \(rank)") }
            let Vt = try Tensor(shape: [n, kvd], storage: data).svd().Vt  // min(n, kv_dim) × kv_dim
            return Tensor(shape: [kvd, rank]) { o in for i in 0..<kvd { for j in 0..<rank { o[i * rank + j] = Vt.storage[j * kvd + i] } } }
        }
        let task = ProgressMeter.start("cskv bases", total: c.layers)
        defer { task.end() }
        var kb: [Tensor] = [], vb: [Tensor] = []
        for l in 0..<c.layers {
            try cancellation?.check()
            kb.append(try basis(l, "attn_k", K[l]))
            vb.append(try basis(l, "attn_v", V[l]))
            task.advance()
        }
        return ChannelShrinkTransform(rank: rank, recent: recent, bits: bits, source: source, keyBasis: kb, valueBasis: vb)
    }

    /// Rows `0..<m` of X (rows × kv_dim) replaced by their projection (the latent quantized when asked).
    func shrink(_ X: inout [Float], rows m: Int, basis P: Tensor) throws {
        guard m > 0 else { return }
        let kvd = P.shape[0], r = P.shape[1]
        var latent = try Tensor.gemm(Tensor(shape: [m, kvd], storage: Array(X[0..<(m * kvd)])), P)
        if bits < 16 {
            latent.withMutableBuffer { lp in
                for row in 0..<m { CacheQuantization.uniform(lp.baseAddress! + row * r, count: r, stride: 1, bits: bits) }
            }
        }
        let back = try Tensor.gemm(latent, P, transB: true)
        for i in 0..<(m * kvd) { X[i] = back.storage[i] }
    }

    public func apply(
        layer: Int, keys: inout [Float], values: inout [Float], queries: [Float], rows n: Int, past: Int, config c: LanguageModel.Config
    ) throws -> KVAccount {
        let kvd = c.kvDim, m = max(0, n - recent)
        try shrink(&keys, rows: m, basis: keyBasis[layer])
        try shrink(&values, rows: m, basis: valueBasis[layer])
        var a = KVAccount(elements: n * kvd)
        for part in [\KVAccount.keys, \KVAccount.values] {
            a[keyPath: part]["latent"] = Double(m * rank * (bits < 16 ? bits : 16))
            if bits < 16 { a[keyPath: part]["scales"] = Double(32 * m) }
            if n > m { a[keyPath: part]["fp16 tokens"] = Double(16 * (n - m) * kvd) }
        }
        return a
    }
}
