import Compression
import Foundation
import Models
import SqueezeCore

/// The search for per-layer levels: a database of every layer at every level, the exact knapsack
/// allocation of Hubara et al. and EvoPress's evolutionary search. A database is a record (kind
/// "levels") so a recipe can read its layers, choices and bits.
extension Builtins {
    static func levelRecord(_ db: LevelDatabase, choices: [Value]) -> Value {
        let U = db.units.count, C = db.choices.count
        return .record(
            Record(pairs: [
                ("kind", .string("levels")), ("model", .decoder(db.base)), ("per", .string(db.granularity.rawValue)),
                ("units", .list(db.units.map { .string($0.name) })), ("layers", .list(db.layers.map { .string($0) })),
                ("choices", .list(choices)),
                ("bits", .tensor(Tensor(shape: [U, C], storage: db.unitBits.flatMap { $0.map { Float($0) } }))),
                ("parameters", .tensor(Tensor(db.parameters.map { Float($0) }))),
                ("weights", .record(Record(pairs: zip(db.layers, db.weights).map { ($0, .list($1.map { .tensor($0) })) }))),
                ("bits_exact", .list(db.bits.map { .list($0.map { .number($0) }) })),
            ]))
    }

    /// The choice that drops a block: the string "drop".
    static func dropLevel(_ choices: [Value]) -> Int? { choices.firstIndex { $0.stringValue == "drop" } }

    static func levelDatabase(_ args: Arguments, _ name: String = "db") throws -> (LevelDatabase, [Value]) {
        guard case .record(let r) = args.value(name), case .string("levels")? = r["kind"], case .decoder(let base)? = r["model"],
            case .list(let layerValues)? = r["layers"], case .list(let choices)? = r["choices"],
            case .record(let weights)? = r["weights"], case .list(let bitRows)? = r["bits_exact"],
            case .string(let per)? = r["per"], let granularity = LevelDatabase.Granularity(rawValue: per)
        else { throw args.error(name, "'\(name)' must be a level database from levels(m, fn, choices: …)") }
        let layers = layerValues.compactMap(\.stringValue)
        let W: [[Tensor]] = try layers.map { l in
            guard case .list(let ts)? = weights[l] else { throw args.error(name, "the database has no weights for \(l)") }
            return ts.compactMap { if case .tensor(let t) = $0 { return t } else { return nil } }
        }
        let bits: [[Double]] = bitRows.map { row in
            if case .list(let xs) = row { return xs.compactMap { if case .number(let x) = $0 { return x } else { return nil } } }
            return []
        }
        let db = try LM.wrap(args, name) {
            try LevelDatabase(
                base: base, layers: layers, choices: choices.map { Format.inline($0) }, weights: W, bits: bits,
                granularity: granularity, drop: dropLevel(choices))
        }
        return (db, choices)
    }

    /// The budget in bits: budget: average bits per parameter (every stored part counted), or
    /// uniform: a choice, whose storage at every layer is the budget.
    static func budgetBits(_ db: LevelDatabase, _ choices: [Value], _ args: Arguments) throws -> Double {
        switch (args.isNone("budget"), args.isNone("uniform")) {
        case (false, true): return try args.number("budget") * Double(db.parameters.reduce(0, +))
        case (true, false):
            let u = args.value("uniform")
            guard let c = choices.firstIndex(where: { Format.inline($0) == Format.inline(u) }) else {
                throw args.error(
                    "uniform", "uniform: \(Format.inline(u)) is not one of the database's choices \(Format.inline(.list(choices)))")
            }
            return db.uniformBits(c)
        default:
            throw args.error(
                "budget", "give one of budget: (average bits per parameter) or uniform: (a choice whose storage is the budget)")
        }
    }

    static func searchResult(_ db: LevelDatabase, _ choices: [Value], _ levels: [Int], _ extra: [(String, Value)]) throws -> Value {
        let m = try db.assemble(levels)
        let params = Double(db.parameters.reduce(0, +))
        return .record(
            Record(
                pairs: [
                    ("units", .list(db.units.map { .string($0.name) })), ("levels", .list(levels.map { choices[$0] })),
                    ("index", .tensor(Tensor(levels.map { Float($0) }))),
                    ("bits_per_param", .number(db.bits(of: levels) / params)), ("model", .decoder(m)),
                ] + extra))
    }

