import ArgumentParser
import Foundation
import History
import Recipe
import Runs
import SqueezeCore

/// `squeeze sweep`: a grid or random search over a recipe's parameters, each point one run with its
/// own output folder, on this machine's cores or as a Slurm job array; `status`, `collect` and
/// `report` read a sweep back by its name.
struct SweepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Run a recipe over a grid (or random points) of its parameters, locally or on Slurm.",
        discussion: """
            squeeze sweep FILE.recipe -p bits=[2,3,4] -p group=[64,128] -p seed=range(5) [--engine local | slurm]
            squeeze sweep status NAME | collect NAME | report NAME
            See docs/sweeps.md.
            """,
        subcommands: [SweepStart.self, SweepStatus.self, SweepCollect.self, SweepReport.self],
        defaultSubcommand: SweepStart.self)
}

enum Engine: String, ExpressibleByArgument, CaseIterable { case local, slurm }

struct SlurmOptions: ParsableArguments {
    @Option(help: "Slurm partition (sbatch --partition).") var partition: String?
    @Option(help: "Time limit per task (sbatch --time), e.g. 01:00:00.") var time: String?
    @Option(help: "Memory per task (sbatch --mem), e.g. 4G.") var mem: String?
    @Option(name: .customLong("cpus-per-task"), help: "Cores per task; its runs use as many BLAS threads (default 1).")
    var cpusPerTask: Int?
    @Option(name: .customLong("max-parallel"), help: "At most this many tasks at once (--array=…%K).") var maxParallel: Int?
    @Option(name: .customLong("sbatch-arg"), parsing: .unconditionalSingleValue, help: "One more sbatch option (repeatable).")
    var sbatchArguments: [String] = []
}

