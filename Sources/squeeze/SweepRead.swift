import ArgumentParser
import Foundation
import History
import Plot
import Runs
import SqueezeCore

/// The run of each point that tells its state: its newest run in the history or a shard.
func latestRuns(_ plan: SweepPlan, _ runs: [RunRecord]) -> [Int: RunRecord] {
    var byPoint: [String: RunRecord] = [:]
    for r in runs where r.sweep == plan.name {
        let key = (r.sweepPoint ?? "") + "\u{1}" + String(r.seed ?? 0)
        // Equal start times: the same run from a shard and the history; the later in `runs` is kept.
        if let old = byPoint[key], old.started > r.started { continue }
        byPoint[key] = r
    }
    var out: [Int: RunRecord] = [:]
    for p in plan.points { out[p.index] = byPoint[p.label + "\u{1}" + String(p.seed)] }
    return out
}

/// The metrics the runs logged, in the order the oldest run first logged them.
func metricOrder(_ runs: [RunRecord]) -> [String] {
    var seen: Set<String> = []
    return runs.sorted { $0.id < $1.id }.flatMap { $0.lastMetrics.map(\.name) }.filter { seen.insert($0).inserted }
}

struct SweepStatus: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "A sweep's points: their Slurm task state (squeue), their run's status and last metrics.")

    @Argument(help: "The sweep's name.") var name: String
    @Flag(help: "First wait until none of the sweep's Slurm tasks is pending or running (squeue).") var wait = false
    @OptionGroup var history: HistoryOptions

    func run() throws {
        let store = try history.open(create: false)
        let (_, plan) = try loadSweep(name, store: store)
        if wait && !plan.submissions.isEmpty {
            // Slurm is asked every two seconds, as `squeue -i` would; Ctrl-C stops waiting.
            CancellationToken.shared.reset()
            while !(SweepStatus.slurmStates(plan.submissions.map(\.jobID)) ?? [:]).isEmpty {
                var fds = [pollfd(fd: CancellationToken.shared.wakeDescriptor, events: Int16(POLLIN), revents: 0)]
                _ = poll(&fds, 1, 2000)
                if CancellationToken.shared.isCancelled { throw ExitCode(Exit.interrupted) }
            }
        }
        let shards = SweepShards.paths(plan)
        var damaged: [String] = []
        var runs: [RunRecord] = []
        for path in shards {
            do { runs += try HistoryStore.openShard(path: path).runs() } catch { damaged.append("\(path): \(error)") }
        }
        // The history's copy last: a collected run shows its id there.
        let collected = try store.runs(sweep: name)
        let inHistory = Set(collected.compactMap(\.uuid))
        runs += collected
        let latest = latestRuns(plan, runs)
        let jobs = plan.submissions.map(\.jobID)
        // squeue knows the tasks still queued or running; sacct (where accounting is kept) the ended ones.
        let tasks = jobs.isEmpty ? [:] : SweepStatus.accountedStates(jobs).merging(SweepStatus.slurmStates(jobs) ?? [:]) { $1 }
        let submitted = Set(plan.submissions.flatMap(\.tasks))
        var header = ["point", "run", "status"]
        if !plan.submissions.isEmpty { header.insert("task", at: 1) }
        let metricNames = Array(metricOrder(Array(latest.values)).prefix(4))
        header += metricNames
        var rows: [[String]] = []
        var counts: [String: Int] = [:]
        for p in plan.points {
            let r = latest[p.index]
            var status = r?.status.rawValue ?? "not run"
            var task = "-"
            if !plan.submissions.isEmpty {
                task = tasks[p.index] ?? (submitted.contains(p.index) ? "ended" : "-")
                if r == nil, submitted.contains(p.index) {
                    status = ["PENDING", "CONFIGURING"].contains(task) ? "pending" : task == "RUNNING" ? "starting" : "no run (see logs)"
                }
            }
            counts[status, default: 0] += 1
            let id = r.map { $0.uuid.map(inHistory.contains) == true ? String($0.id) : "shard" } ?? "-"
            var row = [p.label, id, status]
            if !plan.submissions.isEmpty { row.insert(task, at: 1) }
            let last = Dictionary(r?.lastMetrics.map { ($0.name, $0.value) } ?? [], uniquingKeysWith: { $1 })
            row += metricNames.map { last[$0].map { RunTable.number($0) } ?? "-" }
            rows.append(row)
        }
        let engine = plan.submissions.isEmpty ? plan.engine : "slurm, job \(plan.submissions.map(\.jobID).joined(separator: ", "))"
        let summary = counts.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        print("sweep \(plan.name) (\(engine); \(plan.points.count) points; \(shown(plan.folder))): \(summary)")
        if !shards.isEmpty { print("shards: \(shards.count) in \(shown(plan.shardFolder)) (squeeze sweep collect \(name) merges them)") }
        for d in damaged { print("damaged shard: \(d)") }
        print(TextTable.render(header: header, rows: rows), terminator: "")
    }

    /// Array task index → final state (COMPLETED, FAILED, …) from sacct; empty where Slurm keeps no accounting.
    static func accountedStates(_ jobs: [String]) -> [Int: String] {
        let arguments = ["-n", "-P", "-X", "-j", jobs.joined(separator: ","), "-o", "JobID,State"]
        guard let (status, out) = Subprocess.run("sacct", arguments, errors: .merged), status == 0 else { return [:] }
        return taskStates(out, separator: "|")
    }

    /// Array task index → state, for the tasks Slurm still knows (squeue); nil when squeue cannot tell.
    static func slurmStates(_ jobs: [String]) -> [Int: String]? {
        guard let (status, out) = Subprocess.run("squeue", ["-h", "-r", "-j", jobs.joined(separator: ","), "-o", "%i %T"], errors: .merged),
            status == 0 else {
            return nil
        }
        return taskStates(out, separator: " ")
    }

    /// Lines `JOB_TASK<separator>STATE[ …]` (squeue's `%i %T`, sacct's `JobID|State` with
    /// `CANCELLED by 0`) as task index → state; other lines (a whole job, a step) are skipped.
    static func taskStates(_ out: String, separator: Character) -> [Int: String] {
        var states: [Int: String] = [:]
        for line in out.split(separator: "\n") {
            let parts = line.split(separator: separator)
            guard parts.count == 2, let underscore = parts[0].lastIndex(of: "_"),
                let task = Int(parts[0][parts[0].index(after: underscore)...]) else { continue }
            states[task] = parts[1].split(separator: " ").first.map(String.init) ?? String(parts[1])
        }
        return states
    }
}

