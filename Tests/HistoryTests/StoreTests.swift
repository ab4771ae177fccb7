import Foundation
import Testing
@testable import History
import Recipe
@testable import Runs

/// A fresh directory per test, removed afterwards.
final class Scratch {
    let url: URL
    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("squeeze-history-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }
    var db: String { url.appendingPathComponent("h.db").path }
}

let testEnvironment = RunEnvironment(squeezeVersion: "test", blasThreads: 2, host: RunEnvironment.hostName)

/// Runs `text` as a recorded script and returns the stored run.
func record(_ store: HistoryStore, _ text: String, seed: UInt64 = 1, overrides: [String: Value] = [:], out: URL? = nil) throws -> RunRecord {
    let program = Parser.parse(SourceFile(name: "t.recipe", text: text))
    let recorder = RunRecorder(store: store, start: RunStart(kind: .script, recipe: "/x/t.recipe", source: text, seed: seed,
                                                                environment: testEnvironment, outDirectory: out?.path),
                                   cellLines: program.cells.map(\.line))
    let base = out ?? FileManager.default.temporaryDirectory
    let interp = Interpreter(seed: seed, sandbox: Sandbox(baseDirectory: base, outputDirectory: base), parameterOverrides: overrides, write: { _ in })
    interp.observer = recorder
    do {
        try interp.run(program)
        recorder.finish(status: .completed)
    } catch let d as Diagnostic {
        recorder.finish(status: d.kind == .interrupted ? .interrupted : .failed, error: d.render())
    }
    return try store.run(try #require(recorder.runID))
}

@Suite struct StoreTests {
    @Test func createsTheSchemaAndRecordsARun() throws {
        let s = try Scratch()
        let store = try HistoryStore(path: s.db)
        let run = try record(store, """
            # %% one
            param k = 4
            param name = "a"
            print("k", k)
            # %% two
            for i in range(3) { log(loss: 1 / (i + 1), step: i) }
            log(acc: 0.5)
            note("hello")
            """, seed: 42, overrides: ["k": .number(8)])
        #expect(run.status == .completed)
        #expect(run.seed == 42)
        #expect(run.kind == "script")
        #expect(run.parameters == [ParameterRecord(name: "k", value: "8", defaultValue: "4", overridden: true),
                                   ParameterRecord(name: "name", value: "\"a\"", defaultValue: "\"a\"", overridden: false)])
        #expect(run.metrics.map(\.name) == ["loss", "loss", "loss", "acc"])
        #expect(run.metrics.map(\.step) == [0, 1, 2, nil])
        #expect(run.metrics[2].value == 1.0 / 3.0)
        #expect(run.lastMetrics.map(\.name) == ["loss", "acc"])
        #expect(run.notes == ["hello"])
        #expect(run.statements.count == 6)
        #expect(run.statements.map(\.cell) == [1, 1, 1, 2, 2, 2])
        #expect(run.statements[2].output == "k 8\n")
        #expect(run.statements[2].line == 4 && run.statements[2].column == 1)
        #expect(run.statements[2].text == "print(\"k\", k)")
        // SHA-256 of the source, checked against Python's hashlib for the same bytes.
        #expect(run.sourceSHA256 == SHA256.hex(run.source))
        #expect(SHA256.hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test func failedAndInterruptedStatementsAreRecorded() throws {
        let s = try Scratch()
        let store = try HistoryStore(path: s.db)
        let run = try record(store, "x = 1\ny = x + nothing\nz = 3\n")
        #expect(run.status == .failed)
        #expect(run.statements.map(\.status) == ["completed", "failed"])
        #expect(run.statements[1].error?.contains("unknown name 'nothing'") == true)
        #expect(run.error?.contains("t.recipe:2:9") == true)
    }

    @Test func artifactsAreHashedAndRelativeToTheOutputDirectory() throws {
        let s = try Scratch()
        let store = try HistoryStore(path: s.db)
        let run = try record(store, "save(ones([2, 2]), \"w.npy\")\n", out: s.url)
        #expect(run.artifacts.count == 1)
        let a = try #require(run.artifacts.first)
        #expect(a.path == "w.npy" && a.kind == "npy" && a.statement == 0)
        let data = try Data(contentsOf: s.url.appendingPathComponent("w.npy"))
        #expect(a.bytes == data.count)
        #expect(a.sha256 == data.withUnsafeBytes { SHA256.hex($0) })
        #expect(SHA256.file(s.url.appendingPathComponent("w.npy").path)?.hex == a.sha256)
    }

