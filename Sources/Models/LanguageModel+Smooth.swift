import Compression
import Foundation
import SqueezeCore

/// SmoothQuant (Xiao et al. 2023; mit-han-lab/smoothquant's smooth_lm for Llama blocks): the
/// per-channel maxima of the inputs of {q, k, v} and of {gate, up}, max_t |x_tj| over the calibration
/// tokens, give s_j = max|X_j|^α / max|W_:,j|^(1−α) (the weights' maximum over every row of the
/// group's layers, clamped at 1e-5; s clamped at 1e-5); the RMSNorm before divides by s and the
/// layers' columns multiply by it, so the function is unchanged while the activations' outlier
/// channels move into the weights, where per-channel weight grids absorb them.
extension LanguageModel {
    public func smoothed(
        sequences: [[Int]], alpha: Double, cancellation: CancellationToken? = nil
    ) throws -> (model: LanguageModel, scales: [[Float]]) {
        let layout = try calibrationLayout(sequences, "SmoothQuant", copies: 6)
        var m = self.quantizingActivations(nil), all: [[Float]] = []
        var x = embed(sequences)
        let task = ProgressMeter.start("smooth \(name)", total: config.layers)
        defer { task.end() }
        for i in 0..<config.layers {
            try cancellation?.check()
            let p = "blk.\(i)."
            var capture = Capture()
            capture.inputs = [p + "attn_q", p + "ffn_gate"]
            var none: [KVCache]? = nil
            var out = Output(final: Tensor.zeros([0, config.hidden]), lengths: sequences.map(\.count))
            try m.block(i, &x, layout, caches: &none, capture: capture, out: &out, cancellation: cancellation)
            for (input, norm, roles) in [
                ("attn_q", "attn_norm", ["attn_q", "attn_k", "attn_v"]), ("ffn_gate", "ffn_norm", ["ffn_gate", "ffn_up"]),
            ] {
                let layers = roles.map { p + $0 }
                let s = SmoothQuant.scales(
                    activationMax: SmoothQuant.columnMaxima(out.inputs[p + input]!), weights: layers.map { m.weights[$0 + ".weight"]! },
                    alpha: alpha)
                m = try m.folding(s, into: p + norm + ".weight", layers: layers)
                all.append(s)
            }
            task.advance()
        }
        return (m.quantizingActivations(activationQuantization), all)
    }
}
