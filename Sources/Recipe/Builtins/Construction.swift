import Foundation
import SqueezeCore

extension Builtins {
    static let shapeParam = ParamSpec("shape", .any, .none, doc: "dimensions: f(3, 4) or f([3, 4])")

    static let construction: [Operation] = [
        Operation(
            "tensor", family: "data", summary: "A Float32 tensor from a number or a (nested) list of numbers.",
            example: "A = tensor([[1, 2], [3, 4]])", params: [ParamSpec("x", .tensor)]
        ) { args, _ in
            .tensor(try args.tensor("x"))
        },
        Operation(
            "zeros", family: "data", summary: "A tensor of zeros.", example: "zeros(2, 3)",
            params: [shapeParam], variadic: true
        ) { args, _ in
            .tensor(Tensor.zeros(try dims(args)))
        },
        Operation(
            "ones", family: "data", summary: "A tensor of ones.", example: "ones([2, 3])",
            params: [shapeParam], variadic: true
        ) { args, _ in
            .tensor(Tensor.ones(try dims(args)))
        },
        Operation(
            "full", family: "data", summary: "A tensor filled with `value`.", example: "full([2, 2], 7)",
            params: [ParamSpec("shape", .any), ParamSpec("value", .number)]
        ) { args, _ in
            guard case .list = args.value("shape") else {
                throw args.error("shape", "full takes its shape as a list, e.g. full([2, 3], 7)")
            }
            return .tensor(Tensor.full(try dims(args), Float(try args.number("value"))))
        },
        Operation(
            "eye", family: "data", summary: "The n×m identity matrix (m defaults to n).", example: "eye(3)",
            params: [ParamSpec("n", .integer, range: 0...1e6), ParamSpec("m", .integer, .none, range: 0...1e6)]
        ) { args, _ in
            let n = try args.int("n"), m = try args.optionalInt("m") ?? n
            try Memory.check(shape: [n, m], "the identity")
            return .tensor(Tensor.eye(n, m))
        },
        Operation(
            "linspace", family: "data", summary: "`n` evenly spaced values from `start` to `stop`, both included (NumPy's default n = 50).",
            example: "linspace(0, 1, 5)",
            params: [
                ParamSpec("start", .number), ParamSpec("stop", .number), ParamSpec("n", .integer, .value(.number(50)), range: 0...1e9),
            ]
        ) { args, _ in
            try Memory.check(elements: try args.int("n"), "linspace")
            return .tensor(Tensor.linspace(try args.number("start"), try args.number("stop"), count: try args.int("n")))
        },
        Operation(
            "arange", family: "data", summary: "Values start, start+step, … below stop, as a tensor (NumPy's arange).",
            example: "arange(0, 1, 0.25)",
            params: [ParamSpec("start", .number), ParamSpec("stop", .number, .none), ParamSpec("step", .number, .value(.number(1)))]
        ) { args, _ in
            var a = try args.number("start"), b = 0.0
            if let s = try args.optionalNumber("stop") { b = s } else { b = a; a = 0 }
            let step = try args.number("step")
            guard step != 0 else { throw args.error("step", "step cannot be zero") }
            let n = (b - a) / step
            try Memory.check(elements: n.isFinite && n > 0 ? Int(min(n, 1e15)) : 0, "arange")
            return .tensor(try Tensor.arange(a, b, step: step))
        },
        Operation(
            "randn", family: "data", summary: "Standard normal samples (Box–Muller on PCG64), times `std`, plus `mean`.",
            doc: "Draws are sequential in row-major order, so the same seed gives the same tensor on every machine and thread count.",
            example: "X = randn(100, 8, seed: 1)",
            params: [
                shapeParam, ParamSpec("mean", .number, .value(.number(0)), namedOnly: true),
                ParamSpec("std", .number, .value(.number(1)), namedOnly: true), seedParam,
            ], variadic: true
        ) { args, interp in
            let d = try dims(args)
            let mean = Float(try args.number("mean")), std = Float(try args.number("std"))
            return .tensor(try withGenerator(args, interp) { Tensor.randn(d, using: &$0, mean: mean, std: std) })
        },
        Operation(
            "rand", family: "data", summary: "Uniform samples in [low, high) from PCG64 (53-bit uniforms).",
            example: "U = rand(3, 3, low: -1, high: 1, seed: 2)",
            params: [
                shapeParam, ParamSpec("low", .number, .value(.number(0)), namedOnly: true),
                ParamSpec("high", .number, .value(.number(1)), namedOnly: true), seedParam,
            ], variadic: true
        ) { args, interp in
            let d = try dims(args)
            let lo = Float(try args.number("low")), hi = Float(try args.number("high"))
            guard hi >= lo else { throw args.error("high", "high must be at least low") }
            return .tensor(try withGenerator(args, interp) { Tensor.rand(d, using: &$0, low: lo, high: hi) })
        },
        Operation(
            "randint", family: "data", summary: "Uniform integers in [low, high) (unbiased), as a tensor.",
            example: "randint(0, 10, [5], seed: 3)",
            params: [ParamSpec("low", .integer), ParamSpec("high", .integer), ParamSpec("shape", .any, .value(.list([]))), seedParam]
        ) { args, interp in
            let lo = try args.int("low"), hi = try args.int("high")
            guard hi > lo else { throw args.error("high", "high must be greater than low") }
            let d = try dims(args)
            return .tensor(
                try withGenerator(args, interp) { g in
                    Tensor(shape: d) { out in for i in 0..<out.count { out[i] = Float(lo + g.integer(below: hi - lo)) } }
                })
        },
        Operation(
            "permutation", family: "data", summary: "A uniformly random permutation of 0…n−1 (Fisher–Yates on PCG64), as a tensor.",
            example: "p = permutation(5, seed: 4)",
            params: [ParamSpec("n", .integer, range: 0...1e9), seedParam]
        ) { args, interp in
            let n = try args.int("n")
            try Memory.check(elements: n, copies: 3, "permutation")
            return .tensor(try withGenerator(args, interp) { Tensor($0.permutation(n).map(Float.init)) })
        },
        Operation(
            "choice", family: "data", summary: "`k` distinct indices from 0…n−1 (sampling without replacement), as a tensor.",
            example: "idx = choice(100, 5, seed: 5)",
            params: [ParamSpec("n", .integer, range: 0...1e9), ParamSpec("k", .integer, range: 0...1e9), seedParam]
        ) { args, interp in
            let n = try args.int("n"), k = try args.int("k")
            guard k <= n else { throw args.error("k", "cannot choose \(k) distinct values from \(n)") }
            try Memory.check(elements: n, copies: 2, "choice")
            return .tensor(try withGenerator(args, interp) { Tensor($0.choice(n, count: k).map(Float.init)) })
        },
    ]
}
