import Compression
import Foundation
import SqueezeCore

/// CRATE's white-box layers and the sparse rate reduction objective.
extension Builtins {
    /// Bases given as a list of d × p tensors or one K × d × p tensor.
    static func subspaceBases(_ args: Arguments, _ name: String) throws -> [Tensor] {
        switch args.value(name) {
        case .list(let l):
            return try l.enumerated().map { i, v in
                guard case .tensor(let t) = v, t.rank == 2 else { throw args.error(name, "item \(i) of '\(name)' must be a d × p matrix") }
                return t
            }
        case .tensor(let t) where t.rank == 3:
            let (k, d, p) = (t.shape[0], t.shape[1], t.shape[2])
            return (0..<k).map { i in Tensor(shape: [d, p], storage: Array(t.storage[(i * d * p)..<((i + 1) * d * p)])) }
        default:
            throw args.error(name, "'\(name)' must be a list of d × p bases or a K × d × p tensor")
        }
    }

    static let crate: [Operation] = [
        Operation(
            "crate", family: "clustering",
            summary:
                "CRATE layers with given or random subspace bases: MSSA compression then ISTA sparsification, R^c and sparsity per layer.",
            doc: """
                Tokens are the rows of Z (N × d); U_k (d × p) are the heads' bases; β = p/(N·eps2). Each layer normalises the tokens, \
                takes the compression step Z ← (1 − κβ)Z + κ·MSSA(Z) with MSSA(Z) = β Σ_k softmax_rows(W_k W_kᵀ) W_k U_kᵀ, W_k = Z U_k \
                (the paper's column-softmax SSA in row form; eq. 11 of Yu et al. 2023 with β counted once, as ALGORITHMS.md §A3's check \
                values are; κ = step), re-normalises and measures R^c(Z; U) = Σ_k ½ logdet(I + β W_kᵀW_k), then one non-negative ISTA \
                step Z ← ReLU(Z + η(Z − Z Dᵀ)D − ηλ) with the dictionary D (identity by default; eta: 0 skips it). Without bases, `heads` \
                random orthonormal bases of dimension dim_head from the run's generator (mutually orthogonal when heads·dim_head ≤ d); \
                with `learn: true` the bases are learned from Z's tokens instead: SSC-OMP groups the normalised tokens into `heads` \
                subspaces, each group's top dim_head right singular vectors start its basis, and K-subspaces rounds (each token to the \
                basis keeping most of its energy, each basis to its group's top directions) refine them until no token moves. Returns \
                {tokens, rc (index 0 = the input, then after each layer's compression), sparsity (zero fraction after each ISTA step), \
                rc_sparse (R^c of the normalised ISTA output), bases, and with learn: groups (each token's subspace)}.
                """,
            example:
                """
                    s = subspaces(n: 64, ambient: 32, dim: 8, count: 4, noise: 0.3, seed: 1)\nr = crate(s.X, bases: s.bases, layers: 3, \
                    seed: 0)\nprint(r.rc[3] < r.rc[0], r.sparsity[0] > 0.3)
                    """,
            params: [
                ParamSpec("Z", .tensor),
                ParamSpec("bases", .any, .none, namedOnly: true, doc: "List of d × p bases or a K × d × p tensor."),
                ParamSpec(
                    "learn", .bool, .value(.bool(false)), namedOnly: true, doc: "Learn the bases from Z (SSC-OMP groups, then K-subspaces)."
                ),
                ParamSpec("heads", .integer, .value(.number(4)), range: 1...4096, namedOnly: true),
                ParamSpec("dim_head", .integer, .none, range: 1...100_000, namedOnly: true, doc: "p (default d / heads)."),
                ParamSpec("layers", .integer, .value(.number(6)), range: 0...10_000, namedOnly: true),
                ParamSpec("step", .number, .value(.number(1)), range: 0...1e6, namedOnly: true, doc: "κ."),
                ParamSpec("eta", .number, .value(.number(0.1)), range: 0...1e6, namedOnly: true, doc: "ISTA step η (0: no ISTA)."),
                ParamSpec("lambda", .number, .value(.number(0.1)), range: 0...1e6, namedOnly: true, doc: "ISTA threshold λ."),
                ParamSpec("dictionary", .tensor, .none, namedOnly: true, doc: "D (d × d)."),
                ParamSpec("eps2", .number, .value(.number(0.5)), range: 1e-12...1e12, namedOnly: true), seedParam,
            ]
        ) { args, interp in
            let Z = try args.tensor("Z")
            guard Z.rank == 2 else {
                throw args.error("Z", "expected tokens as rows of a matrix (N × d), got shape \(Shape.describe(Z.shape))")
            }
            let d = Z.shape[1]
            let bases: [Tensor]
            var groups: [Int]?
            let learn = try args.bool("learn")
            if learn && !args.isNone("bases") { throw args.error("learn", "give bases or learn: true, not both") }
            if args.isNone("bases") {
                let heads = try args.int("heads")
                let p = try args.optionalInt("dim_head") ?? max(1, d / heads)
                guard p <= d else { throw args.error("dim_head", "dim_head \(p) is larger than the token width \(d)") }
                if learn {
                    guard Z.shape[0] >= heads else {
                        throw args.error("heads", "learning \(heads) bases needs at least \(heads) tokens, Z has \(Z.shape[0])")
                    }
                    let r = try withGenerator(args, interp) { rng in
                        try CRATE.learnBases(Z, heads: heads, p: p, rng: &rng, cancellation: interp.cancellation)
                    }
                    bases = r.bases
                    groups = r.labels
                } else {
                    bases = try withGenerator(args, interp) { try CRATE.randomBases(d: d, heads: heads, p: p, rng: &$0) }
                }
            } else {
                bases = try subspaceBases(args, "bases")
            }
            let r = try CRATE.forward(
                Z, bases: bases, layers: try args.int("layers"), kappa: try args.number("step"),
                eta: try args.number("eta"), lambda: try args.number("lambda"),
                dictionary: try args.optionalTensor("dictionary"), eps2: try args.number("eps2"))
            return .record(
                Record(
                    pairs: [
                        ("tokens", .tensor(r.tokens)),
                        ("rc", .tensor(Tensor(([r.rcInput] + r.layers.map(\.rc)).map { Float($0) }))),
                        ("sparsity", .tensor(Tensor(r.layers.map { Float($0.sparsity) }))),
                        ("rc_sparse", .tensor(Tensor(r.layers.map { Float($0.rcAfterISTA) }))),
                        ("bases", .list(bases.map { .tensor($0) })),
                    ]
                        + (groups.map { [("groups", Value.tensor(Tensor($0.map { Float($0) })))] } ?? [])))
        },

        Operation(
            "sparse_rate_reduction", family: "clustering",
            summary: "CRATE's objective R(Z) − R^c(Z; U) − λ‖Z‖₀ per token: {R, Rc, l0, value}.",
            doc:
                """
                    Tokens as rows of Z (N × d). R(Z) = ½ logdet(I + d/(N·eps2) ZᵀZ); R^c(Z; U) = Σ_k ½ logdet(I + p/(N·eps2) \
                    (ZU_k)ᵀ(ZU_k)); l0 = non-zeros per token (‖Z‖₀/N); value = R − R^c − λ·l0 (Yu et al. 2023).
                    """,
            example:
                """
                    s = subspaces(n: 64, ambient: 32, dim: 8, count: 4, seed: 1)\nprint(round(sparse_rate_reduction(s.X, s.bases, lambda: \
                    0.1).Rc, digits: 3))
                    """,
            params: [
                ParamSpec("Z", .tensor), ParamSpec("bases", .any),
                ParamSpec("lambda", .number, .value(.number(0.1)), range: 0...1e6, namedOnly: true),
                ParamSpec("eps2", .number, .value(.number(0.5)), range: 1e-12...1e12, namedOnly: true),
            ]
        ) { args, interp in
            let Z = try args.tensor("Z")
            let bases = try subspaceBases(args, "bases")
            let eps2 = try args.number("eps2")
            let Rc = try CRATE.compressionRate(Z, bases: bases, eps2: eps2)
            let R = try RateReduction.codingRate(Z, eps2: eps2)
            let l0 = Double(Z.storage.filter { $0 != 0 }.count) / Double(max(1, Z.shape[0]))
            return .record(
                Record(pairs: [
                    ("R", .number(R)), ("Rc", .number(Rc)), ("l0", .number(l0)),
                    ("value", .number(R - Rc - (try args.number("lambda")) * l0)),
                ]))
        },
    ]
}
