import Compression
import Foundation
import Models
import SqueezeCore

/// Model-level transforms of the LLM compression toolbox: AWQ with its scales folded into the
/// model, SmoothQuant, rotation.
extension Builtins {
    static let calibrationParams: [ParamSpec] = [
        ParamSpec("calibration", .any, .none, namedOnly: true, doc: "a text (or list of texts) whose tokens calibrate the model"),
        ParamSpec("tokens", .integer, .value(.number(2048)), range: 1...1_000_000, namedOnly: true, doc: "calibration tokens used"),
        ParamSpec(
            "window", .integer, .value(.number(512)), range: 1...1_000_000, namedOnly: true,
            doc: "calibration sequences of this many tokens"),
    ]

    static func needCalibration(_ args: Arguments, _ what: String) throws {
        if args.isNone("calibration") { throw args.error("calibration", "\(what) needs calibration: a text whose tokens calibrate it") }
    }

    static let llmToolbox: [Operation] = [
        Operation(
            "awq", family: "models",
            summary: "AWQ on a decoder: activation-aware scales searched per block, folded into the norms, then clipped and quantized.",
            doc:
                """
                Lin et al. 2024 (MLSys), as mit-han-lab/llm-awq's run_awq runs a Llama block: from each block's calibration \
                inputs, scales s = mean|x|^α / √(max s·min s) with α on a grid of 20 (0 … 0.95) are searched for {q, k, v} against \
                the attention module's output (o-projection included), for {gate, up} against the feed-forward module's output, and \
                for down against its own, every candidate layer quantized as Q(W·diag(s))·diag(s)⁻¹; the scales are folded into \
                attn_norm, ffn_norm and up's rows (the output projection only when v and o have the same shape, i.e. no \
                grouped-query attention, as the reference). Then each group of every layer except q and k is clipped to \
                ±max|w|(1 − i/20), i < 10, minimising its partial output error on 512 strided tokens, and every layer is quantized \
                with asymmetric grids over each group's own min/max (scales at 16 bits). stage: \"scaled\" stops after folding — \
                the same function as the input model —, \"clipped\" after clipping (float weights).
                """,
            example:
                """
                m = load(\"smollm2\")\ntext = load(\"canterbury\").texts.alice29\nq = awq(m, bits: 4, group: 64, calibration: text, \
                tokens: 64, window: 64)\nprint(round(q.linear_bits_per_param, digits: 3))
                """,
            params: [
                ParamSpec("model", .any),
                ParamSpec("bits", .integer, .value(.number(4)), range: 1...8, namedOnly: true),
                ParamSpec(
                    "group", .integer, .value(.number(128)), range: 1...1_000_000, namedOnly: true, doc: "weights per grid along a row"),
                ParamSpec("stage", .choice(LanguageModel.AWQStage.allCases.map(\.rawValue)), .value(.string("quantized")), namedOnly: true),
                ParamSpec(
                    "grid", .integer, .value(.number(20)), range: 1...1000, namedOnly: true, doc: "ratios tried: α = i/grid, i < grid"),
            ] + calibrationParams
        ) { args, interp in
            let m = try LM.model(args)
            try needCalibration(args, "awq")
            let (sequences, count) = try LM.calibrationSequences(m, args)
            let bits = try args.int("bits"), group = try args.int("group")
            let stage = LanguageModel.AWQStage(rawValue: try args.string("stage"))!
            let (out, report) = try LM.wrap(args, "group") {
                try m.awq(
                    sequences: sequences, bits: bits, group: group, stage: stage, grid: try args.int("grid"),
                    cancellation: interp.cancellation)
            }
            let all = report.ratios.flatMap { $0 }
            let mean = all.reduce(0, +) / Double(max(all.count, 1))
            return .decoder(
                out.noting(
                    "awq(\(bits) bits, group \(group), \(stage.rawValue), \(count) calibration tokens, mean α \(Format.number(mean)))"))
        },

        Operation(
            "smooth", family: "models",
            summary: "SmoothQuant: migrate activation outliers into the weights, s_j = max|X_j|^α / max|W_j|^(1−α), folded into the norms.",
            doc:
                """
                Xiao et al. 2023 (ICML), mit-han-lab/smoothquant's smooth_lm for Llama blocks: block by block, the per-channel \
                maxima max_t|x_tj| of the inputs of {q, k, v} and of {gate, up} over the calibration tokens and the weights' \
                per-column maxima over all rows of those layers give s_j = max|X_j|^α / max|W_j|^(1−α) (both clamped at 1e-5); \
                attn_norm and ffn_norm are divided by s and the layers' columns multiplied by it — the same function, with \
                activations that per-token 8-bit grids quantize with less error. Evaluate W8A8 with compress(s, fn, activations: \
                {bits: 8}). The model keeps its activation quantization setting.
                """,
            example:
                """
                m = load(\"smollm2\")\ntext = load(\"canterbury\").texts.alice29\ns = smooth(m, calibration: text, tokens: 64)\n\
                a = logits(m, \"Hello\")\nb = logits(s, \"Hello\")\nprint(max(abs(a - b)) < 1e-3)
                """,
            params: [
                ParamSpec("model", .any),
                ParamSpec("alpha", .number, .value(.number(0.5)), range: 0...1, namedOnly: true, doc: "migration strength α"),
            ] + calibrationParams
        ) { args, interp in
            let m = try LM.model(args)
            try needCalibration(args, "smooth")
            let (sequences, count) = try LM.calibrationSequences(m, args)
            let alpha = try args.number("alpha")
            let (out, _) = try LM.wrap(args, "calibration") {
                try m.smoothed(sequences: sequences, alpha: alpha, cancellation: interp.cancellation)
            }
            return .decoder(out.noting("smooth(α \(Format.number(alpha)), \(count) calibration tokens)"))
        },

        Operation(
            "rotate", family: "models",
            summary: "Rotate a decoder by randomized Hadamard matrices (QuaRot): the same function, activations without outliers.",
            doc:
                """
                Ashkboos et al. 2024 (QuaRot), Tseng et al. 2024 (QuIP#): every RMSNorm weight is folded into the layers reading \
                it (the final norm into an untied output head), then the residual stream is rotated by Q = diag(s)·H/√n with \
                random signs s from seed and a Hadamard H (orders 2^k·12^j: Sylvester and Paley's order-12 matrix, Kronecker \
                products): embedding E·Q; q, k, v, gate, up and the head W·Q; o and down Qᵀ·W. The feed-forward's inner \
                activations are rotated online by a second randomized Hadamard R before down (its weight W·R). Logits are unchanged \
                to float rounding; activations' kurtosis drops, so W4A8 loses less. Rotate before compressing.
                """,
            example:
                """
                m = load(\"smollm2\")\nr = rotate(m, seed: 1)\nprint(max(abs(logits(m, \"Hi there\") - logits(r, \"Hi there\"))) < 1e-3)
                """,
            params: [ParamSpec("model", .any), ParamSpec("seed", .integer, .value(.number(0)), range: 0...1e15, namedOnly: true)]
        ) { args, interp in
            let m = try LM.model(args)
            let seed = try args.int("seed")
            let r = try LM.wrap(args, "model") { try m.rotated(seed: UInt64(seed)) }
            return .decoder(r.noting("rotate(seed \(seed))"))
        },

        Operation(
            "kurtosis", family: "metrics",
            summary: "Pearson kurtosis E[(x − μ)⁴] / σ⁴ of all elements (3 for a Gaussian): how heavy a tensor's outliers are.",
            doc:
                """
                Moments in Float64 over every element (population variance); 3 for a normal distribution, larger with heavy tails — \
                the statistic QuaRot and SpinQuant report for activations before and after rotation. NaN for fewer than two \
                elements or a constant tensor.
                """,
            example: "print(kurtosis([1, 2, 3, 4]), round(kurtosis(randn(10000, seed: 1)), digits: 1))",
            params: [ParamSpec("x", .tensor)]
        ) { args, _ in
            let x = try args.tensor("x")
            return .number(kurtosis(x))
        },
    ]

    static func kurtosis(_ x: Tensor) -> Double {
        let n = Double(x.count)
        guard x.count >= 2 else { return .nan }
        let mean = x.storage.reduce(0.0) { $0 + Double($1) } / n
        var m2 = 0.0, m4 = 0.0
        for v in x.storage {
            let d = Double(v) - mean, d2 = d * d
            m2 += d2
            m4 += d2 * d2
        }
        m2 /= n
        m4 /= n
        return m2 == 0 ? .nan : m4 / (m2 * m2)
    }
}
