import Foundation
import Testing

/// Drives `squeeze` (the REPL) through a pseudo-terminal, as a person at a keyboard would.
final class TerminalSession {
    let master: Int32
    let pid: pid_t
    var screen = ""

    static let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static var binary: String {
        if let b = ProcessInfo.processInfo.environment["SQUEEZE_TEST_BINARY"], !b.isEmpty { return URL(fileURLWithPath: b, relativeTo: package).path }
        return [".build/debug/squeeze", ".build/x86_64-unknown-linux-gnu/debug/squeeze"].map { package.appendingPathComponent($0).path }
            .first { FileManager.default.isExecutableFile(atPath: $0) } ?? ".build/debug/squeeze"
    }

    init(histfile: String, cwd: String, extra: [String] = [], environment: [String] = []) throws {
        var size = winsize(ws_row: 40, ws_col: 100, ws_xpixel: 0, ws_ypixel: 0)
        // env -C: the working directory (posix_spawn_file_actions_addchdir_np is not exported to Swift).
        let args = ["/usr/bin/env", "-C", cwd, TerminalSession.binary, "--color", "never"] + extra
        // A clean environment, except the sanitizer settings of Scripts/test --sanitize.
        let env = ["SQUEEZE_HISTFILE=\(histfile)", "TERM=xterm", "HOME=\(cwd)", "PATH=/usr/bin:/bin"] + environment
            + ["ASAN_OPTIONS", "LSAN_OPTIONS"].compactMap { k in ProcessInfo.processInfo.environment[k].map { "\(k)=\($0)" } }
        // posix_spawn, not fork: fork runs OpenBLAS's atfork handler, which joins BLAS worker threads
        // and can hang forever when another test of this process is inside a BLAS call.
        var fd: Int32 = 0, slave: Int32 = 0
        guard openpty(&fd, &slave, nil, nil, &size) == 0, let name = ttyname(slave).map({ String(cString: $0) }) else {
            throw POSIXError(.EAGAIN)
        }
        close(slave)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // The child is a new session's leader; opening the slave makes it its controlling terminal.
        posix_spawn_file_actions_addclose(&actions, fd)
        posix_spawn_file_actions_addopen(&actions, 0, name, O_RDWR, 0)
        posix_spawn_file_actions_adddup2(&actions, 0, 1)
        posix_spawn_file_actions_adddup2(&actions, 0, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, 0x80)   // POSIX_SPAWN_SETSID (glibc), not exported to Swift
        let cargs = args.map { strdup($0) } + [nil]
        let cenv = env.map { strdup($0) } + [nil]
        defer { (cargs + cenv).forEach { free($0) } }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, cargs[0]!, &actions, &attributes, cargs, cenv)
        guard status == 0, pid > 0 else { close(fd); throw POSIXError(POSIXErrorCode(rawValue: status) ?? .EAGAIN) }
        self.pid = pid
        master = fd
        _ = try expect("squeeze> ")
    }

    func send(_ s: String) {
        _ = s.utf8CString.withUnsafeBufferPointer { write(master, $0.baseAddress, $0.count - 1) }
    }

    /// Reads until `text` appears in the output since the last match. `seconds` only guards against a
    /// hang: a busy machine may take long, and the test waits for the text, not for a time.
    @discardableResult
    func expect(_ text: String, seconds: Double = 180) throws -> String {
        let deadline = Date().addingTimeInterval(seconds)
        var buf = [UInt8](repeating: 0, count: 4096)
        while Date() < deadline {
            if let r = screen.range(of: text) {
                let before = String(screen[..<r.upperBound])
                screen = String(screen[r.upperBound...])
                return before
            }
            var p = pollfd(fd: master, events: Int16(POLLIN), revents: 0)
            if poll(&p, 1, 100) > 0 {
                let n = read(master, &buf, buf.count)
                if n <= 0 { break }
                // BEL is a sound, not text on the screen.
                screen += String(decoding: buf[0..<n], as: UTF8.self).replacingOccurrences(of: "\u{07}", with: "")
            }
        }
        throw ExpectationFailure(wanted: text, screen: screen)
    }

    struct ExpectationFailure: Error, CustomStringConvertible {
        let wanted: String
        let screen: String
        var description: String { "did not see \(wanted.debugDescription) in \(screen.debugDescription)" }
    }

    /// Waits for the session to exit (polling, up to two minutes on a busy machine; only a hang
    /// reaches the kill).
    func finish() -> Int32 {
        var status: Int32 = 0
        for _ in 0..<1200 {
            if waitpid(pid, &status, WNOHANG) == pid { close(master); return (status >> 8) & 0xFF }
            usleep(100_000)
        }
        kill(pid, SIGKILL)
        waitpid(pid, &status, 0)
        close(master)
        return -1
    }
}

