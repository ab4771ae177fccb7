import Compression
import Foundation
import OrderedCollections
import SqueezeCore
import Training

extension Builtins {
    static let workerParams: [ParamSpec] = [
        ParamSpec(
            "workers", .integer, .none, range: 1...4096, namedOnly: true,
            doc: "simulated data-parallel workers W: each step's batch is split among them, each computes its gradient"),
        ParamSpec(
            "compressor", .record, .none, namedOnly: true,
            doc: "what each worker sends: {method: …, and compress_grad's settings}; choices:/every: turn on L-GreCo"),
        ParamSpec(
            "server_compressor", .record, .none, namedOnly: true,
            doc: "the server re-compresses the average with its own error memory before broadcasting it"),
        ParamSpec(
            "shards", .any, .value(.string("iid")), namedOnly: true,
            doc: "\"iid\" (the batch split evenly), \"by_label\" (worker w holds the labels l with rank(l) mod W = w), or a tensor "
                + "of each row's worker"),
    ]
}

/// The simulated data-parallel part of a `train` call: the workers' shards, the gradient exchange (or
/// 1-bit Adam's momentum exchange), and every bit sent.
struct WorkerSetup {
    let workers: Int
    var exchange: GradientExchange?
    var oneBit: OneBitAdam?
    var oneBitState: OneBitAdam.State?
    let autoMask: Bool
    let lr: Value
    /// Non-iid: each worker's rows, its current order and position.
    let pools: [[Int]]?
    var orders: [[Int]] = []
    var cursors: [Int] = []
    var rng: RandomGenerator
    var bitsUp: [Double] = [], bitsDown: [Double] = []
    let denseBits: Int

    static func make(
        _ args: Arguments, _ interp: Interpreter, X: Tensor, y: Tensor?, optimizer: Record, steps: Int, seed: UInt64
    ) throws
        -> WorkerSetup?
    {
        let oneBit = Builtins.oneBitCore(optimizer)
        if let oneBit, oneBit.freezeStep >= steps {
            throw args.error(
                "optimizer",
                "onebit_adam's freeze_step (\(oneBit.freezeStep)) is not below the run's \(steps) steps, so compression would never start; "
                    + "DeepSpeed suggests 15–25% of the steps (\(max(1, steps / 5)))")
        }
        let given = ["workers", "compressor", "server_compressor"].contains { !args.isNone($0) }
        guard given else { return nil }
        let w = try args.optionalInt("workers") ?? 1
        let shapes = ParameterTree.leaves(args.value("params")).map(\.tensor.shape)
        guard !shapes.isEmpty else { throw args.error("params", "the parameters hold no tensors to train") }
        func spec(_ name: String) throws -> CompressorSpec? {
            guard case .record(let r) = args.value(name) else { return nil }
            guard case .string(let m)? = r["method"] else {
                throw args.error(name, "'\(name)' must be a record with a method: {method: \"topk\", ratio: 0.01}")
            }
            let allowed = Set(["method"] + Builtins.compressorParams.map(\.name))
            if let bad = r.fields.keys.first(where: { !allowed.contains($0) }) {
                throw args.error(name, "\(name) has no setting '\(bad)'; known: \(allowed.sorted().joined(separator: ", "))")
            }
            return try Builtins.compressorSpec(method: m, { r[$0] }, { args.error(name, "\(name).\($0): \($1)") })
        }
        let compressor = try spec("compressor"), server = try spec("server_compressor")
        if oneBit != nil, compressor != nil || server != nil {
            throw args.error("compressor", "onebit_adam compresses the momentum itself; give no compressor with it")
        }
        if let server, server.isLinear || server.method == .dgc || server.every > 0 {
            throw args.error("server_compressor", "the server compressor must be topk, randk, threshold, sign or qsgd")
        }
        var exchange: GradientExchange? = nil
        if oneBit == nil {
            do { exchange = try GradientExchange(spec: compressor, server: server, workers: w, shapes: shapes) } catch let e as CoreError {
                throw args.error("compressor", e.description)
            }
        }
        var state: OneBitAdam.State? = nil
        if oneBit != nil { state = OneBitAdam.State(counts: shapes.map { $0.reduce(1, *) }, workers: w) }
        let maskValue = optimizer["mask"] ?? .none
        if let s = state, case .record = maskValue {
            var st = s
            st.mask = try ParameterTree.aligned(args.value("params"), maskValue, "mask", args, "optimizer").map(\.storage)
            state = st
        }
        let pools = try shardPools(args, X: X, y: y, workers: w)
        var setup = WorkerSetup(
            workers: w, exchange: exchange, oneBit: oneBit, oneBitState: state, autoMask: Builtins.isAuto(maskValue),
            lr: optimizer["lr"] ?? .number(1e-3), pools: pools, rng: RandomGenerator(seed: seed ^ 0x5851_F42D_4C95_7F2D),
            denseBits: shapes.reduce(0) { $0 + 32 * $1.reduce(1, *) })
        if let pools {
            setup.orders = pools.map { _ in [] }
            setup.cursors = pools.map(\.count)
        }
        return setup
    }

