import Compression
import Foundation
import SqueezeCore

/// AWQ on the whole decoder (Lin et al. 2024; mit-han-lab/llm-awq's run_awq for Llama blocks):
/// block by block, from the inputs the calibration tokens give that block, the scales of each group
/// of layers sharing an input are searched against the output of the module they feed — {q, k, v}
/// against the attention module's output (o-projection included), {gate, up} against the
/// feed-forward module's, down against its own — and folded into the operation before: the
/// attention and feed-forward RMSNorm weights, and the up projection's rows for down. The output
/// projection is scaled through v only when they have the same shape (no grouped-query attention),
/// as the reference does. Then every layer but q and k gets AWQ's clipping search, and every layer
/// is quantized. Scaling alone leaves the function unchanged: `stage: .scaled` returns that model.
extension LanguageModel {
    public enum AWQStage: String, Sendable, CaseIterable { case scaled, clipped, quantized }

    /// The chosen α of each block's groups, in the order qkv, (o), gate/up, down.
    public struct AWQReport: Sendable {
        public var ratios: [[Double]] = []
    }

    public func awq(
        sequences: [[Int]], bits: Int, group: Int?, stage: AWQStage = .quantized, grid: Int = 20,
        cancellation: CancellationToken? = nil
    ) throws -> (model: LanguageModel, report: AWQReport) {
        if let group {
            for (n, cols) in [("hidden size", config.hidden), ("intermediate size", config.intermediate)] where cols % group != 0 {
                throw ModelError("group \(group) does not divide the \(n) \(cols); AWQ's groups must divide every layer's inputs")
            }
        }
        let layout = try calibrationLayout(sequences, "AWQ", copies: 10)
        var m = self, report = AWQReport()
        var x = embed(sequences)
        let task = ProgressMeter.start("awq \(name)", total: config.layers)
        defer { task.end() }
        for i in 0..<config.layers {
            try cancellation?.check()
            let p = "blk.\(i)."
            var capture = Capture()
            capture.inputs = Set(Self.roles.map { p + $0 })
            var none: [KVCache]? = nil
            var out = Output(final: Tensor.zeros([0, config.hidden]), lengths: sequences.map(\.count))
            try m.block(i, &x, layout, caches: &none, capture: capture, out: &out, cancellation: cancellation)
            func W(_ role: String) -> Tensor { m.weights[p + role + ".weight"]! }
            var inputs: [String: Tensor] = [:]
            for r in Self.roles { inputs[r] = out.inputs[p + r]! }
            var ratios: [Double] = []
            // {q, k, v} → the attention module, folded into attn_norm.
            let Xa = inputs["attn_q"]!
            let orgAttention = try m.attentionModule(Xa, W("attn_q"), W("attn_k"), W("attn_v"), W("attn_output"), layout, i, cancellation)
            let sa = try AWQ.searchScales(
                xMax: AWQ.activationScale(Xa), layers: [W("attn_q"), W("attn_k"), W("attn_v")], bits: bits, group: group, grid: grid,
                cancellation: cancellation
            ) { c in
                AWQ.meanSquaredDifference(
                    orgAttention, try m.attentionModule(Xa, c[0], c[1], c[2], W("attn_output"), layout, i, cancellation))
            }
            m = try m.folding(sa.scales, into: p + "attn_norm.weight", layers: ["attn_q", "attn_k", "attn_v"].map { p + $0 })
            inputs["attn_q"] = AWQ.scaleColumns(Xa, sa.scales, divide: true)
            ratios.append(sa.ratio)
            if config.kvDim == config.hidden {
                let Xo = inputs["attn_output"]!
                let so = try AWQ.searchScales(
                    xMax: AWQ.activationScale(Xo), layers: [W("attn_output")], bits: bits, group: group, grid: grid,
                    cancellation: cancellation, loss: try AWQ.outputLoss(Xo, W("attn_output")))
                m = try m.folding(so.scales, intoRowsOf: p + "attn_v", layer: p + "attn_output")
                inputs["attn_output"] = AWQ.scaleColumns(Xo, so.scales, divide: true)
                ratios.append(so.ratio)
            }
            // {gate, up} → the feed-forward module, folded into ffn_norm.
            let Xf = inputs["ffn_gate"]!
            let orgFFN = try m.feedForwardModule(Xf, W("ffn_gate"), W("ffn_up"), W("ffn_down"))
            let sf = try AWQ.searchScales(
                xMax: AWQ.activationScale(Xf), layers: [W("ffn_gate"), W("ffn_up")], bits: bits, group: group, grid: grid,
                cancellation: cancellation
            ) { c in AWQ.meanSquaredDifference(orgFFN, try m.feedForwardModule(Xf, c[0], c[1], W("ffn_down"))) }
            m = try m.folding(sf.scales, into: p + "ffn_norm.weight", layers: [p + "ffn_gate", p + "ffn_up"])
            inputs["ffn_gate"] = AWQ.scaleColumns(Xf, sf.scales, divide: true)
            ratios.append(sf.ratio)
            // down → itself, folded into up's rows.
            let Xd = inputs["ffn_down"]!
            let sd = try AWQ.searchScales(
                xMax: AWQ.activationScale(Xd), layers: [W("ffn_down")], bits: bits, group: group, grid: grid, cancellation: cancellation,
                loss: try AWQ.outputLoss(Xd, W("ffn_down")))
            m = try m.folding(sd.scales, intoRowsOf: p + "ffn_up", layer: p + "ffn_down")
            inputs["ffn_down"] = AWQ.scaleColumns(Xd, sd.scales, divide: true)
            ratios.append(sd.ratio)
            report.ratios.append(ratios)
            if stage != .scaled {
                let source = [
                    "attn_v": "attn_q", "attn_output": "attn_output", "ffn_gate": "ffn_gate", "ffn_up": "ffn_gate", "ffn_down": "ffn_down",
                ]
                for role in ["attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"] {
                    let bounds = try AWQ.searchClip(
                        W(role), X: inputs[source[role]!]!, bits: bits, group: group, grid: grid, cancellation: cancellation)
                    m = try m.replacing(tensor: p + role + ".weight", with: AWQ.clip(W(role), bounds: bounds, group: group))
                }
            }
            if stage == .quantized {
                for role in Self.roles {
                    let q = try AWQ.pseudoQuantize(W(role), bits: bits, group: group, scaleBits: 16)
                    m = try m.replacing(
                        p + role, with: q.recon, bits: q.compressed(method: "awq", bits: bits, symmetric: false, scaleBits: 16).bits)
                }
            }
            task.advance()
        }
        return (m, report)
    }

