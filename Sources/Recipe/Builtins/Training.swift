import Foundation
import OrderedCollections
import SqueezeCore
import Training

/// Parameters as the language holds them: any nesting of records and lists whose tensors (and
/// numbers) are the trainable values, in order; other fields (an activation's name) ride along.
enum ParameterTree {
    struct Leaf {
        let path: String
        let tensor: Tensor
        let wasNumber: Bool
    }

    static func leaves(_ v: Value, _ path: String = "") -> [Leaf] {
        switch v {
        case .tensor(let t): return [Leaf(path: path, tensor: t, wasNumber: false)]
        case .variable(let x): return [Leaf(path: path, tensor: x.operand.value, wasNumber: false)]
        case .number(let x): return [Leaf(path: path, tensor: Tensor(scalar: Float(x)), wasNumber: true)]
        case .list(let l): return l.enumerated().flatMap { leaves($0.element, "\(path)[\($0.offset)]") }
        case .record(let r): return r.fields.flatMap { leaves($0.value, path.isEmpty ? $0.key : "\(path).\($0.key)") }
        default: return []
        }
    }

    /// `template` with its leaves replaced, in order, by `tensors`.
    static func rebuild(_ template: Value, _ tensors: [Tensor]) -> Value {
        var i = 0
        func visit(_ v: Value) -> Value {
            switch v {
            case .tensor, .variable:
                defer { i += 1 }
                return .tensor(tensors[i])
            case .number:
                defer { i += 1 }
                return .number(Double(tensors[i].storage[0]))
            case .list(let l): return .list(l.map(visit))
            case .record(let r): return .record(Record(r.fields.mapValues(visit)))
            default: return v
            }
        }
        return visit(template)
    }

    /// The leaves of `other` at the paths of `params`' leaves, which must be there with the same shapes.
    static func aligned(_ params: Value, _ other: Value, _ what: String, _ args: Arguments, _ name: String) throws -> [Tensor] {
        let p = leaves(params), o = leaves(other)
        guard p.count == o.count, zip(p, o).allSatisfy({ $0.path == $1.path && $0.tensor.shape == $1.tensor.shape }) else {
            let mismatch = zip(p, o).first { $0.path != $1.path || $0.tensor.shape != $1.tensor.shape }
            let detail =
                mismatch.map {
                    "\($0.0.path) is \(Shape.describe($0.0.tensor.shape)) but \(what) has \($0.1.path) \(Shape.describe($0.1.tensor.shape))"
                }
                ?? "\(p.count) parameter tensors but \(o.count) in \(what)"
            throw args.error(name, "\(what) does not have the parameters' structure: \(detail)")
        }
        return o.map(\.tensor)
    }
}

extension Builtins {
    static let training: [Operation] = optimizers + schedules + networks + [trainOperation]

    // MARK: - Optimizers

    static let optimizers: [Operation] = [
        optimizerOperation(
            .sgd, summary: "Stochastic gradient descent with momentum, Nesterov and weight decay (PyTorch's torch.optim.SGD).",
            params: [
                ParamSpec(
                    "lr", .any, .required, namedOnly: true, doc: "learning rate: a number, or a schedule (schedule.cosine(…)) or fn(step)"),
                ParamSpec("momentum", .number, .value(.number(0)), range: 0...1, namedOnly: true),
                ParamSpec("nesterov", .bool, .value(.bool(false)), namedOnly: true),
                ParamSpec(
                    "weight_decay", .number, .value(.number(0)), range: 0...1e6, namedOnly: true,
                    doc: "L2 penalty λ added to the gradient"),
            ]),
        optimizerOperation(
            .adam, summary: "Adam, and AdamW with decoupled: true (the default), as torch.optim.AdamW / Adam.",
            params: adamParams(decay: 0.01)),
        optimizerOperation(
            .lamb, summary: "LAMB (You et al. 2020): Adam's step scaled per tensor by the trust ratio ‖p‖/‖update‖.",
            params: adamParams(decay: 0.01).filter { $0.name != "decoupled" }),
    ]

