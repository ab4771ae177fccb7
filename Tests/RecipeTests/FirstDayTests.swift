import Foundation
import Testing

/// What a new user hit on the first day (issue 27), each reproduced as it was reported.
@Suite struct FirstDayTests {
    /// 4. `show -1`, `diff -1 -2`, `replay -1` and `export -1` take -N as the N-th newest run.
    @Test func negativeRunReferencesAreRunsNotFlags() throws {
        let ws = try Workspace()
        try ws.write("a.recipe", "param k = 1\nlog(v: k)\n")
        try ws.run("run", "a.recipe", "-p", "k=1")
        try ws.run("run", "a.recipe", "-p", "k=2")
        let show = try ws.run("show", "-1")
        #expect(show.status == 0, "\(show.stderr)")
        #expect(show.stdout.hasPrefix("run 2 "))
        let diff = try ws.run("diff", "-1", "-2")
        #expect(diff.status == 0, "\(diff.stderr)")
        #expect(diff.stdout.contains("--- run 2") && diff.stdout.contains("+++ run 1"))
        let replay = try ws.run("replay", "-2")
        #expect(replay.status == 0, "\(replay.stderr)")
        #expect(replay.stdout.contains("of run 1"))
        let export = try ws.run("export", "-1", "--format", "json")
        #expect(export.status == 0 && export.stdout.contains("\"id\""), "\(export.stderr)")
    }

    /// 9. Piped input: `:quit` ends it, other `:` commands are refused clearly; the REPL takes
    /// --out and --allow-write as `run` does.
    @Test func pipedInputAndTheREPLsWriteOptions() throws {
        let ws = try Workspace()
        let quit = try ws.run(["--no-history"], stdin: ":quit\n")
        #expect(quit.status == 0, "\(quit.stderr)")
        let partial = try ws.run(["--no-history"], stdin: "print(1 + 1)\n:quit\nprint(3)\n")
        #expect(partial.status == 0 && partial.stdout == "2\n", "\(partial.stderr)")
        let vars = try ws.run(["--no-history"], stdin: "x = 1\n:vars\n")
        #expect(vars.status == 64)
        #expect(vars.stderr.contains("<stdin>:2: ':vars' is a REPL command"))
        let elsewhere = FileManager.default.temporaryDirectory.appendingPathComponent("squeeze-allow-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: elsewhere, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: elsewhere) }
        let target = elsewhere.appendingPathComponent("a.npy").path
        let refused = try ws.run(["--no-history"], stdin: "save(tensor([1]), \"\(target)\")\n")
        #expect(refused.status == 70 && refused.stderr.contains("use --out or --allow-write"))
        let allowed = try ws.run(["--no-history", "--allow-write", elsewhere.path], stdin: "save(tensor([1]), \"\(target)\")\n")
        #expect(allowed.status == 0, "\(allowed.stderr)")
        #expect(FileManager.default.fileExists(atPath: target))
        let out = try ws.run(["--no-history", "--out", "results"], stdin: "save(tensor([1]), \"b.npy\")\n")
        #expect(out.status == 0, "\(out.stderr)")
        #expect(FileManager.default.fileExists(atPath: ws.dir.appendingPathComponent("results/b.npy").path))
    }
}
