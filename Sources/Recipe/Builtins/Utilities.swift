import Foundation
import OrderedCollections
import SqueezeCore

extension Builtins {
    /// A reduction over a tensor (all elements → number, or one axis → tensor), or over a list of
    /// numbers, or over several numbers given directly (`max(3, 4)`).
    static func reduction(_ name: String, _ kind: Reduction, summary: String, example: String, ddof: Bool = false) -> Operation {
        var params = [
            ParamSpec("x", .any),
            ParamSpec(
                "axis", .integer, .none, namedOnly: true,
                doc: "reduce along this axis (negative counts from the end); omitted, over all elements"),
        ]
        if ddof {
            params.append(
                ParamSpec(
                    "ddof", .integer, .value(.number(0)), range: 0...1e9, namedOnly: true,
                    doc: "delta degrees of freedom: divide by n − ddof"))
        }
        return Operation(name, family: "tensor", summary: summary, example: example, params: params, variadic: true) { args, _ in
            var x = args.value("x")
            if !args.rest.isEmpty { x = .list([x] + args.rest) }
            let axis = try args.optionalInt("axis")
            let dof = ddof ? try args.int("ddof") : 0
            switch x {
            case .tensor(let t):
                if axis == nil { return .number(try t.reduceAll(kind, ddof: dof)) }
                return .tensor(try t.reduce(kind, axis: axis, ddof: dof))
            case .compressed(let c):
                if axis == nil { return .number(try c.recon.reduceAll(kind, ddof: dof)) }
                return .tensor(try c.recon.reduce(kind, axis: axis, ddof: dof))
            case .list, .range, .number:
                // Plain numbers reduce in Float64 (no detour through Float32).
                var values: [Double] = []
                switch x {
                case .number(let v): values = [v]
                case .range(let r): values = (0..<r.count).map { Double(r.element($0)) }
                case .list(let l):
                    values = try l.map { v in
                        guard case .number(let n) = v else {
                            throw args.error("x", "\(name) of a list needs numbers only, found \(v.typeDescription)")
                        }
                        return n
                    }
                default: break
                }
                if axis != nil { throw args.error("axis", "axis applies to tensors; this is a list of numbers") }
                return .number(try Reduction.over(values, kind, ddof: dof))
            default:
                throw args.error("x", "\(name) needs a tensor or numbers, got \(x.typeDescription)")
            }
        }
    }

    /// A list argument whose items must all convert to tensors.
    static func tensors(_ args: Arguments, _ name: String) throws -> [Tensor] {
        try args.list(name).map { v in
            guard let t = Ops.toTensor(v) else {
                throw args.error(name, "\(args.operation.name) needs a list of tensors, found \(v.typeDescription)")
            }
            return t
        }
    }

    static func unaryMath(_ name: String, _ op: UnaryOp, _ summary: String, _ example: String) -> Operation {
        Operation(name, family: "tensor", summary: summary, example: example, params: [ParamSpec("x", .any)]) { args, _ in
            switch args.value("x") {
            case .number, .tensor: return elementwise(args.value("x"), op)
            case .compressed(let c): return .tensor(c.recon.map(op))
            case let v:
                guard case .list = v, let t = Ops.toTensor(v) else {
                    throw args.error("x", "\(name) needs a number or a tensor, got \(v.typeDescription)")
                }
                return .tensor(t.map(op))
            }
        }
    }

