import Compression
import Foundation
import OrderedCollections
import SqueezeCore
import Training

extension Builtins {
    static let gradientCompression: [Operation] = [compressGradOperation, oneBitAdamOperation, lgrecoOperation] + stragglerOperations

    static let compressorMethods = CompressorSpec.Method.allCases.map(\.rawValue).filter { $0 != "none" }

    /// The settings of a compressor, shared by compress_grad's arguments and train's compressor record.
    static let compressorParams: [ParamSpec] = [
        ParamSpec(
            "ratio", .number, .value(.number(0.01)), range: 0...1, namedOnly: true,
            doc: "fraction of entries sent: ⌈ratio·d⌉, at least 1 (dgc: the final ratio)"
        ).only(["topk", "randk", "dgc"]),
        ParamSpec("threshold", .number, .value(.number(0)), range: 0...1e30, namedOnly: true, doc: "entries with |x| ≥ threshold are sent")
            .only(["threshold"]),
        ParamSpec("chunk", .integer, .value(.number(0)), range: 0...1e12, namedOnly: true, doc: "elements per scale (0: one per tensor)")
            .only(["sign"]),
        ParamSpec("levels", .integer, .value(.number(4)), range: 1...1e6, namedOnly: true, doc: "quantization levels s").only(["qsgd"]),
        ParamSpec("bucket", .integer, .value(.number(512)), range: 0...1e12, namedOnly: true, doc: "elements per norm (0: one per tensor)")
            .only(["qsgd"]),
        ParamSpec("rank", .integer, .value(.number(2)), range: 0...1e6, namedOnly: true, doc: "rank r of P Qᵀ").only(["powersgd"]),
        ParamSpec(
            "start_after", .integer, .value(.number(0)), range: 0...1e12, namedOnly: true,
            doc: "exchanges sent uncompressed first (the reference's start_compressing_after_num_steps)"
        ).only(["powersgd"]),
        ParamSpec("momentum", .number, .value(.number(0.9)), range: 0...1, namedOnly: true, doc: "velocity accumulation μ").only(["dgc"]),
        ParamSpec("nesterov", .bool, .value(.bool(false)), namedOnly: true).only(["dgc"]),
        ParamSpec("clip", .number, .none, range: 0...1e30, namedOnly: true, doc: "clip each worker's gradient norm to clip/√W").only(["dgc"]
        ),
        ParamSpec(
            "warmup_epochs", .integer, .value(.number(0)), range: 0...1e6, namedOnly: true,
            doc: "epochs of exponentially rising sparsity, ratio^((e+1)/(warmup+1)) (75% → 99.9% for 4 at 0.001)"
        ).only(["dgc"]),
        ParamSpec(
            "sample_ratio", .number, .value(.number(0.01)), range: 0.01...1, namedOnly: true, doc: "sampled fraction for the threshold"
        )
        .only(["dgc"]),
        ParamSpec(
            "feedback", .choice(["ef", "none", "econtrol"]), .value(.string("ef")), namedOnly: true,
            doc: "error feedback (p = g + e, e ← p − D(C(p))), none, or EControl (eta)"),
        ParamSpec("eta", .number, .value(.number(0.2)), range: 1e-9...1, namedOnly: true, doc: "EControl's feedback strength η"),
        ParamSpec(
            "choices", .list, .none, namedOnly: true,
            doc: "L-GreCo: candidate levels per layer (topk ratios, powersgd ranks, qsgd levels); train only"),
        ParamSpec("every", .integer, .value(.number(100)), range: 1...1e12, namedOnly: true, doc: "L-GreCo: steps between re-solves"),
    ]

