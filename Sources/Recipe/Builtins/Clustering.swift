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
                ParamSpec("X", .tensor), ParamSpec("k", .integer, range: 1...1_000_000, doc: "Number of clusters."),
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
                ParamSpec("X", .tensor), ParamSpec("k", .integer, range: 1...1_000_000),
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
                Codebook perplexity exp(−Σ p̄ₖ ln(p̄ₖ + 1e−10)) of codes — or, given a decoder model and a text, its perplexity on the text.
                """,
            doc:
                """
                    perplexity(codes): p̄ₖ is the frequency of code k among the codes given (taming's per-batch definition, here over \
                    all of them); equals K exactly when usage is uniform over K codes.

                    perplexity(m, text, context: 512, preset: "llama.cpp", limit:): m a decoder (load("smollm2")). PPL = exp(mean NLL) \
                    over the scored predictions, NLL = −log p(token | the window's earlier tokens), windows non-overlapping of context \
                    tokens, the tail shorter than a window dropped. preset: "llama.cpp" (llama-perplexity: each window's first token \
                    replaced by BOS when the vocabulary adds one, only the second half of each window scored — 255 predictions per \
                    512-token window), "gptq" (GPTQ/SparseGPT/AWQ: one BOS before the whole text when the model adds one, every \
                    prediction scored), "all" (every prediction after each window's first token, no BOS). SmolLM2 adds no BOS, so \
                    "gptq" and "all" agree for it. stderr = PPL·√(var(NLL)/(n−1)), llama.cpp's "±". A list of texts is joined by blank \
                    lines. Returns {ppl, nll, stderr, tokens, windows, scored, preset, context, nlls}: the convention is part of the \
                    result, and so of the run's history.
                    """,
            example:
                """
                    print(perplexity([0, 1, 2, 3]))\nm = load("smollm2")\np = perplexity(m, load("canterbury").texts.alice29, context: 64, \
                    limit: 256)\nprint(p.preset, p.windows, p.scored, round(p.ppl, digits: 2))
                    """,
            params: [
                ParamSpec("x", .any, doc: "codes (a tensor or list of whole numbers), or a decoder model"),
                ParamSpec("text", .any, .none, doc: "with a model: the text to score"), contextParam, presetParam, limitParam,
                cacheParam, cacheModeParam,
            ]
        ) { args, interp in
            if case .decoder = args.value("x") { return try modelPerplexity(args, interp) }
            guard args.isNone("text") else { throw args.error("text", "text: applies to a language model, perplexity(m, text)") }
            let codes = try codeList(args, "x")
            guard !codes.isEmpty else { throw args.error("x", "no codes") }
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
            "codebook", family: "clustering",
            summary:
                """
                    Learn a VQ codebook inside a linear VQ autoencoder: vanilla, EMA, k-means init, VQGAN-LC (frozen features + \
                    projector) or SimVQ.
                    """,
            doc: """
                Rows of X (centred) are encoded z = xE to `latent` dimensions, snapped to the nearest of `size` codes (‖z‖² + ‖c‖² − \
                2zᵀc), and decoded x̂ = z_q D with the straight-through estimator; loss mean‖x̂ − x‖² + mean‖sg(z) − c_q‖² + 0.25·mean‖z \
                − sg(c_q)‖² (van den Oord et al. 2017), Adam at lr, minibatches of `batch`, E and D starting at the principal directions. \
                method: "vanilla" trains the codes directly from taming's Uniform(±1/K) start (unselected codes get no gradient: dead \
                codes); "ema" replaces the codebook term by moving averages (decay 0.99, Laplace ε 1e-5); init: "kmeans" starts the codes \
                at k-means (10 iterations) of 4·size initial latents; init: "features" with features: F (size × f) freezes F and trains a \
                linear projector P (codes = F Pᵀ, P ~ N(0, 1/latent)) — VQGAN-LC (Zhu et al. 2024); method: "simvq" freezes a random C ~ \
                N(0, 1/latent) behind one trained linear layer (codes = C Wᵀ + b) — SimVQ (Zhu et al. 2024). Returns {codebook, codes, \
                utilization (#{k used} / size over all of X), perplexity (exp of the entropy of the code frequencies over all of X, not \
                per batch), reconstruction (mean squared error), loss and train_utilization per epoch, encoder, decoder}.
                """,
            example:
                """
                    X = randn(2000, 16, seed: 1)\nv = codebook(X, size: 256, epochs: 2, seed: 2)\ns = codebook(X, size: 256, method: \
                    \"simvq\", epochs: 2, seed: 2)\nprint(v.utilization < s.utilization)
                    """,
            params: [
                ParamSpec("X", .tensor), ParamSpec("size", .integer, range: 1...10_000_000, namedOnly: true, doc: "Codes K."),
                ParamSpec("method", .choice(["vanilla", "ema", "simvq"]), .value(.string("vanilla")), namedOnly: true),
                ParamSpec("init", .choice(["random", "kmeans", "features"]), .value(.string("random")), namedOnly: true),
                ParamSpec("features", .tensor, .none, namedOnly: true, doc: "VQGAN-LC's frozen codebook (size × f)."),
                ParamSpec(
                    "projector", .bool, .value(.bool(true)), namedOnly: true,
                    doc: "With features: train the projector (false freezes features as codes of width latent)."),
                ParamSpec(
                    "latent", .integer, .none, range: 1...100_000, namedOnly: true, doc: "Latent width e (default min(8, columns of X))."),
                ParamSpec("epochs", .integer, .value(.number(3)), range: 0...100_000, namedOnly: true),
                ParamSpec("batch", .integer, .value(.number(256)), range: 1...10_000_000, namedOnly: true),
                ParamSpec("lr", .number, .value(.number(1e-3)), range: 0...10, namedOnly: true),
                seedParam,
            ]
        ) { args, interp in
            let X = try args.tensor("X")
            guard X.rank == 2 else { throw args.error("X", "expected vectors as rows of a matrix, got shape \(Shape.describe(X.shape))") }
            var o = CodebookLearning.Options(size: try args.int("size"))
            o.latent = try args.optionalInt("latent") ?? min(8, X.shape[1]); o.epochs = try args.int("epochs");
            o.batch = try args.int("batch"); o.lr = try args.number("lr")
            guard o.latent <= X.shape[1] else {
                throw args.error("latent", "latent \(o.latent) is wider than the data (\(X.shape[1]) columns)")
            }
            let method = try args.string("method"), initial = try args.string("init")
            switch (method, initial) {
            case ("simvq", "features"): throw args.error("init", "simvq uses a frozen random codebook; init: \"features\" is VQGAN-LC's")
            case ("simvq", _): o.method = .simvq
            case (_, "features"):
                guard let F = try args.optionalTensor("features") else {
                    throw args.error("features", "init: \"features\" needs features: F (size × f)")
                }
                guard F.rank == 2, F.shape[0] == o.size else {
                    throw args.error("features", "features must have one row per code (\(o.size) × f), got \(Shape.describe(F.shape))")
                }
                if try args.bool("projector") {
                    o.method = .lc; o.features = F
                } else {
                    guard F.shape[1] == o.latent else {
                        throw args.error(
                            "features", "without a projector the features are the codes: they need latent = \(o.latent) columns")
                    }
                    o.method = method == "ema" ? .ema : .vanilla
                    o.features = F
                }
            case ("ema", let i): o.method = .ema; o.kmeansInit = i == "kmeans"
            default: o.method = .vanilla; o.kmeansInit = initial == "kmeans"
            }
            let r: CodebookLearning.Result
            r = try withGenerator(args, interp) { g in try CodebookLearning.train(X, o, rng: &g, cancellation: interp.cancellation) }
            return .record(
                Record(pairs: [
                    ("codebook", .tensor(r.codebook)), ("codes", .tensor(Tensor(r.codes.map { Float($0) }))),
                    ("utilization", .number(r.utilization)), ("perplexity", .number(r.perplexity)),
                    ("reconstruction", .number(r.reconstruction)),
                    ("loss", .tensor(Tensor(r.loss.map { Float($0) }))),
                    ("train_utilization", .tensor(Tensor(r.trainUtilization.map { Float($0) }))),
                    ("encoder", .tensor(r.encoder)), ("decoder", .tensor(r.decoder)),
                ]))
        }
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