struct SweepCollect: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "collect",
        abstract: "Merge a sweep's history shards into the history, with their artifacts; collecting again adds nothing.",
        discussion: """
            Runs still running are left for a later collect; a damaged shard is reported and skipped. \
            Exit 74 if any shard was damaged.
            """)

    @Argument(help: "The sweep's name.") var name: String
    @OptionGroup var history: HistoryOptions

    func run() throws {
        let store = try history.open(create: false)
        let (_, plan) = try loadSweep(name, store: store)
        let shards = SweepShards.paths(plan)
        // Tasks Slurm has let go of: a run their shard still shows running died with its node's
        // process (on this host the shard's own check finds that; on another node only Slurm knows).
        let live = plan.submissions.isEmpty ? nil : SweepStatus.slurmStates(plan.submissions.map(\.jobID))
        var total = HistoryStore.MergeResult()
        var damaged = 0
        for path in shards {
            do {
                let shard = try HistoryStore.openShard(path: path)
                let task = Int(URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent)
                if let live, let task, live[task] == nil {
                    _ = try shard.markRunningRunsCrashed(
                        reason: "its Slurm task ended without finishing the run (killed, or its node failed)")
                }
                let r = try store.merge(shard: shard)
                total.added += r.added; total.present += r.present; total.running += r.running
                total.artifactsCopied += r.artifactsCopied
            } catch {
                damaged += 1
                RecipeRunner.stderr("squeeze: shard \(path): \(error); skipped\n")
            }
        }
        var line = "sweep \(name): \(plural(shards.count, "shard")), \(plural(total.added, "run")) added"
        line += " (\(plural(total.artifactsCopied, "artifact"))), \(total.present) already collected"
        if total.running > 0 { line += ", \(total.running) still running (collect again later)" }
        if damaged > 0 { line += ", \(plural(damaged, "damaged shard")) skipped" }
        print(line)
        if damaged > 0 { throw ExitCode(Exit.history) }
    }
}