    /// A compressor from named settings (`get(name)`: the value given, nil when omitted).
    static func compressorSpec(method: String, _ get: (String) -> Value?, _ fail: (String, String) -> Diagnostic) throws -> CompressorSpec {
        guard let m = CompressorSpec.Method(rawValue: method), m != .none else {
            throw fail("method", "unknown method '\(method)'; expected one of \(compressorMethods.joined(separator: ", "))")
        }
        var spec = CompressorSpec(m)
        func number(_ name: String) throws -> Double? {
            guard let v = get(name) else { return nil }
            guard case .number(let x) = v, x.isFinite else { throw fail(name, "'\(name)' must be a number, got \(Format.inline(v))") }
            if let p = compressorParams.first(where: { $0.name == name }) {
                if let methods = p.methods, !methods.contains(method) {
                    throw fail(name, "'\(name)' belongs to \(methods.joined(separator: "/")), not \(method)")
                }
                if let r = p.range, !r.contains(x) {
                    throw fail(
                        name,
                        "'\(name)' must be between \(Format.number(r.lowerBound)) and \(Format.number(r.upperBound)), "
                            + "got \(Format.number(x))"
                    )
                }
            }
            return x
        }
        func int(_ name: String) throws -> Int? {
            guard let x = try number(name) else { return nil }
            guard x == x.rounded() else { throw fail(name, "'\(name)' must be a whole number, got \(Format.number(x))") }
            return Int(x)
        }
        if let r = try number("ratio") {
            guard r > 0 else { throw fail("ratio", "'ratio' must be in (0, 1], got \(Format.number(r))") }
            spec.ratio = r
        }
        if let t = try number("threshold") { spec.threshold = t }
        if let c = try int("chunk") { spec.chunk = c }
        if let l = try int("levels") { spec.levels = l }
        if let b = try int("bucket") { spec.bucket = b }
        if let r = try int("rank") {
            guard r >= 1 else { throw fail("rank", "'rank' must be ≥ 1, got 0") }
            spec.rank = r
        }
        if let s = try int("start_after") { spec.startAfter = s }
        if let mu = try number("momentum") { spec.momentum = mu }
        if case .bool(let b)? = get("nesterov") { spec.nesterov = b }
        if let c = try number("clip") { spec.clip = c }
        if let w = try int("warmup_epochs") { spec.warmupEpochs = w }
        if let s = try number("sample_ratio") { spec.sampleRatio = s }
        let eta = try number("eta") ?? 0.2
        switch get("feedback") {
        case nil, .string("ef")?: spec.feedback = .ef
        case .string("none")?: spec.feedback = .none
        case .string("econtrol")?: spec.feedback = .econtrol(eta: eta)
        case let v?: throw fail("feedback", "'feedback' must be \"ef\", \"none\" or \"econtrol\", got \(Format.inline(v))")
        }
        if let c = get("choices") {
            guard case .list(let l) = c, !l.isEmpty, l.allSatisfy({ $0.asNumber != nil }) else {
                throw fail("choices", "'choices' must be a list of numbers")
            }
            spec.choices = l.compactMap(\.asNumber)
            spec.every = try int("every") ?? 100
        }
        do { try spec.validate() } catch let e as CoreError { throw fail("method", e.description) }
        return spec
    }