    static let searchTextParams: [ParamSpec] = [
        ParamSpec("text", .any, .none, namedOnly: true, doc: "the text whose tokens score configurations (KL against the base)"),
        ParamSpec("context", .integer, .value(.number(128)), range: 2...100_000, namedOnly: true, doc: "window length in tokens"),
    ]

    static let levelSearch: [Operation] = [
        Operation(
            "levels", family: "models",
            summary: "A level database: every linear layer of a decoder compressed at every level once (for allocate and evopress).",
            doc:
                """
                fn(W, name, level) — or fn(W, name, X, level) with calibration:, X the layer's inputs in the uncompressed model — \
                is called for every layer (layers: a subset) and every value of choices (numbers, strings, records: whatever fn \
                reads), returning a compressed value (its .bits counted) or a tensor (32 bits per value). per: \"block\" makes \
                each block one unit (all its layers at one level: 7 levels to choose per block instead of 1 per layer, the \
                searches 7× cheaper), and then the choice \"drop\" is a level that skips the block (0 bits; EvoPress's depth \
                pruning searched together with the bit widths; fn is not called for it). The result is a record: kind \"levels\", \
                model (the base), per, units, layers, choices, bits (units × levels), parameters (per unit) and the weights. \
                Memory: one copy of the linear weights per level (0.42 GB per level for SmolLM2).
                """,
            example:
                """
                m = load(\"smollm2\")\ndb = levels(m, fn(W, name, b) { return quantize(W, bits: b, group: 128) }, choices: [3, 4], \
                layers: [\"blk.0.ffn_up\", \"blk.1.ffn_up\"])\nprint(db.layers, round(db.bits / 576 / 1536, digits: 3))
                """,
            params: [
                ParamSpec("model", .any), ParamSpec("fn", .function), ParamSpec("choices", .list, .none, namedOnly: true),
                ParamSpec("layers", .list, .none, namedOnly: true),
                ParamSpec(
                    "per", .choice(LevelDatabase.Granularity.allCases.map(\.rawValue)), .value(.string("layer")), namedOnly: true,
                    doc: "what a configuration gives one level: each layer, or each block (all its layers at that level)"),
            ] + calibrationParams
        ) { args, interp in
            let m = try LM.model(args)
            guard case .function(let fn) = args.value("fn") else { throw args.error("fn", "'fn' must be a function fn(W, name, level)") }
            guard !args.isNone("choices"), case .list(let choices) = args.value("choices"), !choices.isEmpty else {
                throw args.error("choices", "give choices: the levels, e.g. choices: [2, 3, 4, 8]")
            }
            let names = try LM.layerNames(m, args)
            try LM.wrap(args, "choices") {
                try Memory.check(
                    elements: names.reduce(0) { $0 + m.weight($1)!.count } * choices.count, "a level database of \(choices.count) levels")
            }
            let granularity = LevelDatabase.Granularity(rawValue: try args.string("per"))!
            let drop = dropLevel(choices)
            if drop != nil, granularity != .block {
                throw args.error("choices", "the level \"drop\" removes whole blocks: give per: \"block\"")
            }
            var table: [String: [(Tensor, Double)]] = [:]
            func call(_ W: Tensor, _ name: String, _ X: Tensor?) throws -> [(Tensor, Double)] {
                try choices.enumerated().map { i, c in
                    try interp.cancellation.check()
                    if i == drop { return (W, 0) }
                    let positional: [Value] = [.tensor(W), .string(name)] + (X.map { [.tensor($0)] } ?? []) + [c]
                    let result = try interp.call(
                        fn, positional: positional, positionalSpans: positional.map { _ in args.spanOf("fn") }, named: [],
                        span: args.spanOf("fn"))
                    return try LM.layerResult(result, W, name, args)
                }
            }
            let task = ProgressMeter.start("levels", total: names.count)
            defer { task.end() }
            if args.isNone("calibration") {
                for name in names {
                    table[name] = try call(m.weight(name)!, name, nil)
                    task.advance()
                }
            } else {
                let (sequences, _) = try LM.calibrationSequences(m, args)
                _ = try LM.wrap(args, "calibration") {
                    try m.calibrated(sequences: sequences, layers: Set(names), sequential: false, cancellation: interp.cancellation) {
                        name, W, X in
                        table[name] = try call(W, name, X)
                        task.advance()
                        return (W, Double(32 * W.count))
                    }
                }
            }
            let db = try LM.wrap(args, "fn") {
                try LevelDatabase(
                    base: m, layers: names, choices: choices.map { Format.inline($0) }, weights: names.map { table[$0]!.map(\.0) },
                    bits: names.map { table[$0]!.map(\.1) }, granularity: granularity, drop: drop)
            }
            return levelRecord(db, choices: choices)
        },

        Operation(
            "allocate", family: "models",
            summary: "The exact per-layer (or per-block) levels under a bit budget for additive degradations (Hubara et al.'s IP).",
            doc:
                """
                Hubara et al. 2021 (AdaQuant + IP): ΔL[u][c], the mean KL against the base on text when only unit u (a layer, or \
                a block with per: \"block\") is at level c, then the choice minimising Σ ΔL subject to Σ bits ≤ budget × \
                parameters, solved exactly by dynamic programming on the Pareto frontier of (bits, ΔL) over the units. Returns \
                units, levels (the choice per unit), index, bits_per_param, model, predicted (Σ ΔL of the choice), measured (the \
                KL of the assembled model on the same text: the additivity error is measured − predicted) and degradations \
                (units × levels).
                """,
            example:
                """
                m = load(\"smollm2\")\ndb = levels(m, fn(W, name, b) { return quantize(W, bits: b, group: 64) }, choices: [2, 4], \
                layers: [\"blk.0.ffn_up\", \"blk.1.ffn_up\"])\n\
                a = allocate(db, budget: 3.3, text: load(\"canterbury\").texts.alice29, tokens: 128)\nprint(a.levels)
                """,
            params: [
                ParamSpec("db", .record),
                ParamSpec("budget", .number, .none, range: 0...64, namedOnly: true, doc: "average bits per parameter"),
                ParamSpec("uniform", .any, .none, namedOnly: true, doc: "a choice: the budget is its storage at every layer"),
                ParamSpec("method", .choice(["dp"]), .value(.string("dp")), namedOnly: true),
                ParamSpec("tokens", .integer, .value(.number(256)), range: 2...1_000_000, namedOnly: true, doc: "tokens of text scored"),
            ] + searchTextParams
        ) { args, interp in
            let (db, choices) = try levelDatabase(args)
            guard !args.isNone("text") else { throw args.error("text", "give text: the tokens that measure each layer's degradation") }
            let tokens = try searchTokens(db, args)
            let context = try args.int("context")
            let budget = try budgetBits(db, choices, args)
            let delta = try LM.wrap(args, "text") {
                try db.degradations(tokens: tokens, context: context, cancellation: interp.cancellation)
            }
            guard let solution = try Knapsack.minimize(cost: delta, bits: db.unitBits, budget: budget) else {
                let params = Double(db.parameters.reduce(0, +)), least = db.unitBits.reduce(0.0) { $0 + $1.min()! } / params
                throw args.error(
                    "budget",
                    "no combination of levels meets \(Format.number(budget / params)) bits per parameter: the smallest levels need "
                        + Format.number(least))
            }
            let measured = try LM.wrap(args, "text") {
                try db.divergence(try db.assemble(solution.choice), tokens: tokens, context: context, cancellation: interp.cancellation)
            }
            return try searchResult(
                db, choices, solution.choice,
                [
                    ("predicted", .number(solution.cost)), ("measured", .number(measured)),
                    (
                        "degradations",
                        .tensor(Tensor(shape: [db.units.count, db.choices.count], storage: delta.flatMap { $0.map { Float($0) } }))
                    ),
                ])
        },

        Operation(
            "evopress", family: "models",
            summary: "EvoPress: (1+λ) evolutionary search of per-layer or per-block levels (block dropping too) under a bit budget.",
            doc:
                """
                Sieberling et al. 2024 (IST-DASLab/EvoPress): from the uniform level at the budget (when one meets it within 1%) \
                or a random start (every layer at its largest level, random layers lowered until the budget holds), each generation \
                draws offspring by level-switch mutations — min(U{1..3}, U{1..3}) flips, each raising one layer a level and \
                lowering another unit of the same shape (with per: \"block\" any two blocks; a dropped block is the lowest level), \
                redrawn when over the budget, duplicates skipped — ranks them by mean KL \
                against the base on the first stage_tokens[0] tokens of text, keeps survivors[0], re-ranks on more tokens with the \
                parent among them at the last stage (elitism). The paper's defaults (offspring 128, survivors 16/4/1 on \
                2K/16K/131K tokens, 150 generations) are scaled down to a CPU. Returns levels, index, bits_per_param, model, \
                fitness (per generation) and start.
                """,
            example:
                """
                m = load(\"smollm2\")\ndb = levels(m, fn(W, name, b) { return quantize(W, bits: b, group: 64) }, choices: [2, 4], \
                layers: [\"blk.0.ffn_up\", \"blk.1.ffn_up\", \"blk.2.ffn_up\", \"blk.3.ffn_up\"])\n\
                e = evopress(db, budget: 3, text: load(\"canterbury\").texts.alice29, generations: 2, offspring: 2, survivors: [1], \
                stage_tokens: [64, 128], context: 64, seed: 1)\nprint(e.bits_per_param <= 3.01)
                """,
            params: [
                ParamSpec("db", .record),
                ParamSpec("budget", .number, .none, range: 0...64, namedOnly: true, doc: "average bits per parameter"),
                ParamSpec("uniform", .any, .none, namedOnly: true, doc: "a choice: the budget is its storage at every layer"),
                ParamSpec("generations", .integer, .value(.number(20)), range: 0...100_000, namedOnly: true),
                ParamSpec("offspring", .integer, .value(.number(16)), range: 1...100_000, namedOnly: true),
                ParamSpec("survivors", .list, .value(.list([.number(4)])), namedOnly: true, doc: "kept after each stage but the last"),
                ParamSpec(
                    "stage_tokens", .list, .value(.list([.number(128), .number(512)])), namedOnly: true,
                    doc: "tokens scored at each stage"),
                seedParam,
            ] + searchTextParams
        ) { args, interp in
            let (db, choices) = try levelDatabase(args)
            guard !args.isNone("text") else { throw args.error("text", "give text: the fitness tokens") }
            var s = LevelDatabase.Evolution()
            s.generations = try args.int("generations")
            s.offspring = try args.int("offspring")
            s.survivors = try args.ints("survivors")
            s.stageTokens = try args.ints("stage_tokens")
            s.context = try args.int("context")
            guard s.stageTokens.count == s.survivors.count + 1 else {
                throw args.error(
                    "stage_tokens",
                    "stage_tokens needs one entry per stage: \(s.survivors.count + 1) for \(s.survivors.count) survivor counts")
            }
            let ids = db.base.tokenizer.encode(try LM.text(args, "text"))
            let budget = try budgetBits(db, choices, args)
            // The uniform level with the most bits within the budget, when it uses 99% of it.
            var start: [Int]? = nil
            let uniform = db.choices.indices.map { db.uniformBits($0) }
            if let c = uniform.indices.filter({ uniform[$0] <= budget * (1 + 1e-12) }).max(by: { uniform[$0] < uniform[$1] }),
                uniform[c] >= 0.99 * budget
            {
                start = Array(repeating: c, count: db.units.count)
            }
            let result = try withGenerator(args, interp) { rng in
                try LM.wrap(args, "budget") {
                    try db.evoPress(budget: budget, tokens: ids, settings: s, start: start, rng: &rng, cancellation: interp.cancellation)
                }
            }
            return try searchResult(
                db, choices, result.levels,
                [
                    ("fitness", .tensor(Tensor(result.history.map { Float($0) }))),
                    ("start", .string(start == nil ? "random" : "uniform \(Format.inline(choices[start![0]]))")),
                ])
        },
    ]

    static func searchTokens(_ db: LevelDatabase, _ args: Arguments) throws -> [Int] {
        Array(db.base.tokenizer.encode(try LM.text(args, "text")).prefix(try args.int("tokens")))
    }
}
