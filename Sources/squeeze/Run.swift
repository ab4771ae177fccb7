import ArgumentParser
import Foundation
import History
import Recipe
import Runs
import SqueezeCore

/// `--history PATH`, shared by every command that reads or writes the history.
struct HistoryOptions: ParsableArguments {
    @Option(
        name: .customLong("history"),
        help: ArgumentHelp(
            "The history database (default: $SQUEEZE_HISTORY, else .squeeze/history.db under the working directory).", valueName: "path"))
    var path: String?

    var resolvedPath: String { HistoryStore.defaultPath(explicit: path) }

    /// Opens the history, or exits with a message (74) when it cannot be used.
    func open(create: Bool = true) throws -> HistoryStore {
        do {
            return try HistoryStore(path: resolvedPath, create: create, warn: { RecipeRunner.stderr($0 + "\n") })
        } catch {
            RecipeRunner.stderr("squeeze: \(error)\n")
            throw ExitCode(Exit.history)
        }
    }
}

/// `--artifact-limit`, for the commands that record runs.
struct ArtifactOptions: ParsableArguments {
    @Option(
        name: .customLong("artifact-limit"),
        help: ArgumentHelp(
            "Keep a copy in the history of each file the run writes up to this size (e.g. 500M, 2G; 0: none; default 100M); "
                + "larger files are recorded by SHA-256 only.", valueName: "size"))
    var limit: String?

    /// The limit in bytes, or a usage error naming the option.
    func bytes() throws -> Int {
        guard let limit else { return ArtifactStore.defaultLimit }
        if limit.trimmingCharacters(in: .whitespaces) == "0" { return 0 }
        guard let n = Memory.parse(limit) else {
            throw ValidationError("--artifact-limit: expected a size such as 0, 250K, 100M or 2G, got '\(limit)'")
        }
        return n
    }

    func validate() throws { _ = try bytes() }
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a recipe top to bottom in a fresh interpreter, recording it in the history.",
        discussion: """
            Relative paths in the recipe are read against the recipe's directory; files are written only \
            under --out (default: the recipe's directory) and --allow-write directories.
            Exit codes: 0 success, 64 usage, 65 recipe (syntax) error, 70 runtime error, 74 history unusable, 130 interrupted.
            """)

    @Argument(help: "The recipe file (.recipe).")
    var file: String

    @Option(
        name: .customShort("p"), parsing: .unconditionalSingleValue,
        help: ArgumentHelp("Override a parameter: -p name=value (repeatable).", valueName: "name=value"))
    var parameters: [String] = []

    @Option(help: "Seed of the run's random generator (default: drawn and recorded).")
    var seed: UInt64?

    @Option(help: "Directory the recipe writes into (default: the recipe's directory).")
    var out: String?

    @Option(name: .customLong("allow-write"), help: "Also allow writes under this directory (repeatable).")
    var allowWrite: [String] = []

    @OptionGroup var history: HistoryOptions

    @OptionGroup var artifacts: ArtifactOptions

    @Flag(name: .customLong("no-history"), help: "Do not record this run.")
    var noHistory = false

    @Option(help: ArgumentHelp("Record the run as a point of this sweep (squeeze sweep sets it).", valueName: "name"))
    var sweep: String?

    @Option(name: .customLong("sweep-point"), help: ArgumentHelp("The sweep point, e.g. bits=2,group=64.", valueName: "label"))
    var sweepPoint: String?

    @Option(
        name: .customLong("parent"),
        help: ArgumentHelp("End the run as interrupted once process PID is gone (squeeze sweep sets it).", valueName: "pid"))
    var parent: Int32?

    func run() throws {
        if let parent { watchParent(parent) }
        let url = URL(fileURLWithPath: file).standardizedFileURL
        guard let data = FileManager.default.contents(atPath: url.path) else {
            RecipeRunner.stderr("squeeze: cannot read '\(file)': no such file or not readable\n")
            throw ExitCode(Exit.usage)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            RecipeRunner.stderr("squeeze: '\(file)' is not UTF-8 text\n")
            throw ExitCode(Exit.usage)
        }
        var overrides: [String: Value] = [:]
        for p in parameters {
            guard let eq = p.firstIndex(of: "="), eq != p.startIndex else {
                RecipeRunner.stderr("squeeze: -p expects name=value, got '\(p)'\n")
                throw ExitCode(Exit.usage)
            }
            let name = String(p[..<eq]).trimmingCharacters(in: .whitespaces)
            overrides[name] = Literal.parse(String(p[p.index(after: eq)...]), name: name)
        }
        let outDir = (out.map { URL(fileURLWithPath: $0) } ?? url.deletingLastPathComponent()).standardizedFileURL
        if out != nil {
            do { try FileManager.default.createDirectory(at: outDir, withIntermediateDirectories: true) } catch {
                RecipeRunner.stderr("squeeze: cannot create --out directory '\(outDir.path)': \(error.localizedDescription)\n")
                throw ExitCode(Exit.usage)
            }
        }
        let sandbox = Sandbox(
            baseDirectory: url.deletingLastPathComponent(), outputDirectory: outDir,
            allowedWriteDirectories: allowWrite.map { URL(fileURLWithPath: $0) },
            protectedFiles: [URL(fileURLWithPath: history.resolvedPath)])
        let seed = self.seed ?? RecipeRunner.drawSeed()
        var recording: RecipeRunner.Recording?
        if !noHistory {
            let start = RunStart(
                kind: .script, recipe: url.path, source: text, seed: seed,
                environment: RunEnvironment(squeezeVersion: Version.squeeze), outDirectory: outDir.path,
                sweep: sweep, sweepPoint: sweepPoint)
            let directory = url.deletingLastPathComponent()
            let store = try history.open()
            store.artifactLimit = try artifacts.bytes()
            recording = .init(
                store: store, start: start,
                environment: {
                    .current(squeezeVersion: Version.squeeze, recipeDirectory: directory)
                })
        }
        let source = SourceFile(name: file, text: text)
        let result = RecipeRunner.run(source: source, seed: seed, overrides: overrides, sandbox: sandbox, recording: recording)
        if result.status != 0 { throw ExitCode(result.status) }
    }
}