struct SweepReport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "A sweep's table (metrics' mean and std over seeds per point) and a plot per metric and swept parameter.",
        discussion: "Writes report.md and the PNGs into OUT (default: the sweep's folder/report) and prints the table.")

    @Argument(help: "The sweep's name.") var name: String
    @Option(help: "Where to write report.md and the plots.") var out: String?
    @OptionGroup var history: HistoryOptions

    func run() throws {
        let store = try history.open(create: false)
        let (_, plan) = try loadSweep(name, store: store)
        let runs = try store.runs(sweep: name).filter { $0.status == .completed }
        guard !runs.isEmpty else {
            RecipeRunner.stderr(
                "squeeze: sweep \(name) has no completed run in \(store.path) (a Slurm sweep: squeeze sweep collect \(name) first)\n")
            throw ExitCode(Exit.usage)
        }
        let folder = URL(fileURLWithPath: out ?? plan.folder + "/report").standardizedFileURL
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let seedAxis = plan.axes.contains { $0.name == "seed" }
        let swept = plan.axes.map(\.name).filter { $0 != "seed" }
        let latest = Array(latestRuns(plan, runs).values)
        var table = RunTable()
        table.groupBy = swept.isEmpty ? ["recipe"] : swept
        table.aggregates = ["mean", "std"]
        let g = try table.groupedTable(latest.sorted { $0.id < $1.id })
        let text = TextTable.render(header: g.header, rows: g.rows)
        print(text, terminator: "")
        var md = "# Sweep \(plan.name)\n\n`\(plan.recipe)`, \(plan.points.count) points, \(latest.count) completed runs"
        md += seedAxis ? ", mean ± std over seeds.\n\n" : ".\n\n"
        md += "Axes: " + plan.axes.map { "`\($0.name)` = \($0.values.joined(separator: ", "))" }.joined(separator: "; ") + "\n\n"
        md += markdownTable(g.header, g.rows) + "\n"
        let metrics = metricOrder(latest)
        var written = 0
        for metric in metrics {
            for axis in plan.axes where axis.name != "seed" {
                let file = "\(SweepReport.fileName(metric))-vs-\(SweepReport.fileName(axis.name)).png"
                let fig = SweepReport.figure(plan: plan, runs: latest, metric: metric, axis: axis)
                try PNG.encode(fig.render()).write(to: folder.appendingPathComponent(file))
                md += "![\(metric) against \(axis.name)](\(file))\n\n"
                written += 1
            }
        }
        try Data(md.utf8).write(to: folder.appendingPathComponent("report.md"))
        print("report: \(shown(folder.path))/report.md and \(written) plot\(written == 1 ? "" : "s")")
    }

    func markdownTable(_ header: [String], _ rows: [[String]]) -> String {
        var s = "| " + header.joined(separator: " | ") + " |\n|" + header.map { _ in " --- |" }.joined() + "\n"
        for r in rows { s += "| " + r.joined(separator: " | ") + " |\n" }
        return s
    }

    static func fileName(_ s: String) -> String {
        String(s.map { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" ? $0 : "_" })
    }

    /// The metric against one swept parameter: one line per combination of the other swept
    /// parameters (seed aside), each point the mean over seeds with a ±std bar.
    static func figure(plan: SweepPlan, runs: [RunRecord], metric: String, axis: SweepPlan.Axis) -> Figure {
        let numeric = axis.values.allSatisfy { Double($0) != nil }
        let xs = axis.values.enumerated().map { numeric ? Double($1)! : Double($0) }
        let others = plan.axes.map(\.name).filter { $0 != "seed" && $0 != axis.name }
        func value(_ r: RunRecord, _ name: String) -> String? { r.parameters.first { $0.name == name }?.value }
        var groups: [String: [RunRecord]] = [:]
        var order: [String] = []
        for r in runs {
            let key = others.map { "\($0)=\(value(r, $0) ?? "?")" }.joined(separator: ", ")
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(r)
        }
        var fig = Figure()
        fig.title = "\(metric) against \(axis.name)"
        fig.x.label = axis.name
        fig.y.label = metric
        fig.grid = true
        if !numeric { fig.x.categories = axis.values } else { fig.x.ticks = xs }
        for (i, key) in order.sorted().enumerated() {
            let color = Palette.category(i)
            var means: [Double] = []
            for v in axis.values {
                let ys = groups[key]!.filter { value($0, axis.name) == v }
                    .compactMap { r in r.lastMetrics.last { $0.name == metric }?.value }.filter(\.isFinite)
                let mean = ys.isEmpty ? Double.nan : ys.reduce(0, +) / Double(ys.count)
                means.append(mean)
                if ys.count > 1 {
                    let sd = (ys.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(ys.count - 1)).squareRoot()
                    let x = xs[means.count - 1]
                    fig.series.append(.line(x: [x, x], y: [mean - sd, mean + sd], color: color, label: nil, width: 1.5, dashed: false,
                                            markers: false, right: false))
                }
            }
            fig.series.append(.line(x: xs, y: means, color: color, label: key.isEmpty ? nil : key, width: 2.1, dashed: false,
                                    markers: true, right: false))
            if !key.isEmpty { fig.legend.append(LegendEntry(key, color, .markedLine)) }
        }
        return fig
    }
}
