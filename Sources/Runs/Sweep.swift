import Foundation
import History
import Recipe
import SqueezeCore

/// A sweep's plan: the axes given on the command line (`-p bits=[2,3,4] -p seed=range(5)`), the
/// points (the grid, or N of its points drawn from the sweep's seed), and where each point's run
/// writes. Written to `sweep.json` in the sweep's folder, so status, collect, resume and report
/// need nothing but the folder and the history.
public struct SweepPlan: Codable, Sendable {
    public struct Axis: Codable, Sendable, Equatable {
        public var name: String
        /// Recipe literals, as `-p name=value` takes them.
        public var values: [String]
    }

    public struct Point: Codable, Sendable, Equatable {
        public var index: Int
        /// `bits=2,group=64,seed=0`: what the history records as the run's sweep point.
        public var label: String
        /// The point's output folder, relative to the sweep's folder.
        public var folder: String
        /// The recipe's parameters set at this point (name, recipe literal), in axis order.
        public var parameters: [[String]]
        public var seed: UInt64
    }

    /// Where a Slurm sweep went.
    public struct Submission: Codable, Sendable, Equatable {
        public var jobID: String
        public var script: String
        public var tasks: [Int]
        public var submitted: Double

        public init(jobID: String, script: String, tasks: [Int], submitted: Double) {
            self.jobID = jobID; self.script = script; self.tasks = tasks; self.submitted = submitted
        }
    }

    public var id: String
    public var name: String
    public var recipe: String
    public var recipeSHA256: String
    public var folder: String
    public var axes: [Axis]
    /// N random points of the grid instead of all of it.
    public var random: Int?
    /// Draws the random points; the seed of every run when no `seed` axis is swept.
    public var seed: UInt64
    /// Whether the axis named `seed` is each run's seed (the recipe declares no parameter `seed`),
    /// fixed with the points' seeds when the sweep was made.
    public var seedIsRunSeed: Bool
    public var engine: String
    public var jobs: Int?
    public var blasThreads: Int?
    public var points: [Point]
    public var submissions: [Submission] = []

    public init(
        id: String, name: String, recipe: String, recipeSHA256: String, folder: String, axes: [Axis], random: Int?,
        seed: UInt64, seedIsRunSeed: Bool, engine: String, jobs: Int?, blasThreads: Int?, points: [Point]
    ) {
        self.seedIsRunSeed = seedIsRunSeed
        self.id = id; self.name = name; self.recipe = recipe; self.recipeSHA256 = recipeSHA256; self.folder = folder
        self.axes = axes; self.random = random; self.seed = seed; self.engine = engine; self.jobs = jobs
        self.blasThreads = blasThreads; self.points = points
    }

    /// The axis named `seed` sets the run's seed unless the recipe declares a parameter `seed`.
    public static func seedIsRunSeed(declared: [String]) -> Bool { !declared.contains("seed") }

