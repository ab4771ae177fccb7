import Foundation
import SqueezeCore
import Testing

/// The `squeeze` executable as a user runs it: exit codes, diagnostics on stderr, parameters.
enum CLI {
    static let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The debug binary, or $SQUEEZE_TEST_BINARY (Scripts/test --sanitize points it at the sanitized build).
    static var binary: URL {
        if let b = ProcessInfo.processInfo.environment["SQUEEZE_TEST_BINARY"], !b.isEmpty { return URL(fileURLWithPath: b, relativeTo: package) }
        let candidates = [".build/debug/squeeze", ".build/x86_64-unknown-linux-gnu/debug/squeeze"]
        return candidates.map { package.appendingPathComponent($0) }.first { FileManager.default.isExecutableFile(atPath: $0.path) }
            ?? package.appendingPathComponent(candidates[0])
    }

    struct Result { let status: Int32; let stdout: String; let stderr: String }

    static func run(_ args: [String], recipe: String? = nil, stdin: String? = nil) throws -> Result {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("squeeze-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var arguments = args
        if let recipe {
            let file = dir.appendingPathComponent("r.recipe")
            try recipe.write(to: file, atomically: true, encoding: .utf8)
            arguments = arguments.map { $0 == "RECIPE" ? file.path : $0 }
        }
        let r = try exec(arguments, in: dir, stdin: stdin)
        return Result(status: r.status, stdout: r.stdout, stderr: r.stderr.replacingOccurrences(of: dir.path + "/", with: ""))
    }

    /// Runs the binary to its end. Standard error is drained on its own thread while standard output
    /// is read, so neither pipe can fill and block the child, however much it writes.
    static func exec(_ arguments: [String], in dir: URL, environment: [String: String]? = nil, stdin: String? = nil) throws -> Result {
        let p = Process()
        p.executableURL = binary
        p.arguments = arguments
        p.currentDirectoryURL = dir
        if let environment { p.environment = environment }
        let out = Pipe(), err = Pipe(), input = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = input
        try p.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try? input.fileHandleForWriting.close()
        nonisolated(unsafe) var e = Data()
        let drained = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            e = err.fileHandleForReading.readDataToEndOfFile()
            drained.signal()
        }
        let o = out.fileHandleForReading.readDataToEndOfFile()
        drained.wait()
        p.waitUntilExit()
        return Result(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }
}

@Suite struct CommandLineTests {
    @Test func runsARecipeAndExitsZero() throws {
        let r = try CLI.run(["run", "RECIPE"], recipe: "print(1 + 1)\n")
        #expect(r.status == 0 && r.stdout == "2\n" && r.stderr == "")
    }

    @Test func syntaxErrorsAreAllReportedWithExit65() throws {
        let r = try CLI.run(["run", "RECIPE"], recipe: "x = 1 +* 2\ny = 2\nz = [1,, 2]\nprint(\"never\")\n")
        #expect(r.status == 65)
        #expect(r.stdout == "")
        #expect(r.stderr.contains("r.recipe:1:8: syntax error: expected an expression, found '*'"))
        #expect(r.stderr.contains("r.recipe:3:8: syntax error: expected an expression, found ','"))
        #expect(r.stderr.hasSuffix("2 syntax errors; nothing was run\n"))
    }

