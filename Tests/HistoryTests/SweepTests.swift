import Foundation
import Testing
@testable import History
import Recipe
@testable import Runs

@Suite struct SweepPlanTests {
    @Test func axesAcceptListsRangesAndOneLiteral() throws {
        #expect(try SweepPlan.axis("bits=[2, 3,4]") == .init(name: "bits", values: ["2", "3", "4"]))
        #expect(try SweepPlan.axis("seed=range(3)").values == ["0", "1", "2"])
        #expect(try SweepPlan.axis("k=range(2, 9, 3)").values == ["2", "5", "8"])
        #expect(try SweepPlan.axis("k=range(3, 0, -1)").values == ["3", "2", "1"])
        #expect(try SweepPlan.axis("method=[\"rtn\", \"gptq\"]").values == ["\"rtn\"", "\"gptq\""])
        #expect(try SweepPlan.axis("method=kmeans").values == ["\"kmeans\""])
        #expect(try SweepPlan.axis("lr=[1e-3, 0.5]").values == ["0.001", "0.5"])
    }

    @Test func badAxesAreNamed() {
        for (text, words) in [
            ("bits", "expected name=values"), ("=[1]", "expected name=values"), ("b-x=[1]", "not a parameter name"),
            ("k=range(0)", "is empty"), ("k=range(1, 2, 0)", "must not be 0"), ("k=range(a)", "one to three integers"),
            ("k=[]", "empty"), ("k=[1, 1]", "twice"),
        ] {
            #expect {
                _ = try SweepPlan.axis(text)
            } throws: { ($0 as? SweepError)?.description.contains(words) == true }
        }
    }

    @Test func theGridVariesTheFirstAxisSlowest() throws {
        let axes = [SweepPlan.Axis(name: "a", values: ["1", "2"]), .init(name: "seed", values: ["0", "1", "2"])]
        let points = try SweepPlan.points(axes: axes, random: nil, seed: 7, seedIsRunSeed: true)
        #expect(points.map(\.label) == ["a=1,seed=0", "a=1,seed=1", "a=1,seed=2", "a=2,seed=0", "a=2,seed=1", "a=2,seed=2"])
        #expect(points.map(\.seed) == [0, 1, 2, 0, 1, 2])
        #expect(points.map(\.folder) == ["a=1_seed=0", "a=1_seed=1", "a=1_seed=2", "a=2_seed=0", "a=2_seed=1", "a=2_seed=2"])
        // A recipe that declares `seed` itself: the axis is a parameter, every run has the sweep's seed.
        let declared = try SweepPlan.points(axes: axes, random: nil, seed: 7, seedIsRunSeed: false)
        #expect(declared.allSatisfy { $0.seed == 7 })
    }

    @Test func randomPointsComeFromTheSeedWithoutRepeats() throws {
        let axes = [SweepPlan.Axis(name: "a", values: (0..<10).map(String.init)), .init(name: "b", values: (0..<10).map(String.init))]
        let a = try SweepPlan.points(axes: axes, random: 7, seed: 1, seedIsRunSeed: true)
        let b = try SweepPlan.points(axes: axes, random: 7, seed: 1, seedIsRunSeed: true)
        let c = try SweepPlan.points(axes: axes, random: 7, seed: 2, seedIsRunSeed: true)
        #expect(a == b && a != c)
        #expect(Set(a.map(\.label)).count == 7)
        #expect(try SweepPlan.points(axes: axes, random: 500, seed: 1, seedIsRunSeed: true).count == 100)
    }

    @Test func unsafeValuesMakeDistinctFolders() throws {
        let axes = [SweepPlan.Axis(name: "path", values: ["\"a/b\"", "\"a b\"", "\"a:b\""])]
        let points = try SweepPlan.points(axes: axes, random: nil, seed: 0, seedIsRunSeed: true)
        #expect(Set(points.map(\.folder)).count == 3)
        #expect(points.allSatisfy { !$0.folder.contains("/") })
    }

    @Test func runArgumentsPassTheSeedAxisAsTheRunSeed() throws {
        let axes = [SweepPlan.Axis(name: "bits", values: ["2"]), .init(name: "seed", values: ["5"])]
        let points = try SweepPlan.points(axes: axes, random: nil, seed: 0, seedIsRunSeed: true)
        let plan = SweepPlan(
            id: "x", name: "s", recipe: "/r.recipe", recipeSHA256: "h", folder: "/out/s", axes: axes, random: nil, seed: 0,
            seedIsRunSeed: true, engine: "local", jobs: 1, blasThreads: 2, points: points)
        #expect(plan.runArguments(points[0]) == [
            "/r.recipe", "-p", "bits=2", "--seed", "5", "--out", "/out/s/bits=2_seed=5", "--sweep", "s", "--sweep-point", "bits=2,seed=5",
        ])
        let decoded = try SweepPlan.decode(try plan.encoded(), from: "sweep.json")
        #expect(decoded.points == plan.points && decoded.axes == plan.axes)
    }
}

