import Compression
import Foundation
import SqueezeCore

/// Rotating the decoder (QuaRot, Ashkboos et al. 2024; QuIP#'s incoherence processing): every
/// RMSNorm's weight is first folded into the layers that read its output (and the final norm into an
/// untied output head), so each norm is a plain x/rms(x), which commutes with an orthogonal Q. Then
/// the residual stream is rotated by a randomized Hadamard Q (hidden × hidden): the token embedding
/// becomes E·Q, every layer reading the stream W·Q (q, k, v, gate, up, the head), every layer writing
/// to it Qᵀ·W (o, down). The feed-forward's inner activations are rotated online by a second
/// randomized Hadamard R before the down projection, whose weight becomes W·R. The rotated model
/// computes the same function; its activations and weights lose their outlier channels, so 4-bit
/// weights and 8-bit activations lose less.
extension LanguageModel {
    public func rotated(seed: UInt64) throws -> LanguageModel {
        guard compressedBits.isEmpty else {
            throw ModelError("rotate a model before compressing it: \(compressedBits.count) of its layers are already compressed")
        }
        guard feedForwardRotation == nil else { throw ModelError("this model is already rotated") }
        let c = config
        for (what, n) in [("hidden size", c.hidden), ("intermediate size", c.intermediate)] where !Hadamard.canBuild(n) {
            throw ModelError("no Hadamard matrix of the \(what) \(n) can be built here (orders 2^k · 12^j)")
        }
        var rng = RandomGenerator(seed: seed)
        let Q = try Hadamard.randomRotation(c.hidden, rng: &rng), R = try Hadamard.randomRotation(c.intermediate, rng: &rng)
        var m = self
        func set(_ name: String, _ t: Tensor) { m.weights[name] = t }
        func ones(_ n: Int) -> Tensor { Tensor(shape: [n], repeating: 1) }
        // The head: the final norm folded in, then read from the rotated stream; untied from the embedding.
        let head = weights[c.tiedEmbeddings ? "token_embd.weight" : "output.weight"]!
        set("output.weight", try Tensor.gemm(AWQ.scaleColumns(head, weights["output_norm.weight"]!.storage), Q))
        set("output_norm.weight", ones(c.hidden))
        set("token_embd.weight", try Tensor.gemm(weights["token_embd.weight"]!, Q))
        let task = ProgressMeter.start("rotate \(name)", total: c.layers)
        defer { task.end() }
        for i in 0..<c.layers {
            let p = "blk.\(i)."
            for (norm, roles) in [("attn_norm", ["attn_q", "attn_k", "attn_v"]), ("ffn_norm", ["ffn_gate", "ffn_up"])] {
                let g = weights[p + norm + ".weight"]!.storage
                for r in roles { set(p + r + ".weight", try Tensor.gemm(AWQ.scaleColumns(weights[p + r + ".weight"]!, g), Q)) }
                set(p + norm + ".weight", ones(c.hidden))
            }
            set(p + "attn_output.weight", try Tensor.gemm(Q, weights[p + "attn_output.weight"]!, transA: true))
            let down = try Tensor.gemm(weights[p + "ffn_down.weight"]!, R)
            set(p + "ffn_down.weight", try Tensor.gemm(Q, down, transA: true))
            task.advance()
        }
        if c.tiedEmbeddings {
            m.config.tiedEmbeddings = false
            m.names.append("output.weight")
        }
        m.feedForwardRotation = R.transposed
        m.identity = UUID()
        return m
    }
}