    @Test func runtimeErrorRendersSourceLineCaretAndExit70() throws {
        let r = try CLI.run(["run", "RECIPE"], recipe: "A = ones(2, 3)\nB = A @ ones(2, 3)\n")
        #expect(r.status == 70)
        #expect(r.stderr == """
            r.recipe:2:5: error: shape mismatch in matrix product '@': 2×3 and 2×3
             2 | B = A @ ones(2, 3)
               |     ^~~~~~~~~~~~~~
              help: the inner dimensions must agree; transpose one side with .T?

            """)
    }

    @Test func didYouMeanAndCallTrace() throws {
        let r = try CLI.run(["run", "RECIPE"], recipe: "fn f(x) { return x + undefined_nme }\nundefined_name = 1\nf(2)\n")
        #expect(r.status == 70)
        #expect(r.stderr.contains("error: unknown name 'undefined_nme'"))
        #expect(r.stderr.contains("help: did you mean 'undefined_name'?"))
        #expect(r.stderr.contains("in f called at r.recipe:3:1"))
    }

    @Test func plotsSkipNaNPointsWithAWarningAndRecordTheFile() throws {
        let r = try CLI.run(["run", "RECIPE"], recipe: "nan = 0 * ones(1) / 0\np = plot.line([1, 2, 3], concat([ones(1), nan, ones(1)]), to: \"n.png\")\nprint(p)\n")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "n.png\n")
        #expect(r.stderr == "warning: plot.line: skipped 1 NaN or infinite value\n")
    }

    @Test func maxMemoryBoundsEveryResult() throws {
        let r = try CLI.run(["run", "RECIPE", "--max-memory", "64M"], recipe: "x = zeros(10000, 10000)\n")
        #expect(r.status == 70)
        #expect(r.stderr.contains("needs 381.5 MiB, above the memory budget of 64.0 MiB"), "\(r.stderr)")
        let bad = try CLI.run(["run", "RECIPE", "--max-memory=lots"], recipe: "x = 1\n")
        #expect(bad.status == 64 && bad.stderr.contains("expected a size such as 512M"))
        #expect(Memory.parse("2G") == 2 << 30 && Memory.parse("512m") == 512 << 20 && Memory.parse("1.5k") == 1536 && Memory.parse("10") == 10)
        #expect(Memory.parse("0") == nil && Memory.parse("-3G") == nil)
    }

    @Test func parametersOverrideDefaults() throws {
        let recipe = "param k = 5\nparam method = \"kmeans\"\nprint(k * 2, method)\n"
        #expect(try CLI.run(["run", "RECIPE"], recipe: recipe).stdout == "10 kmeans\n")
        #expect(try CLI.run(["run", "RECIPE", "-p", "k=8", "-p", "method=mlc"], recipe: recipe).stdout == "16 mlc\n")
        #expect(try CLI.run(["run", "RECIPE", "-p", "k=-1"], recipe: recipe).stdout == "-2 kmeans\n")
        let unknown = try CLI.run(["run", "RECIPE", "-p", "kk=3"], recipe: recipe)
        #expect(unknown.status == 64 && unknown.stderr.contains("no parameter 'kk'; did you mean 'k'?"))
        let wrongType = try CLI.run(["run", "RECIPE", "-p", "k=abc"], recipe: recipe)
        #expect(wrongType.status == 70 && wrongType.stderr.contains("parameter 'k' has a number default (5), but -p k= gives a string"))
        let malformed = try CLI.run(["run", "RECIPE", "-p", "k"], recipe: recipe)
        #expect(malformed.status == 64)
    }

    @Test func seedMakesRunsReproducible() throws {
        let recipe = "print(sum(randn(3, 3)))\n"
        let a = try CLI.run(["run", "RECIPE", "--seed", "7"], recipe: recipe).stdout
        let b = try CLI.run(["run", "RECIPE", "--seed", "7"], recipe: recipe).stdout
        let c = try CLI.run(["run", "RECIPE", "--seed", "8"], recipe: recipe).stdout
        #expect(a == b && a != c && !a.isEmpty)
    }

    @Test func usageErrorsExit64() throws {
        #expect(try CLI.run(["run", "/nonexistent/x.recipe"]).status == 64)
        #expect(try CLI.run(["frobnicate"]).status == 64)
        #expect(try CLI.run(["help", "svdd"]).stderr.contains("did you mean 'svd'?"))
    }

    @Test func versionAndHelpComeFromTheRegistry() throws {
        let v = try CLI.run(["--version"])
        #expect(v.status == 0 && v.stdout.contains("squeeze 0.1.0") && v.stdout.contains("OpenBLAS") && v.stdout.contains("Swift 6"))
        let h = try CLI.run(["help"])
        #expect(h.stdout.contains("linear algebra:") && h.stdout.contains("  svd "))
        let svd = try CLI.run(["help", "svd"])
        #expect(svd.stdout.hasPrefix("svd(A, rank = none)") && svd.stdout.contains("Eckart–Young"))
    }

    @Test func outputGoesUnderOut() throws {
        let outDir = FileManager.default.temporaryDirectory.appendingPathComponent("squeeze-out-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: outDir) }
        let r = try CLI.run(["run", "RECIPE", "--out", outDir.path], recipe: "save(eye(2), \"I.npy\")\n")
        #expect(r.status == 0)
        #expect(FileManager.default.fileExists(atPath: outDir.appendingPathComponent("I.npy").path))
    }
}

@Suite struct InterruptTests {
    @Test func ctrlCStopsARunWithExit130() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("squeeze-int-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("spin.recipe")
        // "started" is printed by the statement before the loop: once it is seen, an interrupt can
        // only land in the loop (or at its start), whatever the machine's load.
        try "fn f(n) { return f(n) }\nprint(\"started\")\nwhile true { x = 1 }\n".write(to: file, atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = CLI.binary
        p.arguments = ["run", file.path]
        p.currentDirectoryURL = dir
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        // Wait until the recipe is running, then interrupt it.
        _ = out.fileHandleForReading.availableData
        kill(p.processIdentifier, SIGINT)
        p.waitUntilExit()
        let e = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(p.terminationStatus == 130)
        #expect(e.contains("interrupted"))
        // The history records the run as interrupted, with the statement that was running.
        let q = Process()
        q.executableURL = CLI.binary
        q.arguments = ["export", "last", "--format", "json"]
        q.currentDirectoryURL = dir
        let qout = Pipe()
        q.standardOutput = qout
        try q.run()
        let run = try JSONSerialization.jsonObject(with: qout.fileHandleForReading.readDataToEndOfFile()) as? [String: Any]
        q.waitUntilExit()
        #expect(run?["status"] as? String == "interrupted")
        #expect((run?["statements"] as? [[String: Any]])?.map { $0["status"] as? String } == ["completed", "completed", "interrupted"])
    }

    /// Issue 27.11: a second Ctrl-C within a second ends the process at once, inside an operation
    /// that cannot stop (one LAPACK call), and the run is recorded as interrupted, not crashed.
    @Test func aDoubleInterruptIsRecordedAsInterrupted() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("squeeze-int2-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("hard.recipe")
        // One statement: once "started" is out, the next check of the token is after the SVD.
        try "fn go() {\n  print(\"started\")\n  return svd(randn(3000, 3000, seed: 1))\n}\ns = go()\n"
            .write(to: file, atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = CLI.binary
        p.arguments = ["run", file.path]
        p.currentDirectoryURL = dir
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        _ = out.fileHandleForReading.availableData   // "started": the SVD is next
        // Signals sent back to back merge into one: repeat every 100 ms until the process is gone.
        for _ in 0..<600 where p.isRunning {
            kill(p.processIdentifier, SIGINT)
            usleep(100_000)
        }
        p.waitUntilExit()
        #expect(p.terminationStatus == 130)
        let r = try CLI.exec(["export", "last", "--format", "json"], in: dir)
        let run = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        #expect(run?["status"] as? String == "interrupted", "\(r.stdout)")
        #expect((run?["error"] as? String)?.contains("second Ctrl-C") == true)
    }

    /// Issue 27.12: with standard error not a terminal, no progress line is written.
    @Test func noProgressWhenStandardErrorIsNotATerminal() throws {
        let r = try CLI.run(
            ["run", "RECIPE", "--no-history"], recipe: "for i in progress(range(30), label: \"steps\") { s = svd(randn(300, 300)) }\n")
        #expect(r.status == 0)
        #expect(r.stderr.isEmpty, "\(r.stderr)")
    }
}
