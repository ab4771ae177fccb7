import Compression
import Foundation
import OrderedCollections
import SqueezeCore
import Training

extension Builtins {
    static let oneBitAdamOperation = Operation(
        "onebit_adam", family: "communication",
        summary: "1-bit Adam (Tang et al. 2021): Adam until freeze_step, then v frozen and the momentum sent as 1 bit per element.",
        doc: """
            As DeepSpeed's OnebitAdam: for steps 1…freeze_step the workers' gradients are averaged in full precision and \
            m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g²; after it v is frozen and each worker updates its own momentum \
            mᵢ = β₁m + (1−β₁)gᵢ, averaged by a two-stage compressed all-reduce: worker i sends sign(mᵢ + eᵢ) with one scale \
            ‖mᵢ + eᵢ‖/√D and keeps the rest as its error eᵢ; the server of each of the W chunks averages, adds its own error, \
            and sends signs and a scale back. update = m/(√v + ε) + λp, p ← p − η·update (no bias correction, as the \
            reference). DeepSpeed's guidance: freeze_step at 15–25% of the steps. mask: "auto" (the default) zeroes after the \
            freeze the momentum entries whose gradient was 0 at every warm-up step — 1 bit cannot send 0, and with v = 0 such \
            an entry's update m/(√v + ε) explodes (Fashion-MNIST's always-black border pixels do this within 15 steps); \
            false turns it off; or give a params-shaped record of 0/1 tensors (DeepSpeed's exp_avg_mask). With one worker \
            there is nothing to communicate and the momentum is kept exact. Use it in train(…, workers: W, optimizer: \
            onebit_adam(…)); opt.init/opt.step work as for adam.
            """,
        example: """
            opt = onebit_adam(lr: 0.01, freeze_step: 2)
            p = {w: ones(3)}
            s = opt.init(p)
            for k in range(4) { r = opt.step(p, {w: tensor([1, -2, 0.5])}, s); p = r.params; s = r.state }
            print(p.w)
            """,
        params: [
            ParamSpec("lr", .any, .value(.number(1e-3)), namedOnly: true, doc: "learning rate: a number, or a schedule or fn(step)"),
            ParamSpec("freeze_step", .integer, range: 0...1e12, namedOnly: true, doc: "steps of plain Adam before compression"),
            ParamSpec("betas", .list, .value(.list([.number(0.9), .number(0.999)])), namedOnly: true, doc: "[β₁, β₂]"),
            ParamSpec("eps", .number, .value(.number(1e-8)), range: 0...1, namedOnly: true),
            ParamSpec("weight_decay", .number, .value(.number(0)), range: 0...1e6, namedOnly: true),
            ParamSpec(
                "mask", .any, .value(.string("auto")), namedOnly: true,
                doc: "\"auto\" (entries with v = 0 at the freeze), false (none), or a params-shaped record of 0/1 tensors"),
        ]
    ) { args, _ in
        var core = OneBitAdam(freezeStep: try args.int("freeze_step"))
        let betas = try args.list("betas").compactMap(\.asNumber)
        guard betas.count == 2, betas.allSatisfy({ $0 >= 0 && $0 < 1 }) else {
            throw args.error("betas", "'betas' must be two numbers in [0, 1)")
        }
        (core.beta1, core.beta2) = (betas[0], betas[1])
        core.eps = try args.number("eps")
        core.weightDecay = try args.number("weight_decay")
        let lr = args.value("lr")
        switch lr {
        case .number, .function: break
        default: throw args.error("lr", "'lr' must be a number or a schedule (a function of the step)")
        }
        let mask = args.value("mask")
        switch mask {
        case .bool(false), .string("auto"), .record, .list: break
        default: throw args.error("mask", "'mask' must be \"auto\", false, or a params-shaped record of 0/1 tensors")
        }
        let optimizer = core
        var fields = OrderedDictionary<String, Value>()
        fields["kind"] = .string("onebit_adam")
        for p in ["lr", "freeze_step", "betas", "eps", "weight_decay", "mask"] { fields[p] = args.value(p) }
        fields["init"] = closure("onebit_adam.init", summary: "the optimizer's initial state") { values, call, _ in
            guard values.count == 1 else { throw call.error("init takes the parameters") }
            let leaves = ParameterTree.leaves(values[0])
            let st = OneBitAdam.State(counts: leaves.map(\.tensor.count), workers: 1)
            return oneBitStateValue(st, values[0])
        }
        fields["step"] = closure("onebit_adam.step", summary: "one update: {params, state}") { values, call, interp in
            guard values.count == 3 else { throw call.error("step takes params, grads and state") }
            var st = try oneBitState(values[0], values[2], workers: 1, mask: mask, call)
            let grads = try ParameterTree.aligned(values[0], values[1], "grads", call, "grads").map(\.storage)
            var params = ParameterTree.leaves(values[0]).map(\.tensor.storage)
            let rate = try learningRate(lr, step: st.step, interp, call.span)
            _ = optimizer.step(&params, [grads], weights: [1], &st, lr: rate, autoMask: isAuto(mask))
            let shapes = ParameterTree.leaves(values[0]).map(\.tensor.shape)
            let newParams = ParameterTree.rebuild(values[0], zip(params, shapes).map { Tensor(shape: $1, storage: $0) })
            return .record(Record(pairs: [("params", newParams), ("state", oneBitStateValue(st, values[0]))]))
        }
        return .record(Record(fields))
    }

    static func isAuto(_ v: Value) -> Bool {
        if case .string("auto") = v { return true }
        return false
    }