@Suite(.serialized) struct TerminalSessionTests {
    let dir: URL
    let hist: String

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("squeeze-pty-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        hist = dir.appendingPathComponent("history").path
    }

    @Test func completionContinuationHelpAndInterrupt() throws {
        let t = try TerminalSession(histfile: hist, cwd: dir.path)
        t.send("x = 41\n")
        try t.expect("squeeze> ")
        // An operation name.
        t.send("trac\t(eye(3))\n")
        try t.expect("\r3\r\n")
        // A record field after the dot.
        t.send("r = svd(eye(3))\n")
        try t.expect("squeeze> ")
        t.send("shape(r.V\t)\n")
        try t.expect("[3, 3]")
        // A named argument inside a call.
        t.send("topk(tensor([3, 1, 2]), 1, lar\tfalse).values[0]\n")
        try t.expect("largest: false")
        try t.expect("\r1\r\n")
        // Continuation of a multi-line fn.
        t.send("fn f(a) {\n")
        try t.expect("...> ")
        t.send("return a * 2\n}\n")
        t.send("f(21)\n")
        try t.expect("42")
        // Help from the registry.
        t.send("?svd\n")
        try t.expect("Eckart–Young")
        // Ctrl-C during a long computation returns to a working prompt, state intact.
        t.send("print(\"spinning\"); while true { y = 1 }\n")
        try t.expect("spinning\r\n")   // printed (not the echoed input): the loop runs, Ctrl-C lands in it
        t.send("\u{03}")
        try t.expect("interrupted")
        t.send("x + 1\n")
        try t.expect("42")
        t.send(":quit\n")
        #expect(t.finish() == 0)
    }

    @Test func historySurvivesARestartAndSaveMakesARecipe() throws {
        let first = try TerminalSession(histfile: hist, cwd: dir.path)
        first.send("a = 6\n")
        try first.expect("squeeze> ")
        first.send("print(\"answer\", a * 7)\n")
        try first.expect("answer 42")
        first.send(":save session.recipe\n")
        try first.expect("saved 2 inputs")
        try first.expect("squeeze> ")
        first.send("\u{04}")   // Ctrl-D
        #expect(first.finish() == 0)

        let second = try TerminalSession(histfile: hist, cwd: dir.path)
        second.send("\u{1B}[A\u{1B}[A\n")   // Up twice: the print line from the last session
        try second.expect("answer")
        second.send(":quit\n")
        _ = second.finish()

        let p = Process()
        p.executableURL = URL(fileURLWithPath: TerminalSession.binary)
        p.arguments = ["run", dir.appendingPathComponent("session.recipe").path]
        p.currentDirectoryURL = dir
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        p.waitUntilExit()
        #expect(String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self) == "answer 42\n")
    }

