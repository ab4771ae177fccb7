import Compression
import Foundation
import SqueezeCore

/// Learning VQ codebooks: vanilla, EMA, k-means-initialised, VQGAN-LC-style and SimVQ-style.
extension Builtins {
    static let codebooks: [Operation] = [
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
}
