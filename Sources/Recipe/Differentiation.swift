import Compression
import Foundation
import OrderedCollections
import SqueezeCore
import Training

/// How recipes are differentiated. `grad(f)(x)` opens a tape (`Interpreter.tape`), passes `f` its
/// argument with every tensor and number replaced by a *variable* (`Value.variable`), and runs `f`
/// as usual. Operators and the operations below record what they do when given a live variable;
/// the gradient is one reverse walk of the tape, and the tape is dropped when the call returns.
///
/// Under a tape every operation given a live variable is one of three kinds:
/// - differentiable: an entry of `rules` (existing operations) or an operation of
///   `Builtins.differentiable`, whose body takes variables itself;
/// - inspection (`inspection`: shape, print, argmax, accuracy, metrics logging …): it sees plain
///   tensors and its result is a constant;
/// - anything else is an error that names the operation, never a silently zero gradient.
enum Autodiff {
    typealias Rule = @Sendable (Arguments, Tape) throws -> Value

    // MARK: - Values

    /// A live variable anywhere in `v` (lists and records are searched).
    static func isLive(_ v: Value) -> Bool {
        switch v {
        case .variable(let x): return x.isLive
        case .list(let l): return l.contains(where: isLive)
        case .record(let r): return r.fields.values.contains(where: isLive)
        default: return false
        }
    }

    static func anyLive(_ vs: [Value]) -> Bool { vs.contains(where: isLive) }

    /// The tape of a live variable among two operands.
    static func liveTape(_ a: Value, _ b: Value) -> Tape? {
        if case .variable(let x) = a, x.isLive { return x.tape }
        if case .variable(let x) = b, x.isLive { return x.tape }
        return nil
    }

    /// An operand for `tape`: its own variable, or a constant from anything that converts to a tensor.
    static func operand(_ v: Value, _ tape: Tape) -> Operand? {
        if case .variable(let x) = v, x.tape === tape { return x.operand }
        return Ops.toTensor(v).map { Operand(constant: $0) }
    }

    /// An operation's result: a variable while it depends on one, else a tensor (a number if scalar).
    static func value(_ o: Operand, _ tape: Tape) -> Value {
        if o.node != nil { return .variable(Tracked(operand: o, tape: tape)) }
        return o.value.rank == 0 ? .number(Double(o.value.storage[0])) : .tensor(o.value)
    }

    /// `v` with every variable replaced by its tensor.
    static func strip(_ v: Value) -> Value {
        switch v {
        case .variable(let x): return .tensor(x.operand.value)
        case .list(let l): return .list(l.map(strip))
        case .record(let r): return .record(Record(r.fields.mapValues(strip)))
        default: return v
        }
    }

    // MARK: - Operators and indexing

    static func binary(_ op: String, _ a: Value, _ b: Value, _ tape: Tape, _ span: SourceSpan) throws -> Value {
        guard let x = operand(a, tape), let y = operand(b, tape) else {
            throw Ops.fail("unsupported operand types for '\(op)': \(a.typeDescription) and \(b.typeDescription)", span)
        }
        do {
            if op == "@" { return value(try tape.matmul(x, y), tape) }
            guard let bop = Ops.binaryOps[op] else { throw Ops.fail("unknown operator '\(op)'", span) }
            if bop == .mod { throw Ops.fail("'%' has no gradient (it was given a tensor that grad is differentiating)", span) }
            return value(try tape.binary(bop, x, y), tape)
        } catch let e as CoreError {
            if case let .shapeMismatch(_, l, r) = e {
                throw Ops.fail("shape mismatch in '\(op)': \(Shape.describe(l)) and \(Shape.describe(r))", span)
            }
            throw Ops.wrap(e, span)
        }
    }

    static func index(_ v: Tracked, _ items: [Ops.Index], _ span: SourceSpan) throws -> Value {
        let x = v.operand, tape = v.tape
        guard items.count <= x.value.rank else {
            throw Ops.fail(
                "too many indices for a tensor of shape \(Shape.describe(x.shape)): \(items.count) given, rank \(x.value.rank)", span)
        }
        var comps: [SliceComponent] = []
        do {
            for item in items {
                switch item {
                case let .at(iv, ispan):
                    if items.count == 1, let rows = try Ops.rowIndices(iv, x.shape.first ?? 0, ispan) {
                        return value(try tape.rows(x, rows), tape)
                    }
                    comps.append(.index(try Ops.integer(iv, ispan)))
                case let .slice(a, b, step, sspan):
                    guard step != 0 else { throw Ops.fail("slice step cannot be zero", sspan) }
                    comps.append(.range(start: a, stop: b, step: step))
                }
            }
            return value(try tape.slice(x, comps), tape)
        } catch let e as CoreError {
            throw Ops.wrap(e, span)
        }
    }

