import Foundation
import Testing

/// A working directory in which several `squeeze` commands run, sharing its `.squeeze/history.db`.
final class Workspace {
    let dir: URL
    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("squeeze-ws-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: dir) }

    func write(_ name: String, _ text: String) throws {
        try text.write(to: dir.appendingPathComponent(name), atomically: true, encoding: .utf8)
    }

    func process(_ args: [String]) -> (Process, Pipe, Pipe) {
        let p = Process()
        p.executableURL = CLI.binary
        p.arguments = args
        p.currentDirectoryURL = dir
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "SQUEEZE_HISTORY")
        p.environment = env
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        return (p, out, err)
    }

    @discardableResult
    func run(_ args: String...) throws -> CLI.Result { try run(args) }

    func run(_ args: [String], stdin: String? = nil) throws -> CLI.Result {
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "SQUEEZE_HISTORY")
        return try CLI.exec(args, in: dir, environment: env, stdin: stdin)
    }

    /// `squeeze runs --format json`, parsed.
    func runsJSON(_ extra: [String] = []) throws -> [[String: Any]] {
        let r = try run(["runs", "--format", "json"] + extra)
        #expect(r.status == 0, "\(r.stderr)")
        return (try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]]) ?? []
    }

    func exportJSON(_ id: String) throws -> [String: Any] {
        let r = try run("export", id, "--format", "json")
        // Before the run's row exists export prints nothing: that is "no run yet", not an error
        // (a poll that threw here failed the killed-run test on a busy machine, issue 27.17).
        return ((try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8))) as? [String: Any]) ?? [:]
    }
}

let sweepRecipe = """
# %% data
param k = 4
param noise = 0.1
X = randn([200, 8]) * noise
print("k =", k)
# %% score
for i in range(3) {
  log(loss: mean(X * X) + 1 / (i + k), step: i)
}
log(accuracy: 0.5 + k / 20)
save(X, "x.npy")
"""

@Suite(.serialized) struct HistoryCommandTests {
    @Test func twoRunsAreListedShownAndDiffed() throws {
        let ws = try Workspace()
        try ws.write("sweep.recipe", sweepRecipe)
        #expect(try ws.run("run", "sweep.recipe", "--seed", "1").status == 0)
        #expect(try ws.run("run", "sweep.recipe", "--seed", "1", "-p", "k=8").status == 0)

        let table = try ws.run("runs")
        let lines = table.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("id  when") == true)
        #expect(lines.first?.hasSuffix("duration  k      loss  accuracy") == true, "\(table.stdout)")
        #expect(lines.count == 4)
        #expect(lines[2].hasPrefix(" 1  ") && lines[2].contains("sweep.recipe  script  completed") && lines[2].hasSuffix("     0.7"), "\(table.stdout)")
        #expect(lines[3].hasPrefix(" 2  ") && lines[3].hasSuffix("     0.9"))

        let json = try ws.runsJSON()
        #expect(json.map { $0["id"] as? Int } == [1, 2])
        #expect(json.map { $0["param.k"] as? Int } == [4, 8])
        #expect(json.map { $0["metric.accuracy"] as? Double } == [0.7, 0.9])
        #expect(json.allSatisfy { $0["status"] as? String == "completed" && ($0["recipe"] as? String)?.hasSuffix("sweep.recipe") == true })

        let filtered = try ws.runsJSON(["--where", "accuracy > 0.8 and k == 8"])
        #expect(filtered.map { $0["id"] as? Int } == [2])
        #expect(try ws.runsJSON(["--where", "k == 4 or noise > 1"]).map { $0["id"] as? Int } == [1])

        let show = try ws.run("show", "2")
        #expect(show.status == 0)
        #expect(show.stdout.contains("run 2 · script · "))
        #expect(show.stdout.contains("  k          8        4  -p\n  noise    0.1      0.1  default\n"), "\(show.stdout)")
        #expect(show.stdout.contains("loss by step: 0: "))
        #expect(show.stdout.contains("x.npy"))
        #expect(show.stdout.contains("   1  # %% data"))

