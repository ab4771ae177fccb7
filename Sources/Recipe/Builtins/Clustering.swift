import Compression
import Foundation
import SqueezeCore

/// k-means and nearest-centroid assignment.
extension Builtins {
    static let clustering: [Operation] = [
        Operation(
            "kmeans", family: "clustering", summary: "k-means: greedy k-means++ seeding and Lloyd iterations, as scikit-learn runs them.",
            doc: """
                Minimises the inertia Σᵢ ‖xᵢ − c(xᵢ)‖² over k centroids (Lloyd 1982; k-means++ seeding, Arthur & Vassilvitskii 2007, in \
                scikit-learn's greedy form with 2 + ⌊ln k⌋ candidates per step). Squared distances come from one GEMM per block of rows \
                (‖x‖² + ‖c‖² − 2 x·c). Stops when no label changes or when Σ‖Δc‖² ≤ tol × mean feature variance (scikit-learn's scaled \
                tolerance), or after iters iterations. An empty cluster takes the point farthest from its centre. n_init runs keep the \
                lowest inertia. init: "k-means++" (default), "random" (k distinct samples) or a k×d tensor of starting centroids. Returns \
                {centroids, labels, inertia, iterations}; labels match the returned centroids.
                """,
            example:
                """
                    X = concat([randn(50, 2, seed: 1), randn(50, 2, seed: 2) + 6])\nr = kmeans(X, k: 2, seed: 0)\nprint(r.iterations > 0, \
                    len(r.labels))
                    """,
            params: [
                ParamSpec("X", .tensor), ParamSpec("k", .integer, range: 1...1_000_000, namedOnly: true, doc: "Number of clusters."),
                ParamSpec("init", .any, .value(.string("k-means++")), namedOnly: true, doc: "\"k-means++\", \"random\" or a k×d tensor."),
                ParamSpec(
                    "iters", .integer, .value(.number(300)), range: 1...1_000_000, namedOnly: true,
                    doc: "Most Lloyd iterations (scikit-learn's max_iter)."),
                ParamSpec(
                    "tol", .number, .value(.number(1e-4)), range: 0...1e9, namedOnly: true, doc: "Relative tolerance on the centroid shift."
                ),
                ParamSpec(
                    "n_init", .integer, .value(.number(1)), range: 1...1000, namedOnly: true, doc: "Restarts; the lowest inertia wins."),
                seedParam,
            ]
        ) { args, interp in
            let X = try args.tensor("X")
            guard X.rank == 2 else {
                throw args.error("X", "expected samples as rows of a matrix (n×d), got shape \(Shape.describe(X.shape))")
            }
            let k = try args.int("k")
            let initialization: KMeans.Init
            switch args.value("init") {
            case .string("k-means++"), .string("kmeans++"): initialization = .kmeansPlusPlus
            case .string("random"): initialization = .random
            case .string(let s): throw args.error("init", "init must be \"k-means++\", \"random\" or a k×d tensor, got \"\(s)\"")
            case let v:
                guard let c = Ops.toTensor(v), c.rank == 2 else {
                    throw args.error("init", "init must be \"k-means++\", \"random\" or a k×d tensor, got \(v.typeDescription)")
                }
                guard c.shape == [k, X.shape[1]] else {
                    throw args.error("init", "initial centroids must be \(k)×\(X.shape[1]), got \(Shape.describe(c.shape))")
                }
                initialization = .given(c)
            }
            let iters = try args.int("iters"), tol = try args.number("tol"), nInit = try args.int("n_init")
            let r = try withGenerator(args, interp) { g in
                try KMeans.fit(
                    X, k: k, initialization: initialization, maxIter: iters, tol: tol, nInit: nInit, rng: &g,
                    cancellation: interp.cancellation)
            }
            return record([
                ("centroids", .tensor(r.centroids)), ("labels", .tensor(Tensor(r.labels.map(Float.init)))),
                ("inertia", .number(r.inertia)), ("iterations", int(r.iterations)),
            ])
        },
        Operation(
            "assign", family: "clustering", summary: "Nearest centroid (row of C) of every row of X, and the squared distance to it.",
            doc:
                """
                    Distances by GEMM in row blocks whose tile stays under ~32 MB, so codebooks of 10⁵ entries never need the full n×k \
                    matrix. Ties go to the lower index. Returns {labels, distances}.
                    """,
            example: "C = tensor([[0, 0], [10, 10]])\nr = assign(tensor([[1, 1], [9, 8]]), C)\nprint(r.labels)",
            params: [ParamSpec("X", .tensor), ParamSpec("C", .tensor)]
        ) { args, interp in
            let X = try args.tensor("X"), C = try args.tensor("C")
            try checkFinite(X, args, "X")
            try checkFinite(C, args, "C")
            guard X.rank == 2 else { throw args.error("X", "expected a matrix (n×d), got shape \(Shape.describe(X.shape))") }
            guard C.rank == 2, C.shape[1] == X.shape[1] else {
                throw args.error("C", "expected a k×\(X.shape[1]) matrix of centroids, got shape \(Shape.describe(C.shape))")
            }
            let (labels, dist) = try KMeans.assign(X, C, cancellation: interp.cancellation)
            return record([("labels", .tensor(Tensor(labels.map(Float.init)))), ("distances", .tensor(Tensor(dist)))])
        },
        Operation(
            "cluster", family: "clustering",
            summary:
                "Cluster the rows of X: k-means, spectral clustering (kNN graph or a given affinity), or subspace clustering (SSC-OMP).",
            doc:
                """
                    method: \"kmeans\" runs kmeans(X, k:, n_init: 10). method: \"spectral\" builds A = ½(K + Kᵀ) from the 0/1 \
                    connectivity of each point's `neighbors` nearest neighbours (scikit-learn's affinity=\"nearest_neighbors\"), takes \
                    the k leading eigenvectors of D^−½AD^−½, normalises the rows and runs k-means with 10 restarts (Ng, Jordan & Weiss \
                    2001); with affinity: A (n × n, symmetric, non-negative) it clusters that graph instead. method: \"subspace\" is \
                    SSC-OMP (You, Robinson & Vidal 2016): each unit-normalised point is expressed by orthogonal matching pursuit over the \
                    other points (at most `nonzeros` of them, or until the residual is below 1e-6), and the affinity |C| + |C|ᵀ is \
                    clustered spectrally; points on a union of subspaces pick points of their own subspace. Dense: n up to a few \
                    thousand. Returns {labels} (and {coefficients} C for subspace).
                    """,
            example:
                """
                    m = manifolds(kind: \"circles\", n: 200, ambient: 2, noise: 0.02, seed: 1)\nc = cluster(m.X, k: 2, method: \
                    \"spectral\", seed: 0)\nprint(accuracy(c.labels, m.labels))
                    """,
            params: [
                ParamSpec("X", .tensor), ParamSpec("k", .integer, range: 1...1_000_000, namedOnly: true),
                ParamSpec("method", .choice(ClusterMethod.allCases.map(\.rawValue)), .value(.string("kmeans")), namedOnly: true),
                ParamSpec(
                    "dim", .integer, .value(.number(16)), range: 1...4096, namedOnly: true, doc: "Feature width d.",
                    methods: ["mlc"]),
                ParamSpec(
                    "hidden", .integer, .value(.number(128)), range: 1...100_000, namedOnly: true,
                    doc: "Hidden width of each head.", methods: ["mlc"]),
                ParamSpec(
                    "epochs", .integer, .value(.number(100)), range: 0...1_000_000, namedOnly: true,
                    doc: "Training steps (full batch).", methods: ["mlc"]),
                ParamSpec(
                    "warmup", .integer, .value(.number(100)), range: 0...1_000_000, namedOnly: true,
                    doc: "Steps maximising R(Z) first.", methods: ["mlc"]),
                ParamSpec("lr", .number, .value(.number(1e-3)), range: 0...10, namedOnly: true, doc: "Adam step.", methods: ["mlc"]),
                ParamSpec("eps2", .number, .value(.number(0.1)), range: 1e-9...1e9, namedOnly: true, doc: "ε².", methods: ["mlc"]),
                ParamSpec(
                    "gamma", .number, .value(.number(1)), range: 0...1e6, namedOnly: true, doc: "Weight γ of R_c.",
                    methods: ["mlc"]),
                ParamSpec(
                    "eta", .number, .value(.number(0.175)), range: 1e-6...1e6, namedOnly: true, doc: "Sinkhorn temperature η.",
                    methods: ["mlc"]),
                ParamSpec(
                    "affinity", .tensor, .none, namedOnly: true, doc: "A given n × n affinity instead of the kNN graph.",
                    methods: ["spectral"]),
                ParamSpec(
                    "nonzeros", .integer, .value(.number(8)), range: 1...100_000, namedOnly: true,
                    doc: "Most points in each self-expression.", methods: ["subspace"]),
                ParamSpec(
                    "neighbors", .integer, .value(.number(10)), range: 1...100_000, namedOnly: true,
                    doc: "Neighbours per point.", methods: ["spectral"]),
                seedParam,
            ]
        ) { args, interp in
            let X = try args.tensor("X")
            guard X.rank == 2 else {
                throw args.error("X", "expected samples as rows of a matrix (n × d), got shape \(Shape.describe(X.shape))")
            }
            switch ClusterMethod(rawValue: try args.string("method"))! {
            case .kmeans: return try clusterKMeans(X, args, interp)
            case .spectral: return try clusterSpectral(X, args, interp)
            case .subspace: return try clusterSubspace(X, args, interp)
            case .mlc: return try clusterMLC(X, args, interp)
            }
        },
        Operation(
            "utilization", family: "clustering",
            summary: "Codebook utilization: the fraction of the `size` codes that occur at least once.",
            doc: "#{k : count_k > 0} / K over all the codes given (SimVQ's evaluation.py, VQGAN-LC's \"effective tokens\" / K).",
            example: "print(utilization([0, 1, 1, 3], 8))",
            params: [ParamSpec("codes", .any), ParamSpec("size", .integer, range: 1...1_000_000_000)]
        ) { args, interp in
            let codes = try codeList(args), K = try args.int("size")
            guard codes.allSatisfy({ $0 >= 0 && $0 < K }) else { throw args.error("codes", "codes must lie in 0..<\(K)") }
            return .number(Double(Set(codes).count) / Double(K))
        },
        Operation(
            "perplexity", family: "clustering", summary: """
                Codebook perplexity exp(−Σ p̄ₖ ln(p̄ₖ + 1e−10)) of the codes given, as one batch.
                """,
            doc:
                """
                    p̄ₖ is the frequency of code k among the codes given (taming's per-batch definition, here over all of them); equals K \
                    exactly when usage is uniform over K codes.
                    """,
            example: "print(perplexity([0, 1, 2, 3]))",
            params: [ParamSpec("codes", .any)]
        ) { args, interp in
            let codes = try codeList(args)
            guard !codes.isEmpty else { throw args.error("codes", "no codes") }
            var counts: [Int: Int] = [:]
            for c in codes { counts[c, default: 0] += 1 }
            let n = Double(codes.count)
            // In code order: a dictionary's order (and so the sum's last bits) changes between processes.
            let ordered = counts.sorted { $0.key < $1.key }
            return .number(
                exp(
                    -ordered.reduce(0.0) { acc, kv in
                        let p = Double(kv.value) / n; return acc + p * log(p + 1e-10)
                    }))
        },
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

    static func intLabels(_ t: Tensor, _ args: Arguments, _ name: String) throws -> [Int] {
        try t.storage.map { x in
            guard x.isFinite, x == x.rounded() else { throw args.error(name, "labels must be whole numbers, got \(x)") }
            return Int(x)
        }
    }

    static func labelArg(_ args: Arguments, _ name: String) throws -> [Int] {
        guard let t = Ops.toTensor(args.value(name)), t.rank <= 1 else {
            throw args.error(name, "expected a vector of labels, got \(args.value(name).typeDescription)")
        }
        let l = try intLabels(t, args, name)
        let other = name == "pred" ? "truth" : "pred"
        if let o = Ops.toTensor(args.value(other)), o.count != l.count, name == "truth" {
            throw args.error(name, "\(l.count) labels for \(o.count) predictions")
        }
        return l
    }

    /// The methods of `cluster`, each bound by one function below.
    enum ClusterMethod: String, CaseIterable { case kmeans, spectral, subspace, mlc }

    static func labelsRecord(_ labels: [Int], _ extra: [(String, Value)] = []) -> Value {
        record([("labels", .tensor(Tensor(labels.map(Float.init))))] + extra)
    }

    static func clusterKMeans(_ X: Tensor, _ args: Arguments, _ interp: Interpreter) throws -> Value {
        let k = try args.int("k")
        return labelsRecord(
            try withGenerator(args, interp) {
                try KMeans.fit(X, k: k, nInit: 10, rng: &$0, cancellation: interp.cancellation).labels
            })
    }

    static func clusterSpectral(_ X: Tensor, _ args: Arguments, _ interp: Interpreter) throws -> Value {
        let k = try args.int("k")
        if let A = try args.optionalTensor("affinity") {
            let n = X.shape[0]
            guard A.shape == [n, n] else {
                throw args.error(
                    "affinity", "the affinity must be \(n) × \(n) (one row and column per sample), got \(Shape.describe(A.shape))")
            }
            try checkFinite(A, args, "affinity")
            guard A.storage.allSatisfy({ $0 >= 0 }) else { throw args.error("affinity", "the affinity must be non-negative") }
            let given = A.storage.map(Double.init)
            return labelsRecord(
                try withGenerator(args, interp) {
                    try Spectral.cluster(affinity: given, n: n, k: k, rng: &$0, cancellation: interp.cancellation)
                })
        }
        let nb = try args.int("neighbors")
        return labelsRecord(
            try withGenerator(args, interp) {
                try Spectral.cluster(X, k: k, neighbors: nb, rng: &$0, cancellation: interp.cancellation)
            })
    }

    static func clusterSubspace(_ X: Tensor, _ args: Arguments, _ interp: Interpreter) throws -> Value {
        let (k, nz) = (try args.int("k"), try args.int("nonzeros"))
        let r = try withGenerator(args, interp) {
            try SubspaceClustering.cluster(X, k: k, maxNonzeros: nz, rng: &$0, cancellation: interp.cancellation)
        }
        let n = X.shape[0]
        return labelsRecord(r.labels, [("coefficients", .tensor(Tensor(shape: [n, n], storage: r.coefficients.map { Float($0) })))])
    }

    static func clusterMLC(_ X: Tensor, _ args: Arguments, _ interp: Interpreter) throws -> Value {
        var o = MLC.Options(k: try args.int("k"))
        o.dim = try args.int("dim"); o.hidden = try args.int("hidden"); o.epochs = try args.int("epochs"); o.warmup = try args.int("warmup")
        o.lr = try args.number("lr"); o.eps2 = try args.number("eps2"); o.gamma = try args.number("gamma"); o.eta = try args.number("eta")
        let r = try withGenerator(args, interp) { try MLC.fit(X, o, rng: &$0, cancellation: interp.cancellation) }
        return labelsRecord(
            r.labels,
            [
                ("Gamma", .tensor(r.Gamma)), ("Z", .tensor(r.Z)), ("R", .tensor(Tensor(r.R.map { Float($0) }))),
                ("Rc", .tensor(Tensor(r.Rc.map { Float($0) }))),
                ("objective", .tensor(Tensor(r.objective.map { Float($0) }))),
                ("marginal_error", .number(r.marginalError)),
            ])
    }
}