    static func adamParams(decay: Double) -> [ParamSpec] {
        [
            ParamSpec("lr", .any, .value(.number(1e-3)), namedOnly: true, doc: "learning rate: a number, or a schedule or fn(step)"),
            ParamSpec("betas", .list, .value(.list([.number(0.9), .number(0.999)])), namedOnly: true, doc: "[β₁, β₂]"),
            ParamSpec("eps", .number, .value(.number(1e-8)), range: 0...1, namedOnly: true),
            ParamSpec("weight_decay", .number, .value(.number(decay)), range: 0...1e6, namedOnly: true),
            ParamSpec(
                "decoupled", .bool, .value(.bool(true)), namedOnly: true,
                doc: "true: AdamW's p ← p(1 − ηλ); false: Adam's λp added to the gradient"),
        ]
    }

    static let optimizerDoc = """
        An optimizer is a record of its settings with two functions: opt.init(params) → state (step 0 and zero moments shaped \
        like params) and opt.step(params, grads, state) → {params, state}. params may be any record or list of tensors; grads \
        must have its structure (as grad returns it). The learning rate may be a schedule: it is read at the state's step \
        (0 for the first update). Update rules and their order of floating-point operations follow PyTorch's, so trajectories \
        can be compared step by step (Tests/Fixtures/training).
        """

    static func optimizerOperation(_ kind: Optimizer.Kind, summary: String, params: [ParamSpec]) -> Operation {
        Operation(
            kind.rawValue, family: "training", summary: summary, doc: optimizerDoc,
            example:
                "opt = \(kind.rawValue)(lr: 0.1)\np = {w: ones(3)}\ns = opt.init(p)\nr = opt.step(p, {w: ones(3)}, s)\nprint(r.params.w)",
            params: params
        ) { args, _ in
            let opt = try optimizer(kind, args)
            var fields = OrderedDictionary<String, Value>()
            fields["kind"] = .string(kind.rawValue)
            for p in params { fields[p.name] = args.value(p.name) }
            let lr = args.value("lr")
            guard
                lr.asNumber != nil
                    || {
                        if case .function = lr { return true }; return false
                    }()
            else {
                throw args.error("lr", "'lr' must be a number or a schedule (a function of the step)")
            }
            fields["init"] = closure("\(kind.rawValue).init", summary: "the optimizer's initial state") { values, call, _ in
                guard values.count == 1 else { throw call.error("init takes the parameters") }
                let leaves = ParameterTree.leaves(values[0])
                return stateValue(opt, opt.initialState(leaves.map(\.tensor)), values[0])
            }
            fields["step"] = closure("\(kind.rawValue).step", summary: "one update: {params, state}") { values, call, interp in
                guard values.count == 3 else { throw call.error("step takes params, grads and state") }
                var (params, state) = try unpack(opt, values[0], values[2], call)
                let grads = try ParameterTree.aligned(values[0], values[1], "grads", call, "grads")
                let rate = try learningRate(lr, step: state.step, interp, call.span)
                try opt.step(&params, grads, &state, lr: rate)
                return .record(
                    Record(pairs: [("params", ParameterTree.rebuild(values[0], params)), ("state", stateValue(opt, state, values[0]))]))
            }
            return .record(Record(fields))
        }
    }

    static func optimizer(_ kind: Optimizer.Kind, _ args: Arguments) throws -> Optimizer {
        var o = Optimizer(kind)
        o.weightDecay = try args.number("weight_decay")
        switch kind {
        case .sgd:
            o.momentum = try args.number("momentum")
            o.nesterov = try args.bool("nesterov")
            if o.nesterov && o.momentum == 0 { throw args.error("nesterov", "Nesterov momentum needs momentum > 0") }
        case .adam, .lamb:
            let betas = try args.list("betas").compactMap(\.asNumber)
            guard betas.count == 2, betas.allSatisfy({ $0 >= 0 && $0 < 1 }) else {
                throw args.error("betas", "'betas' must be two numbers in [0, 1)")
            }
            (o.beta1, o.beta2) = (betas[0], betas[1])
            o.eps = try args.number("eps")
            if kind == .adam { o.decoupled = try args.bool("decoupled") }
        }
        return o
    }

    /// The state as a record: {step, <slot>: params-shaped, …}.
    static func stateValue(_ opt: Optimizer, _ s: Optimizer.State, _ params: Value) -> Value {
        var fields = OrderedDictionary<String, Value>()
        fields["step"] = .number(Double(s.step))
        for (name, slot) in zip(opt.slotNames, s.slots) { fields[name] = ParameterTree.rebuild(params, slot) }
        return .record(Record(fields))
    }

