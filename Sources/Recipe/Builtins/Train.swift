import Foundation
import OrderedCollections
import SqueezeCore
import Training

extension Builtins {
    static let trainOperation = Operation(
        "train", family: "training",
        summary: "Minimise loss(params, X, y) over shuffled mini-batches with an optimizer: {params, state, history}.",
        doc: """
            Each step: a batch of rows (a fresh order per epoch from the seed), value_and_grad of loss with respect to params, \
            optimizer.step. history.loss holds the loss of every step, history.epochs one record per epoch {epoch, loss (the \
            epoch's mean), and eval(params)'s number or fields}. The step losses are logged to the run as train.loss and the \
            epoch metrics under their names, with steps. A non-finite loss or parameter stops with an error naming the step \
            (and the parameter). Ctrl-C stops after the step in progress and returns the last good parameters with \
            interrupted: true. The same loop can be written in a recipe with batches, value_and_grad and opt.step.
            """,
        example: """
            data = {X: randn(64, 2, seed: 1), y: arange(0, 64) % 2}
            loss = fn(p, X, y) { return cross_entropy(mlp(p, X), y) }
            r = train(mlp_init([2, 8, 2], seed: 1), loss, data, optimizer: adam(lr: 0.01), epochs: 2, batch: 16, seed: 1)
            print(len(r.history.loss))
            """,
        params: [
            ParamSpec("params", .any), ParamSpec("loss", .function, doc: "fn(params, X, y) returning a number (fn(params, X) without y)"),
            ParamSpec("data", .record, doc: "{X, y}: samples as rows of X, y optional"),
            ParamSpec("optimizer", .record, .required, namedOnly: true, doc: "sgd(…), adam(…) or lamb(…)"),
            ParamSpec("epochs", .integer, .value(.number(1)), range: 1...1e9, namedOnly: true),
            ParamSpec("batch", .integer, .value(.number(32)), range: 1...1e9, namedOnly: true),
            ParamSpec("shuffle", .bool, .value(.bool(true)), namedOnly: true),
            ParamSpec("eval", .function, .none, namedOnly: true, doc: "fn(params) → number or record of numbers, after each epoch"),
            seedParam,
        ] + workerParams
    ) { args, interp in
        var trainer = try Trainer(args, interp)
        return try trainer.run()
    }
}

/// The state of one `train` call.
struct Trainer {
    let args: Arguments
    let interp: Interpreter
    let loss: Function
    let X: Tensor
    let y: Tensor?
    let initFn: Function, stepFn: Function
    let epochs: Int, batch: Int, shuffle: Bool
    var rng: RandomGenerator
    let seed: UInt64
    var setup: WorkerSetup?

    init(_ args: Arguments, _ interp: Interpreter) throws {
        self.args = args
        self.interp = interp
        guard case .function(let f) = args.value("loss") else { throw args.error("loss", "'loss' must be a function") }
        loss = f
        guard case .record(let data) = args.value("data"), let xv = data["X"], let X = Ops.toTensor(xv), X.rank >= 1 else {
            throw args.error("data", "'data' must be a record {X, y} with samples as the rows of X")
        }
        self.X = X
        if let yv = data["y"] {
            guard let y = Ops.toTensor(yv), y.rank >= 1, y.shape[0] == X.rows else {
                throw args.error("data", "data.y must have one entry per row of data.X (\(X.rows))")
            }
            self.y = y
        } else {
            y = nil
        }
        guard case .record(let opt) = args.value("optimizer"), case .function(let i)? = opt["init"], case .function(let s)? = opt["step"]
        else {
            throw args.error("optimizer", "'optimizer' must be an optimizer: sgd(…), adam(…) or lamb(…)")
        }
        (initFn, stepFn) = (i, s)
        epochs = try args.int("epochs")
        batch = try args.int("batch")
        shuffle = try args.bool("shuffle")
        if let s = try args.optionalInt("seed") {
            guard s >= 0 else { throw args.error("seed", "seed must be a non-negative whole number") }
            seed = UInt64(s)
        } else {
            seed = interp.rng.next()
        }
        rng = RandomGenerator(seed: seed)
        guard X.rows > 0 else { throw args.error("data", "data.X has no rows") }
        setup = try WorkerSetup.make(args, interp, X: X, y: y, optimizer: opt, steps: epochs * ((X.rows + batch - 1) / batch), seed: seed)
    }