    @Test func schemaVersionIsRecordedAndReopeningKeepsRuns() throws {
        let s = try Scratch()
        do {
            let store = try HistoryStore(path: s.db)
            _ = try record(store, "log(a: 1)\n")
        }
        let again = try HistoryStore(path: s.db)
        #expect(try again.runs().count == 1)
        #expect(try again.db.rows("SELECT max(version) FROM schema_version").first?[0].int == Schema.version)
        #expect(try again.db.rows("PRAGMA journal_mode").first?[0].string == "wal")
    }

    @Test func aNewerSchemaIsRefused() throws {
        let s = try Scratch()
        do {
            let store = try HistoryStore(path: s.db)
            try store.db.run("INSERT INTO schema_version (version) VALUES (99)")
        }
        do {
            _ = try HistoryStore(path: s.db)
            Issue.record("a newer schema was accepted")
        } catch let e as HistoryError {
            #expect("\(e)".contains("newer squeeze (schema version 99; this squeeze reads up to \(Schema.version))"))
        }
    }

    @Test func aCorruptFileIsMovedAsideAndANewOneStarted() throws {
        let s = try Scratch()
        try Data(repeating: 0x5a, count: 8192).write(to: URL(fileURLWithPath: s.db))
        var messages: [String] = []
        let store = try HistoryStore(path: s.db, warn: { messages.append($0) })
        #expect(try store.runs().isEmpty)
        #expect(messages.count == 1 && messages[0].contains("is damaged") && messages[0].contains("moved it to"))
        let aside = try FileManager.default.contentsOfDirectory(atPath: s.url.path).filter { $0.hasPrefix("h.db.corrupt-") }
        #expect(aside.count == 1)
    }

    @Test func runsOfDeadProcessesAreMarkedCrashed() throws {
        let s = try Scratch()
        let store = try HistoryStore(path: s.db)
        let id = try store.beginRun(RunStart(kind: .script, recipe: nil, source: "x = 1", seed: 1, environment: testEnvironment))
        // Pretend the run belongs to a process that has gone: pid 1's start time never matches.
        try store.db.run("UPDATE runs SET pid = 1, pid_start = -5 WHERE id = ?", [.int(Int64(id))])
        let live = try store.beginRun(RunStart(kind: .script, recipe: nil, source: "y = 1", seed: 1, environment: testEnvironment))
        var messages: [String] = []
        let reopened = try HistoryStore(path: s.db, warn: { messages.append($0) })
        #expect(try reopened.run(id).status == .crashed)
        #expect(try reopened.run(live).status == .running)   // this process is alive
        #expect(messages == ["squeeze: run \(id) did not finish (its process died); recorded it as crashed"])
    }

    @Test func aSessionRecordsOneCellPerInputAndItsWholeSourceAtTheEnd() throws {
        let s = try Scratch()
        let store = try HistoryStore(path: s.db)
        let recorder = RunRecorder(store: store, start: RunStart(kind: .repl, recipe: nil, source: "", seed: 1, environment: testEnvironment))
        let interp = Interpreter(seed: 1, sandbox: Sandbox(baseDirectory: s.url, outputDirectory: s.url), write: { _ in })
        interp.observer = recorder
        defer { interp.reset() }
        for input in ["x = 1", "y = x + 1\nlog(y: y)", "print(y)"] {
            recorder.beginInput(input)
            try interp.run(Parser.parse(SourceFile(name: "<repl>", text: input)))
        }
        recorder.sync()
        let id = try #require(recorder.runID)
        let whole = "# %% In [1]\nx = 1\n# %% In [2]\ny = x + 1\nlog(y: y)\n# %% In [3]\nprint(y)\n"
        // While the session runs: one row per input, and readers see the source so far.
        #expect(try store.db.rows("SELECT count(*) FROM cells WHERE run = ?", [.int(Int64(id))]).first?[0].int == 3)
        #expect(try store.db.rows("SELECT source FROM runs WHERE id = ?", [.int(Int64(id))]).first?[0].string == "")
        let live = try store.run(id)
        #expect(live.status == .running && live.source == whole && live.sourceSHA256 == SHA256.hex(whole))
        #expect(try store.runs().first?.source == whole)
        recorder.finish(status: .completed)
        let done = try store.run(id)
        #expect(done.source == whole && done.sourceSHA256 == SHA256.hex(whole))
        #expect(try store.db.rows("SELECT source FROM runs WHERE id = ?", [.int(Int64(id))]).first?[0].string == whole)
        #expect(done.statements.map(\.cell) == [1, 2, 2, 3])
    }