struct SweepStart: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "start",
        abstract: "Start (or --resume) a sweep: squeeze sweep FILE.recipe -p name=[values] ….",
        discussion: """
            Values: a list [2, 3, 4], range(5) or range(start, stop[, step]), or one literal. The grid is every \
            combination (the first -p varies slowest); --random N draws N of its points from --seed. An axis named \
            seed sets each run's seed unless the recipe declares a parameter seed; without one every run uses --seed. \
            Each point runs `squeeze run` with its own folder OUT/NAME/<point>/; its run is tagged with the sweep's \
            name and the point in the history. Locally, --jobs runs at a time with cores/jobs BLAS threads each; \
            Ctrl-C stops launching and waits for the running ones, a second Ctrl-C interrupts them. \
            --resume skips the points whose run completed (same recipe hash, point and seed).
            Exit codes: 0 all points completed (or submitted), 64 usage, 70 a point failed, 130 interrupted.
            """)

    @Argument(help: "The recipe file (.recipe).") var file: String
    @Option(
        name: .customShort("p"), parsing: .unconditionalSingleValue,
        help: ArgumentHelp("An axis: -p name=values.", valueName: "name=values"))
    var axes: [String] = []
    @Option(help: "Run N random points of the grid instead of all of it.") var random: Int?
    @Option(help: "Seed of the random points, and of every run when no seed axis is swept (default 0).") var seed: UInt64 = 0
    @Option(help: "The sweep's name (default: the recipe's file name).") var name: String?
    @Option(help: "Runs at a time on this machine (default: the number of cores).") var jobs: Int?
    @Option(help: "local (this machine's cores) or slurm (a job array submitted with sbatch).") var engine: Engine = .local
    @Flag(help: "Continue the sweep of this name: skip the points whose run completed.") var resume = false
    @Option(help: "The folder sweeps are written under (default: sweeps).") var out: String = "sweeps"
    @OptionGroup var slurm: SlurmOptions
    @OptionGroup var history: HistoryOptions

    func run() throws {
        let url = URL(fileURLWithPath: file).standardizedFileURL
        guard let data = FileManager.default.contents(atPath: url.path), let text = String(data: data, encoding: .utf8) else {
            RecipeRunner.stderr("squeeze: cannot read '\(file)': no such file, not readable or not UTF-8\n")
            throw ExitCode(Exit.usage)
        }
        let program = Parser.parse(SourceFile(name: file, text: text))
        if !program.diagnostics.isEmpty {
            RecipeRunner.stderr(program.diagnostics.map { $0.render() }.joined())
            throw ExitCode(Exit.recipe)
        }
        let declared = Interpreter.parameterNames(program)
        let store = try history.open()
        let name = self.name ?? url.deletingPathExtension().lastPathComponent
        guard !name.isEmpty, !name.contains("/"), !name.hasPrefix(".") else { throw usage("--name: '\(name)' cannot name a folder") }
        var plan: SweepPlan
        do {
            plan = try makePlan(url: url, text: text, declared: declared, name: name, store: store)
        } catch let e as SweepError {
            throw usage(e.description)
        }
        let runs = try store.runs(sweep: name) + (engine == .slurm ? SweepShards.runs(plan) : [])
        let done = plan.completed(in: runs)
        let todo = plan.points.filter { !done.contains($0.index) }
        if resume && !done.isEmpty && !todo.isEmpty {
            print("sweep \(name): \(done.count) of \(plan.points.count) points completed before; \(todo.count) to run")
        }
        switch engine {
        case .local:
            let status = try LocalEngine(plan: plan, historyPath: history.resolvedPath)
                .run(todo, of: plan.points.count)
            if status != 0 { throw ExitCode(status) }
        case .slurm:
            guard !todo.isEmpty else { print("sweep \(name): nothing to run"); return }
            let submission = try SlurmEngine(plan: plan, options: slurm).submit(todo)
            plan.submissions.append(submission)
            try save(plan, store: store)
            let tasks = plural(submission.tasks.count, "task")
            print("sweep \(name): submitted Slurm job \(submission.jobID), \(tasks) (\(shown(submission.script)))")
            print("  squeeze sweep status \(name)    squeeze sweep collect \(name)    squeeze sweep report \(name)")
        }
    }

    func usage(_ message: String) -> ExitCode {
        RecipeRunner.stderr("squeeze: \(message)\n")
        return ExitCode(Exit.usage)
    }

    /// The plan: a new sweep's, or with --resume the registered one's (the axes may be given again).
    func makePlan(url: URL, text: String, declared: [String], name: String, store: HistoryStore) throws -> SweepPlan {
        var axes = try self.axes.map(SweepPlan.axis)
        for a in axes where !declared.contains(a.name) && a.name != "seed" {
            let hint = Suggest.didYouMean(a.name, in: declared).map { "; \($0)" }
                ?? (declared.isEmpty ? "; the recipe declares no parameters" : "; parameters: \(declared.joined(separator: ", "))")
            throw SweepError("-p \(a.name): the recipe has no parameter '\(a.name)'\(hint)")
        }
        if Set(axes.map(\.name)).count != axes.count { throw SweepError("-p: an axis is given twice") }
        if let jobs, jobs < 1 { throw SweepError("--jobs: expected at least 1, got \(jobs)") }
        let sha = SHA256.hex(text)
        let existing = try store.sweep(named: name)
        if let existing, !resume {
            throw SweepError("a sweep named '\(name)' exists (\(existing.folder)); --resume continues it, --name starts another")
        }
        if let existing {
            var plan = try SweepPlan.decode(existing.manifest, from: existing.folder + "/sweep.json")
            guard plan.recipe == url.path else {
                throw SweepError("sweep '\(name)' ran \(plan.recipe), not \(url.path)")
            }
            if axes.isEmpty { axes = plan.axes }
            guard axes == plan.axes, random == nil || random == plan.random else {
                throw SweepError("--resume: the axes differ from sweep '\(name)' (\(plan.axes.map { "\($0.name)=\($0.values)" }))")
            }
            plan.recipeSHA256 = sha
            plan.engine = engine.rawValue
            try save(plan, store: store)
            return plan
        }
        guard !axes.isEmpty else { throw SweepError("no axes: give at least one -p name=values") }
        let folder = URL(fileURLWithPath: out).standardizedFileURL.appendingPathComponent(name).path
        let jobs = max(1, min(self.jobs ?? Parallel.cores, Parallel.cores * 4))
        let seedIsRunSeed = SweepPlan.seedIsRunSeed(declared: declared)
        let plan = SweepPlan(
            id: UUID().uuidString.lowercased(), name: name, recipe: url.path, recipeSHA256: sha, folder: folder, axes: axes,
            random: random, seed: seed, seedIsRunSeed: seedIsRunSeed, engine: engine.rawValue,
            jobs: engine == .local ? jobs : nil, blasThreads: engine == .local ? max(1, Parallel.cores / jobs) : slurm.cpusPerTask ?? 1,
            points: try SweepPlan.points(axes: axes, random: random, seed: seed, seedIsRunSeed: seedIsRunSeed))
        if plan.points.contains(where: { $0.label.contains("\n") }) { throw SweepError("-p: a value contains a line break") }
        if FileManager.default.fileExists(atPath: plan.manifestPath) {
            throw SweepError("'\(plan.manifestPath)' exists (a sweep of another history?); --out or --name elsewhere")
        }
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        _ = try store.registerSweep(
            id: plan.id, name: name, recipe: url.path, folder: folder, engine: engine.rawValue, points: plan.points.count,
            manifest: try plan.encoded())
        try save(plan, store: store)
        return plan
    }

    func save(_ plan: SweepPlan, store: HistoryStore) throws {
        let text = try plan.encoded()
        try FileManager.default.createDirectory(atPath: plan.folder, withIntermediateDirectories: true)
        try Data(text.utf8).write(to: URL(fileURLWithPath: plan.manifestPath), options: .atomic)
        try store.updateSweep(name: plan.name, engine: plan.engine, points: plan.points.count, manifest: text)
    }
}

/// A registered sweep and its plan, or a usage error naming the sweeps there are.
func loadSweep(_ name: String, store: HistoryStore) throws -> (HistoryStore.SweepRecord, SweepPlan) {
    guard let record = try store.sweep(named: name) else {
        let names = try store.sweeps().map(\.name)
        RecipeRunner.stderr(
            "squeeze: no sweep named '\(name)' in \(store.path)"
                + (names.isEmpty ? " (no sweeps yet)" : "; sweeps: \(names.joined(separator: ", "))") + "\n")
        throw ExitCode(Exit.usage)
    }
    // The folder's manifest is the newest (a submission made with another history); else the history's copy.
    let text = (try? String(contentsOfFile: record.folder + "/sweep.json", encoding: .utf8)) ?? record.manifest
    do { return (record, try SweepPlan.decode(text, from: record.folder + "/sweep.json")) } catch let e as SweepError {
        RecipeRunner.stderr("squeeze: \(e)\n")
        throw ExitCode(Exit.history)
    }
}
