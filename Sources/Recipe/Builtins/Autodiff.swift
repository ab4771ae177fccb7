import Foundation
import OrderedCollections
import SqueezeCore
import Training

extension Builtins {
    /// Names of the operations whose bodies take live variables themselves (see `Autodiff`).
    static let differentiableNames: Set<String> = Set(differentiable.map(\.name) + ["mlp"])

    static let gradientDoc = """
        Reverse-mode differentiation on a tape (a Wengert list, as micrograd, autograd or JAX's vjp): calling the result runs \
        f with its argument's tensors and numbers recorded, then walks the tape back once; the gradient has the argument's \
        structure (records and lists of tensors, such as a network's parameters). It records what executes, so if, for and \
        function calls need nothing special. Differentiable: + − * / ** with broadcasting, @, matmul, dot, sum/mean/max/min \
        (axis:), exp, log, sqrt, tanh, sigmoid, relu, gelu, abs, sin, cos, clip, where, softmax, log_softmax, cross_entropy, \
        mse, indexing and slicing, reshape, transpose, .T, concat, stack, norm (Frobenius), normalize, logdet, slogdet, \
        rate_reduction (MCR²'s closed form), conv2d, max_pool, avg_pool, round_ste, quantize_ste. shape, print, argmax, \
        accuracy and log(name: …) see plain values; any other operation given a differentiated tensor is an error naming it. \
        Second derivatives (grad of grad) are not supported.
        """

    /// A function value made by an operation (`grad(f)`, an optimizer's `step`): variadic positional arguments.
    static func closure(
        _ name: String, summary: String, _ body: @escaping @Sendable ([Value], Arguments, Interpreter) throws -> Value
    )
        -> Value
    {
        .function(
            .builtin(
                Operation(name, family: "functions", summary: summary, example: "", variadic: true) { args, interp in
                    try body(args.rest, args, interp)
                }))
    }

    static func gradientOperation(_ name: String, withValue: Bool) -> Operation {
        Operation(
            name, family: "autodiff",
            summary: withValue
                ? "value_and_grad(f, argnums:) is a function returning {value, grad}: f's number and its gradient."
                : "grad(f) is the function returning the gradient of f (a number) with respect to its first argument.",
            doc: gradientDoc,
            example: withValue
                ? "vg = value_and_grad(fn(w, x) { return sum((x @ w) ** 2) }, argnums: 0)\nr = vg(ones(3), eye(3))\nprint(r.value, r.grad)"
                : "df = grad(fn(p) { return sum(p.w * p.w) + p.b ** 2 })\nprint(df({w: tensor([1, 2]), b: 3}))",
            params: [
                ParamSpec("f", .function),
                ParamSpec(
                    "argnums", .any, .value(.number(0)), namedOnly: true,
                    doc: "which argument to differentiate (a whole number), or a list of them (then grad is a list)"),
            ]
        ) { args, _ in
            guard case .function(let f) = args.value("f") else { throw args.error("f", "'f' must be a function") }
            let argnums: [Int]
            let many: Bool
            switch args.value("argnums") {
            case .number: argnums = [try args.int("argnums")]; many = false
            case .list: argnums = try args.ints("argnums"); many = true
            default: throw args.error("argnums", "'argnums' must be a whole number or a list of them")
            }
            let span = args.span
            return closure("\(name)(\(f.name))", summary: "the gradient of \(f.name)") { values, call, interp in
                let r = try differentiate(f, values, argnums: argnums, interp, at: call.span, origin: span)
                let g: Value = many ? .list(r.grads) : r.grads[0]
                return withValue ? .record(Record(pairs: [("value", .number(r.value)), ("grad", g)])) : g
            }
        }
    }