@Suite struct ShardTests {
    func sweepRun(_ store: HistoryStore, point: String, text: String = "log(acc: 1)\n") throws -> RunRecord {
        let program = Parser.parse(SourceFile(name: "t.recipe", text: text))
        var start = RunStart(kind: .script, recipe: "/x/t.recipe", source: text, seed: 3, environment: testEnvironment)
        start.sweep = "s"
        start.sweepPoint = point
        let recorder = RunRecorder(store: store, start: start, cellLines: program.cells.map(\.line))
        let base = FileManager.default.temporaryDirectory
        let interp = Interpreter(seed: 3, sandbox: Sandbox(baseDirectory: base, outputDirectory: base), write: { _ in })
        interp.observer = recorder
        try interp.run(program)
        recorder.finish(status: .completed)
        return try store.run(try #require(recorder.runID))
    }

    @Test func mergingAShardTwiceAddsItsRunsOnce() throws {
        let s = try Scratch()
        let main = try HistoryStore(path: s.db)
        _ = try record(main, "log(y: 2)\n")  // the main history's own run keeps id 1
        let shardPath = s.url.appendingPathComponent("shards/0.db").path
        let shard = try HistoryStore(path: shardPath)
        let a = try sweepRun(shard, point: "k=1", text: "log(acc: 1)\nnote(\"first\")\n")
        let b = try sweepRun(shard, point: "k=2", text: "log(acc: 2)\n")
        let first = try main.merge(shard: try HistoryStore.openShard(path: shardPath))
        #expect(first == { var r = HistoryStore.MergeResult(); r.added = 2; return r }())
        let second = try main.merge(shard: try HistoryStore.openShard(path: shardPath))
        #expect(second.added == 0 && second.present == 2)
        let runs = try main.runs(sweep: "s")
        #expect(runs.map(\.uuid) == [a.uuid, b.uuid])
        #expect(runs.map(\.sweepPoint) == ["k=1", "k=2"])
        #expect(runs.map { $0.lastMetrics.first?.value } == [1, 2])
        #expect(runs.map(\.id) == [2, 3])
        #expect(try main.run(2).notes == ["first"])
        #expect(try main.run(2).statements.count == 2)
    }

    @Test func runningRunsWaitForALaterCollect() throws {
        let s = try Scratch()
        let main = try HistoryStore(path: s.db)
        let shardPath = s.url.appendingPathComponent("1.db").path
        let shard = try HistoryStore(path: shardPath)
        // A run this process is still recording: not crashed, not collected.
        _ = try shard.beginRun(RunStart(kind: .script, recipe: nil, source: "x = 1", seed: 1, environment: testEnvironment, sweep: "s"))
        let r = try main.merge(shard: try HistoryStore.openShard(path: shardPath))
        #expect(r.running == 1 && r.added == 0)
    }

    @Test func aRunOfAnEndedTaskIsCollectedAsCrashed() throws {
        let s = try Scratch()
        let main = try HistoryStore(path: s.db)
        let shardPath = s.url.appendingPathComponent("2.db").path
        let shard = try HistoryStore(path: shardPath)
        // Left running by a process on another node: only Slurm knows its task has ended.
        let id = try shard.beginRun(RunStart(kind: .script, recipe: nil, source: "x = 1", seed: 1, environment: testEnvironment))
        try shard.db.run("UPDATE runs SET host = 'node17' WHERE id = ?", [.int(Int64(id))])
        let reopened = try HistoryStore.openShard(path: shardPath)
        #expect(try reopened.run(id).status == .running)
        #expect(try reopened.markRunningRunsCrashed(reason: "task ended") == 1)
        let r = try main.merge(shard: reopened)
        #expect(r.added == 1)
        let run = try #require(try main.runs().first)
        #expect(run.status == .crashed && run.error == "task ended")
    }

    @Test func aDamagedShardIsAnErrorAndIsLeftAsItIs() throws {
        let s = try Scratch()
        let path = s.url.appendingPathComponent("bad.db").path
        let garbage = Data(repeating: 0x41, count: 8192)
        try garbage.write(to: URL(fileURLWithPath: path))
        #expect(throws: HistoryError.self) { _ = try HistoryStore.openShard(path: path) }
        #expect(FileManager.default.contents(atPath: path) == garbage)
        #expect(throws: HistoryError.self) { _ = try HistoryStore.openShard(path: s.url.appendingPathComponent("none.db").path) }
    }

    @Test func runsRecordedBeforeSchemaFiveGetAUUID() throws {
        let s = try Scratch()
        let main = try HistoryStore(path: s.db)
        _ = try record(main, "x = 1\n")
        try main.db.run("UPDATE runs SET uuid = NULL")
        try main.db.run("DELETE FROM schema_version WHERE version = 5")
        try main.db.execute("DROP INDEX runs_uuid; DROP INDEX runs_sweep; DROP TABLE sweeps")
        try main.db.execute("ALTER TABLE runs DROP COLUMN sweep; ALTER TABLE runs DROP COLUMN sweep_point; ALTER TABLE runs DROP COLUMN uuid")
        let again = try HistoryStore(path: s.db)
        let uuid = try #require(try again.runs().first?.uuid)
        #expect(uuid.count == 32)
    }
}