    static let compressGradOperation = Operation(
        "compress_grad", family: "communication",
        summary: "Compress a gradient as a data-parallel worker would send it: {message, state} with the exact bits.",
        doc: """
            methods: topk (the ⌈ratio·d⌉ largest |x|), randk (uniformly random ⌈ratio·d⌉; not rescaled), threshold (|x| ≥ τ), \
            sign (scaled sign (‖x‖₁/d)·sign x per chunk, Karimireddy et al. 2019), qsgd (s levels with stochastic rounding per \
            bucket, Alistarh et al. 2017), powersgd (rank-r P Qᵀ by one warm-started half power iteration per call, alternating \
            sides, Gram–Schmidt; Vogels et al. 2019; matrices [shape₀, rest], tensors it would not shrink ≥ 2× sent dense), dgc \
            (Lin et al. 2018: momentum correction vec += (mmt = μ·mmt + g), threshold from a 1% strided sample adapted into \
            [0.8, 1.3]× the target count, momentum-factor masking; vectors sent dense). feedback: "ef" keeps what was not sent \
            (p = g + e; e ← p − D(msg)), "none" drops it, "econtrol" is EControl's rule (Gao et al. 2024, Algorithm 1: \
            Δ = C(η e + g − h), e ← e + g − h − Δ, h ← h + Δ). message.bits counts everything sent: 32-bit values, \
            ⌈log₂ d⌉-bit indices, sign and level bits, fp32 scales and factors; message.parts splits it; message.decoded is \
            what the message itself decodes to, message.estimate the gradient the receiver uses (EControl: h; DGC: the \
            velocity sent). Pass the returned state to the next call (it holds the memory, \
            DGC's momentum, PowerSGD's factors and the step). g may be a tensor or a record/list of tensors (a network's gradient).
            """,
        example: """
            g = randn(1000, seed: 1)
            r = compress_grad(g, method: "topk", ratio: 0.01)
            print(r.message.bits, sum(r.message.decoded != 0))
            r2 = compress_grad(g, method: "topk", ratio: 0.01, state: r.state)
            """,
        params: [ParamSpec("g", .any), ParamSpec("method", .choice(compressorMethods), namedOnly: true)]
            + compressorParams.filter { !["choices", "every"].contains($0.name) }
            + [
                ParamSpec("epoch", .integer, .value(.number(0)), range: 0...1e9, namedOnly: true, doc: "the epoch, for DGC's warm-up")
                    .only(["dgc"]),
                ParamSpec("state", .any, .none, namedOnly: true, doc: "the state a previous call returned"), seedParam,
            ]
    ) { args, interp in
        let g = args.value("g")
        let leaves = ParameterTree.leaves(g)
        guard !leaves.isEmpty, leaves.allSatisfy({ !$0.wasNumber }) else {
            throw args.error("g", "'g' must be a tensor or a record/list of tensors, got \(g.typeDescription)")
        }
        for leaf in leaves where leaf.tensor.nonFiniteDescription != nil {
            throw args.error(
                "g", "the gradient\(leaf.path.isEmpty ? "" : " at \(leaf.path)") contains \(leaf.tensor.nonFiniteDescription!)")
        }
        let method = try args.string("method")
        // Settings of other methods keep their defaults out (passing one explicitly is already an error).
        let given = { (name: String) -> Value? in
            let spec = args.operation.params.first { $0.name == name }
            if let methods = spec?.methods, !methods.contains(method) { return nil }
            return spec == nil || args.isNone(name) ? nil : args.value(name)
        }
        let spec = try compressorSpec(method: method, given, { args.error($0, $1) })
        let shapes = leaves.map(\.tensor.shape)
        var ex: GradientExchange
        do { ex = try GradientExchange(spec: spec, workers: 1, shapes: shapes) } catch let e as CoreError {
            throw args.error("g", e.description)
        }
        var seed: UInt64
        if args.isNone("state") {
            if let s = try args.optionalInt("seed") {
                guard s >= 0 else { throw args.error("seed", "seed must be a non-negative whole number") }
                seed = UInt64(s)
            } else {
                seed = interp.rng.next() & ((1 << 53) - 1)  // recorded exactly as a number
            }
        } else {
            seed = try GradientState.restore(&ex, from: args.value("state"), template: g, args)
        }
        var rng = RandomGenerator(seed: seed ^ (UInt64(ex.exchanges) &* 0x9E37_79B9_7F4A_7C15))
        let out: GradientExchange.Outcome
        do {
            out = try ex.exchange([leaves.map(\.tensor.storage)], weights: [1], epoch: try args.int("epoch"), rng: &rng)
        } catch let e as CoreError { throw args.error("g", e.description) }
        let message = GradientState.messageValue(out, method: method, template: g, shapes: shapes)
        return .record(Record(pairs: [("message", message), ("state", GradientState.value(ex, seed: seed, template: g))]))
    }
}

/// compress_grad's state and message as language values.
enum GradientState {
    static func tree(_ template: Value, _ arrays: [[Float]], _ shapes: [[Int]]) -> Value {
        ParameterTree.rebuild(template, zip(arrays, shapes).map { Tensor(shape: $1, storage: $0) })
    }

