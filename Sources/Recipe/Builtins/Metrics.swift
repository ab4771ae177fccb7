import Compression
import Foundation
import OrderedCollections
import SqueezeCore

extension Builtins {
    static let metrics: [Operation] = [
        Operation(
            "error", family: "metrics", summary: "Relative Frobenius error ‖A − B‖ / ‖A‖ (B may be a compressed value).",
            example: "print(error(tensor([3, 4]), tensor([3, 3])))",
            params: [ParamSpec("A", .tensor), ParamSpec("B", .tensor)]
        ) { args, interp in
            .number(try metric(args) { try Metrics.relativeError($0, $1) })
        },
        Operation(
            "mse", family: "metrics", summary: "Mean squared error between A and B.",
            example: "print(mse(tensor([1, 2]), tensor([1, 4])))",
            params: [ParamSpec("A", .tensor), ParamSpec("B", .tensor)]
        ) { args, interp in
            .number(try metric(args) { try Metrics.mse($0, $1) })
        },
        Operation(
            "psnr", family: "metrics", summary: "Peak signal-to-noise ratio 10·log₁₀(peak²/MSE) in dB (peak default: max |A|).",
            example: "print(round(psnr(tensor([0, 1]), tensor([0, 0.9]), peak: 1), digits: 3))",
            params: [ParamSpec("A", .tensor), ParamSpec("B", .tensor), ParamSpec("peak", .number, .none, namedOnly: true)]
        ) { args, interp in
            let A = try args.tensor("A")
            let peak = try args.optionalNumber("peak") ?? Double(A.storage.map { abs($0) }.max() ?? 1)
            return .number(try metric(args) { try Metrics.psnr($0, $1, peak: peak) })
        },
        Operation(
            "snr", family: "metrics", summary: "Signal-to-noise ratio 10·log₁₀(‖A‖²/‖A − B‖²) in dB.",
            example: "print(round(snr(tensor([1, 1]), tensor([1, 0.9])), digits: 3))",
            params: [ParamSpec("A", .tensor), ParamSpec("B", .tensor)]
        ) { args, interp in
            .number(try metric(args) { try Metrics.snr($0, $1) })
        },
        Operation(
            "output_error", family: "metrics", summary: "Layer-output error ‖X Wᵀ − X Cᵀ‖ / ‖X Wᵀ‖ for calibration activations X.",
            example: "W = randn(4, 6, seed: 1)\nX = randn(20, 6, seed: 2)\nprint(output_error(W, W, X))",
            params: [ParamSpec("W", .tensor), ParamSpec("C", .tensor), ParamSpec("X", .tensor)]
        ) { args, interp in
            let W = try args.tensor("W"), C = try args.tensor("C"), X = try args.tensor("X")
            guard W.rank == 2, C.shape == W.shape else {
                throw args.error("C", "C must have W's shape \(Shape.describe(W.shape)), got \(Shape.describe(C.shape))")
            }
            guard X.rank == 2, X.shape[1] == W.shape[1] else {
                throw args.error("X", "X must be tokens × \(W.shape[1]), got \(Shape.describe(X.shape))")
            }
            return .number(try Metrics.outputError(W, C, X))
        },
        Operation(
            "eval", family: "metrics",
            summary:
                """
                    Every metric that applies, as a record: error, mse, snr, psnr, bits_per_param (for compressed values), output_error \
                    (with X).
                    """,
            example: "W = randn(8, 16, seed: 5)\nr = eval(W, quantize(W, bits: 3))\nprint(keys(r))",
            params: [ParamSpec("A", .tensor), ParamSpec("C", .any), ParamSpec("X", .tensor, .none)]
        ) { args, interp in
            let A = try args.tensor("A")
            guard let C = Ops.toTensor(args.value("C")) else {
                throw args.error("C", "expected a tensor or a compressed value, got \(args.value("C").typeDescription)")
            }
            guard C.shape == A.shape else {
                throw args.error("C", "shape \(Shape.describe(C.shape)) differs from A's \(Shape.describe(A.shape))")
            }
            var pairs: [(String, Value)] = [
                ("error", .number(try Metrics.relativeError(A, C))), ("mse", .number(try Metrics.mse(A, C))),
                ("snr", .number(try Metrics.snr(A, C))),
                ("psnr", .number(try Metrics.psnr(A, C, peak: Double(A.storage.map { abs($0) }.max() ?? 1)))),
            ]
            if case .compressed(let c) = args.value("C") {
                pairs += [("bits", .number(c.bits)), ("bits_per_param", .number(c.bitsPerParam)), ("ratio", c.field("ratio") ?? .none)]
            }
            if let X = try args.optionalTensor("X") {
                guard A.rank == 2, X.rank == 2, X.shape[1] == A.shape[1] else {
                    throw args.error("X", "X must be tokens × \(A.shape.last ?? 0)")
                }
                pairs.append(("output_error", .number(try Metrics.outputError(A, C, X))))
            }
            return record(pairs)
        },
        Operation(
            "accuracy", family: "clustering",
            summary: "Clustering accuracy: the best one-to-one matching of clusters to classes (Hungarian algorithm).",
            doc:
                """
                    ACC = Σ N[r, c]/n for the assignment maximising matched counts in the contingency table N (as \
                    ChongYou/subspace-clustering computes it with linear_sum_assignment); unmatched items count as errors. Invariant to \
                    renaming clusters.
                    """,
            example: "print(accuracy([1, 1, 0, 0, 0, 0, 2, 2, 2, 2], [0, 0, 0, 1, 1, 1, 2, 2, 2, 2]))",
            params: [ParamSpec("pred", .any), ParamSpec("truth", .any)]
        ) { args, interp in
            .number(try ClusterMetrics.accuracy(try labelArg(args, "pred"), try labelArg(args, "truth")))
        },
        Operation(
            "nmi", family: "clustering", summary: "Normalized mutual information, as scikit-learn's normalized_mutual_info_score.",
            example: "print(round(nmi([1, 1, 0, 0, 0, 0, 2, 2, 2, 2], [0, 0, 0, 1, 1, 1, 2, 2, 2, 2]), digits: 6))",
            params: [
                ParamSpec("pred", .any), ParamSpec("truth", .any),
                ParamSpec("average", .choice(["arithmetic", "geometric", "min", "max"]), .value(.string("arithmetic")), namedOnly: true),
            ]
        ) { args, interp in
            .number(
                try ClusterMetrics.nmi(
                    try labelArg(args, "pred"), try labelArg(args, "truth"),
                    average: ClusterMetrics.Average(rawValue: try args.string("average")) ?? .arithmetic))
        },
        Operation(
            "ari", family: "clustering", summary: "Adjusted Rand index, as scikit-learn's adjusted_rand_score.",
            example: "print(ari([0, 0, 1, 1], [0, 1, 0, 1]))",
            params: [ParamSpec("pred", .any), ParamSpec("truth", .any)]
        ) { args, interp in
            .number(try ClusterMetrics.ari(try labelArg(args, "pred"), try labelArg(args, "truth")))
        },
    ]

    static func metric(_ args: Arguments, _ f: (Tensor, Tensor) throws -> Double) throws -> Double {
        let a = try args.tensor("A"), b = try args.tensor("B")
        guard a.shape == b.shape else {
            throw args.error("B", "shape \(Shape.describe(b.shape)) differs from A's \(Shape.describe(a.shape))")
        }
        return try f(a, b)
    }
}