    /// Parses `name=values`: a list literal `[2, 3, "a"]`, `range(stop)`, `range(start, stop[, step])`
    /// or one literal. Errors name the argument.
    public static func axis(_ text: String) throws -> Axis {
        guard let eq = text.firstIndex(of: "="), eq != text.startIndex else {
            throw SweepError("-p \(text): expected name=values, e.g. bits=[2,3,4] or seed=range(5)")
        }
        let name = text[..<eq].trimmingCharacters(in: .whitespaces)
        let spec = text[text.index(after: eq)...].trimmingCharacters(in: .whitespaces)
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
            throw SweepError("-p \(text): '\(name)' is not a parameter name")
        }
        if spec.hasPrefix("range(") && spec.hasSuffix(")") {
            let inner = spec.dropFirst(6).dropLast()
            let parts = inner.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard !parts.isEmpty, parts.count <= 3, parts.allSatisfy({ $0 != nil }) else {
                throw SweepError("-p \(name): range takes one to three integers, got '\(spec)'")
            }
            let p = parts.map { $0! }
            let (start, stop, step) = p.count == 1 ? (0, p[0], 1) : (p[0], p[1], p.count == 3 ? p[2] : 1)
            guard step != 0 else { throw SweepError("-p \(name): range step must not be 0") }
            let values = Array(stride(from: start, to: stop, by: step)).map(String.init)
            guard !values.isEmpty else { throw SweepError("-p \(name): '\(spec)' is empty") }
            return Axis(name: name, values: values)
        }
        let value = Literal.parse(spec, name: name)
        if case .list(let items) = value {
            guard !items.isEmpty else { throw SweepError("-p \(name): the list of values is empty") }
            let values = items.map(Format.inline)
            if Set(values).count != values.count { throw SweepError("-p \(name): a value appears twice in '\(spec)'") }
            return Axis(name: name, values: values)
        }
        return Axis(name: name, values: [Format.inline(value)])
    }

    /// The points: the grid (first axis slowest), or `random` of them drawn without replacement.
    public static func points(axes: [Axis], random: Int?, seed: UInt64, seedIsRunSeed: Bool) throws -> [Point] {
        let total = axes.reduce(1) { $0 * $1.values.count }
        guard total <= 1_000_000 else { throw SweepError("the grid has \(total) points; at most 1,000,000") }
        var chosen = Array(0..<total)
        if let n = random {
            guard n > 0 else { throw SweepError("--random: expected a positive number of points, got \(n)") }
            var rng = RandomGenerator(seed: seed)
            chosen = n >= total ? chosen : rng.choice(total, count: n).sorted()
        }
        var used: Set<String> = []
        return chosen.enumerated().map { index, flat in
            var rest = flat
            var parameters: [[String]] = []
            var runSeed = seed
            for axis in axes.reversed() {
                let v = axis.values[rest % axis.values.count]
                rest /= axis.values.count
                parameters.insert([axis.name, v], at: 0)
            }
            if seedIsRunSeed, let s = parameters.first(where: { $0[0] == "seed" }), let n = UInt64(s[1]) { runSeed = n }
            let label = parameters.map { "\($0[0])=\($0[1])" }.joined(separator: ",")
            var folder = SweepPlan.folderName(label)
            if folder.isEmpty || used.contains(folder) { folder += (folder.isEmpty ? "" : "-") + "\(index)" }
            used.insert(folder)
            return Point(index: index, label: label, folder: folder, parameters: parameters, seed: runSeed)
        }
    }

    /// A label as a folder name: `bits=2_group=64`, other characters as `-`.
    static func folderName(_ label: String) -> String {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.=-+")
        let mapped = String(label.map { $0 == "," ? "_" : allowed.contains($0) ? $0 : "-" })
        return String(mapped.prefix(120))
    }

    /// The `squeeze run` arguments of a point (the history and the executable are the engine's).
    public func runArguments(_ p: Point) -> [String] {
        var args = [recipe]
        for kv in p.parameters where !(seedIsRunSeed && kv[0] == "seed") { args += ["-p", "\(kv[0])=\(kv[1])"] }
        args += ["--seed", String(p.seed), "--out", pointFolder(p), "--sweep", name, "--sweep-point", p.label]
        return args
    }

    public func pointFolder(_ p: Point) -> String { folder + "/" + p.folder }
    public var manifestPath: String { folder + "/sweep.json" }
    public var shardFolder: String { folder + "/shards" }
    public var logFolder: String { folder + "/logs" }

    public func encoded() throws -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try e.encode(self), as: UTF8.self)
    }

    public static func decode(_ text: String, from path: String) throws -> SweepPlan {
        do { return try JSONDecoder().decode(SweepPlan.self, from: Data(text.utf8)) } catch {
            throw SweepError("\(path): not a sweep manifest (\(error))")
        }
    }

    /// Points whose run completed already — same recipe (by hash), point and seed — among `runs`.
    public func completed(in runs: [RunRecord]) -> Set<Int> {
        var done: Set<String> = []
        for r in runs where r.sweep == name && r.status == .completed && r.sourceSHA256 == recipeSHA256 {
            done.insert((r.sweepPoint ?? "") + "\u{1}" + String(r.seed ?? 0))
        }
        return Set(points.filter { done.contains($0.label + "\u{1}" + String($0.seed)) }.map(\.index))
    }
}

public struct SweepError: Error, CustomStringConvertible {
    public let description: String
    public init(_ s: String) { description = s }
}
