import Foundation
import Recipe
import SqueezeCore

/// The `:` commands; a leading colon never clashes with recipe names.
enum REPLCommand {
    static let names = ["vars", "time", "history", "run", "save", "reset", "quit", "help"]
}

/// An interactive session: one interpreter whose variables persist across inputs.
public final class REPL {
    public struct Options {
        public var seed: UInt64?
        public var color: String = "auto"
        public var historyFile: String?
        /// Where the session is recorded (nil: not recorded).
        public var recording: SessionRecording?
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
        session = Interpreter(seed: options.seed, sandbox: Sandbox(baseDirectory: cwd, protectedFiles: protected)) { text in
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
        let text = String(decoding: data, as: UTF8.self)
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
        let outcome: Diagnostic? = Interpreter.onLargeStack {
            do {
                try session.run(program) { [self] value in
                    session.setGlobal("_", value)
                    if case .none = value { return }
                    say(display(value))
                }
                return nil
            } catch let d as Diagnostic {
                return d
            } catch {
                return Diagnostic(.runtime, "\(error)", at: nil)
            }
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
        if input == "?" {
            say(Registry.overview(), terminator: "")
            return false
        }
        if input.hasPrefix("?") {
            let name = input.dropFirst().trimmingCharacters(in: .whitespaces)
            if let op = Registry.byName[name] {
                say(op.help, terminator: "")
            } else if case .function(.user(let f))? = session.global(name) {
                say("\(f.signature)\n  a function defined in this session")
            } else {
                printError(
                    "no operation named '\(name)'" + (Suggest.didYouMean(name, in: Registry.byName.keys).map { "; \($0)" } ?? "") + "\n")
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
            let body = successful.filter { !$0.hasPrefix(":") && !$0.hasPrefix("?") }.joined(separator: "\n")
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
            say(":vars  :time EXPR  :history [N]  :run FILE  :save FILE  :reset  :quit   ?NAME  ?")
        default:
            printError(
                "unknown command ':\(name)'" + (Suggest.didYouMean(name, in: REPLCommand.names).map { "; \($0)" } ?? "")
                    + " (:help lists them)\n")
        }
        return false
    }
}
