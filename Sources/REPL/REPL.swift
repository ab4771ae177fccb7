import Foundation
import Recipe
import SqueezeCore

/// The `:` commands; a leading colon never clashes with recipe names.
enum REPLCommand {
    static let names = ["vars", "time", "timeit", "history", "run", "save", "reset", "quit", "help"]
}

/// An interactive session: one interpreter whose variables persist across inputs.
public final class REPL {
    public struct Options {
        public var seed: UInt64?
        public var color: String = "auto"
        public var historyFile: String?
        /// Where the session is recorded (nil: not recorded).
        public var recording: SessionRecording?
        /// Where the session may write (default: the working directory), as `run --out`.
        public var outputDirectory: URL?
        /// Further directories the session may write under, as `run --allow-write`.
        public var allowedWriteDirectories: [URL] = []
        public init() {}
    }

    let session: Interpreter
    let style: Style
    let cancellation = CancellationToken.shared
    /// Inputs that ran without error, for `:save`.
    var successful: [String] = []
    var reader: LineReader?
    let initialSeed: UInt64
    let recording: SessionRecording?
    /// The session's run in the history, started by its first input (and again after `:reset`).
    var recorder: SessionRun?

    public init(options: Options) {
        let cwd = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        let protected = options.recording?.protectedFiles ?? []
        let sandbox = Sandbox(
            baseDirectory: cwd, outputDirectory: options.outputDirectory, allowedWriteDirectories: options.allowedWriteDirectories,
            protectedFiles: protected)
        session = Interpreter(seed: options.seed, sandbox: sandbox) { text in
            FileHandle.standardOutput.write(Data(text.utf8))
        }
        initialSeed = session.seed
        recording = options.recording
        style = Style(on: Terminal.colorEnabled(options.color))
        session.displayWidth = Terminal.width
    }

    /// Runs the session until `:quit` or Ctrl-D; returns the exit status.
    public func run(options: Options) -> Int32 {
        // Functions in the session's globals hold the interpreter: clear them on the way out.
        defer { session.reset() }
        if isatty(0) == 0 { return runPiped() }
        let env = ProcessInfo.processInfo.environment
        let histfile = options.historyFile ?? env["SQUEEZE_HISTFILE"] ?? (NSHomeDirectory() + "/.squeeze_history")
        let reader = LineReader(historyFile: histfile, session: session)
        self.reader = reader
        say(style.dim("squeeze — type ?name for help on an operation, ? for the list, :quit to leave"))
        var buffer = ""
        while true {
            let prompt = buffer.isEmpty ? "squeeze> " : "   ...> "
            switch reader.read(prompt: style.prompt(prompt), cancellation: cancellation) {
            case .end:
                if buffer.isEmpty { say(""); endRecording(); return 0 }
                buffer = ""
                say("")
            case .interrupted:
                buffer = ""
            case .line(let line):
                buffer += (buffer.isEmpty ? "" : "\n") + line
                let trimmed = buffer.trimmingCharacters(in: .whitespaces)
                if buffer == line, let quit = command(trimmed) {
                    reader.remember(line)
                    buffer = ""
                    if quit { endRecording(); return 0 }
                    continue
                }
                let program = Parser.parse(SourceFile(name: "<repl>", text: buffer))
                if program.isIncomplete && !line.isEmpty { continue }
                reader.remember(buffer)
                let input = buffer
                buffer = ""
                execute(program, source: input)
            }
        }
    }