    /// Non-iid shards: each worker's rows (nil for "iid").
    static func shardPools(_ args: Arguments, X: Tensor, y: Tensor?, workers w: Int) throws -> [[Int]]? {
        var owner: [Int]
        switch args.value("shards") {
        case .string("iid"): return nil
        case .string("by_label"):
            guard let y else { throw args.error("shards", "shards: \"by_label\" needs labels: data.y") }
            let labels = try Builtins.intLabels(y, args, "data")
            let ranks = Dictionary(uniqueKeysWithValues: Array(Set(labels)).sorted().enumerated().map { ($1, $0) })
            owner = labels.map { ranks[$0]! % w }
        case .tensor(let t):
            guard t.count == X.rows else { throw args.error("shards", "shards must give one worker per row of data.X (\(X.rows))") }
            owner = try t.storage.map { v in
                guard v == v.rounded(), v >= 0, Int(v) < w else {
                    throw args.error("shards", "worker indices must be whole numbers in 0..<\(w)")
                }
                return Int(v)
            }
        default: throw args.error("shards", "'shards' must be \"iid\", \"by_label\" or a tensor of each row's worker")
        }
        var pools = Array(repeating: [Int](), count: w)
        for (i, o) in owner.enumerated() { pools[o].append(i) }
        if let empty = pools.firstIndex(where: \.isEmpty) { throw args.error("shards", "worker \(empty) has no rows") }
        return pools
    }

    /// Worker w's next `count` rows from its own shard (reshuffled each time it is used up).
    mutating func nextRows(_ w: Int, _ count: Int, _ shuffle: Bool, _ rng: inout RandomGenerator) -> [Int] {
        let pool = pools![w]
        var out = [Int]()
        while out.count < count {
            if cursors[w] >= pool.count {
                orders[w] = shuffle ? rng.permutation(pool.count).map { pool[$0] } : pool
                cursors[w] = 0
            }
            let take = min(count - out.count, pool.count - cursors[w])
            out += orders[w][cursors[w]..<(cursors[w] + take)]
            cursors[w] += take
        }
        return out
    }

    func cumulative(_ a: [Double]) -> [Float] {
        var s = 0.0
        return a.map {
            s += $0
            return Float(s)
        }
    }

    func summary(params: Value) -> Value {
        var f = OrderedDictionary<String, Value>()
        let steps = Double(bitsUp.count)
        f["workers"] = .number(Double(workers))
        f["bits_up"] = .number(bitsUp.reduce(0, +))
        f["bits_down"] = .number(bitsDown.reduce(0, +))
        f["dense_bits_up"] = .number(steps * Double(workers * denseBits))
        f["compression_up"] = .number(bitsUp.reduce(0, +) > 0 ? steps * Double(workers * denseBits) / bitsUp.reduce(0, +) : 0)
        if let ex = exchange, ex.spec?.every ?? 0 > 0 {
            f["levels"] = .tensor(Tensor(ex.levels.map { Float($0) }))
            f["solves"] = .number(Double(ex.solves.count))
        }
        return .record(Record(f))
    }
}

extension Trainer {
    /// One simulated data-parallel step: the batch split among the workers (or each worker's own shard),
    /// each worker's gradient, the exchange, the optimizer. nil when the batch has fewer rows than workers.
    mutating func parallelStep(_ idx: [Int], _ params: Value, _ state: Value, epoch: Int) throws -> (Double, Value, Value)? {
        guard var setup else { return nil }
        defer { self.setup = setup }
        let w = setup.workers
        var shards: [[Int]], weights: [Float]
        if setup.pools != nil {
            let per = max(1, idx.count / w)
            shards = (0..<w).map { setup.nextRows($0, per, shuffle, &rng) }
            weights = Array(repeating: 1 / Float(w), count: w)
        } else {
            guard idx.count >= w else { return nil }
            shards = (0..<w).map { Array(idx[($0 * idx.count / w)..<(($0 + 1) * idx.count / w)]) }
            weights = shards.map { Float($0.count) / Float(idx.count) }
        }
        var grads = [[[Float]]](), loss = 0.0
        // A worker's products are small (rows × parameters): a second BLAS thread costs more than it saves.
        let small = (shards.map(\.count).max() ?? 0) * setup.denseBits / 32 < 1 << 25
        for (k, rows) in shards.enumerated() {
            var a: [Value] = [params, .tensor(try X.rows(at: rows))]
            if let y { a.append(.tensor(try y.rows(at: rows))) }
            let r =
                try small
                ? BLAS.singleThreaded { try Builtins.differentiate(self.loss, a, argnums: [0], interp, at: args.span, origin: args.span) }
                : Builtins.differentiate(self.loss, a, argnums: [0], interp, at: args.span, origin: args.span)
            loss += Double(weights[k]) * r.value
            grads.append(try ParameterTree.aligned(params, r.grads[0], "the gradient", args, "loss").map(\.storage))
        }
        guard loss.isFinite else { return (loss, params, state) }
        if let core = setup.oneBit, var st = setup.oneBitState {
            var p = ParameterTree.leaves(params).map(\.tensor.storage)
            let rate = try Builtins.learningRate(setup.lr, step: st.step, interp, args.span)
            let bits = core.step(&p, grads, weights: weights, &st, lr: rate, autoMask: setup.autoMask)
            setup.oneBitState = st
            setup.bitsUp.append(Double(bits.up.total))
            setup.bitsDown.append(Double(bits.down))
            let shapes = ParameterTree.leaves(params).map(\.tensor.shape)
            let newParams = ParameterTree.rebuild(params, zip(p, shapes).map { Tensor(shape: $1, storage: $0) })
            return (loss, newParams, Builtins.oneBitStateValue(st, params))
        }
        let out: GradientExchange.Outcome
        do { out = try setup.exchange!.exchange(grads, weights: weights, epoch: epoch - 1, rng: &setup.rng) } catch let e as CoreError {
            throw args.error("compressor", e.description)
        }
        setup.bitsUp.append(Double(out.up.total))
        setup.bitsDown.append(Double(out.down))
        let shapes = ParameterTree.leaves(params).map(\.tensor.shape)
        let average = ParameterTree.rebuild(params, zip(out.average, shapes).map { Tensor(shape: $1, storage: $0) })
        let (p, s) = try optimizerStep(params, average, state)
        return (loss, p, s)
    }
}