    static let utilities: [Operation] = [
        Operation(
            "shape", family: "tensor", summary: "The extents of a tensor as a list ([] for a scalar).",
            example: "shape(zeros(2, 3))", params: [ParamSpec("A", .tensor)]
        ) { args, _ in
            .list(try args.tensor("A").shape.map { int($0) })
        },
        Operation(
            "reshape", family: "tensor", summary: "Same elements in a new shape (row-major); one extent may be -1.",
            example: "reshape(arange(0, 6), [2, -1])", params: [ParamSpec("A", .tensor), ParamSpec("shape", .list)]
        ) { args, _ in
            .tensor(try args.tensor("A").reshaped(try args.ints("shape")))
        },
        Operation(
            "transpose", family: "tensor", summary: "Matrix transpose (A.T), or reorder the axes of any tensor.",
            example: "transpose(zeros(2, 3, 4), axes: [2, 0, 1])",
            params: [ParamSpec("A", .tensor), ParamSpec("axes", .list, .none)]
        ) { args, _ in
            let a = try args.tensor("A")
            if args.isNone("axes") { return .tensor(a.transposed) }
            return .tensor(try a.permuted(try args.ints("axes")))
        },
        Operation(
            "concat", family: "tensor", summary: "Join tensors along an existing axis; other extents must agree.",
            example: "concat([ones(2, 2), zeros(1, 2)], axis: 0)",
            params: [ParamSpec("tensors", .list), ParamSpec("axis", .integer, .value(.number(0)))]
        ) { args, _ in
            let parts = try tensors(args, "tensors")
            return .tensor(try Tensor.concat(parts, axis: try args.int("axis")))
        },
        Operation(
            "stack", family: "tensor", summary: "Stack equal-shaped tensors along a new axis.",
            example: "stack([ones(3), zeros(3)])",
            params: [ParamSpec("tensors", .list), ParamSpec("axis", .integer, .value(.number(0)))]
        ) { args, _ in
            let parts = try tensors(args, "tensors")
            return .tensor(try Tensor.stack(parts, axis: try args.int("axis")))
        },
        reduction(
            "sum", .sum, summary: "Sum (Float64 accumulation) of all elements or along an axis.", example: "sum(ones(3, 4), axis: 0)"),
        reduction("mean", .mean, summary: "Arithmetic mean of all elements or along an axis.", example: "mean([1, 2, 3, 4])"),
        reduction(
            "std", .std, summary: "Standard deviation sqrt(Σ(x−μ)²/(n−ddof)), two-pass in Float64.",
            example: "std(tensor([1, 2, 3, 4]), ddof: 1)", ddof: true),
        reduction(
            "var", .variance, summary: "Variance Σ(x−μ)²/(n−ddof), two-pass in Float64.", example: "var(tensor([1, 2, 3, 4]))", ddof: true),
        reduction("min", .min, summary: "Smallest element (NaN propagates, as NumPy); min(a, b, …) of numbers.", example: "min(3, 1, 2)"),
        reduction(
            "max", .max, summary: "Largest element (NaN propagates, as NumPy); max(a, b, …) of numbers.",
            example: "max(tensor([[1, 5], [7, 2]]), axis: 1)"),
        reduction(
            "argmin", .argmin, summary: "Index of the smallest element (first on ties; flat index without axis).",
            example: "argmin([3, 1, 2])"),
        reduction(
            "argmax", .argmax, summary: "Index of the largest element (first on ties; flat index without axis).",
            example: "argmax(tensor([[1, 5], [7, 2]]), axis: 1)"),
        reduction(
            "prod", .prod, summary: "Product of all elements or along an axis (Float64 accumulation).", example: "prod([1, 2, 3, 4])"),
        unaryMath("abs", .abs, "Absolute value, elementwise on tensors.", "abs(-3)"),
        unaryMath("sqrt", .sqrt, "Square root (NaN for negatives, as IEEE), elementwise on tensors.", "sqrt(tensor([1, 4, 9]))"),
        unaryMath("exp", .exp, "e to the x, elementwise on tensors.", "exp(1)"),
        unaryMath("sign", .sign, "−1, 0 or 1 (NaN stays NaN), elementwise on tensors.", "sign(tensor([-2, 0, 3]))"),
        unaryMath("floor", .floor, "Largest whole number ≤ x, elementwise on tensors.", "floor(-2.5)"),
        unaryMath("ceil", .ceil, "Smallest whole number ≥ x, elementwise on tensors.", "ceil(2.1)"),
        unaryMath("sin", .sin, "Sine (radians), elementwise on tensors.", "sin(0)"),
        unaryMath("cos", .cos, "Cosine (radians), elementwise on tensors.", "cos(0)"),
        unaryMath("tanh", .tanh, "Hyperbolic tangent, elementwise on tensors.", "tanh(tensor([-1, 0, 1]))"),
        unaryMath("sigmoid", .sigmoid, "Logistic function 1/(1+e^−x), elementwise on tensors.", "sigmoid(0)"),
        unaryMath("relu", .relu, "max(x, 0), elementwise on tensors.", "relu(tensor([-1, 2]))"),
        Operation(
            "clip", family: "tensor", summary: "Limit values to [low, high] (NaN stays NaN).",
            example: "clip(tensor([-2, 0.5, 3]), -1, 1)",
            params: [ParamSpec("x", .any), ParamSpec("low", .number), ParamSpec("high", .number)]
        ) { args, _ in
            let lo = try args.number("low"), hi = try args.number("high")
            guard lo <= hi else { throw args.error("high", "high must be at least low") }
            if case .number(let x) = args.value("x") { return .number(x.isNaN ? x : Swift.min(Swift.max(x, lo), hi)) }
            guard let t = Ops.toTensor(args.value("x")) else { throw args.error("x", "clip needs a number or a tensor") }
            return .tensor(t.clipped(Float(lo), Float(hi)))
        },
        Operation(
            "sort", family: "tensor", summary: "Sorted copy: a list of numbers or strings, or a tensor along its last axis (NaN last).",
            example: "sort([3, 1, 2])",
            params: [ParamSpec("x", .any), ParamSpec("descending", .bool, .value(.bool(false)), namedOnly: true)]
        ) { args, _ in
            let desc = try args.bool("descending")
            switch args.value("x") {
            case .list(let l):
                if l.allSatisfy({ $0.asNumber != nil }) {
                    let s = l.map { $0.asNumber! }.sorted { a, b in a.isNaN ? false : (b.isNaN ? true : (desc ? a > b : a < b)) }
                    return .list(s.map { num($0) })
                }
                if l.allSatisfy({ $0.asString != nil }) {
                    let s = l.map { $0.asString! }.sorted()
                    return .list((desc ? s.reversed() : s).map { .string($0) })
                }
                throw args.error("x", "sort needs a list of numbers or of strings")
            case let v:
                guard let t = Ops.toTensor(v) else { throw args.error("x", "sort needs a list or a tensor, got \(v.typeDescription)") }
                return .tensor(t.sorted(descending: desc))
            }
        },
        Operation(
            "argsort", family: "tensor", summary: "Stable sorting permutation along the last axis (NaN last).",
            example: "argsort(tensor([3, 1, 2]))",
            params: [ParamSpec("x", .tensor), ParamSpec("descending", .bool, .value(.bool(false)), namedOnly: true)]
        ) { args, _ in
            .tensor(try args.tensor("x").argsort(descending: try args.bool("descending")))
        },
        Operation(
            "topk", family: "tensor",
            summary: "The k largest (or smallest) values along the last axis and their indices: {values, indices}.",
            example: "topk(tensor([4, 9, 1, 7]), 2)",
            params: [
                ParamSpec("x", .tensor), ParamSpec("k", .integer, range: 0...1e12),
                ParamSpec("largest", .bool, .value(.bool(true)), namedOnly: true),
            ]
        ) { args, _ in
            let (v, i) = try args.tensor("x").topk(try args.int("k"), largest: try args.bool("largest"))
            return .record(Record(pairs: [("values", .tensor(v)), ("indices", .tensor(i))]))
        },
        Operation(
            "nonzero", family: "tensor",
            summary: "Flat indices of the non-zero elements, as a tensor (numpy's flatnonzero): select rows with X[nonzero(labels == c)].",
            doc:
                """
                    Comparisons give 0/1 tensors, and indexing with a tensor gathers by index (X[t] takes rows t₀, t₁, …), so a mask must \
                    go through nonzero to select: X[nonzero(y == 3)] is numpy's X[y == 3].
                    """,
            example: "y = tensor([0, 2, 2, 1])\nprint(nonzero(y == 2))",
            params: [ParamSpec("x", .tensor)]
        ) { args, interp in
            let t = try args.tensor("x")
            var idx: [Float] = []
            for (i, v) in t.storage.enumerated() where v != 0 { idx.append(Float(i)) }
            return .tensor(Tensor(idx))
        },
        Operation(
            "where", family: "tensor", summary: "Elementwise choice: a where cond ≠ 0, else b (broadcasting).",
            example: "where(tensor([1, 0, 1]), 5, -5)",
            params: [ParamSpec("cond", .tensor), ParamSpec("a", .tensor), ParamSpec("b", .tensor)]
        ) { args, _ in
            let c = try args.tensor("cond"), a = try args.tensor("a"), b = try args.tensor("b")
            guard let ca = Shape.broadcast(c.shape, a.shape), let shape = Shape.broadcast(ca, b.shape) else {
                throw CoreError.shapeMismatch(op: "where", lhs: c.shape, rhs: Shape.broadcast(c.shape, a.shape) == nil ? a.shape : b.shape)
            }
            let z = Tensor.zeros(shape)
            let cc = try z.elementwise(.add, c), aa = try z.elementwise(.add, a), bb = try z.elementwise(.add, b)
            return .tensor(
                Tensor(shape: shape) { out in
                    for i in 0..<out.count { out[i] = cc.storage[i] != 0 ? aa.storage[i] : bb.storage[i] }
                })
        },
        Operation(
            "dot", family: "tensor", summary: "Inner product of two equal-length tensors (flattened), accumulated in Float64.",
            example: "dot(tensor([1, 2, 3]), tensor([4, 5, 6]))", params: [ParamSpec("a", .tensor), ParamSpec("b", .tensor)]
        ) { args, _ in
            let a = try args.tensor("a"), b = try args.tensor("b")
            guard a.count == b.count else { throw CoreError.shapeMismatch(op: "dot", lhs: a.shape, rhs: b.shape) }
            return .number(a.dot(b))
        },
        Operation(
            "matmul", family: "tensor", summary: "Matrix product (the `@` operator) on OpenBLAS sgemm.",
            example: "matmul(eye(2), ones(2, 3))", params: [ParamSpec("A", .tensor), ParamSpec("B", .tensor)]
        ) { args, _ in
            .tensor(try args.tensor("A").matmul(try args.tensor("B")))
        },
    ]
}
