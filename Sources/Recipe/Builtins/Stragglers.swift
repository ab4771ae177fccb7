import Compression
import Foundation
import OrderedCollections
import SqueezeCore
import Training

extension Builtins {
    static let stragglerOperations: [Operation] = [stragglerDelays, stragglerSimulation]

    static let stragglerDelays = Operation(
        "straggler_delays", family: "communication",
        summary: "Per-round worker delays [rounds, workers]: i.i.d. shifted exponential, or an admissible (B, W, λ)-bursty pattern.",
        doc: """
            model "exponential": 1 + Exp(mean) per worker and round. model "bursty": the (B, W, λ)-bursty straggler model of \
            Krishnan et al. (ICLR 2023): a worker starts straggling with probability p and continues a burst of at most B \
            rounds with probability 0.7, whenever the model still holds (≤ λ distinct stragglers in any W consecutive rounds; \
            a straggler of round t straggled in none of rounds t−W+1 … t−B); stragglers take `slowdown`, the others 1 plus a \
            jitter below μ/2.5, so the wait policy of `stragglers` with the same μ classifies every worker as generated.
            """,
        example: "d = straggler_delays(workers: 8, rounds: 20, model: \"bursty\", B: 1, W: 3, lambda: 2, seed: 1)\nprint(shape(d))",
        params: [
            ParamSpec("workers", .integer, range: 1...1e5, namedOnly: true), ParamSpec("rounds", .integer, range: 1...1e7, namedOnly: true),
            ParamSpec("model", .choice(["exponential", "bursty"]), .value(.string("exponential")), namedOnly: true),
            ParamSpec("mean", .number, .value(.number(0.5)), range: 0...1e9, namedOnly: true, doc: "exponential: the mean extra delay")
                .only(["exponential"]),
            ParamSpec("B", .integer, .value(.number(1)), range: 1...1e6, namedOnly: true, doc: "bursty: longest burst").only(["bursty"]),
            ParamSpec("W", .integer, .value(.number(3)), range: 2...1e6, namedOnly: true, doc: "bursty: window").only(["bursty"]),
            ParamSpec("lambda", .integer, .value(.number(2)), range: 1...1e5, namedOnly: true, doc: "bursty: stragglers per window")
                .only(["bursty"]),
            ParamSpec("p", .number, .value(.number(0.05)), range: 0...1, namedOnly: true, doc: "bursty: chance a burst starts").only([
                "bursty"
            ]),
            ParamSpec("slowdown", .number, .value(.number(5)), range: 1...1e9, namedOnly: true, doc: "bursty: a straggler's delay")
                .only(["bursty"]),
            ParamSpec("mu", .number, .value(.number(0.05)), range: 0...10, namedOnly: true, doc: "the wait policy's μ").only(["bursty"]),
            seedParam,
        ]
    ) { args, interp in
        let n = try args.int("workers"), rounds = try args.int("rounds")
        return try withGenerator(args, interp) { rng -> Value in
            let rows: [[Double]]
            if try args.string("model") == "exponential" {
                let mean = try args.number("mean")
                rows = (0..<rounds).map { _ in (0..<n).map { _ in 1 - mean * Foundation.log(1 - rng.uniform()) } }
            } else {
                let b = try args.int("B"), w = try args.int("W")
                guard w > b else { throw args.error("W", "the window W must exceed the burst B") }
                rows = StragglerSimulation.burstyDelays(
                    workers: n, rounds: rounds, burst: b, window: w, lambda: try args.int("lambda"), p: try args.number("p"),
                    slowdown: try args.number("slowdown"), mu: try args.number("mu"), rng: &rng)
            }
            return .tensor(Tensor(shape: [rounds, n], storage: rows.flatMap { $0.map { Float($0) } }))
        }
    }