    static func value(_ ex: GradientExchange, seed: UInt64, template: Value) -> Value {
        var f = OrderedDictionary<String, Value>()
        f["step"] = .number(Double(ex.exchanges))
        f["seed"] = .number(Double(seed))
        f["memory"] = tree(template, ex.states[0].memory, ex.shapes)
        if case .econtrol = ex.spec?.feedback { f["tracking"] = tree(template, ex.states[0].tracking, ex.shapes) }
        if ex.spec?.method == .dgc {
            f["momentum"] = tree(template, ex.states[0].momentum, ex.shapes)
            f["server_momentum"] = tree(template, ex.serverMemory.momentum, ex.shapes)
        }
        if ex.spec?.method == .powersgd {
            f["compressed_steps"] = .number(Double(ex.compressedSteps))
            f["p"] = .list(ex.p.map { .tensor(Tensor($0)) })
            f["q"] = .list(ex.q.map { .tensor(Tensor($0)) })
        }
        return .record(Record(f))
    }

    /// Restores `ex` from a state record; returns its seed.
    static func restore(_ ex: inout GradientExchange, from state: Value, template: Value, _ args: Arguments) throws -> UInt64 {
        func fail(_ what: String) -> Diagnostic {
            args.error("state", "'state' must be what compress_grad returned for this gradient: \(what)")
        }
        guard case .record(let r) = state, case .number(let step)? = r["step"], case .number(let seed)? = r["seed"], let mem = r["memory"]
        else { throw fail("a record {step, seed, memory, …}") }
        func arrays(_ v: Value?, _ name: String) throws -> [[Float]] {
            guard let v else { throw fail("no '\(name)' (made with another method?)") }
            return try ParameterTree.aligned(template, v, "state.\(name)", args, "state").map(\.storage)
        }
        ex.exchanges = Int(step)
        ex.states[0].memory = try arrays(mem, "memory")
        if case .econtrol = ex.spec?.feedback { ex.states[0].tracking = try arrays(r["tracking"], "tracking") }
        if ex.spec?.method == .dgc {
            ex.states[0].momentum = try arrays(r["momentum"], "momentum")
            ex.serverMemory.momentum = try arrays(r["server_momentum"], "server_momentum")
        }
        if ex.spec?.method == .powersgd {
            guard case .number(let c)? = r["compressed_steps"], case .list(let p)? = r["p"], case .list(let q)? = r["q"],
                p.count == ex.shapes.count,
                q.count == ex.shapes.count
            else { throw fail("no PowerSGD factors (made with another method?)") }
            ex.compressedSteps = Int(c)
            ex.p = p.map { Ops.toTensor($0)?.storage ?? [] }
            ex.q = q.map { Ops.toTensor($0)?.storage ?? [] }
        }
        return UInt64(seed)
    }

    static func messageValue(_ out: GradientExchange.Outcome, method: String, template: Value, shapes: [[Int]]) -> Value {
        let bits = out.messages.reduce(MessageBits()) { $0 + $1.bits }
        let dense = shapes.reduce(0) { $0 + 32 * $1.reduce(1, *) }
        var f = OrderedDictionary<String, Value>()
        f["method"] = .string(method)
        f["bits"] = .number(Double(bits.total))
        f["dense_bits"] = .number(Double(dense))
        f["ratio"] = .number(bits.total > 0 ? Double(dense) / Double(bits.total) : .infinity)
        f["parts"] = .record(Record(pairs: bits.parts.map { ($0.0, Value.number(Double($0.1))) }))
        f["decoded"] = tree(template, out.messages.map(\.decoded), shapes)
        f["estimate"] = tree(template, out.average, shapes)
        if CompressorSpec.Method(rawValue: method).map({ CompressorSpec($0).isSparse }) ?? false {
            let idx = out.messages.map { m in Value.tensor(Tensor(m.indices.map { Float($0) })) }
            let vals = out.messages.map { m in Value.tensor(Tensor(m.values)) }
            if case .tensor = template {
                f["indices"] = idx[0]
                f["values"] = vals[0]
            } else {
                f["indices"] = .list(idx)
                f["values"] = .list(vals)
            }
        }
        return .record(Record(f))
    }
}