    static func unpack(_ opt: Optimizer, _ params: Value, _ state: Value, _ call: Arguments) throws -> ([Tensor], Optimizer.State) {
        let p = ParameterTree.leaves(params).map(\.tensor)
        guard case .record(let r) = state, case .number(let step)? = r["step"] else {
            throw call.error("state", "the state must be what this optimizer's init returned")
        }
        let slots = try opt.slotNames.map { name -> [Tensor] in
            guard let v = r[name] else { throw call.error("state", "the state has no '\(name)': was it made by another optimizer?") }
            return try ParameterTree.aligned(params, v, "state.\(name)", call, "state")
        }
        return (p, Optimizer.State(step: Int(step), slots: slots))
    }

    static func learningRate(_ lr: Value, step: Int, _ interp: Interpreter, _ span: SourceSpan) throws -> Double {
        switch lr {
        case .number(let x): return x
        case .function(let f):
            let v = try interp.invoke(f, [.number(Double(step))], at: span)
            guard case .number(let x) = v, x.isFinite, x >= 0 else {
                throw Diagnostic(
                    .runtime, "the learning-rate schedule gave \(Format.inline(v)) at step \(step); expected a number ≥ 0", at: span)
            }
            return x
        default: throw Diagnostic(.runtime, "the learning rate must be a number or a schedule", at: span)
        }
    }

    // MARK: - Schedules

    static let schedules: [Operation] = [
        Operation(
            "schedule.cosine", family: "training",
            summary: "Learning rate: linear warm-up, then half a cosine from lr to final over steps (SGDR without restarts).",
            doc:
                "η_t = lr·(t+1)/warmup for t < warmup, then final + (lr − final)·(1 + cos(π·(t − warmup)/(steps − warmup)))/2, "
                + "final after.",
            example: "s = schedule.cosine(0.1, steps: 100)\nprint(s(0), s(50), s(100))",
            params: [
                ParamSpec("lr", .number, range: 0...1e6), ParamSpec("steps", .integer, range: 1...1e12, namedOnly: true),
                ParamSpec("final", .number, .value(.number(0)), range: 0...1e6, namedOnly: true),
                ParamSpec("warmup", .integer, .value(.number(0)), range: 0...1e12, namedOnly: true),
            ]
        ) { args, _ in
            schedule(
                .cosine(
                    base: try args.number("lr"), steps: try args.int("steps"), final: try args.number("final"),
                    warmup: try args.int("warmup")))
        },
        Operation(
            "schedule.linear_warmup", family: "training", summary: "Learning rate lr·min(1, (t+1)/warmup), constant after the warm-up.",
            example: "s = schedule.linear_warmup(0.1, warmup: 10)\nprint(s(0), s(20))",
            params: [ParamSpec("lr", .number, range: 0...1e6), ParamSpec("warmup", .integer, range: 1...1e12, namedOnly: true)]
        ) { args, _ in
            schedule(.linearWarmup(base: try args.number("lr"), warmup: try args.int("warmup")))
        },
        Operation(
            "schedule.step", family: "training", summary: "Learning rate lr·gamma^⌊t/every⌋ (PyTorch's StepLR).",
            example: "s = schedule.step(0.1, every: 30, gamma: 0.1)\nprint(s(29), s(30))",
            params: [
                ParamSpec("lr", .number, range: 0...1e6), ParamSpec("every", .integer, range: 1...1e12, namedOnly: true),
                ParamSpec("gamma", .number, .value(.number(0.1)), range: 0...1e6, namedOnly: true),
            ]
        ) { args, _ in
            schedule(.step(base: try args.number("lr"), every: try args.int("every"), gamma: try args.number("gamma")))
        },
    ]

    static func schedule(_ s: Schedule) -> Value {
        closure("schedule", summary: "learning rate at a step") { values, call, _ in
            guard values.count == 1, case .number(let t) = values[0], t == t.rounded(), t >= 0 else {
                throw call.error("a schedule takes a step number (0, 1, …)")
            }
            return .number(s.rate(at: Int(t)))
        }
    }
}