    /// Issue 27.6: a session that reads `_` and `:run`s a file saves a recipe that runs and prints
    /// the session's values.
    @Test func savedSessionWithLastValueAndRunRoundTrips() throws {
        try "b = 10\nc = b * 2\n".write(to: dir.appendingPathComponent("two.recipe"), atomically: true, encoding: .utf8)
        let t = try TerminalSession(histfile: hist, cwd: dir.path)
        for (input, shown) in [("x = 3", "squeeze> "), ("x * 7", "21"), (":run two.recipe", "squeeze> "), ("y = _ + c", "squeeze> "),
                               ("print(\"y is\", y)", "y is 41"), (":save saved.recipe", "saved")] {
            t.send(input + "\n")
            try t.expect(shown)
        }
        try t.expect("squeeze> ")
        t.send(":quit\n")
        #expect(t.finish() == 0)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: TerminalSession.binary)
        p.arguments = ["run", dir.appendingPathComponent("saved.recipe").path, "--no-history"]
        p.currentDirectoryURL = dir
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let error = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "\(error)")
        #expect(text == "y is 41\n")
    }

    /// Issue 27.5 and 27.13: `?` lists families, `?family` its operations, `??word` searches, `?name`
    /// works on variables, `help` alone is `?`; `:timeit` repeats and reports mean ± std.
    @Test func helpLevelsAndTimeit() throws {
        let t = try TerminalSession(histfile: hist, cwd: dir.path)
        for (input, shown) in [("?", "Operations by family"), ("?clustering", "kmeans"), ("??hungarian", "accuracy"),
                               ("x = randn(3, 4, seed: 1)", "squeeze> "), ("?x", "x: tensor 3×4 f32"), ("help", "Operations by family"),
                               ("help quantize", "For method: \"gptq\":"), ("?nosuchthing", "no operation, family or variable named"),
                               (":timeit sum(randn(100))", "per run (mean ± std. dev. of")] {
            t.send(input + "\n")
            try t.expect(shown)
            if shown != "squeeze> " { try t.expect("squeeze> ") }
        }
        t.send(":quit\n")
        #expect(t.finish() == 0)
    }

    /// Issue 27.7: file names complete in subdirectories, names with dots stay whole, and a
    /// directory's listing is its own, not the working directory's.
    @Test func fileNamesCompleteInSubdirectories() throws {
        let data = dir.appendingPathComponent("data")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        for name in ["my_weights.npy", "other.csv"] { try Data().write(to: data.appendingPathComponent(name)) }
        let t = try TerminalSession(histfile: hist, cwd: dir.path)
        t.send("p = \"data/my\t")
        try t.expect("my_weights.npy")
        t.send("\u{15}")   // Ctrl-U: clear the line
        t.send("p = \"data/my_weights.n\t")
        try t.expect("my_weights.npy")
        t.send("\u{15}")
        t.send("p = \"da\t")
        try t.expect("data/")
        t.send("\t\t")   // the second Tab lists data/, not the working directory
        let listing = try t.expect("other.csv")
        #expect(!listing.contains("history"))
        t.send("\u{15}:quit\n")
        #expect(t.finish() == 0)
    }

    /// Issue 27.1: every exported cell carries its own printed output, its displayed value (as an
    /// execute_result), its error and its plots, also after `:run` and errors.
    @Test func exportedSessionCellsCarryTheirOwnOutputs() throws {
        try "a = 10\nb = a * 2\n".write(to: dir.appendingPathComponent("two.recipe"), atomically: true, encoding: .utf8)
        let history = dir.appendingPathComponent("h.db").path
        let t = try TerminalSession(histfile: hist, cwd: dir.path, extra: ["--history", history])
        for (input, shown) in [("x = 1", "squeeze> "), ("print(\"before\", x)", "before 1"), (":run two.recipe", "squeeze> "),
                               ("y = x + b", "squeeze> "), ("print(\"after\", y)", "after 21"), ("y", "21"),
                               ("z = undefined_name", "unknown name"), ("plot.line([1, 2, 3], to: \"p.png\")", "squeeze> ")] {
            t.send(input + "\n")
            try t.expect(shown)
            if shown != "squeeze> " { try t.expect("squeeze> ") }
        }
        t.send(":quit\n")
        #expect(t.finish() == 0)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: TerminalSession.binary)
        p.arguments = ["export", "last", "--format", "ipynb", "-o", "s.ipynb", "--history", history]
        p.currentDirectoryURL = dir
        try p.run()
        p.waitUntilExit()
        let nb = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("s.ipynb"))) as? [String: Any]
        let cells = (nb?["cells"] as? [[String: Any]] ?? []).filter { $0["cell_type"] as? String == "code" }
        func outputs(_ i: Int) -> [[String: Any]] { cells.count > i ? cells[i]["outputs"] as? [[String: Any]] ?? [] : [] }
        func texts(_ i: Int) -> [String] {
            outputs(i).map { o in
                let t = (o["text"] as? [String]) ?? ((o["data"] as? [String: Any])?["text/plain"] as? [String]) ?? []
                return "\(o["output_type"] as? String ?? ""): \(t.joined())"
            }
        }
        #expect(cells.map { ($0["source"] as? [String] ?? []).joined() } == [
            "x = 1", "print(\"before\", x)", "a = 10\nb = a * 2", "y = x + b", "print(\"after\", y)", "y", "z = undefined_name",
            "plot.line([1, 2, 3], to: \"p.png\")",
        ])
        #expect(texts(0) == [] && texts(1) == ["stream: before 1\n"] && texts(2) == [] && texts(3) == [])
        #expect(texts(4) == ["stream: after 21\n"])
        #expect(texts(5) == ["execute_result: 21"])
        #expect(outputs(6).map { $0["output_type"] as? String } == ["error"])
        #expect(outputs(7).map { $0["output_type"] as? String } == ["display_data", "execute_result"])
    }

    /// Issue 27.12: long work shows one redrawn progress line on the terminal (a recipe's own loop
    /// through progress(), and an operation: k-means), erased at the end; --quiet shows none.
    @Test func longWorkShowsProgressUnlessQuiet() throws {
        let loop = "for i in progress(range(40), label: \"steps\") { s = svd(randn(300, 300)) }\n"
        // The line shows only after a second of work; the test asks for it at once, so it does not
        // depend on how fast this machine runs the loop (on a quick one it took under a second).
        let now = ["SQUEEZE_PROGRESS_AFTER=0"]
        let t = try TerminalSession(histfile: hist, cwd: dir.path, extra: ["--no-history"], environment: now)
        t.send(loop)
        try t.expect("\u{1B}[Ksteps  ")
        try t.expect("% ")
        try t.expect("\r\u{1B}[K")   // erased
        try t.expect("squeeze> ")
        t.send("c = kmeans(randn(50000, 16, seed: 1), 256, iters: 5, seed: 0)\n")
        try t.expect("\u{1B}[Kkmeans  ")
        try t.expect("squeeze> ")
        t.send(":quit\n")
        #expect(t.finish() == 0)
        let quiet = try TerminalSession(histfile: hist, cwd: dir.path, extra: ["--no-history", "--quiet"], environment: now)
        quiet.send(loop)
        let shown = try quiet.expect("squeeze> ")
        #expect(!shown.contains("steps  "), "\(shown)")
        quiet.send(":quit\n")
        #expect(quiet.finish() == 0)
    }

    /// A REPL session is a run of kind `repl`, one cell per input, and replays exactly.
    @Test func sessionsAreRecordedAndReplay() throws {
        let t = try TerminalSession(histfile: hist, cwd: dir.path)
        t.send("a = randn([4])\n")
        try t.expect("squeeze> ")
        t.send("log(total: sum(a))\n")
        try t.expect("total = ")
        t.send("b = missing_name\n")
        try t.expect("unknown name")
        t.send(":quit\n")
        _ = t.finish()
        func squeeze(_ args: [String]) throws -> (Int32, String) {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: TerminalSession.binary)
            p.arguments = args
            p.currentDirectoryURL = dir
            let out = Pipe()
            p.standardOutput = out
            p.standardError = FileHandle.nullDevice
            try p.run()
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            return (p.terminationStatus, text)
        }
        let (_, json) = try squeeze(["export", "last", "--format", "json"])
        let run = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        #expect(run?["kind"] as? String == "repl" && run?["status"] as? String == "completed")
        #expect(run?["source"] as? String == "# %% In [1]\na = randn([4])\n# %% In [2]\nlog(total: sum(a))\n# %% In [3]\nb = missing_name\n")
        #expect((run?["statements"] as? [[String: Any]])?.map { $0["status"] as? String } == ["completed", "completed", "failed"])
        let (status, replay) = try squeeze(["replay", "last"])
        #expect(status == 0 && replay.contains("reproduced: 1/1 metric, 0/0 artifacts"), "\(replay)")
    }

    @Test func pipedStdinRunsAsARecipe() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: TerminalSession.binary)
        p.currentDirectoryURL = FileManager.default.temporaryDirectory
        p.arguments = ["--no-history"]
        let input = Pipe(), out = Pipe(), err = Pipe()
        p.standardInput = input
        p.standardOutput = out
        p.standardError = err
        try p.run()
        input.fileHandleForWriting.write(Data("print(1 + 1)\nx = undefined_name\n".utf8))
        try input.fileHandleForWriting.close()
        p.waitUntilExit()
        #expect(String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self) == "2\n")
        #expect(p.terminationStatus == 70)
        #expect(String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).hasPrefix("<stdin>:2:5: error: unknown name"))
    }
}
