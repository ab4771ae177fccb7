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

    /// Runs a Python snippet with the test venv's interpreter (pandas, nbformat); nil when Scripts/test
    /// did not provide one.
    static func python(_ code: String, _ args: [String], in dir: URL) throws -> CLI.Result? {
        guard let python = ProcessInfo.processInfo.environment["SQUEEZE_TEST_PYTHON"] else {
            print("note: SQUEEZE_TEST_PYTHON is not set (Scripts/test sets it); pandas checks skipped")
            return nil
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = ["-c", code] + args
        p.currentDirectoryURL = dir
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let e = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return CLI.Result(status: p.terminationStatus, stdout: o, stderr: e)
    }

    /// 3 and 14. `runs` shows each run's kind and filters by it; replays stay out of aggregates; CSV
    /// and JSON are tidy (one row per run, param.* and metric.* columns, seed, started, duration,
    /// numeric aggregates), as pandas reads them.
    @Test func runsAreTidyAndReplaysAreNotExperiments() throws {
        let ws = try Workspace()
        // A parameter and a metric that share a name, and a second metric.
        try ws.write("sweep.recipe", "param rank = 2\nlog(rank: rank * 10, error: 1 / rank)\n")
        for (rank, seed) in [(2, 1), (2, 2), (4, 3)] {
            #expect(try ws.run("run", "sweep.recipe", "-p", "rank=\(rank)", "--seed", "\(seed)").status == 0)
        }
        #expect(try ws.run("replay", "1").status == 0)
        #expect(try ws.run("replay", "3").status == 0)
        let table = try ws.run("runs")
        #expect(table.stdout.split(separator: "\n").first?.contains("kind") == true)
        #expect(table.stdout.contains("replay"))
        #expect(try ws.runsJSON(["--kind", "replay"]).map { $0["id"] as? Int } == [4, 5])
        #expect(try ws.runsJSON(["--kind", "script"]).count == 3)
        let grouped = try ws.run("runs", "--group-by", "rank", "--format", "json")
        let groups = try JSONSerialization.jsonObject(with: Data(grouped.stdout.utf8)) as? [[String: Any]] ?? []
        #expect(groups.map { $0["runs"] as? Int } == [2, 1], "replays are not counted: \(grouped.stdout)")
        let withReplays = try ws.run("runs", "--group-by", "rank", "--kind", "script,replay", "--format", "json")
        let all = try JSONSerialization.jsonObject(with: Data(withReplays.stdout.utf8)) as? [[String: Any]] ?? []
        #expect(all.map { $0["runs"] as? Int } == [3, 2])
        let first = try #require(try ws.runsJSON().first)
        #expect(first["param.rank"] as? Int == 2 && first["metric.rank"] as? Int == 20 && first["metric.error"] as? Double == 0.5)
        #expect(first["seed"] as? Int == 1 && first["kind"] as? String == "script" && first["started"] is String)

        try ws.run("runs", "--format", "csv").stdout.write(to: ws.dir.appendingPathComponent("runs.csv"), atomically: true, encoding: .utf8)
        try ws.run("runs", "--group-by", "rank", "--format", "csv").stdout
            .write(to: ws.dir.appendingPathComponent("groups.csv"), atomically: true, encoding: .utf8)
        let check = """
            import sys, pandas as pd
            runs = pd.read_csv("runs.csv")
            assert list(runs.columns) == ["id", "kind", "status", "recipe", "seed", "started", "duration", "replay_of",
                                          "param.rank", "metric.rank", "metric.error"], list(runs.columns)
            assert len(runs) == 5 and list(runs["kind"]) == ["script"] * 3 + ["replay"] * 2
            for c in ["seed", "duration", "param.rank", "metric.rank", "metric.error"]:
                assert pd.api.types.is_numeric_dtype(runs[c]), (c, runs[c].dtype)
            assert list(runs["metric.rank"]) == [20, 20, 40, 20, 40]
            pd.to_datetime(runs["started"])
            groups = pd.read_csv("groups.csv")
            assert list(groups.columns) == ["param.rank", "runs", "metric.rank.mean", "metric.rank.std",
                                            "metric.error.mean", "metric.error.std"], list(groups.columns)
            assert list(groups["runs"]) == [2, 1]
            assert all(pd.api.types.is_numeric_dtype(groups[c]) for c in groups.columns)
            assert groups["metric.error.mean"][0] == 0.5 and groups["metric.rank.std"][0] == 0
            print("tidy")
            """
        guard let r = try Self.python(check, [], in: ws.dir) else { return }
        #expect(r.status == 0 && r.stdout == "tidy\n", "\(r.stderr)")
    }
}
