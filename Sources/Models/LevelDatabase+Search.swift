import Compression
import Foundation
import SqueezeCore

/// The two searches over a level database: Hubara et al.'s additive model (each layer's degradation
/// measured alone, then the exact knapsack optimum) and EvoPress's evolutionary search, which
/// measures whole configurations because degradations do not add up.
extension LevelDatabase {
    /// Mean KL(base ‖ model) over the scored predictions of `tokens` cut into windows of `context` (GPTQ's convention).
    public func divergence(_ model: LanguageModel, tokens: [Int], context: Int, cancellation: CancellationToken?) throws -> Double {
        try DivergenceScorer(base: base, tokens: tokens, context: context, cancellation: cancellation).meanKL(
            model, cancellation: cancellation)
    }

    /// The first block holding a unit of the database: configurations differ from the base from there on.
    var firstBlock: Int { units.map(\.block).min() ?? 0 }

    /// ΔL[u][c]: the divergence when only unit u is at level c and every other unit is the base's
    /// (each variant run from its unit's block, on the base's states before it).
    public func degradations(tokens: [Int], context: Int, cancellation: CancellationToken? = nil) throws -> [[Double]] {
        let scorer = try DivergenceScorer(base: base, tokens: tokens, context: context, cancellation: cancellation)
        let task = ProgressMeter.start("degradations", total: units.count * choices.count)
        defer { task.end() }
        return try units.indices.map { u in
            try choices.indices.map { c in
                try cancellation?.check()
                defer { task.advance() }
                return try scorer.meanKL(try setting(u, to: c, in: base), from: units[u].block, cancellation: cancellation)
            }
        }
    }

    /// EvoPress's settings, its defaults scaled from the paper's (128 offspring; survivors 16, 4, 1 on
    /// 2K, 16K, 131K tokens; 150 generations) to a CPU and a small model.
    public struct Evolution: Sendable {
        public var generations = 20
        public var offspring = 16
        /// Survivors after each selection stage but the last (which keeps one).
        public var survivors = [4]
        /// Tokens scored at each stage (one more entry than `survivors`).
        public var stageTokens = [128, 512]
        public var context = 128
        public var maxFlips = 3
        public init() {}
    }

    public struct EvolutionResult: Sendable {
        public let levels: [Int]
        public let bits: Double
        /// The parent's fitness (mean KL on the last stage's tokens) after each generation.
        public let history: [Double]
    }