    /// norm ← norm / s and each layer's columns × s: the same function, the layers' inputs divided by s.
    func folding(_ s: [Float], into norm: String, layers: [String]) throws -> LanguageModel {
        var m = try replacing(tensor: norm, with: Tensor(shape: [s.count], storage: zip(weights[norm]!.storage, s).map { $0 / $1 }))
        for l in layers { m = try m.replacing(tensor: l + ".weight", with: AWQ.scaleColumns(weights[l + ".weight"]!, s)) }
        return m
    }

    /// previous projection's rows / s and the layer's columns × s.
    func folding(_ s: [Float], intoRowsOf previous: String, layer: String) throws -> LanguageModel {
        let P = weights[previous + ".weight"]!, cols = P.shape[1]
        let scaled = Tensor(shape: P.shape) { o in P.withBuffer { pp in for i in 0..<P.count { o[i] = pp[i] / s[i / cols] } } }
        return try replacing(tensor: previous + ".weight", with: scaled)
            .replacing(tensor: layer + ".weight", with: AWQ.scaleColumns(weights[layer + ".weight"]!, s))
    }

    /// The attention module of block i on normed inputs a: o(attention(rope(a Wqᵀ), rope(a Wkᵀ), a Wvᵀ)).
    func attentionModule(
        _ a: Tensor, _ Wq: Tensor, _ Wk: Tensor, _ Wv: Tensor, _ Wo: Tensor, _ layout: Layout, _ i: Int,
        _ cancellation: CancellationToken?
    ) throws -> Tensor {
        var q = try linear(a, Wq), k = try linear(a, Wk)
        let v = try linear(a, Wv)
        rope(&q, heads: config.heads, layout)
        rope(&k, heads: config.kvHeads, layout)
        var none: [KVCache]? = nil, unused = KVAccount()
        let (ctx, _) = try attend(q, k, v, layout, layer: i, caches: &none, keep: false, account: &unused, cancellation)
        return try linear(ctx, Wo)
    }

    /// The feed-forward module on normed inputs b: down(silu(b Wgᵀ) ⊙ b Wuᵀ).
    func feedForwardModule(_ b: Tensor, _ Wg: Tensor, _ Wu: Tensor, _ Wd: Tensor) throws -> Tensor {
        var gate = try linear(b, Wg)
        swiGLU(&gate, try linear(b, Wu))
        return try linear(gate, Wd)
    }
}
