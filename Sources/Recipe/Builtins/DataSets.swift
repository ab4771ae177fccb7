import Datasets
import Foundation
import Models
import SqueezeCore
import Synchronization

/// `load("digits")` and the other named data sets, as records.
enum DatasetLoader {
    static func load(_ name: String, split: String, limit: Int?) throws -> Value {
        if name == "minilm" {
            do { return .model(try miniLM()) } catch let e as ModelError { throw DataError(name, e.description) }
        }
        if name == "smollm2" {
            do { return .decoder(try smolLM2()) } catch let e as ModelError { throw DataError(name, e.description) }
        }
        if let corpus = TextCorpus.named(name) {
            let texts = try corpus.load(limit: limit)
            return .record(
                Record(pairs: [
                    ("name", .string(name)), ("texts", .record(Record(pairs: texts.map { ($0.0, .string($0.1)) }))),
                    ("source", .string(corpus.source)), ("files", .list(texts.map { .string($0.0) })),
                    ("line_endings", .string(corpus.lineEndings)), ("license", .string(corpus.license)),
                ]))
        }
        let d = try DataCatalog.load(name, split: split, limit: limit)
        var pairs: [(String, Value)] = [("name", .string(d.name))]
        pairs += d.fields.map { ($0.0, .tensor($0.1)) }
        pairs += d.info.map { ($0.0, .string($0.1)) }
        return .record(Record(pairs: pairs))
    }
}

/// The model is loaded once per process (weights memory-mapped, the tokenizer's table built once);
/// a model value is immutable, so every `load("minilm")` can share it.
private let loadedModel = Mutex<Transformer?>(nil)

func miniLM() throws -> Transformer {
    if let m = loadedModel.withLock({ $0 }) { return m }
    let m = try Transformer.miniLM()
    loadedModel.withLock { $0 = m }
    return m
}

private let loadedDecoder = Mutex<LanguageModel?>(nil)

/// SmolLM2 is read and dequantized once per process (1–2 s); a model value is immutable.
func smolLM2() throws -> LanguageModel {
    if let m = loadedDecoder.withLock({ $0 }) { return m }
    let m = try LanguageModel.smolLM2()
    loadedDecoder.withLock { $0 = m }
    return m
}

/// Synthetic data with known labels.
extension Builtins {
    static func labelled(_ l: Synthetic.Labelled) -> Value {
        .record(
            Record(
                pairs: [("X", .tensor(l.X)), ("labels", .tensor(Tensor(l.labels.map(Float.init))))] + l.extra.map { ($0.0, .tensor($0.1)) })
        )
    }

    static let synthetic: [Operation] = [
        Operation(
            "subspaces", family: "data",
            summary: "Points on a union of random low-dimensional subspaces (the subspace-clustering setting).",
            doc:
                """
                    count random dim-dimensional subspaces of R^ambient (orthonormal bases from the QR of a Gaussian matrix); n points \
                    shared evenly, each a unit vector of its subspace, plus isotropic Gaussian noise of std noise. Returns {X, labels, \
                    bases}.
                    """,
            example: "s = subspaces(n: 300, ambient: 20, dim: 3, count: 4, noise: 0.01, seed: 1)\nprint(shape(s.X), shape(s.bases))",
            params: [
                ParamSpec("n", .integer, range: 1...10_000_000, namedOnly: true),
                ParamSpec("ambient", .integer, range: 1...100_000, namedOnly: true),
                ParamSpec("dim", .integer, range: 1...100_000, namedOnly: true),
                ParamSpec("count", .integer, range: 1...10_000, namedOnly: true),
                ParamSpec("noise", .number, .value(.number(0)), range: 0...1e6, namedOnly: true), seedParam,
            ]
        ) { args, interp in
            let n = try args.int("n"), a = try args.int("ambient"), d = try args.int("dim"), c = try args.int("count"),
                noise = try args.number("noise")
            try Memory.check(shape: [n, a], "subspaces")
            return labelled(
                try withGenerator(args, interp) { try Synthetic.subspaces(n: n, ambient: a, dim: d, count: c, noise: noise, rng: &$0) })
        },
        Operation(
            "manifolds", family: "data",
            summary:
                "Curved manifolds (circles, moons, spheres, swissroll, trefoil) embedded in `ambient` dimensions by a random rotation.",
            doc:
                """
                    circles: two concentric circles (radii 1, ½); moons: scikit-learn's make_moons; spheres: two concentric 2-spheres; \
                    swissroll: one roll labelled by four segments along it; trefoil: two interlocked trefoil knots. The points are padded \
                    with zeros to ambient dimensions, rotated by a random orthogonal matrix, and given isotropic Gaussian noise of std \
                    noise. Returns {X, labels, Z} with Z the intrinsic coordinates.
                    """,
            example: "m = manifolds(kind: \"moons\", n: 200, ambient: 10, noise: 0.05, seed: 2)\nprint(shape(m.X), sum(m.labels))",
            params: [
                ParamSpec("kind", .choice(Synthetic.manifoldKinds), namedOnly: true),
                ParamSpec("n", .integer, range: 2...10_000_000, namedOnly: true),
                ParamSpec("ambient", .integer, .value(.number(3)), range: 2...100_000, namedOnly: true),
                ParamSpec("noise", .number, .value(.number(0)), range: 0...1e6, namedOnly: true), seedParam,
            ]
        ) { args, interp in
            let kind = try args.string("kind"), n = try args.int("n"), a = try args.int("ambient"), noise = try args.number("noise")
            try Memory.check(shape: [n, a], "manifolds")
            return labelled(
                try withGenerator(args, interp) { try Synthetic.manifolds(kind: kind, n: n, ambient: a, noise: noise, rng: &$0) })
        },
        Operation(
            "mixture", family: "data", summary: "A mixture of k unit-variance Gaussian clusters in R^dim with centres of std `spread`.",
            example: "g = mixture(n: 600, k: 3, dim: 5, spread: 4, seed: 3)\nprint(shape(g.centers))",
            params: [
                ParamSpec("n", .integer, range: 1...10_000_000, namedOnly: true),
                ParamSpec("k", .integer, range: 1...100_000, namedOnly: true),
                ParamSpec("dim", .integer, range: 1...100_000, namedOnly: true),
                ParamSpec("spread", .number, .value(.number(5)), range: 0...1e6, namedOnly: true), seedParam,
            ]
        ) { args, interp in
            let n = try args.int("n"), k = try args.int("k"), d = try args.int("dim"), s = try args.number("spread")
            try Memory.check(shape: [n, d], "mixture")
            return labelled(try withGenerator(args, interp) { try Synthetic.mixture(n: n, k: k, dim: d, spread: s, rng: &$0) })
        },
    ]
}