    /// (1+λ) search: offspring of the parent by level-switch mutations (1–3 flips, biased to 1: the
    /// minimum of two uniform draws; each flip raises one unit a level and lowers another of the same
    /// shape, and an offspring over the budget is drawn again), ranked by KL on few tokens, the
    /// survivors re-ranked on more with the parent among them at the last stage (elitism).
    public func evoPress(
        budget: Double, tokens: [Int], settings: Evolution, start: [Int]? = nil, rng: inout RandomGenerator,
        cancellation: CancellationToken? = nil
    ) throws -> EvolutionResult {
        let s = settings
        guard s.stageTokens.count == s.survivors.count + 1, s.offspring >= 1, s.generations >= 0,
            s.survivors.allSatisfy({ $0 >= 1 && $0 <= s.offspring })
        else { throw ModelError("evopress: survivors must be one fewer than the stages' token counts, each 1…offspring") }
        for n in s.stageTokens where n > tokens.count || n < s.context {
            throw ModelError("evopress: a stage scores \(n) tokens; the fitness text has \(tokens.count), the context is \(s.context)")
        }
        // Each unit's levels in order of storage.
        let order = unitBits.map { b in b.indices.sorted { b[$0] < b[$1] } }
        let rank = order.map { o in Dictionary(uniqueKeysWithValues: o.enumerated().map { ($1, $0) }) }
        let classes = shapeClasses.filter { $0.count >= 2 }
        let scorers = try s.stageTokens.map {
            try DivergenceScorer(base: base, tokens: Array(tokens.prefix($0)), context: s.context, cancellation: cancellation)
        }
        // Each stage's anchor — the parent, its states and its KL: a configuration runs from its first
        // block that differs from the parent's, on the parent's states (the numbers of a run from the
        // first block, without recomputing the blocks they share), and the parent is not run again.
        var anchors = [(levels: [Int], states: DivergenceScorer.States, kl: Double)?](repeating: nil, count: scorers.count)
        func firstDifference(_ a: [Int], _ b: [Int]) -> Int? { units.indices.filter { a[$0] != b[$0] }.map { units[$0].block }.min() }
        func fitness(_ levels: [Int], stage: Int) throws -> Double {
            if anchors[stage]?.levels != parent {
                let previous = anchors[stage]
                let run = try scorers[stage].run(
                    assemble(parent), from: previous.flatMap { firstDifference($0.levels, parent) } ?? firstBlock, start: previous?.states,
                    record: true, cancellation: cancellation)
                anchors[stage] = (parent, run.states!, run.kl)
            }
            let anchor = anchors[stage]!
            guard let from = firstDifference(anchor.levels, levels) else { return anchor.kl }
            return try scorers[stage].run(assemble(levels), from: from, start: anchor.states, cancellation: cancellation).kl
        }
        var parent: [Int]
        if let start {
            guard bits(of: start) <= budget * (1 + 1e-12) else {
                throw ModelError("evopress: the starting configuration is over the budget")
            }
            parent = start
        } else {
            parent = try initial(budget: budget, order: order, rng: &rng)
        }
        var history: [Double] = []
        let task = ProgressMeter.start("evopress", total: s.generations)
        defer { task.end() }
        for _ in 0..<s.generations {
            try cancellation?.check()
            var seen: Set<[Int]> = [parent], children: [[Int]] = []
            var attempts = 0
            while children.count < s.offspring && attempts < 100 * s.offspring && !classes.isEmpty {
                attempts += 1
                var child = parent
                let flips = min(1 + rng.integer(below: s.maxFlips), 1 + rng.integer(below: s.maxFlips))
                for _ in 0..<flips {
                    let group = classes[rng.integer(below: classes.count)]
                    let up = group[rng.integer(below: group.count)], down = group[rng.integer(below: group.count)]
                    guard up != down, let ru = rank[up][child[up]], let rd = rank[down][child[down]],
                        ru + 1 < order[up].count, rd > 0
                    else { continue }
                    child[up] = order[up][ru + 1]
                    child[down] = order[down][rd - 1]
                }
                if bits(of: child) <= budget * (1 + 1e-12), seen.insert(child).inserted { children.append(child) }
            }
            var pool = children
            for (stage, keep) in (s.survivors + [1]).enumerated() {
                if stage == s.survivors.count { pool.append(parent) }
                let scored = try pool.map { ($0, try fitness($0, stage: stage)) }
                pool = scored.sorted { $0.1 < $1.1 }.prefix(keep).map(\.0)
                if stage == s.survivors.count { history.append(scored.first { $0.0 == pool[0] }!.1) }
            }
            parent = pool[0]
            task.advance()
        }
        return EvolutionResult(levels: parent, bits: bits(of: parent), history: history)
    }

    /// EvoPress's start for a budget: every unit at its largest level, then random units lowered a
    /// level until the configuration fits.
    func initial(budget: Double, order: [[Int]], rng: inout RandomGenerator) throws -> [Int] {
        let smallest = order.map { $0[0] }
        guard bits(of: smallest) <= budget * (1 + 1e-12) else {
            let params = Double(parameters.reduce(0, +))
            throw ModelError(
                "no configuration meets the budget of \(Format.perParameter(budget / params)) bits per parameter: "
                    + "the smallest levels need \(Format.perParameter(bits(of: smallest) / params))")
        }
        var rank = order.map { $0.count - 1 }
        var levels = zip(order, rank).map { $0[$1] }
        while bits(of: levels) > budget * (1 + 1e-12) {
            let candidates = rank.indices.filter { rank[$0] > 0 }
            let l = candidates[rng.integer(below: candidates.count)]
            rank[l] -= 1
            levels[l] = order[l][rank[l]]
        }
        return levels
    }
}

enum Format {
    static func perParameter(_ b: Double) -> String { String(format: "%.4g", b) }
}