    @Test func aCrashedSessionGetsItsSourceFromItsCells() throws {
        let s = try Scratch()
        let store = try HistoryStore(path: s.db)
        let id = try store.beginRun(RunStart(kind: .repl, recipe: nil, source: "", seed: 1, environment: testEnvironment))
        try store.appendCell(run: id, index: 1, text: "# %% In [1]\na = 1\n")
        try store.appendCell(run: id, index: 2, text: "# %% In [2]\nb = 2\n")
        try store.db.run("UPDATE runs SET pid = 1, pid_start = -5 WHERE id = ?", [.int(Int64(id))])
        let reopened = try HistoryStore(path: s.db, warn: { _ in })
        let run = try reopened.run(id)
        #expect(run.status == .crashed)
        #expect(run.source == "# %% In [1]\na = 1\n# %% In [2]\nb = 2\n" && run.sourceSHA256 == SHA256.hex(run.source))
        #expect(try reopened.db.rows("SELECT source FROM runs WHERE id = ?", [.int(Int64(id))]).first?[0].string == run.source)
    }

    /// A history as the first schema wrote it, holding the rows `inserts` add.
    func versionOneHistory(_ path: String, _ inserts: String...) throws {
        let db = try Database(path: path)
        try db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        try db.execute(Schema.migrations[0])
        try db.run("INSERT INTO schema_version (version) VALUES (1)")
        for sql in inserts { try db.run(sql) }
    }

    @Test func aVersionOneHistoryIsMigratedAndKeepsItsRuns() throws {
        let s = try Scratch()
        try versionOneHistory(
            s.db, "INSERT INTO runs (kind, source, source_sha256, started, status, squeeze_version) VALUES ('repl', 'x = 1', '', 0, 'completed', 'old')")
        let store = try HistoryStore(path: s.db)
        #expect(try store.db.rows("SELECT max(version) FROM schema_version").first?[0].int == Schema.version)
        #expect(try store.runs().map(\.source) == ["x = 1"])
        #expect(try store.db.rows("SELECT count(*) FROM cells").first?[0].int == 0)
    }

    @Test func aVersionOneHistoryIsRepairedIntoTheCurrentSchema() throws {
        // `squeeze doctor` may rebuild a file an older squeeze wrote: the columns it lacks take their defaults.
        let s = try Scratch()
        try versionOneHistory(
            s.db, "INSERT INTO runs (kind, source, source_sha256, started, status, squeeze_version) VALUES ('script', 'y', '', 0, 'completed', 'old')",
            "INSERT INTO artifacts (run, statement, path, kind, bytes, sha256) VALUES (1, 0, 'a.npy', 'npy', 8, 'ab')")
        let report = try HistoryStore.repair(path: s.db)
        #expect(report.unreadable.isEmpty)
        let store = try HistoryStore(path: s.db)
        let run = try store.run(1)
        #expect(run.source == "y" && run.artifacts.count == 1)
        #expect(run.artifacts.first.map { !$0.stored && $0.copy == nil } == true)
    }

    @Test func resolvesLastAndNegativeReferences() throws {
        let s = try Scratch()
        let store = try HistoryStore(path: s.db)
        for i in 0..<3 { _ = try record(store, "log(i: \(i))\n") }
        #expect(try store.resolve("last") == 3)
        #expect(try store.resolve("-2") == 2)
        #expect(try store.resolve("1") == 1)
        #expect(throws: HistoryError.self) { try store.resolve("9") }
        #expect(throws: HistoryError.self) { try store.resolve("abc") }
    }

    @Test func openingAMissingHistoryForReadingIsAClearError() throws {
        let s = try Scratch()
        do {
            _ = try HistoryStore(path: s.db, create: false)
            Issue.record("opened a missing file")
        } catch let e as HistoryError {
            #expect("\(e)".contains("no such file"))
        }
    }
}
