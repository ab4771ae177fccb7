import Foundation
import SqueezeCore

/// k-means and nearest-centroid assignment.
extension Builtins {
    static let clustering: [Operation] = [
        Operation("kmeans", family: "clustering", summary: "k-means: greedy k-means++ seeding and Lloyd iterations, as scikit-learn runs them.",
                  doc: """
                  Minimises the inertia Σᵢ ‖xᵢ − c(xᵢ)‖² over k centroids (Lloyd 1982; k-means++ seeding, Arthur & Vassilvitskii 2007, in scikit-learn's greedy form with 2 + ⌊ln k⌋ candidates per step). Squared distances come from one GEMM per block of rows (‖x‖² + ‖c‖² − 2 x·c). Stops when no label changes or when Σ‖Δc‖² ≤ tol × mean feature variance (scikit-learn's scaled tolerance), or after iters iterations. An empty cluster takes the point farthest from its centre. n_init runs keep the lowest inertia. init: "k-means++" (default), "random" (k distinct samples) or a k×d tensor of starting centroids. Returns {centroids, labels, inertia, iterations}; labels match the returned centroids.
                  """,
                  example: "X = concat([randn(50, 2, seed: 1), randn(50, 2, seed: 2) + 6])\nr = kmeans(X, k: 2, seed: 0)\nprint(r.iterations > 0, len(r.labels))",
                  params: [ParamSpec("X", .tensor), ParamSpec("k", .integer, range: 1...1_000_000, namedOnly: true, doc: "Number of clusters."),
                           ParamSpec("init", .any, .value(.string("k-means++")), namedOnly: true, doc: "\"k-means++\", \"random\" or a k×d tensor."),
                           ParamSpec("iters", .integer, .value(.number(300)), range: 1...1_000_000, namedOnly: true, doc: "Most Lloyd iterations (scikit-learn's max_iter)."),
                           ParamSpec("tol", .number, .value(.number(1e-4)), range: 0...1e9, namedOnly: true, doc: "Relative tolerance on the centroid shift."),
                           ParamSpec("n_init", .integer, .value(.number(1)), range: 1...1000, namedOnly: true, doc: "Restarts; the lowest inertia wins."),
                           seedParam]) { args, interp in
            let X = try args.tensor("X")
            guard X.rank == 2 else { throw args.error("X", "expected samples as rows of a matrix (n×d), got shape \(Shape.describe(X.shape))") }
            let k = try args.int("k")
            let initialization: KMeans.Init
            switch args.value("init") {
            case .string("k-means++"), .string("kmeans++"): initialization = .kmeansPlusPlus
            case .string("random"): initialization = .random
            case .string(let s): throw args.error("init", "init must be \"k-means++\", \"random\" or a k×d tensor, got \"\(s)\"")
            case let v:
                guard let c = Ops.toTensor(v), c.rank == 2 else { throw args.error("init", "init must be \"k-means++\", \"random\" or a k×d tensor, got \(v.typeDescription)") }
                guard c.shape == [k, X.shape[1]] else { throw args.error("init", "initial centroids must be \(k)×\(X.shape[1]), got \(Shape.describe(c.shape))") }
                initialization = .given(c)
            }
            let iters = try args.int("iters"), tol = try args.number("tol"), nInit = try args.int("n_init")
            let r = try withGenerator(args, interp) { g in
                try KMeans.fit(X, k: k, initialization: initialization, maxIter: iters, tol: tol, nInit: nInit, rng: &g, cancellation: interp.cancellation)
            }
            return record([("centroids", .tensor(r.centroids)), ("labels", .tensor(Tensor(r.labels.map(Float.init)))),
                           ("inertia", .number(r.inertia)), ("iterations", int(r.iterations))])
        },
        Operation("assign", family: "clustering", summary: "Nearest centroid (row of C) of every row of X, and the squared distance to it.",
                  doc: "Distances by GEMM in row blocks whose tile stays under ~32 MB, so codebooks of 10⁵ entries never need the full n×k matrix. Ties go to the lower index. Returns {labels, distances}.",
                  example: "C = tensor([[0, 0], [10, 10]])\nr = assign(tensor([[1, 1], [9, 8]]), C)\nprint(r.labels)",
                  params: [ParamSpec("X", .tensor), ParamSpec("C", .tensor)]) { args, interp in
            let X = try args.tensor("X"), C = try args.tensor("C")
            guard X.rank == 2 else { throw args.error("X", "expected a matrix (n×d), got shape \(Shape.describe(X.shape))") }
            guard C.rank == 2, C.shape[1] == X.shape[1] else { throw args.error("C", "expected a k×\(X.shape[1]) matrix of centroids, got shape \(Shape.describe(C.shape))") }
            let (labels, dist) = try KMeans.assign(X, C, cancellation: interp.cancellation)
            return record([("labels", .tensor(Tensor(labels.map(Float.init)))), ("distances", .tensor(Tensor(dist)))])
        },
    ]
}