    // MARK: - Operations

    /// Calls `op` with arguments that hold live variables of `tape`.
    static func call(
        _ op: Operation, _ interp: Interpreter, _ tape: Tape, positional: [Value], positionalSpans: [SourceSpan],
        named: [(String, Value, SourceSpan)], span: SourceSpan
    ) throws -> Value {
        if op.family == "functions" && (op.name.hasPrefix("grad(") || op.name.hasPrefix("value_and_grad(")) {
            throw Diagnostic(.runtime, "grad inside a differentiated function is not supported (no second derivatives)", at: span)
        }
        let isMetricLog = op.name == "log" && positional.isEmpty
        if let rule = rules[op.name], !isMetricLog {
            let args = try interp.bind(op, positional, positionalSpans, named, span)
            do { return try rule(args, tape) } catch { throw Ops.wrap(error, span, prefix: op.name) }
        }
        if Builtins.differentiableNames.contains(op.name) {
            let args = try interp.bind(op, positional, positionalSpans, named, span)
            do { return try op.body(args, interp) } catch { throw Ops.wrap(error, span, prefix: op.name) }
        }
        if inspection.contains(op.name) || isMetricLog || op.family == "plots" {
            let args = try interp.bind(op, positional.map(strip), positionalSpans, named.map { ($0.0, strip($0.1), $0.2) }, span)
            do { return try op.body(args, interp) } catch { throw Ops.wrap(error, span, prefix: op.name) }
        }
        throw Diagnostic(
            .runtime, "\(op.name) has no gradient: it was given a tensor that grad is differentiating", at: span,
            suggestion: "differentiable operations are listed under `grad` in help; to use a value without its gradient, "
                + "compute it outside the differentiated function")
    }

    /// Operations whose result never depends differentiably on their input.
    static let inspection: Set<String> = [
        "shape", "len", "type", "print", "str", "argmax", "argmin", "accuracy", "sign", "floor", "ceil", "round",
        "number", "assert", "note", "warn", "table",
    ]

    static func unary(_ f: Elementwise) -> Rule {
        { args, tape in
            guard let x = operand(args.value("x"), tape) else { throw args.error("x", "needs a number or a tensor") }
            return value(tape.apply(f, x), tape)
        }
    }

    static func tensorArg(_ args: Arguments, _ name: String, _ tape: Tape) throws -> Operand {
        guard let x = operand(args.value(name), tape) else {
            throw args.error(name, "'\(name)' must be a tensor, got \(args.value(name).typeDescription)")
        }
        return x
    }

    static func reduction(_ kind: Reduction) -> Rule {
        { args, tape in
            guard args.rest.isEmpty else { throw args.error("under grad, \(args.operation.name) takes one tensor (and axis:)") }
            return value(try tape.reduce(kind, try tensorArg(args, "x", tape), axis: try args.optionalInt("axis")), tape)
        }
    }

    static func list(_ args: Arguments, _ tape: Tape) throws -> [Operand] {
        try args.list("tensors").map { v in
            guard let o = operand(v, tape) else { throw args.error("tensors", "needs a list of tensors, found \(v.typeDescription)") }
            return o
        }
    }