    /// Without a terminal: the whole of stdin is a recipe, with the recipe exit codes.
    func runPiped() -> Int32 {
        let data = FileHandle.standardInput.readDataToEndOfFile()
        var text = String(decoding: data, as: UTF8.self)
        // Piped input runs as one recipe. `:quit` ends it (so `echo ':quit' | squeeze` works); any
        // other `:` command is refused with a clear word, before anything runs.
        var kept: [Substring] = []
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let command = line.trimmingCharacters(in: .whitespaces)
            if ["quit", "q", "exit"].contains(where: { command == ":" + $0 }) { break }
            if command.hasPrefix(":") {
                FileHandle.standardError.write(
                    Data(("<stdin>:\(i + 1): '\(command)' is a REPL command: standard input that is not a terminal runs as a recipe, " +
                          "where only :quit is understood (run squeeze in a terminal for the REPL, or squeeze run FILE)\n").utf8))
                return 64
            }
            kept.append(line)
        }
        text = kept.joined(separator: "\n")
        let program = Parser.parse(SourceFile(name: "<stdin>", text: text))
        let recorder = startRecording(kind: .script, source: text, cellLines: program.cells.map(\.line))
        if !program.diagnostics.isEmpty {
            let rendered = program.diagnostics.map { $0.render() }.joined()
            FileHandle.standardError.write(Data(rendered.utf8))
            recorder?.end(.failed, error: rendered)
            return 65
        }
        let result: Result<Void, Error> = Interpreter.onLargeStack { Result { try session.run(program) } }
        switch result {
        case .success:
            recorder?.end(.completed, error: nil)
            return 0
        case .failure(let d as Diagnostic):
            FileHandle.standardError.write(Data(d.render().utf8))
            recorder?.end(d.kind == .interrupted ? .interrupted : .failed, error: d.render())
            return d.kind == .interrupted ? 130 : 70
        case .failure(let e):
            recorder?.end(.failed, error: "\(e)")
            return 70
        }
    }

    /// Starts recording the session into the history (a failure is reported and recording skipped).
    func startRecording(kind: SessionKind, source: String, cellLines: [Int] = []) -> SessionRun? {
        guard let recording,
            let r = recording.start(
                kind: kind, source: source, seed: session.seed, cellLines: cellLines,
                outDirectory: session.sandbox.outputDirectory.path)
        else { return nil }
        recorder = r
        session.observer = r
        return r
    }

    /// Marks the session's run completed (at :quit, Ctrl-D and :reset).
    func endRecording() {
        recorder?.end(.completed, error: nil)
        recorder = nil
        session.observer = nil
    }

    /// Parses and runs one input, displaying expression values.
    func execute(_ program: Program, source: String) {
        if !program.diagnostics.isEmpty {
            for d in program.diagnostics { printError(d.render()) }
            return
        }
        cancellation.reset()
        session.displayWidth = Terminal.width
        if recorder == nil, recording != nil { _ = startRecording(kind: .repl, source: "") }
        recorder?.beginInput(source)
        let outcome = session.runCatching(program) { [self] value in
            session.setGlobal("_", value)
            if case .none = value { return }
            say(display(value))
            recorder?.valueShown(Format.describe(value, width: 100))
        }
        cancellation.reset()
        if let d = outcome {
            printError(d.render())
        } else {
            successful.append(source)
        }
        Memory.releaseFreeMemory()
    }

    func display(_ v: Value) -> String {
        let text = Format.describe(v, width: session.displayWidth)
        if case .tensor = v, let nl = text.firstIndex(of: "\n") {
            return style.header(String(text[..<nl])) + String(text[nl...])
        }
        return text
    }

    /// Writes a line straight to stdout (unbuffered, so it never lands after readline's prompt).
    func say(_ items: String, terminator: String = "\n") {
        FileHandle.standardOutput.write(Data((items + terminator).utf8))
    }

    func printError(_ s: String) {
        FileHandle.standardError.write(Data(style.error(s).utf8))
    }

    /// Handles `?`, `?name` and `:commands`. Returns nil when the input is not one, else whether to quit.
    func command(_ input: String) -> Bool? {
        // `?`, `?name`, `??word`, and `help` / `help name` typed alone, which mean the same.
        var query: String?
        if input.hasPrefix("?") { query = String(input.dropFirst()) }
        if input == "help" { query = "" }
        if input.hasPrefix("help "), !input.contains("(") { query = String(input.dropFirst(5)) }
        if let query {
            if let text = Help.answer(query, globals: { session.global($0) }) {
                say(text, terminator: "")
            } else {
                printError(Help.notFound(query.trimmingCharacters(in: .whitespaces), names: session.globalNames))
            }
            return false
        }
        guard input.hasPrefix(":") else { return nil }
        let parts = input.dropFirst().split(separator: " ", maxSplits: 1).map(String.init)
        let name = parts.first ?? ""
        let arg = parts.count > 1 ? parts[1].trimmingCharacters(in: .whitespaces) : ""
        switch name {
        case "quit", "q", "exit":
            return true
        case "vars":
            for v in session.globalNames where v != "_" {
                guard let value = session.global(v) else { continue }
                var bytes = ""
                if case .tensor(let t) = value { bytes = "  " + Memory.describe(t.count * 4) }
                say("\(v)  \(value.typeDescription)\(bytes)")
            }
        case "time":
            let program = Parser.parse(SourceFile(name: "<repl>", text: arg))
            let t0 = ContinuousClock.now
            execute(program, source: arg)
            say(style.dim(String(format: "%.3f s", (ContinuousClock.now - t0).seconds)))
        case "timeit":
            timeit(arg)
        case "history":
            let n = Int(arg) ?? 20
            for (i, line) in (reader?.recent(n) ?? []).enumerated() { say("\(i + 1)  \(line)") }
        case "run":
            guard let text = try? String(contentsOfFile: arg, encoding: .utf8) else {
                printError("cannot read '\(arg)'\n")
                return false
            }
            execute(Parser.parse(SourceFile(name: arg, text: text)), source: text)
        case "save":
            guard !arg.isEmpty else { printError(":save needs a file name, e.g. :save explore.recipe\n"); return false }
            let header = "# saved from a squeeze REPL session\nseed(\(initialSeed))\n\n"
            let inputs = successful.filter { !$0.hasPrefix(":") && !$0.hasPrefix("?") }
            // `_` is the REPL's last value; a recipe gets it by assignment, wherever the session read it.
            let usesLast = inputs.contains { $0.range(of: #"(?<![A-Za-z0-9_])_(?![A-Za-z0-9_])"#, options: .regularExpression) != nil }
            let body = inputs.map { usesLast ? REPL.assigningLastValue($0) : $0 }.joined(separator: "\n")
            do {
                try (header + body + "\n").write(toFile: arg, atomically: true, encoding: .utf8)
                say("saved \(successful.count) input\(successful.count == 1 ? "" : "s") to \(arg)")
            } catch {
                printError("cannot write '\(arg)': \(error.localizedDescription)\n")
            }
        case "reset":
            endRecording()
            session.reset()
            session.reseed(initialSeed)
            successful = []
            say("session reset (variables forgotten, generator restarted from seed \(initialSeed))")
        case "help":
            say(":vars  :time EXPR  :timeit EXPR  :history [N]  :run FILE  :save FILE  :reset  :quit   ?NAME  ??WORD  ?")
        default:
            printError(
                "unknown command ':\(name)'" + (Suggest.didYouMean(name, in: REPLCommand.names).map { "; \($0)" } ?? "")
                    + " (:help lists them)\n")
        }
        return false
    }

    /// The input with `_ = ` before each top-level expression statement, so a saved recipe sets `_`
    /// where the REPL did.
    static func assigningLastValue(_ source: String) -> String {
        let program = Parser.parse(SourceFile(name: "<save>", text: source))
        var bytes = Array(source.utf8)
        let starts = program.statements.compactMap { stmt -> Int? in
            if case .expr(_, silent: false) = stmt.kind { return stmt.span.start }
            return nil
        }
        for start in starts.sorted(by: >) { bytes.insert(contentsOf: Array("_ = ".utf8), at: start) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `:timeit EXPR`: runs the input until about a second has passed (at least 3 times, at most
    /// 100,000) and prints the mean ± standard deviation per run, like IPython's %timeit. The runs
    /// are not recorded in the history one by one, and Ctrl-C stops them.
    func timeit(_ input: String) {
        let program = Parser.parse(SourceFile(name: "<timeit>", text: input))
        if let d = program.diagnostics.first { printError(d.render()); return }
        let observer = session.observer
        session.observer = nil
        defer { session.observer = observer }
        cancellation.reset()
        var times: [Double] = []
        let failure: Diagnostic? = Interpreter.onLargeStack {
            var total = 0.0
            while times.count < 3 || (total < 1 && times.count < 100_000) {
                let t0 = ContinuousClock.now
                do {
                    try session.run(program)
                    try cancellation.check()
                } catch let d as Diagnostic {
                    return d
                } catch let e as CoreError where e == .cancelled {
                    return Diagnostic(.interrupted, "interrupted", at: nil)
                } catch {
                    return Diagnostic(.runtime, "\(error)", at: nil)
                }
                let dt = (ContinuousClock.now - t0).seconds
                times.append(dt)
                total += dt
            }
            return nil
        }
        cancellation.reset()
        if let failure { printError(failure.render()); return }
        let mean = times.reduce(0, +) / Double(times.count)
        let std = (times.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(max(1, times.count - 1))).squareRoot()
        say("\(REPL.duration(mean)) ± \(REPL.duration(std)) per run (mean ± std. dev. of \(times.count) runs)")
        successful.append(input)
    }

    /// 1.23 s, 45.6 ms, 789 µs, 12.3 ns.
    static func duration(_ s: Double) -> String {
        let (value, unit): (Double, String) =
            s >= 1 ? (s, "s") : s >= 1e-3 ? (s * 1e3, "ms") : s >= 1e-6 ? (s * 1e6, "µs") : (s * 1e9, "ns")
        return String(format: value >= 100 ? "%.0f %@" : value >= 10 ? "%.1f %@" : "%.2f %@", value, unit)
    }
}