/// A sweep's point must not outlive the sweep that started it (a `--resume` would run it twice):
/// once `pid` is no longer this process's parent, the run is cancelled and ends as interrupted.
func watchParent(_ pid: Int32) {
    if getppid() != pid { CancellationToken.shared.cancel(); return }
    Thread.detachNewThread {
        while getppid() == pid { usleep(100_000) }
        CancellationToken.shared.cancel()
    }
}

/// Parses and runs one recipe on a thread with a large stack (deeply nested recipes and recursion
/// then fail with a diagnostic, never a stack overflow), rendering every diagnostic to stderr and
/// recording the run when given a history.
enum RecipeRunner {
    struct Recording {
        let store: HistoryStore
        let start: RunStart
        /// Gathered on the history's writer thread while the recipe runs.
        var environment: (@Sendable () -> RunEnvironment)?
    }

    struct Result {
        var status: Int32
        var runID: Int?
    }

    /// A seed for a run that was given none: 53 bits, so it survives JSON and spreadsheets exactly.
    static func drawSeed() -> UInt64 { UInt64.random(in: 0..<(1 << 53)) }

    static func run(
        source: SourceFile, seed: UInt64, overrides: [String: Value], sandbox: Sandbox,
        recording: Recording?
    ) -> Result {
        Interpreter.onLargeStack {
            runHere(source: source, seed: seed, overrides: overrides, sandbox: sandbox, recording: recording)
        }
    }

    static func startRecorder(_ recording: Recording?, _ program: Program) -> RunRecorder? {
        let recorder = recording.map {
            RunRecorder(store: $0.store, start: $0.start, cellLines: program.cells.map(\.line), environment: $0.environment)
        }
        recordForcedExit(into: recorder)
        return recorder
    }

    static func runHere(
        source: SourceFile, seed: UInt64, overrides: [String: Value], sandbox: Sandbox,
        recording: Recording?
    ) -> Result {
        let program = Parser.parse(source)
        if !program.diagnostics.isEmpty {
            let text = program.diagnostics.map { $0.render() }.joined()
            stderr(text)
            let n = program.diagnostics.count
            stderr("\(n) syntax error\(n == 1 ? "" : "s"); nothing was run\n")
            let recorder = startRecorder(recording, program)
            recorder?.finish(status: .failed, error: text)
            return Result(status: Exit.recipe, runID: recorder?.runID)
        }
        let declared = Interpreter.parameterNames(program)
        for name in overrides.keys.sorted() where !declared.contains(name) {
            let hint =
                Suggest.didYouMean(name, in: declared).map { "; \($0)" }
                ?? (declared.isEmpty ? "; the recipe declares no parameters" : "; parameters: \(declared.joined(separator: ", "))")
            stderr("squeeze: -p \(name): the recipe has no parameter '\(name)'\(hint)\n")
            return Result(status: Exit.usage)
        }
        let recorder = startRecorder(recording, program)
        let interp = Interpreter(seed: seed, sandbox: sandbox, parameterOverrides: overrides) { text in
            FileHandle.standardOutput.write(Data(text.utf8))
        }
        interp.observer = recorder
        defer { interp.reset() }
        do {
            try interp.run(program)
            recorder?.finish(status: .completed)
            return Result(status: 0, runID: recorder?.runID)
        } catch let d as Diagnostic {
            stderr(d.render())
            let interrupted = d.kind == .interrupted
            recorder?.finish(status: interrupted ? .interrupted : .failed, error: d.render())
            return Result(status: interrupted ? Exit.interrupted : Exit.runtime, runID: recorder?.runID)
        } catch {
            stderr("error: \(error)\n")
            recorder?.finish(status: .failed, error: "\(error)")
            return Result(status: Exit.runtime, runID: recorder?.runID)
        }
    }

    /// A REPL session's inputs, replayed cell by cell in one interpreter as the REPL ran them: an
    /// input that fails does not stop the ones after it.
    static func runCells(_ cells: [String], seed: UInt64, sandbox: Sandbox, recording: Recording) -> Result {
        Interpreter.onLargeStack {
            var start = recording.start
            start.source = ""  // grows cell by cell, as the session's did
            let recorder = RunRecorder(store: recording.store, start: start, environment: recording.environment)
            let interp = Interpreter(seed: seed, sandbox: sandbox) { FileHandle.standardOutput.write(Data($0.utf8)) }
            interp.observer = recorder
            defer { interp.reset() }
            var status: Int32 = 0
            for cell in cells {
                let program = Parser.parse(SourceFile(name: "<repl>", text: cell))
                guard program.diagnostics.isEmpty else { continue }
                recorder.beginInput(cell)
                do { try interp.run(program) } catch let d as Diagnostic {
                    stderr(d.render())
                    if d.kind == .interrupted {
                        recorder.finish(status: .interrupted, error: d.render())
                        return Result(status: Exit.interrupted, runID: recorder.runID)
                    }
                    status = Exit.runtime
                } catch {
                    status = Exit.runtime
                }
            }
            recorder.finish(status: .completed)
            return Result(status: status, runID: recorder.runID)
        }
    }

    static func stderr(_ s: String) { FileHandle.standardError.write(Data(s.utf8)) }
}
