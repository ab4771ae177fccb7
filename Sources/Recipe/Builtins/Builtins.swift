import Compression
import Foundation
import SqueezeCore

/// The binding table: every family's operations, in the order `help` lists them.
enum Builtins {
    static let all: [Operation] =
        language + recording + construction + io + synthetic + utilities + linearAlgebra
        + quantization + pruning + lowRank + kvCache + cachePolicies
        + entropy + metrics + clustering + rateReduction + models + languageModels + llmToolbox
        + levelSearch + autodiff + training + gradientCompression
        + plots

    /// Number in → number out, tensor in → tensor out, for elementwise math.
    static func elementwise(_ v: Value, _ f: UnaryOp) -> Value {
        switch v {
        case .number(let x): return .number(f.apply(x))
        case .tensor(let t): return .tensor(t.map(f))
        default: return v
        }
    }

    /// Dimensions given as `f(3, 4)` or `f([3, 4])`.
    static func dims(_ args: Arguments, first: String = "shape") throws -> [Int] {
        var raw: [Value] = []
        if case .list(let l) = args.value(first) { raw = l } else if !args.isNone(first) { raw = [args.value(first)] }
        raw += args.rest
        guard !raw.isEmpty || args.isNone(first) else { throw args.error(first, "expected dimensions") }
        let dims = try raw.enumerated().map { i, v -> Int in
            guard case .number(let x) = v, x == x.rounded(), x >= 0, x < 1e12 else {
                throw Diagnostic(
                    .runtime, "\(args.operation.name): dimensions must be non-negative whole numbers, got \(Format.inline(v))",
                    at: i == 0 ? args.spanOf(first) : args.spanOfRest(i - 1))
            }
            return Int(x)
        }
        guard dims.count <= Tensor.maxRank else {
            throw args.error("at most \(Tensor.maxRank) dimensions, got \(dims.count)")
        }
        try Memory.check(shape: dims, "a tensor")
        return dims
    }

    /// The generator to use: a fresh one for `seed:`, else the run's.
    static func withGenerator<R>(_ args: Arguments, _ interp: Interpreter, _ body: (inout RandomGenerator) throws -> R) throws -> R {
        if let s = try args.optionalInt("seed") {
            guard s >= 0 else { throw args.error("seed", "seed must be a non-negative whole number") }
            var g = RandomGenerator(seed: UInt64(s))
            return try body(&g)
        }
        return try body(&interp.rng)
    }

    static let seedParam = ParamSpec(
        "seed", .integer, .none, namedOnly: true,
        doc: "own seed for this call; omitted, the run's generator is used (seeded by seed(n) or --seed)")

    static func checkFinite(_ t: Tensor, _ args: Arguments, _ name: String) throws {
        if let bad = t.nonFiniteDescription { throw args.error(name, "'\(name)' contains \(bad)") }
    }

    /// A compressor's result as the language's compressed value.
    static func compressed(_ c: Compressed) -> Value { .compressed(CompressedValue(c)) }

    static func int(_ i: Int) -> Value { .number(Double(i)) }
    static func num(_ x: Double) -> Value { .number(x) }
    static func num(_ x: Float) -> Value { .number(Double(x)) }
}
