import ArgumentParser
import Foundation
import History
import Recipe
import Runs

/// Writes text to stdout, or to `-o FILE`.
func emit(_ text: String, to file: String?) throws {
    guard let file else {
        FileHandle.standardOutput.write(Data(text.utf8))
        return
    }
    do { try Data(text.utf8).write(to: URL(fileURLWithPath: file), options: .atomic) } catch {
        RecipeRunner.stderr("squeeze: cannot write '\(file)': \(error.localizedDescription)\n")
        throw ExitCode(Exit.usage)
    }
}

/// Runs a history query, turning its errors into messages and exit codes.
func historyQuery<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let e as ExitCode {
        throw e
    } catch let d as Diagnostic {
        RecipeRunner.stderr(d.render())
        throw ExitCode(Exit.usage)
    } catch let e as HistoryError {
        RecipeRunner.stderr("squeeze: \(e)\n")
        if case .noSuchRun = e { throw ExitCode(Exit.usage) }
        throw ExitCode(Exit.history)
    } catch let e as HistoryQueryError {
        RecipeRunner.stderr("squeeze: \(e)\n")
        throw ExitCode(Exit.usage)
    } catch {
        RecipeRunner.stderr("squeeze: \(error)\n")
        throw ExitCode(Exit.history)
    }
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, csv, json
}

struct Runs: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List recorded runs: parameters that vary between them and their metrics.",
        discussion: """
            --where takes a recipe expression over parameters, last metric values and the fields id, status, \
            recipe, kind, seed and duration: --where 'accuracy > 0.9 and k == 8'. A run without a name the \
            expression uses does not match. --group-by k,method --agg mean,std aggregates metrics over the \
            runs of each group (std is the sample standard deviation, as pandas computes it).
            """)

    @Option(help: "Only runs of this recipe (path or file name).") var recipe: String?
    @Option(help: "Only runs with this status: running, completed, failed, interrupted or crashed.") var status: String?
    @Option(
        help: ArgumentHelp(
            "Only runs of these kinds, comma-separated: script, repl, notebook, replay. "
                + "Aggregates leave replays out unless this names them.",
            valueName: "kinds")) var kind: String?
    @Option(help: "Only the runs of this sweep (squeeze sweep --name).") var sweep: String?
    @Option(name: .customLong("where"), help: ArgumentHelp("A filter expression over parameters and metrics.", valueName: "expression"))
    var filter: String?
    @Option(
        parsing: .unconditional, help: ArgumentHelp("Sort by a field, parameter or metric; a leading - sorts descending.", valueName: "key")
    ) var sort: String?
    @Option(help: "Show at most this many runs (the newest, unless --sort).") var limit: Int?
    @Option(help: ArgumentHelp("Metric columns to show, comma-separated (default: the first eight logged).", valueName: "names"))
    var metrics: String?
    @Option(
        name: .customLong("group-by"),
        help: ArgumentHelp("Aggregate over runs grouped by these parameters, comma-separated.", valueName: "names")) var groupBy: String?
    @Option(help: ArgumentHelp("Aggregates for --group-by: mean, std, min, max, median, count.", valueName: "list")) var agg: String =
        "mean,std"
    @Option(help: "table, csv or json.") var format: OutputFormat = .table
    @OptionGroup var history: HistoryOptions

    func run() throws {
        let store = try history.open(create: false)
        try historyQuery {
            var table = RunTable()
            table.recipe = recipe
            if let status {
                guard let s = RunStatus(rawValue: status) else {
                    throw HistoryQueryError(
                        "--status: expected one of \(RunStatus.allCases.map(\.rawValue).joined(separator: ", ")), got '\(status)'")
                }
                table.status = s
            }
            if let kind {
                let kinds = Set(Runs.list(kind))
                for k in kinds where RunStart.Kind(rawValue: k) == nil {
                    throw HistoryQueryError("--kind: expected script, repl, notebook or replay, got '\(k)'")
                }
                table.kinds = kinds
            }
            if let sweep, try store.sweep(named: sweep) == nil {
                let names = try store.sweeps().map(\.name)
                let known = names.isEmpty ? " (no sweeps yet)" : "; sweeps: \(names.joined(separator: ", "))"
                throw HistoryQueryError("--sweep: no sweep named '\(sweep)'" + known)
            }
            table.sweep = sweep
            table.filter = try filter.map(RunFilter.init)
            table.sort = sort
            table.limit = limit
            table.metrics = metrics.map(Runs.list)
            let runs = try table.select(store.runs())
            if let groupBy {
                table.groupBy = Runs.list(groupBy)
                table.aggregates = Runs.list(agg)
                let g = try table.groupedTable(runs)
                switch format {
                case .table: print(TextTable.render(header: g.header, rows: g.rows), terminator: "")
                case .csv:
                    let t = try table.tidyGroups(runs)
                    print(RunTable.csv(columns: t.columns, records: t.records), terminator: "")
                case .json: print(TextTable.json(try table.tidyGroups(runs).records), terminator: "")
                }
                return
            }
            switch format {
            case .table:
                if runs.isEmpty { print("no runs match"); return }
                let l = try table.listing(runs)
                print(TextTable.render(header: l.header, rows: l.rows), terminator: "")
            case .csv:
                let t = table.tidy(runs)
                print(RunTable.csv(columns: t.columns, records: t.records), terminator: "")
            case .json:
                print(TextTable.json(table.tidy(runs).records), terminator: "")
            }
        }
    }

    static func list(_ s: String) -> [String] {
        s.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}

struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show one run: source, parameters (overrides marked), metrics, artifacts, environment.")

    @Argument(help: "A run id, `last`, or -N for the N-th newest.") var id: String
    @OptionGroup var history: HistoryOptions

    func run() throws {
        let store = try history.open(create: false)
        try historyQuery {
            print(Report.show(try store.run(try store.resolve(id))), terminator: "")
        }
    }
}

struct DiffRuns: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Compare two runs: what differs in parameters, metrics, artifacts, environment and source.")

    @Argument(help: "The first run.") var a: String
    @Argument(help: "The second run.") var b: String
    @Flag(help: "Show everything, not only what differs.") var all = false
    @OptionGroup var history: HistoryOptions

    func run() throws {
        let store = try history.open(create: false)
        try historyQuery {
            let x = try store.run(try store.resolve(a)), y = try store.run(try store.resolve(b))
            print(Report.diff(x, y, all: all), terminator: "")
        }
    }
}

struct Replay: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Re-run a recorded run from its recorded source, parameters and seed, and compare.",
        discussion: """
            The replay is recorded as a new run of kind `replay`. Every metric (matched by name and order) and \
            every artifact (by path and SHA-256) is compared with the original; any mismatch is listed and the \
            exit status is 1. Files are written under --out (default: a new temporary directory), so the \
            original's files are left as they were.
            """)

    @Argument(help: "The run to replay: an id, `last`, or -N.") var id: String
    @Option(help: "Relative tolerance for metrics (default 0: identical).") var tolerance: Double = 0
    @Option(help: "Directory the replay writes into (default: a new temporary directory).") var out: String?
    @OptionGroup var history: HistoryOptions

    func run() throws {
        let store = try history.open(create: false)
        let original = try historyQuery { try store.run(try store.resolve(id)) }
        guard let seed = original.seed else {
            RecipeRunner.stderr("squeeze: run \(original.id) has no recorded seed; it cannot be replayed\n")
            throw ExitCode(Exit.usage)
        }
        let recipeURL = original.recipe.map { URL(fileURLWithPath: $0) }
        let base = recipeURL?.deletingLastPathComponent() ?? URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        let outDir: URL
        do {
            if let out {
                outDir = URL(fileURLWithPath: out).standardizedFileURL
                try FileManager.default.createDirectory(at: outDir, withIntermediateDirectories: true)
            } else {
                outDir = FileManager.default.temporaryDirectory.appendingPathComponent(
                    "squeeze-replay-\(original.id)-\(UUID().uuidString.prefix(8))")
                try FileManager.default.createDirectory(at: outDir, withIntermediateDirectories: true)
            }
        } catch {
            RecipeRunner.stderr("squeeze: cannot create the replay's output directory: \(error.localizedDescription)\n")
            throw ExitCode(Exit.usage)
        }
        let env = RunEnvironment.current(squeezeVersion: Version.squeeze, recipeDirectory: recipeURL?.deletingLastPathComponent())
        if let t = original.environment.blasThreads, t != env.blasThreads {
            RecipeRunner.stderr(
                "squeeze: note: run \(original.id) used \(t) BLAS thread(s), this machine uses \(env.blasThreads ?? 0); results may " +
                "differ in the last bits\n"
            )
        }
        let start = RunStart(
            kind: .replay, recipe: original.recipe, source: original.source, seed: seed,
            environment: env, outDirectory: outDir.path, replayOf: original.id)
        let recording = RecipeRunner.Recording(store: store, start: start)
        let sandbox = Sandbox(baseDirectory: base, outputDirectory: outDir, protectedFiles: [URL(fileURLWithPath: store.path)])
        let result: RecipeRunner.Result
        // A replay of a REPL session is itself run cell by cell.
        var root = original
        while root.kind == "replay", let parent = root.replayOf, let r = try? store.run(parent) { root = r }
        if root.kind == "repl" {
            result = RecipeRunner.runCells(Notebook.cells(original.source).map(\.body), seed: seed, sandbox: sandbox, recording: recording)
        } else {
            var overrides: [String: Value] = [:]
            for p in original.parameters where p.overridden { overrides[p.name] = Literal.parse(p.value, name: p.name) }
            let file = SourceFile(
                name: original.recipe.map { URL(fileURLWithPath: $0).lastPathComponent } ?? "<run \(original.id)>", text: original.source)
            result = RecipeRunner.run(source: file, seed: seed, overrides: overrides, sandbox: sandbox, recording: recording)
        }
        guard let replayID = result.runID else { throw ExitCode(result.status == 0 ? Exit.history : result.status) }
        let check = try historyQuery { ReplayCheck(original: original, replay: try store.run(replayID), tolerance: tolerance) }
        print("replay: run \(replayID) of run \(original.id) (files in \(outDir.path))")
        if check.reproduced {
            print(check.summary)
        } else {
            print("NOT " + check.summary)
            for m in check.mismatches { print("  " + m) }
            if check.artifactsMatched < check.artifactsTotal, original.artifacts.contains(where: { $0.copy != nil }) {
                print(
                    "  the original's files: squeeze artifact \(original.id) PATH -o FILE; the replay's: squeeze artifact \(replayID) PATH")
            }
            throw ExitCode(1)
        }
    }
}

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export a run as a Jupyter notebook, a Markdown report, JSON, or its metrics as CSV.",
        discussion: """
            ipynb is nbformat 4.5: one code cell per `# %%` cell with its output and plots. md is a readable \
            report with plots linked. json is everything recorded. csv lists every metric point.
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable { case ipynb, md, json, csv }

    @Argument(help: "The run: an id, `last`, or -N.") var id: String
    @Option(help: "ipynb, md, json or csv.") var format: Format
    @Option(name: .shortAndLong, help: "Write to this file instead of stdout.") var output: String?
    @OptionGroup var history: HistoryOptions

    func run() throws {
        let store = try history.open(create: false)
        let run = try historyQuery { try store.run(try store.resolve(id)) }
        let text: String
        switch format {
        case .ipynb: text = Notebook.ipynb(run)
        case .md: text = Notebook.markdown(run, linkBase: output.map { URL(fileURLWithPath: $0).deletingLastPathComponent() })
        case .json: text = TextTable.json(Report.json(run, full: true))
        case .csv:
            text = TextTable.csv(
                header: ["run", "statement", "name", "step", "value"],
                rows: run.metrics.map {
                    [
                        String(run.id), $0.statement.map(String.init) ?? "", $0.name, $0.step.map(String.init) ?? "",
                        RunTable.number($0.value, digits: 17),
                    ]
                })
        }
        try emit(text, to: output)
    }
}

struct Doctor: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            """
                Check the history: integrity (a damaged file is rebuilt from every readable row, the original kept aside), runs left \
                running by dead processes (marked crashed), the stored copies of artifacts, and whether the files at the runs' paths \
                still hold what was recorded.
                """
    )

    @OptionGroup var history: HistoryOptions

    func run() throws {
        let path = history.resolvedPath
        var sound: [String]?  // the integrity already found, when the file needed no repair
        if FileManager.default.fileExists(atPath: path) {
            let problems = HistoryStore.integrity(path: path)
            if problems == ["ok"] {
                sound = problems
            } else {
                print(
                    "integrity: \(problems.count) problem\(problems.count == 1 ? "" : "s"): \(problems.prefix(5).joined(separator: "; "))")
                do {
                    let r = try HistoryStore.repair(path: path)
                    print(
                        "repaired: rebuilt from the readable rows (" + r.copied.map { "\($0.rows) \($0.table)" }.joined(separator: ", ")
                            + ")"
                            + (r.unreadable.isEmpty ? "" : "; rows on damaged pages of \(r.unreadable.joined(separator: ", ")) are lost"))
                    if r.placeholderRuns > 0 {
                        print(
                            "\(r.placeholderRuns) run\(r.placeholderRuns == 1 ? "" : "s") lost " +
                            "\(r.placeholderRuns == 1 ? "its" : "their") own record but kept statements or metrics: recorded as crashed " +
                            "placeholders"
                        )
                    }
                    print("the damaged file is kept as \(r.damagedCopy)")
                } catch {
                    RecipeRunner.stderr("squeeze: could not repair '\(path)': \(error)\n")
                    throw ExitCode(Exit.history)
                }
            }
        }
        // Opening repairs the rest: an unreadable file is moved aside, dead runs marked crashed.
        let store = try history.open(create: false)
        let report = try historyQuery { try store.check(integrity: sound) }
        print("history: \(store.path)")
        print("integrity: \(report.integrity.joined(separator: "; "))")
        print("rows: " + report.counts.map { "\($0.1) \($0.0)" }.joined(separator: ", "))
        print("runs by status: " + (report.statuses.isEmpty ? "none" : report.statuses.map { "\($0.1) \($0.0)" }.joined(separator: ", ")))
        try checkArtifacts(store)
        if report.integrity != ["ok"] { throw ExitCode(Exit.history) }
    }

    /// The stored copies (each hashed once) and the files at the runs' paths.
    func checkArtifacts(_ store: HistoryStore) throws {
        var intact: [String: Bool] = [:]
        var stored = 0, hashOnly = 0, lost: [String] = []
        var same = 0, changed: [String] = [], missing: [String] = []
        for (run, a, out) in try historyQuery({ try store.allArtifacts() }) {
            if let copy = a.copy {
                if intact[copy] == nil { intact[copy] = SHA256.file(copy)?.hex == a.sha256 }
                if intact[copy] == true { stored += 1 } else { lost.append("run \(run): \(a.path) (\(copy))") }
            } else {
                hashOnly += 1
            }
            let path =
                a.path.hasPrefix("/")
                ? a.path : URL(fileURLWithPath: out ?? FileManager.default.currentDirectoryPath).appendingPathComponent(a.path).path
            guard let digest = SHA256.file(path) else { missing.append("run \(run): \(path)"); continue }
            if digest.hex == a.sha256 { same += 1 } else { changed.append("run \(run): \(path)") }
        }
        let kept = intact.filter(\.value).count
        print(
            "artifact store: \(stored) stored (\(kept) distinct cop\(kept == 1 ? "y" : "ies") in \(store.artifactStore.root.path)), "
                + "\(lost.count) stored cop\(lost.count == 1 ? "y" : "ies") missing or damaged, \(hashOnly) recorded by hash only")
        for l in lost.prefix(20) { print("  missing copy  \(l)") }
        print(
            "files at the runs' paths: \(same) unchanged, \(changed.count) changed since their run, \(missing.count) missing"
                + (changed.count + missing.count > 0 && stored > 0 ? " (`squeeze artifact ID PATH` gets a stored copy back)" : ""))
        for c in changed.prefix(20) { print("  changed  \(c)") }
        for m in missing.prefix(20) { print("  missing  \(m)") }
    }
}
