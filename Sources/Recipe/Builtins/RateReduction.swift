import Compression
import Foundation
import SqueezeCore

/// Rate reduction: the coding rate, ΔR, MCR² feature learning, CRATE's white-box layers and the sparse
/// rate reduction objective.
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

    static let rateReduction: [Operation] = [
        Operation(
            "mcr2", family: "clustering",
            summary: "Learn features that maximise the rate reduction ΔR (MCR², Yu et al. 2020) with a linear or one-hidden-layer map.",
            doc:
                """
                    Z = normalise(X W) (linear) or normalise(relu(X W₁ + b₁) W₂) (hidden: h), rows on the unit sphere; full-batch Adam \
                    ascending ΔR = R(Z) − R_c(Z, labels) with its closed-form gradient (∂ ½logdet(I + aZᵀZ)/∂Z = aZ(I + aZᵀZ)⁻¹, checked \
                    by finite differences), weights initialised N(0, 1/fan-in) from the run's generator. Returns {features, delta (ΔR per \
                    epoch, index 0 before training), W (linear) or W1, b1, W2}. apply with features of new data: normalise(X @ W).
                    """,
            example:
                """
                    g = mixture(n: 200, k: 4, dim: 10, spread: 1, seed: 1)\nr = mcr2(g.X, g.labels, dim: 8, epochs: 50, seed: \
                    2)\nprint(r.delta[50] > r.delta[0])
                    """,
            params: [
                ParamSpec("X", .tensor), ParamSpec("labels", .any),
                ParamSpec("dim", .integer, .value(.number(16)), range: 1...100_000, namedOnly: true, doc: "Feature dimension."),
                ParamSpec(
                    "hidden", .integer, .none, range: 1...100_000, namedOnly: true, doc: "Hidden ReLU units (omit for a linear map)."),
                ParamSpec("epochs", .integer, .value(.number(200)), range: 0...1_000_000, namedOnly: true),
                ParamSpec("lr", .number, .value(.number(0.01)), range: 0...1e6, namedOnly: true, doc: "Adam step size."),
                ParamSpec("eps2", .number, .value(.number(0.5)), range: 1e-12...1e12, namedOnly: true), seedParam,
            ]
        ) { args, interp in
            let X = try args.tensor("X")
            guard let L = Ops.toTensor(args.value("labels")) else { throw args.error("labels", "expected one label per row") }
            let labels = try intLabels(L, args, "labels")
            let (dim, epochs, lr, eps2) = (try args.int("dim"), try args.int("epochs"), try args.number("lr"), try args.number("eps2"))
            let hidden = try args.optionalInt("hidden")
            let r = try withGenerator(args, interp) {
                try MCR2.train(
                    X, labels: labels, dim: dim, hidden: hidden, epochs: epochs, lr: lr, eps2: eps2, rng: &$0,
                    cancellation: interp.cancellation)
            }
            let m = r.model
            var pairs: [(String, Value)] = [("features", .tensor(r.features)), ("delta", .list(r.deltas.map { .number($0) }))]
            if m.isLinear {
                pairs.append(("W", .tensor(Tensor(shape: [m.input, m.dim], storage: m.W1.map(Float.init)))))
            } else {
                pairs += [
                    ("W1", .tensor(Tensor(shape: [m.input, m.hidden], storage: m.W1.map(Float.init)))),
                    ("b1", .tensor(Tensor(m.b1.map(Float.init)))),
                    ("W2", .tensor(Tensor(shape: [m.hidden, m.dim], storage: m.W2.map(Float.init)))),
                ]
            }
            return record(pairs)
        },
        Operation(
            "coding_rate", family: "clustering", summary: "Coding rate R(Z) = ½ logdet(I + d/(n ε²) ZᵀZ) of features Z (rows are samples).",
            doc:
                """
                    MCR² (Yu et al. 2020): the bits (in nats) needed to code the n features up to distortion ε², eps2 being ε² as the \
                    reference code takes it. Computed on the smaller Gram side (Sylvester) with a Float64 Cholesky. Scale matters: \
                    normalise rows first (MCR² features live on the unit sphere).
                    """,
            example:
                """
                    Z = tensor([[1, 0, 0, 0], [-1, 0, 0, 0], [0, 1, 0, 0], [0, -1, 0, 0], [0, 0, 1, 0], [0, 0, -1, 0], [0, 0, 0, 1], [0, \
                    0, 0, -1]])\nprint(round(coding_rate(Z), digits: 6))
                    """,
            params: [
                ParamSpec("Z", .tensor),
                ParamSpec(
                    "eps2", .number, .value(.number(0.5)), range: 1e-12...1e12, namedOnly: true, doc: "ε² (the reference code's eps)."),
            ]
        ) { args, interp in
            return .number(try RateReduction.codingRate(try args.tensor("Z"), eps2: try args.number("eps2")))
        },
        Operation(
            "rate_reduction", family: "clustering",
            summary: "ΔR = R(Z) − R_c(Z, Π): the MCR² objective for hard labels or a soft membership.",
            doc:
                """
                    R_c = Σ_j (m_j / 2m) logdet(I + d/(m_j ε²) Z_jᵀZ_j) over the classes of labels (or, with a membership Π of n × k \
                    non-negative weights, Z_jᵀZ_j = Zᵀ diag(Π_j) Z and m_j = tr Π_j). ΔR ≥ 0 always. Returns {R, Rc, delta}.
                    """,
            example:
                """
                    Z = tensor([[1, 0, 0, 0], [-1, 0, 0, 0], [0, 1, 0, 0], [0, -1, 0, 0], [0, 0, 1, 0], [0, 0, -1, 0], [0, 0, 0, 1], [0, \
                    0, 0, -1]])\nr = rate_reduction(Z, [0, 0, 0, 0, 1, 1, 1, 1])\nprint(round(r.delta, digits: 6))
                    """,
            params: [
                ParamSpec("Z", .tensor), ParamSpec("labels", .any),
                ParamSpec("eps2", .number, .value(.number(0.5)), range: 1e-12...1e12, namedOnly: true),
            ]
        ) { args, interp in
            let Z = try args.tensor("Z")
            let eps2 = try args.number("eps2")
            guard let L = Ops.toTensor(args.value("labels")) else {
                throw args.error("labels", "expected labels (one per row) or a membership matrix")
            }
            let r: (R: Double, Rc: Double, delta: Double)
            if L.rank == 2 && Z.rank == 2 && L.shape[0] == Z.shape[0] {
                r = try RateReduction.rateReduction(Z, membership: L, eps2: eps2)
            } else {
                r = try RateReduction.rateReduction(Z, labels: try intLabels(L, args, "labels"), eps2: eps2)
            }
            return record([("R", .number(r.R)), ("Rc", .number(r.Rc)), ("delta", .number(r.delta))])
        },
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