    /// The core optimizer an onebit_adam record describes (its own fields, checked when it was made).
    static func oneBitCore(_ opt: Record) -> OneBitAdam? {
        guard case .string("onebit_adam")? = opt["kind"], case .number(let freeze)? = opt["freeze_step"],
            case .list(let betas)? = opt["betas"], betas.count == 2, case .number(let eps)? = opt["eps"],
            case .number(let wd)? = opt["weight_decay"]
        else { return nil }
        var core = OneBitAdam(freezeStep: Int(freeze))
        (core.beta1, core.beta2) = (betas[0].asNumber ?? 0.9, betas[1].asNumber ?? 0.999)
        (core.eps, core.weightDecay) = (eps, wd)
        return core
    }

    static func oneBitStateValue(_ st: OneBitAdam.State, _ params: Value) -> Value {
        let shapes = ParameterTree.leaves(params).map(\.tensor.shape)
        func tree(_ a: [[Float]]) -> Value { ParameterTree.rebuild(params, zip(a, shapes).map { Tensor(shape: $1, storage: $0) }) }
        var f = OrderedDictionary<String, Value>()
        f["step"] = .number(Double(st.step))
        f["m"] = tree(st.m)
        f["v"] = tree(st.v)
        if !st.mask.isEmpty { f["mask"] = tree(st.mask) }
        return .record(Record(f))
    }

    /// The core state from a state record (the errors start at zero: DeepSpeed resets them on a checkpoint load too).
    static func oneBitState(_ params: Value, _ state: Value, workers: Int, mask: Value, _ call: Arguments) throws -> OneBitAdam.State {
        guard case .record(let r) = state, case .number(let step)? = r["step"], let m = r["m"], let v = r["v"] else {
            throw call.error("state", "the state must be what onebit_adam's init returned")
        }
        let leaves = ParameterTree.leaves(params)
        var st = OneBitAdam.State(counts: leaves.map(\.tensor.count), workers: workers)
        st.step = Int(step)
        st.m = try ParameterTree.aligned(params, m, "state.m", call, "state").map(\.storage)
        st.v = try ParameterTree.aligned(params, v, "state.v", call, "state").map(\.storage)
        if let saved = r["mask"] {
            st.mask = try ParameterTree.aligned(params, saved, "state.mask", call, "state").map(\.storage)
        } else {
            switch mask {
            case .record, .list: st.mask = try ParameterTree.aligned(params, mask, "mask", call, "mask").map(\.storage)
            default: break  // "auto" is set at the freeze; false: none
            }
        }
        return st
    }

    static let lgrecoOperation = Operation(
        "lgreco", family: "communication",
        summary: "L-GreCo's per-layer levels: one choice per layer, fewest bits with total error ≤ budget (exact DP).",
        doc: """
            errors[l, c] and bits[l, c] are layer l's compression error and size at candidate c; the result minimises \
            Σ bits subject to Σ error ≤ budget (Markov et al., MLSys 2024), by dynamic programming over the layers keeping the \
            Pareto-optimal (error, bits) partial choices — exact, where the reference discretises the error into bins. \
            budget defaults to the error of column `uniform` (the uniform setting). Returns {choice (index per layer), bits, \
            error, budget}, or an error when no choice fits. In train, compressor: {…, choices: […], every: N} re-solves this \
            every N steps from the gradients accumulated since the last solve.
            """,
        example: """
            e = tensor([[4, 1, 0], [9, 3, 1], [2, 1, 0]])
            b = tensor([[5, 20, 50], [10, 40, 100], [40, 160, 400]])
            r = lgreco(e, b, uniform: 1)
            print(r.choice, r.bits, r.error)
            """,
        params: [
            ParamSpec("errors", .tensor, doc: "[layers, choices]"), ParamSpec("bits", .tensor, doc: "[layers, choices]"),
            ParamSpec("budget", .number, .none, range: 0...1e300, namedOnly: true),
            ParamSpec("uniform", .integer, .none, range: 0...1e6, namedOnly: true, doc: "the column whose total error is the budget"),
        ]
    ) { args, _ in
        let e = try args.tensor("errors"), b = try args.tensor("bits")
        guard e.rank == 2, e.shape == b.shape, e.shape[0] >= 1, e.shape[1] >= 1 else {
            throw args.error("bits", "errors and bits must be matrices of the same shape [layers, choices]")
        }
        try checkFinite(e, args, "errors")
        try checkFinite(b, args, "bits")
        let rows = (0..<e.shape[0]).map { l in (0..<e.shape[1]).map { Double(e.storage[l * e.shape[1] + $0]) } }
        let bits = (0..<e.shape[0]).map { l in (0..<e.shape[1]).map { Double(b.storage[l * e.shape[1] + $0]) } }
        let budget: Double
        if let u = try args.optionalInt("uniform") {
            guard u < e.shape[1] else { throw args.error("uniform", "'uniform' must be a column index below \(e.shape[1])") }
            guard args.isNone("budget") else { throw args.error("budget", "give budget or uniform, not both") }
            budget = rows.reduce(0) { $0 + $1[u] }
        } else if let x = try args.optionalNumber("budget") {
            budget = x
        } else {
            throw args.error("budget", "give the error budget (budget:) or the uniform column (uniform:)")
        }
        guard let choice = LayerAllocation.solve(errors: rows, bits: bits, budget: budget) else {
            throw args.error("budget", "no choice of levels has total error ≤ \(Format.number(budget))")
        }
        let total = choice.enumerated().reduce(0.0) { $0 + bits[$1.offset][$1.element] }
        let err = choice.enumerated().reduce(0.0) { $0 + rows[$1.offset][$1.element] }
        return .record(
            Record(pairs: [
                ("choice", .tensor(Tensor(choice.map { Float($0) }))), ("bits", .number(total)), ("error", .number(err)),
                ("budget", .number(budget)),
            ]))
    }
}