    mutating func run() throws -> Value {
        let span = args.span
        var params = args.value("params")
        var state = try interp.invoke(initFn, [params], at: span)
        let perEpoch = (X.rows + batch - 1) / batch
        var losses: [Float] = []
        var epochRecords: [Value] = []
        var interrupted = false
        let task = ProgressMeter.start("train", total: epochs * perEpoch)
        defer { task.end() }
        epochLoop: for epoch in 1...epochs {
            let order = shuffle ? rng.permutation(X.rows) : Array(0..<X.rows)
            var sum = 0.0, count = 0
            for b in 0..<perEpoch {
                let idx = Array(order[(b * batch)..<min((b + 1) * batch, X.rows)])
                let step = losses.count + 1
                do {
                    let stepped = try setup == nil ? plainStep(idx, params, state) : parallelStep(idx, params, state, epoch: epoch)
                    guard let stepped else { continue }  // fewer rows than workers: the epoch's last batch is dropped
                    let (r, p, s) = stepped
                    guard r.isFinite else {
                        throw args.error(
                            "loss",
                            "the loss is \(Format.number(r)) at step \(step) (epoch \(epoch), batch \(b + 1)); "
                                + "the parameters before it were finite"
                        )
                    }
                    if let bad = ParameterTree.leaves(p).first(where: { $0.tensor.nonFiniteDescription != nil }) {
                        throw args.error(
                            "params",
                            "parameter \(bad.path) became non-finite at step \(step) (epoch \(epoch)): "
                                + "loss \(Format.number(r)) was finite; lower the learning rate?"
                        )
                    }
                    (params, state) = (p, s)
                    losses.append(Float(r))
                    sum += r
                    count += 1
                    interp.report("train.loss", r, step: step)
                    task.advance()
                    if b % 10 == 0 { task.note("epoch \(epoch)/\(epochs), loss \(Format.number((r * 1e4).rounded() / 1e4))") }
                    try interp.cancellation.check()
                } catch let e where interp.cancellation.isCancelled && Trainer.isInterruption(e) {
                    interrupted = true
                    interp.warn(
                        "train: interrupted at step \(step) of \(epochs * perEpoch); the result holds the parameters after step \(step - 1)"
                    )
                    break epochLoop
                }
            }
            var fields = OrderedDictionary<String, Value>()
            fields["epoch"] = .number(Double(epoch))
            fields["loss"] = .number(sum / Double(max(count, 1)))
            if case .function(let ev) = args.value("eval") {
                let m = try interp.invoke(ev, [params], at: args.spanOf("eval"))
                switch m {
                case .number(let x): fields["eval"] = .number(x)
                case .record(let r):
                    for (k, v) in r.fields {
                        guard case .number = v else {
                            throw args.error("eval", "eval's record must hold numbers; \(k) is \(v.typeDescription)")
                        }
                        fields[k] = v
                    }
                default: throw args.error("eval", "eval must return a number or a record of numbers, got \(m.typeDescription)")
                }
            }
            if let setup {
                fields["bits_up"] = .number(setup.bitsUp.reduce(0, +))
                fields["bits_down"] = .number(setup.bitsDown.reduce(0, +))
            }
            for (k, v) in fields where k != "epoch" {
                if case .number(let x) = v { interp.report(k == "loss" ? "train.epoch_loss" : k, x, step: epoch) }
            }
            epochRecords.append(.record(Record(fields)))
        }
        var history = Record(pairs: [("loss", .tensor(Tensor(losses))), ("epochs", .list(epochRecords))])
        var result = Record(pairs: [
            ("params", params), ("state", state), ("history", .record(history)), ("steps", .number(Double(losses.count))),
            ("interrupted", .bool(interrupted)),
        ])
        if let setup {
            history.fields["bits_up"] = .tensor(Tensor(setup.cumulative(setup.bitsUp)))
            result.fields["history"] = .record(history)
            result.fields["communication"] = setup.summary(params: params)
        }
        return .record(result)
    }

    /// value_and_grad on the whole batch, then the optimizer's step.
    func plainStep(_ idx: [Int], _ params: Value, _ state: Value) throws -> (Double, Value, Value)? {
        var batchArgs: [Value] = [params, .tensor(try X.rows(at: idx))]
        if let y { batchArgs.append(.tensor(try y.rows(at: idx))) }
        let r = try Builtins.differentiate(loss, batchArgs, argnums: [0], interp, at: args.span, origin: args.span)
        guard r.value.isFinite else { return (r.value, params, state) }
        let (p, s) = try optimizerStep(params, r.grads[0], state)
        return (r.value, p, s)
    }

    func optimizerStep(_ params: Value, _ grads: Value, _ state: Value) throws -> (Value, Value) {
        let out = try interp.invoke(stepFn, [params, grads, state], at: args.span)
        guard case .record(let o) = out, let p = o["params"], let s = o["state"] else {
            throw args.error("optimizer", "the optimizer's step did not return {params, state}")
        }
        return (p, s)
    }

    static func isInterruption(_ e: Error) -> Bool {
        if let d = e as? Diagnostic { return d.kind == .interrupted }
        if let c = e as? CoreError { return c == .cancelled }
        return false
    }
}