        let diff = try ws.run("diff", "1", "2")
        #expect(diff.status == 0)
        #expect(diff.stdout.contains("  k         4  8 (-p)\n"), "\(diff.stdout)")
        #expect(diff.stdout.contains("accuracy"))
        #expect(!diff.stdout.contains("noise"))     // equal parameters are left out
        #expect(!diff.stdout.contains("source:"))   // same source
        #expect(!diff.stdout.contains("seed"))      // same seed
        #expect(try ws.run("diff", "1", "2", "--all").stdout.contains("noise"))

        let csv = try ws.run("runs", "--format", "csv", "--sort", "-accuracy")
        #expect(csv.stdout.split(separator: "\n").dropFirst().first?.hasPrefix("2,") == true)

        let missing = try ws.run("show", "7")
        #expect(missing.status == 64 && missing.stderr.contains("no run '7' in the history"))
        let typo = try ws.run("runs", "--where", "acuracy > 1")
        #expect(typo.status == 64 && typo.stderr.contains("did you mean 'accuracy'?"))
    }

    @Test func groupByAggregatesThreeSeeds() throws {
        let ws = try Workspace()
        try ws.write("sweep.recipe", sweepRecipe)
        for seed in 1...3 { #expect(try ws.run("run", "sweep.recipe", "--seed", "\(seed)", "-p", "noise=2").status == 0) }
        #expect(try ws.run("run", "sweep.recipe", "--seed", "9", "-p", "k=8").status == 0)
        let r = try ws.run("runs", "--group-by", "k", "--agg", "mean,std,min,max", "--format", "json")
        let groups = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]] ?? []
        #expect(groups.count == 2)
        #expect(groups.map { $0["runs"] as? Int } == [3, 1])
        let losses = try ws.runsJSON(["--where", "k == 4"]).compactMap { $0["metric.loss"] as? Double }
        #expect(losses.count == 3 && Set(losses).count == 3)   // three seeds, three values
        let mean = losses.reduce(0, +) / 3
        let std = (losses.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 2).squareRoot()
        let first = groups.first ?? [:]
        #expect(abs((first["metric.loss.mean"] as? Double ?? 0) - mean) < 1e-12 * abs(mean))
        #expect(abs((first["metric.loss.std"] as? Double ?? 0) - std) < 1e-9 * std)
        #expect(first["metric.loss.min"] as? Double == losses.min() && first["metric.loss.max"] as? Double == losses.max())
        let table = try ws.run("runs", "--group-by", "k")
        #expect(table.stdout.contains(" ± "), "\(table.stdout)")
    }

    @Test func replayReproducesExactlyFromTheRecordedSource() throws {
        let ws = try Workspace()
        try ws.write("sweep.recipe", sweepRecipe)
        #expect(try ws.run("run", "sweep.recipe", "-p", "k=6").status == 0)   // seed drawn and recorded
        // Edit the recipe on disk: the replay must still use what ran.
        try ws.write("sweep.recipe", "print(\"edited\")\nlog(accuracy: 0)\n")
        let r = try ws.run("replay", "1")
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("reproduced: 4/4 metrics, 1/1 artifact"), "\(r.stdout)")
        #expect(!r.stdout.contains("edited"))
        let runs = try ws.runsJSON()
        #expect(runs.count == 2)
        #expect(runs[1]["kind"] as? String == "replay" && runs[1]["replay_of"] as? Int == 1)
        #expect(runs[0]["seed"] as? Int == runs[1]["seed"] as? Int)
        #expect(runs[1]["param.k"] as? Int == 6)
        // A replay of the replay is also exact.
        #expect(try ws.run("replay", "last").status == 0)
    }

    /// The acceptance case: randomness, k-means and a plot, replayed exactly (metrics and PNG bytes).
    @Test func replayOfKMeansAndAPlotIsExact() throws {
        let ws = try Workspace()
        try ws.write("cluster.recipe", """
            param k = 3
            X = concat([randn(100, 2), randn(100, 2) + 5, randn(100, 2) - 5])
            r = kmeans(X, k: k, n_init: 3)
            log(inertia: r.inertia, iterations: r.iterations)
            plot.scatter(X, color: r.labels, title: "k-means", to: "clusters.png")
            save(r.centroids, "centroids.npy")
            """)
        #expect(try ws.run("run", "cluster.recipe").status == 0)
        let r = try ws.run("replay", "last")
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("reproduced: 2/2 metrics, 2/2 artifacts"), "\(r.stdout)")
        // The export embeds the plot.
        let nb = try ws.run("export", "1", "--format", "ipynb")
        #expect(nb.stdout.contains("\"image/png\" : \"iVBORw0KGgo"))
    }

    @Test func aKilledRunIsRecordedAsCrashedWithItsFinishedStatements() throws {
        let ws = try Workspace()
        try ws.write("long.recipe", "x = 1\nlog(a: 1)\nprint(\"started\")\nwhile true { x = x + 1 }\n")
        let (p, _, _) = ws.process(["run", "long.recipe"])
        try p.run()
        // Wait until the first three statements are committed (polling; the deadline only guards
        // against a hang, so a busy machine just takes longer).
        var recorded = 0
        let deadline = Date().addingTimeInterval(180)
        while Date() < deadline {
            Thread.sleep(forTimeInterval: 0.05)
            let run = try ws.exportJSON("last")
            recorded = (run["statements"] as? [Any])?.count ?? 0
            if recorded >= 3 { break }
        }
        #expect(recorded == 3)
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        let r = try ws.run("runs", "--format", "json")
        #expect(r.stderr.contains("run 1 did not finish (its process died); recorded it as crashed"))
        let run = try ws.exportJSON("1")
        #expect(run["status"] as? String == "crashed")
        #expect((run["statements"] as? [[String: Any]])?.map { $0["status"] as? String } == ["completed", "completed", "completed"])
        #expect((run["metrics"] as? [String: Any])?["a"] as? Double == 1)
        // The database is sound and takes new runs.
        try ws.write("ok.recipe", "log(b: 2)\n")
        #expect(try ws.run("run", "ok.recipe").status == 0)
        #expect(try ws.runsJSON().map { $0["status"] as? String } == ["crashed", "completed"])
    }

    /// Four rounds, each on a new database, so the race on creating the file is exercised too.
    @Test(arguments: 1...4) func twoProcessesWritingAtOnceAreBothRecorded(round: Int) throws {
        let ws = try Workspace()
        // 300 statements each, so the two processes' commits interleave.
        try ws.write("busy.recipe", "param tag = 0\n" + (0..<300).map { "log(v: \($0) + tag, step: \($0))\n" }.joined())
        let a = ws.process(["run", "busy.recipe", "-p", "tag=1"]), b = ws.process(["run", "busy.recipe", "-p", "tag=2"])
        try a.0.run()
        try b.0.run()
        _ = a.1.fileHandleForReading.readDataToEndOfFile()
        _ = b.1.fileHandleForReading.readDataToEndOfFile()
        a.0.waitUntilExit()
        b.0.waitUntilExit()
        #expect(a.0.terminationStatus == 0 && b.0.terminationStatus == 0)
        let runs = try ws.runsJSON()
        #expect(runs.count == 2)
        #expect(runs.allSatisfy { $0["status"] as? String == "completed" })
        #expect(Set(runs.compactMap { $0["param.tag"] as? Int }) == [1, 2])
        for id in ["1", "2"] {
            #expect((try ws.exportJSON(id)["metric_points"] as? [Any])?.count == 300)
        }
    }

    @Test func exportedNotebookValidatesWithNbformat() throws {
        let ws = try Workspace()
        try ws.write("sweep.recipe", sweepRecipe + "\n# %% broken\ny = nothing_here\n")
        #expect(try ws.run("run", "sweep.recipe", "--seed", "3").status == 70)
        let r = try ws.run("export", "1", "--format", "ipynb", "-o", "run.ipynb")
        #expect(r.status == 0, "\(r.stderr)")
        let nb = try JSONSerialization.jsonObject(with: Data(contentsOf: ws.dir.appendingPathComponent("run.ipynb"))) as? [String: Any]
        #expect(nb?["nbformat"] as? Int == 4 && nb?["nbformat_minor"] as? Int == 5)
        let cells = nb?["cells"] as? [[String: Any]] ?? []
        #expect(cells.map { $0["cell_type"] as? String } == ["markdown", "code", "code", "code"])
        #expect(cells.dropFirst().map { $0["execution_count"] as? Int } == [1, 2, 3])
        let outputs = cells[1]["outputs"] as? [[String: Any]] ?? []
        #expect((outputs.first?["text"] as? [String]) == ["k = 4\n"])
        #expect((cells[3]["outputs"] as? [[String: Any]])?.last?["output_type"] as? String == "error")

        let md = try ws.run("export", "1", "--format", "md")
        #expect(md.stdout.hasPrefix("# squeeze run 1: sweep.recipe"))
        #expect(md.stdout.contains("Wrote [x.npy]"))

        // The nbformat package is the reference; Scripts/test provides it in a venv.
        guard let python = ProcessInfo.processInfo.environment["SQUEEZE_TEST_PYTHON"] else {
            print("note: SQUEEZE_TEST_PYTHON is not set (Scripts/test sets it); nbformat validation skipped")
            return
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = ["-c", "import sys, nbformat; nb = nbformat.read(sys.argv[1], as_version=4); nbformat.validate(nb); print('valid')",
                       ws.dir.appendingPathComponent("run.ipynb").path]
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let e = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0 && o == "valid\n", "\(e)")
    }

    @Test func doctorChecksIntegrityAndArtifacts() throws {
        let ws = try Workspace()
        try ws.write("a.recipe", "save(ones(2), \"a.npy\")\nsave(ones(3), \"b.npy\")\nlog(m: 1)\n")
        #expect(try ws.run("run", "a.recipe").status == 0)
        try Data([1, 2, 3]).write(to: ws.dir.appendingPathComponent("a.npy"))
        try FileManager.default.removeItem(at: ws.dir.appendingPathComponent("b.npy"))
        let r = try ws.run("doctor")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("integrity: ok"))
        #expect(r.stdout.contains("1 runs, 0 params, 3 statements, 1 metrics, 0 notes, 2 artifacts"))
        #expect(r.stdout.contains("runs by status: 1 completed"))
        #expect(r.stdout.contains("files at the runs' paths: 0 unchanged, 1 changed since their run, 1 missing"))
        #expect(r.stdout.contains("artifact store: 2 stored (2 distinct copies"), "\(r.stdout)")
    }

    @Test func historyFlagAndEnvironmentMoveTheDatabase() throws {
        let ws = try Workspace()
        try ws.write("a.recipe", "log(m: 1)\n")
        #expect(try ws.run("run", "a.recipe", "--history", "elsewhere/h.db").status == 0)
        #expect(FileManager.default.fileExists(atPath: ws.dir.appendingPathComponent("elsewhere/h.db").path))
        #expect(!FileManager.default.fileExists(atPath: ws.dir.appendingPathComponent(".squeeze/history.db").path))
        #expect(try ws.run("runs", "--history", "elsewhere/h.db", "--format", "csv").stdout.contains("a.recipe"))
        #expect(try ws.run("run", "a.recipe", "--no-history").status == 0)
        let none = try ws.run("runs")
        #expect(none.status == 74 && none.stderr.contains("no such file"))
    }

    @Test func aCorruptHistoryIsMovedAsideAndTheRunStillRecorded() throws {
        let ws = try Workspace()
        try FileManager.default.createDirectory(at: ws.dir.appendingPathComponent(".squeeze"), withIntermediateDirectories: true)
        try Data(repeating: 7, count: 4096).write(to: ws.dir.appendingPathComponent(".squeeze/history.db"))
        try ws.write("a.recipe", "log(m: 1)\n")
        let r = try ws.run("run", "a.recipe")
        #expect(r.status == 0)
        #expect(r.stderr.contains("is damaged") && r.stderr.contains("started a new one"))
        #expect(try ws.runsJSON().count == 1)
    }
}