    static let stragglerSimulation = Operation(
        "stragglers", family: "communication",
        summary: "Simulate rounds of distributed gradient computation with stragglers: no coding, gradient coding or SR-SGC.",
        doc: """
            delays[t, i] is the time worker i needs for one data part in round t; a task of k parts takes k times that. The \
            master waits min(delay)·(1+μ) and treats slower workers as stragglers when the scheme can decode without them, \
            else waits for all (the reference simulators of Krishnan et al., mamaj/Sequential-Gradient-Coding). none: one part \
            per worker (load 1/n), every round waits for all. gc: gradient coding (Tandon et al. 2017, cyclic code, load \
            (s+1)/n), tolerates ≤ s stragglers per round. sr-sgc: selective-repeat sequential gradient coding for the \
            (B, W, λ)-bursty model with s = ⌈Bλ/(W−1+B)⌉ and load (s+1)/n; job t is decoded in round t+B from ≥ n−s results \
            of rounds t and t+B (of v > s stragglers in round t, v−s repeat their job-t task in round t+B). Every decode \
            solves aᵀB_S = 1ᵀ for the received workers; decode_error is the largest |B_Sᵀa − 1| (0: the decoded gradient \
            equals the uncoded sum). Returns {time, durations, load, s, decoded_at (round per job, −1 never), delay (B for \
            sr-sgc, else 0), stragglers [rounds, workers], decode_error, jobs}.
            """,
        example: """
            d = straggler_delays(workers: 8, rounds: 21, model: "bursty", B: 1, W: 3, lambda: 2, seed: 1)
            r = stragglers(d, scheme: "sr-sgc", B: 1, W: 3, lambda: 2, jobs: 20)
            print(r.time, r.load, r.s)
            """,
        params: [
            ParamSpec("delays", .tensor, doc: "[rounds, workers]"),
            ParamSpec("scheme", .choice(StragglerSimulation.Scheme.allCases.map(\.rawValue)), .value(.string("none")), namedOnly: true),
            ParamSpec("s", .integer, .value(.number(1)), range: 0...1e5, namedOnly: true, doc: "gc: stragglers tolerated per round")
                .only(["gc"]),
            ParamSpec("B", .integer, .value(.number(1)), range: 1...1e6, namedOnly: true).only(["sr-sgc"]),
            ParamSpec("W", .integer, .value(.number(3)), range: 2...1e6, namedOnly: true).only(["sr-sgc"]),
            ParamSpec("lambda", .integer, .value(.number(2)), range: 1...1e5, namedOnly: true).only(["sr-sgc"]),
            ParamSpec("mu", .number, .value(.number(0.05)), range: 0...10, namedOnly: true, doc: "wait for min·(1+μ)"),
            ParamSpec(
                "jobs", .integer, .none, range: 1...1e7, namedOnly: true,
                doc: "gradients to compute (default: every round; sr-sgc: rounds − B)"),
            seedParam,
        ]
    ) { args, interp in
        let d = try args.tensor("delays")
        guard d.rank == 2, d.shape[0] >= 1, d.shape[1] >= 1 else {
            throw args.error("delays", "'delays' must be a [rounds, workers] matrix, got shape \(Shape.describe(d.shape))")
        }
        try checkFinite(d, args, "delays")
        guard d.storage.allSatisfy({ $0 > 0 }) else { throw args.error("delays", "delays must be positive") }
        let (rounds, n) = (d.shape[0], d.shape[1])
        let scheme = StragglerSimulation.Scheme(rawValue: try args.string("scheme"))!
        let b = try args.int("B")
        let jobs = try args.optionalInt("jobs") ?? (scheme == .srsgc ? rounds - b : rounds)
        let sim: StragglerSimulation
        do {
            sim = try StragglerSimulation(
                scheme: scheme, workers: n, jobs: max(jobs, 1), s: try args.int("s"), burst: b, window: try args.int("W"),
                lambda: try args.int("lambda"), mu: try args.number("mu"))
        } catch let e as CoreError { throw args.error("scheme", e.description) }
        guard jobs >= 1, rounds >= sim.rounds else {
            throw args.error(
                "delays",
                "the delays cover \(rounds) rounds but \(max(jobs, 1)) jobs\(scheme == .srsgc ? " + B = \(b)" : "") need \(sim.rounds)")
        }
        let rows = (0..<rounds).map { t in (0..<n).map { Double(d.storage[t * n + $0]) } }
        let result = try withGenerator(args, interp) { rng -> StragglerSimulation.Result in
            let code = scheme == .none ? nil : try GradientCode(workers: n, stragglers: sim.s, rng: &rng)
            return try sim.run(delays: rows, code: code)
        }
        let strag = result.stragglers.flatMap { $0.map { Float($0 ? 1 : 0) } }
        return .record(
            Record(pairs: [
                ("time", .number(result.total)), ("durations", .tensor(Tensor(result.durations.map { Float($0) }))),
                ("load", .number(result.load)), ("s", .number(Double(sim.s))),
                ("decoded_at", .tensor(Tensor(result.decodedAt.map { Float($0) }))),
                ("delay", .number(Double(scheme == .srsgc ? b : 0))),
                ("stragglers", .tensor(Tensor(shape: [result.stragglers.count, n], storage: strag))),
                ("decode_error", .number(result.residuals.max() ?? 0)), ("jobs", .number(Double(jobs))),
            ]))
    }
}