    /// Gradients of the operations that existed before differentiation (new ones take variables themselves).
    static let rules: [String: Rule] = [
        "exp": unary(.exp), "log": unary(.log), "sqrt": unary(.sqrt), "tanh": unary(.tanh), "sigmoid": unary(.sigmoid),
        "relu": unary(.relu), "abs": unary(.abs), "sin": unary(.sin), "cos": unary(.cos),
        "sum": reduction(.sum), "mean": reduction(.mean), "max": reduction(.max), "min": reduction(.min),
        "clip": { args, tape in
            value(tape.clip(try tensorArg(args, "x", tape), Float(try args.number("low")), Float(try args.number("high"))), tape)
        },
        "where": { args, tape in
            guard let c = Ops.toTensor(args.value("cond")) else { throw args.error("cond", "'cond' must be a tensor") }
            return value(try tape.select(c, try tensorArg(args, "a", tape), try tensorArg(args, "b", tape)), tape)
        },
        "reshape": { args, tape in value(try tape.reshape(try tensorArg(args, "A", tape), try args.ints("shape")), tape) },
        "transpose": { args, tape in
            value(try tape.permute(try tensorArg(args, "A", tape), args.isNone("axes") ? nil : try args.ints("axes")), tape)
        },
        "concat": { args, tape in value(try tape.concat(try list(args, tape), axis: try args.int("axis")), tape) },
        "stack": { args, tape in value(try tape.stack(try list(args, tape), axis: try args.int("axis")), tape) },
        "matmul": { args, tape in value(try tape.matmul(try tensorArg(args, "A", tape), try tensorArg(args, "B", tape)), tape) },
        "dot": { args, tape in
            let a = try tensorArg(args, "a", tape), b = try tensorArg(args, "b", tape)
            return value(try tape.matmul(try tape.reshape(a, [a.value.count]), try tape.reshape(b, [b.value.count])), tape)
        },
        "norm": { args, tape in
            let a = try tensorArg(args, "A", tape)
            let fro: Bool
            switch args.value("ord") {
            case .string(let s): fro = s == "fro"
            case .number(let p): fro = p == 2 && a.value.rank == 1
            default: fro = false
            }
            guard fro else { throw args.error("ord", "under grad only the Frobenius (vector 2-) norm is differentiable") }
            return value(try tape.norm(a), tape)
        },
        "logdet": { args, tape in
            let (sign, l) = try tape.logAbsDet(try tensorArg(args, "A", tape))
            if sign < 0 {
                throw args.error("A", "the determinant is negative, so its logarithm is undefined; slogdet(A) gives sign and log|det|")
            }
            return value(l, tape)
        },
        "slogdet": { args, tape in
            let (sign, l) = try tape.logAbsDet(try tensorArg(args, "A", tape))
            return .record(Record(pairs: [("sign", .number(sign)), ("logabsdet", value(l, tape))]))
        },
        // The closed-form gradient MCR² trains with (∂ ½logdet(I + aZᵀZ)/∂Z = aZ(I + aZᵀZ)⁻¹),
        // so a recipe's own ΔR can be checked against it.
        "rate_reduction": { args, tape in
            let z = try tensorArg(args, "Z", tape)
            guard let L = Ops.toTensor(args.value("labels")), L.rank == 1 else {
                throw args.error("labels", "under grad, rate_reduction takes hard labels (one per row)")
            }
            let labels = try Builtins.intLabels(L, args, "labels")
            let r = try MCR2.rateReductionGradients(z.value, labels: labels, eps2: try args.number("eps2"))
            let R = tape.record(Tensor(scalar: Float(r.R)), [z]) { g, _ in [r.gradR.elementwise(.mul, scalar: g.storage[0])] }
            let delta = tape.record(Tensor(scalar: Float(r.delta)), [z]) { g, _ in [r.gradDelta.elementwise(.mul, scalar: g.storage[0])] }
            let Rc = try tape.binary(.sub, R, delta)
            return .record(Record(pairs: [("R", value(R, tape)), ("Rc", value(Rc, tape)), ("delta", value(delta, tape))]))
        },
        "normalize": { args, tape in
            let x = try tensorArg(args, "X", tape)
            let axis = try args.int("axis")
            guard x.value.rank > 0 else { return value(try tape.binary(.div, x, Operand(constant: Tensor(scalar: 1))), tape) }
            let s = try tape.reduce(.sum, tape.apply(.square, x), axis: axis)
            // Zero slices are divided by 1, as without grad (so there the gradient is the identity, not PyTorch's 1/eps).
            let n = tape.apply(.sqrt, try tape.select(s.value.map { $0 > 0 ? 1 : 0 }, s, Operand(constant: Tensor(scalar: 1))))
            var shape = x.shape
            shape[axis < 0 ? axis + shape.count : axis] = 1
            return value(try tape.binary(.div, x, try tape.reshape(n, shape)), tape)
        },
        "mse": { args, tape in value(try tape.mse(try tensorArg(args, "A", tape), try tensorArg(args, "B", tape)), tape) },
    ]
}
