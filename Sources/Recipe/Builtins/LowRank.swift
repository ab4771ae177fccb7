import Compression
import Foundation
import OrderedCollections
import SqueezeCore

extension Builtins {
    static let lowRank: [Operation] = [
        Operation(
            "lowrank", family: "compression", summary: "Truncated SVD W ≈ B·A (Eckart–Young optimal) at a rank or a kept energy.",
            doc:
                """
                    B = U_r Σ_r (m × r), A = V_rᵀ (r × n), from sgesdd. rank: r, or energy: e keeps the smallest r with Σ_{i≤r} σᵢ² ≥ \
                    e·Σσᵢ². The relative error is √(Σ_{i>r} σᵢ²)/‖W‖. Storage r·(m + n) values at 32 bits; the break-even rank is mn/(m + \
                    n) (LoRD).
                    """,
            example: "W = randn(64, 32, seed: 3)\nc = lowrank(W, rank: 8)\nprint(shape(c.B), shape(c.A), round(c.ratio, digits: 3))",
            params: [
                ParamSpec("W", .tensor), ParamSpec("rank", .integer, .none, range: 1...1_000_000),
                ParamSpec("energy", .number, .none, range: 0...1, namedOnly: true),
            ]
        ) { args, interp in
            let W = try args.tensor("W")
            try checkFinite(W, args, "W")
            guard W.rank == 2 else { throw args.error("W", "expected a matrix, got shape \(Shape.describe(W.shape))") }
            if let r = try args.optionalInt("rank"), r > min(W.shape[0], W.shape[1]) {
                throw args.error("rank", "rank \(r) is larger than min(m, n) = \(min(W.shape[0], W.shape[1]))")
            }
            return compressed(try Compressed.lowRank(W, rank: try args.optionalInt("rank"), energy: try args.optionalNumber("energy")))
        },
        Operation(
            "eora", family: "compression",
            summary: "EoRA: a rank-r correction B·A of a compressed C, fitted in the eigenspace of the calibration activations.",
            doc:
                """
                    ΔW = W − C; the calibration covariance XᵀX/N = QΛQᵀ (negative eigenvalues clamped to the smallest positive); SVD of \
                    ΔW·QΛ^½ = USVᵀ; B = U_r S_r^½, A = S_r^½ V_rᵀ (QΛ^½)⁻¹ (Liu et al. 2024, GPTQModel's eora.py). Minimises the \
                    layer-output error ‖(ΔW − BA)Xᵀ‖; equals plain SVD of ΔW when XᵀX ∝ I. B and A are stored (and used) in fp16; .bits = \
                    C's bits + 16·r·(m + n).
                    """,
            example:
                """
                    W = randn(16, 32, seed: 1)\nX = randn(200, 32, seed: 2)\nq = quantize(W, bits: 2)\nc = eora(W, q, X, rank: \
                    4)\nprint(output_error(W, c.recon, X) < output_error(W, q.recon, X))
                    """,
            params: [
                ParamSpec("W", .tensor), ParamSpec("C", .any), ParamSpec("X", .tensor),
                ParamSpec("rank", .integer, range: 1...1_000_000, namedOnly: true),
            ]
        ) { args, interp in
            let W = try args.tensor("W"), X = try args.tensor("X")
            try checkFinite(W, args, "W")
            guard let C = Ops.toTensor(args.value("C")) else { throw args.error("C", "expected a tensor or a compressed value") }
            var account: Compressed?
            if case .compressed(let c) = args.value("C") { account = c.core }
            return compressed(try Compressed.eora(W, base: C, baseAccount: account, X: X, rank: try args.int("rank")))
        },
        Operation(
            "bitstack", family: "compression",
            summary: "BitStack: blocks of sign bits times a rank-k approximation of the residual's magnitude.",
            doc:
                """
                    R₀ = W; each block stores sign(R) (1 bit per weight, 0 → +1) and a rank-k approximation of |R| in fp16, then R ← R − \
                    sign ⊙ (UΣVᵀ) (Wang et al. 2025). The residual norm never increases; .norms lists ‖R‖ after 0, 1, … blocks. .bits = \
                    blocks·(m·n + 16·k·(m + n)).
                    """,
            example: "W = randn(32, 48, seed: 1)\nb = bitstack(W, blocks: 4, rank: 2)\nprint(len(b.norms))",
            params: [
                ParamSpec("W", .tensor), ParamSpec("blocks", .integer, .value(.number(4)), range: 1...1024, namedOnly: true),
                ParamSpec("rank", .integer, .value(.number(1)), range: 1...1_000_000, namedOnly: true),
            ]
        ) { args, interp in
            let W = try args.tensor("W")
            try checkFinite(W, args, "W")
            let blocks = try args.int("blocks"), k = try args.int("rank")
            return compressed(try Compressed.bitStack(W, blocks: blocks, rank: k))
        },
        Operation(
            "tt", family: "compression",
            summary: "Tensor-train (MPO) decomposition of W's values viewed as a tensor of extents `shape`, by sequential truncated SVDs.",
            doc:
                """
                    W (row-major) is reshaped to n₁ × … × n_d (their product is W's size) and factored into cores G_k of r_{k−1} × n_k × \
                    r_k with r_k ≤ ranks[k] (TT-SVD, Oseledets 2011; CompactifAI applies it to LLM layers). Full ranks reproduce W \
                    exactly; .bits counts the cores at 32 bits. Returns {cores, …}.
                    """,
            example:
                "W = randn(16, 16, seed: 1)\nt = tt(W, shape: [4, 4, 4, 4], ranks: [4, 8, 4])\nprint(len(t.cores), t.bits_per_param < 32)",
            params: [ParamSpec("W", .tensor), ParamSpec("shape", .list, namedOnly: true), ParamSpec("ranks", .list, namedOnly: true)]
        ) { args, interp in
            let W = try args.tensor("W")
            try checkFinite(W, args, "W")
            return compressed(try Compressed.tensorTrain(W, shape: try args.ints("shape"), ranks: try args.ints("ranks")))
        },
        Operation(
            "rsvd", family: "compression",
            summary: "Randomized truncated SVD (Halko et al. 2011): Gaussian sketch, power iterations, small SVD.",
            doc:
                """
                    Sketch with rank + oversample Gaussian columns, `iters` power iterations re-orthonormalised by QR, then the SVD of \
                    QᵀW. Returns the same compressed value as lowrank (B = U_r Σ_r, A = V_rᵀ).
                    """,
            example: "W = randn(200, 100, seed: 4)\nc = rsvd(W, rank: 10, seed: 1)\nprint(shape(c.B))",
            params: [
                ParamSpec("W", .tensor), ParamSpec("rank", .integer, range: 1...1_000_000),
                ParamSpec("oversample", .integer, .value(.number(10)), range: 0...10_000, namedOnly: true),
                ParamSpec("iters", .integer, .value(.number(4)), range: 0...100, namedOnly: true), seedParam,
            ]
        ) { args, interp in
            let W = try args.tensor("W")
            try checkFinite(W, args, "W")
            guard W.rank == 2 else { throw args.error("W", "expected a matrix, got shape \(Shape.describe(W.shape))") }
            let r = try args.int("rank")
            guard r <= min(W.shape[0], W.shape[1]) else {
                throw args.error("rank", "rank \(r) is larger than min(m, n) = \(min(W.shape[0], W.shape[1]))")
            }
            let (os, it) = (try args.int("oversample"), try args.int("iters"))
            return compressed(
                try withGenerator(args, interp) {
                    try Compressed.randomizedLowRank(W, rank: r, oversample: os, iters: it, rng: &$0)
                })
        },
    ]
}