    /// Runs `f(values)` on a fresh tape with the arguments at `argnums` tracked; f's number and the
    /// gradients, each with its argument's structure.
    static func differentiate(
        _ f: Function, _ values: [Value], argnums: [Int], _ interp: Interpreter, at span: SourceSpan, origin: SourceSpan
    ) throws -> (value: Double, grads: [Value]) {
        guard interp.tape == nil else {
            throw Diagnostic(.runtime, "grad inside a differentiated function is not supported (no second derivatives)", at: span)
        }
        for a in argnums where a < 0 || a >= values.count {
            throw Diagnostic(
                .runtime, "argnums \(a) is out of range: \(f.name) was called with \(values.count) argument\(values.count == 1 ? "" : "s")",
                at: origin)
        }
        let tape = Tape(cancellation: interp.cancellation)
        interp.tape = tape
        defer {
            interp.tape = nil
            tape.close()
        }
        var args = values
        for a in argnums { args[a] = track(values[a], tape) }
        let result = try interp.invoke(f, args, at: span)
        let out: Operand
        switch result {
        case .number(let x): out = Operand(constant: Tensor(scalar: Float(x)))
        case .variable(let v) where v.operand.value.count == 1: out = v.operand
        case .tensor(let t) where t.count == 1: out = Operand(constant: t)
        default:
            throw Diagnostic(
                .runtime,
                "grad: \(f.name) must return a number (or a one-element tensor) to be differentiated, got \(result.typeDescription)",
                at: span, suggestion: "reduce it, e.g. return sum(…) or mean(…)")
        }
        let grads: [Int: Tensor]
        do { grads = try tape.gradients(of: out) } catch { throw Ops.wrap(error, span) }
        return (Double(out.value.storage[0]), argnums.map { gradient(values[$0], args[$0], grads) })
    }

    /// `v` with each tensor and number made a variable of `tape`.
    static func track(_ v: Value, _ tape: Tape) -> Value {
        switch v {
        case .tensor(let t): return .variable(Tracked(operand: tape.variable(t), tape: tape))
        case .number(let x): return .variable(Tracked(operand: tape.variable(Tensor(scalar: Float(x))), tape: tape))
        case .compressed(let c): return .variable(Tracked(operand: tape.variable(c.recon), tape: tape))
        case .list(let l): return .list(l.map { track($0, tape) })
        case .record(let r): return .record(Record(r.fields.mapValues { track($0, tape) }))
        default: return v
        }
    }

    /// The gradient with the structure of `original`: numbers for numbers, zeros where f did not depend on a variable.
    static func gradient(_ original: Value, _ tracked: Value, _ grads: [Int: Tensor]) -> Value {
        switch (original, tracked) {
        case let (.number, .variable(v)): return .number(Double(grads[v.operand.node ?? -1]?.storage[0] ?? 0))
        case let (_, .variable(v)): return .tensor(grads[v.operand.node ?? -1] ?? Tensor.zeros(v.operand.shape))
        case let (.list(a), .list(b)): return .list(zip(a, b).map { gradient($0, $1, grads) })
        case let (.record(a), .record(b)):
            var out = OrderedDictionary<String, Value>()
            for (k, v) in a.fields { out[k] = gradient(v, b.fields[k] ?? v, grads) }
            return .record(Record(out))
        default: return .none
        }
    }

    /// The tape to record on: the running `grad` call's, or a throwaway one (everything is then a constant).
    static func tape(_ interp: Interpreter) -> Tape { interp.tape ?? Tape() }

    static func labels(_ args: Arguments, _ name: String) throws -> [Int] {
        guard let t = Ops.toTensor(args.value(name)) else {
            throw args.error(name, "'\(name)' must be a vector of class indices")
        }
        return try intLabels(t, args, name)
    }

    static func elementwiseOp(_ name: String, _ f: Elementwise, summary: String, doc: String = "", example: String) -> Operation {
        Operation(name, family: "autodiff", summary: summary, doc: doc, example: example, params: [ParamSpec("x", .any)]) { args, interp in
            let t = tape(interp)
            return Autodiff.value(t.apply(f, try Autodiff.tensorArg(args, "x", t)), t)
        }
    }

    static let axisParam = ParamSpec("axis", .integer, .value(.number(-1)), namedOnly: true, doc: "the axis that sums to one")
}
