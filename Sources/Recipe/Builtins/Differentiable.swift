import Foundation
import SqueezeCore
import Training

extension Builtins {
    /// grad, value_and_grad, and the operations made for networks; the latter take differentiated
    /// tensors themselves and work on plain tensors too.
    static let autodiff: [Operation] =
        [gradientOperation("grad", withValue: false), gradientOperation("value_and_grad", withValue: true)]
        + differentiable

    static let differentiable: [Operation] = [
        elementwiseOp(
            "gelu", .gelu, summary: "GELU x·Φ(x) with the exact erf (PyTorch's default), elementwise.",
            doc: "Hendrycks & Gimpel 2016. Derivative Φ(x) + x·φ(x).", example: "gelu(tensor([-1, 0, 1]))"),
        elementwiseOp(
            "round_ste", .roundSTE, summary: "Round half to even, with the straight-through gradient (identity).",
            doc: "Bengio et al. 2013's straight-through estimator: forward round(x), backward ∂/∂x = 1, for quantization-aware training.",
            example: "round_ste(tensor([0.4, 1.5, 2.5]))"),
        Operation(
            "quantize_ste", family: "autodiff",
            summary: "Symmetric uniform fake quantization with the straight-through gradient (quantization-aware training).",
            doc: """
                q = clip(round(x/s), −(2^(b−1)−1), 2^(b−1)−1)·s with s = max|x|/(2^(b−1)−1) over the tensor (per: "tensor") or each row \
                (per: "row"); the gradient passes through unchanged (the scale is a constant of the step), as in QAT with STE.
                """,
            example: "quantize_ste(tensor([0.1, -0.5, 1.0]), bits: 2)",
            params: [
                ParamSpec("x", .any), ParamSpec("bits", .integer, .value(.number(8)), range: 2...16, namedOnly: true),
                ParamSpec("per", .choice(["tensor", "row"]), .value(.string("tensor")), namedOnly: true),
            ]
        ) { args, interp in
            let t = tape(interp)
            let x = try Autodiff.tensorArg(args, "x", t)
            let q = try fakeQuantize(x.value, bits: try args.int("bits"), perRow: try args.string("per") == "row")
            return Autodiff.value(t.record(q, [x]) { g, _ in [g] }, t)
        },
        Operation(
            "softmax", family: "autodiff", summary: "exp(x − max) / Σ exp(x − max) along an axis (default the last).",
            example: "softmax(tensor([[1, 2, 3]]))", params: [ParamSpec("x", .any), axisParam]
        ) { args, interp in
            let t = tape(interp)
            return Autodiff.value(try t.softmax(try Autodiff.tensorArg(args, "x", t), axis: try args.int("axis")), t)
        },
        Operation(
            "log_softmax", family: "autodiff", summary: "x − log Σ exp x along an axis (default the last), computed stably.",
            example: "log_softmax(tensor([[1, 2, 3]]))", params: [ParamSpec("x", .any), axisParam]
        ) { args, interp in
            let t = tape(interp)
            return Autodiff.value(try t.logSoftmax(try Autodiff.tensorArg(args, "x", t), axis: try args.int("axis")), t)
        },
        Operation(
            "cross_entropy", family: "autodiff",
            summary: "Mean over rows of −log softmax(logits)[label]: the classification loss (PyTorch's F.cross_entropy).",
            doc: "logits n×c, labels n class indices in 0..<c. Gradient (softmax − onehot)/n.",
            example: "cross_entropy(tensor([[2, 0], [0, 2]]), [0, 1])",
            params: [ParamSpec("logits", .any), ParamSpec("labels", .any)]
        ) { args, interp in
            let t = tape(interp)
            return Autodiff.value(try t.crossEntropy(try Autodiff.tensorArg(args, "logits", t), labels: try labels(args, "labels")), t)
        },
        Operation(
            "conv2d", family: "autodiff",
            summary: "2-D convolution (cross-correlation, as PyTorch) of NCHW images with OIHW filters, plus a bias per output channel.",
            doc: """
                y[n, o] = b[o] + Σ_c x[n, c] ⋆ w[o, c]; output extent (H + 2·padding − k)/stride + 1. Computed as im2col and one GEMM for \
                the whole batch; the gradient is two GEMMs and col2im (Chellapilla et al. 2006).
                """,
            example: "conv2d(ones(1, 1, 4, 4), ones(2, 1, 3, 3), zeros(2), padding: 1)",
            params: [
                ParamSpec("x", .any), ParamSpec("w", .any), ParamSpec("b", .any, .none),
                ParamSpec("stride", .integer, .value(.number(1)), range: 1...1024, namedOnly: true),
                ParamSpec("padding", .integer, .value(.number(0)), range: 0...1024, namedOnly: true),
            ]
        ) { args, interp in
            let t = tape(interp)
            let b = args.isNone("b") ? nil : try Autodiff.tensorArg(args, "b", t)
            return Autodiff.value(
                try t.conv2d(
                    try Autodiff.tensorArg(args, "x", t), try Autodiff.tensorArg(args, "w", t), b, stride: try args.int("stride"),
                    padding: try args.int("padding")),
                t)
        },
        pooling("max_pool", max: true), pooling("avg_pool", max: false),
    ]

    static func pooling(_ name: String, max: Bool) -> Operation {
        Operation(
            name, family: "autodiff",
            summary: max
                ? "Largest value of each size×size window of NCHW images (no padding)." : "Mean of each size×size window of NCHW images.",
            example: "\(name)(reshape(arange(0, 16), [1, 1, 4, 4]), size: 2)",
            params: [
                ParamSpec("x", .any), ParamSpec("size", .integer, .value(.number(2)), range: 1...4096, namedOnly: true),
                ParamSpec("stride", .integer, .none, range: 1...4096, namedOnly: true, doc: "omitted: the window size"),
            ]
        ) { args, interp in
            let t = tape(interp)
            let size = try args.int("size")
            return Autodiff.value(
                try t.pool(try Autodiff.tensorArg(args, "x", t), size: size, stride: try args.optionalInt("stride") ?? size, max: max), t)
        }
    }

    static func fakeQuantize(_ x: Tensor, bits: Int, perRow: Bool) throws -> Tensor {
        let levels = Float((1 << (bits - 1)) - 1)
        let rows = perRow ? x.rows : 1
        guard !perRow || x.rank == 2 else { throw CoreError.invalidArgument("per: \"row\" needs a matrix") }
        let n = rows == 0 ? 0 : x.count / rows
        return Tensor(shape: x.shape) { out in
            x.withBuffer { a in
                for r in 0..<rows {
                    var m: Float = 0
                    for i in (r * n)..<((r + 1) * n) { m = Swift.max(m, Swift.abs(a[i])) }
                    let s = m > 0 ? m / levels : 1
                    for i in (r * n)..<((r + 1) * n) {
                        out[i] = Swift.min(Swift.max((a[i] / s).rounded(.toNearestOrEven), -levels), levels) * s
                    }
                }
            }
        }
    }
}
