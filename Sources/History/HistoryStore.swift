import CSQLite
import Foundation

/// Why the history could not be opened.
public enum HistoryError: Error, CustomStringConvertible {
    case newerSchema(path: String, found: Int, supported: Int)
    case cannotOpen(path: String, reason: String)
    case noSuchRun(String)
    case database(SQLiteError)

    public var description: String {
        switch self {
        case let .newerSchema(path, found, supported):
            return
                "the history '\(path)' was written by a newer squeeze (schema version \(found); this squeeze reads up to \(supported)): " +
                "upgrade squeeze, or use --history to record elsewhere"
        case let .cannotOpen(path, reason):
            return "cannot open the history '\(path)': \(reason)"
        case .noSuchRun(let id):
            return "no run '\(id)' in the history (`squeeze runs` lists them)"
        case .database(let e):
            return "history database error: \(e)"
        }
    }
}

/// The history database: one SQLite file in WAL mode. Every write is its own short transaction, so
/// a crash loses at most the statement that was running, and readers never block the writer.
/// One connection is used by one thread at a time: while a run records, only its recorder's writer
/// thread touches it (hence `@unchecked Sendable`).
public final class HistoryStore: @unchecked Sendable {
    public let path: String
    let db: Database
    /// Where messages about repairs (a corrupt file moved aside, crashed runs) go.
    let warn: (String) -> Void
    /// Files runs write up to this many bytes are copied into the artifact store; larger ones are recorded by hash.
    public var artifactLimit = ArtifactStore.defaultLimit

    /// The default location: `SQUEEZE_HISTORY`, else `.squeeze/history.db` under the working directory.
    public static func defaultPath(explicit: String? = nil) -> String {
        if let explicit, !explicit.isEmpty { return explicit }
        if let env = ProcessInfo.processInfo.environment["SQUEEZE_HISTORY"], !env.isEmpty { return env }
        return FileManager.default.currentDirectoryPath + "/.squeeze/history.db"
    }

    /// Opens (creating when `create`) and migrates the history. A corrupt file is moved aside with a
    /// message and a new one started (unless `setAsideDamaged` is false: then it is an error); a
    /// file from a newer squeeze is refused.
    public init(path: String, create: Bool = true, setAsideDamaged: Bool = true, warn: @escaping (String) -> Void = { _ in }) throws {
        self.path = path
        self.warn = warn
        let fm = FileManager.default
        if !create && !fm.fileExists(atPath: path) {
            throw HistoryError.cannotOpen(path: path, reason: "no such file (no run has been recorded here yet)")
        }
        let dir = URL(fileURLWithPath: path).deletingLastPathComponent()
        do { try fm.createDirectory(at: dir, withIntermediateDirectories: true) } catch {
            throw HistoryError.cannotOpen(path: path, reason: "cannot create '\(dir.path)': \(error.localizedDescription)")
        }
        do {
            db = try HistoryStore.openAndMigrate(path)
        } catch let e as SQLiteError where e.isCorruption && setAsideDamaged {
            let aside = path + ".corrupt-" + HistoryStore.stamp()
            for suffix in ["", "-wal", "-shm"] where fm.fileExists(atPath: path + suffix) {
                try? fm.moveItem(atPath: path + suffix, toPath: aside + suffix)
            }
            warn("squeeze: the history '\(path)' is damaged (\(e.message)); moved it to '\(aside)' and started a new one")
            do { db = try HistoryStore.openAndMigrate(path) } catch let e as SQLiteError {
                throw HistoryError.cannotOpen(path: path, reason: e.description)
            }
        } catch let e as SQLiteError {
            throw HistoryError.cannotOpen(path: path, reason: e.description)
        }
        try markCrashedRuns()
    }

    static func stamp() -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.dateFormat = "yyyyMMdd-HHmmss"
        return f.string(from: Date())
    }

    static func openAndMigrate(_ path: String) throws -> Database {
        let db = try Database(path: path)
        sqlite3_busy_timeout(db.handle, 10_000)

        // A damaged file fails here (SQLITE_NOTADB / SQLITE_CORRUPT), before anything is written.
        // WAL is a property of the file, set once. Switching to it does not wait on the busy
        // handler, so when another process is creating the same new file it is retried here.
        var attempts = 0
        while try db.rows("PRAGMA journal_mode").first?[0].string?.lowercased() != "wal" {
            do {
                _ = try db.rows("PRAGMA journal_mode=WAL")
            } catch let e as SQLiteError where e.code & 0xff == SQLITE_BUSY || e.code & 0xff == SQLITE_LOCKED {
                attempts += 1
                if attempts > 1000 { throw e }  // ten seconds
                usleep(10_000)
            }
        }
        // A small page cache (512 KiB, SQLite's default is 2 MB): the history is written far more
        // than it is read, and a long REPL session should not grow by it.
        try db.execute("PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=128; PRAGMA cache_size=-512")
        // The common case, a current schema, needs no write transaction.
        let current = try? db.rows("SELECT max(version) FROM schema_version").first?[0].int
        if current == Schema.version { return db }
        try db.transaction {
            try db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            let found = try db.rows("SELECT max(version) FROM schema_version").first?[0].int ?? 0
            if found > Schema.version {
                throw HistoryError.newerSchema(path: path, found: found, supported: Schema.version)
            }
            for v in found..<Schema.version {
                try db.execute(Schema.migrations[v])
                try db.run("INSERT INTO schema_version (version) VALUES (?)", [.int(Int64(v + 1))])
            }
        }
        return db
    }

    // MARK: - Crash detection

    /// This process's identity: pid and its start time in clock ticks since boot (so a reused pid
    /// is not mistaken for the run's process).
    static func processIdentity(_ pid: Int32 = getpid()) -> (pid: Int, start: Int)? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 19, let start = Int(fields[19]) else { return nil }
        return (Int(pid), start)
    }

    /// Runs left `running` by a process of this host that no longer exists become `crashed`.
    func markCrashedRuns() throws {
        let host = RunEnvironment.hostName
        let rows = try db.rows("SELECT id, pid, pid_start, host FROM runs WHERE status = 'running'")
        for r in rows {
            guard let id = r[0].int, r[3].string == host, let pid = r[1].int else { continue }
            if let alive = HistoryStore.processIdentity(Int32(pid)), alive.start == r[2].int { continue }
            // The last thing known of it: its start plus the time its recorded statements took.
            try db.run(
                """
                UPDATE runs SET status = 'crashed',
                    finished = started + (SELECT coalesce(sum(seconds), 0) FROM statements WHERE run = runs.id),
                    error = 'the process ended without finishing the run (killed or crashed)'
                WHERE id = ? AND status = 'running'
                """, [.int(Int64(id))])
            try HistoryStore.completeSourcesFromCells(db, runs: [id])
            warn("squeeze: run \(id) did not finish (its process died); recorded it as crashed")
        }
    }

    // MARK: - Writing

    /// Records a new run as `running` and returns its id.
    public func beginRun(_ start: RunStart) throws -> Int {
        let env = start.environment
        let me = HistoryStore.processIdentity()
        return try db.transaction {
            try db.write(
                """
                INSERT INTO runs (kind, recipe, source, source_sha256, seed, started, status, squeeze_version,
                    git_commit, git_dirty, blas, blas_threads, cores, host, cpu, os, out_dir, replay_of, pid, pid_start,
                    uuid, sweep, sweep_point)
                VALUES (?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
                [
                    .text(start.kind.rawValue), SQLValue(start.recipe), .text(start.source), .text(SHA256.hex(start.source)),
                    .int(Int64(bitPattern: start.seed)), .real(Date().timeIntervalSince1970), .text(env.squeezeVersion),
                    SQLValue(env.gitCommit), SQLValue(env.gitDirty.map { $0 ? 1 : 0 }), SQLValue(env.blas), SQLValue(env.blasThreads),
                    SQLValue(env.cores), SQLValue(env.host), SQLValue(env.cpu), SQLValue(env.os), SQLValue(start.outDirectory),
                    SQLValue(start.replayOf), SQLValue(me?.pid), SQLValue(me?.start),
                    .text(UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")), SQLValue(start.sweep),
                    SQLValue(start.sweepPoint),
                ])
            return Int(db.lastInsertID)
        }
    }

    /// Everything one finished statement produced, written in one transaction.
    package struct StatementBatch {
        package var statement: StatementRecord
        package var metrics: [MetricRecord] = []
        package var artifacts: [ArtifactRecord] = []
        package var notes: [String] = []
        package var parameters: [(position: Int, ParameterRecord)] = []

        package init(
            statement: StatementRecord, metrics: [MetricRecord] = [], artifacts: [ArtifactRecord] = [],
            notes: [String] = [], parameters: [(position: Int, ParameterRecord)] = []
        ) {
            self.statement = statement
            self.metrics = metrics
            self.artifacts = artifacts
            self.notes = notes
            self.parameters = parameters
        }
    }

    /// Statements' records, in one transaction.
    package func record(run: Int, _ batches: [StatementBatch]) throws {
        let r = SQLValue.int(Int64(run))
        try db.transaction {
            for b in batches {
                let s = b.statement
                try db.write(
                    """
                        INSERT INTO statements (run, idx, cell, line, col, end_line, end_col, text, seconds, status, error, output, \
                        result) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    [
                        r, .int(Int64(s.index)), .int(Int64(s.cell)), .int(Int64(s.line)), .int(Int64(s.column)),
                        .int(Int64(s.endLine)), .int(Int64(s.endColumn)), .text(s.text), .real(s.seconds), .text(s.status),
                        SQLValue(s.error), .text(s.output), SQLValue(s.result),
                    ])
                for m in b.metrics {
                    try db.write(
                        "INSERT INTO metrics (run, seq, statement, name, value, step) VALUES (?, ?, ?, ?, ?, ?)",
                        [
                            r, .int(Int64(m.seq)), SQLValue(m.statement), .text(m.name), m.value.isNaN ? .null : .real(m.value),
                            SQLValue(m.step),
                        ])
                }
                for a in b.artifacts {
                    try db.write(
                        "INSERT INTO artifacts (run, statement, path, kind, bytes, sha256, stored) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        [
                            r, SQLValue(a.statement), .text(a.path), .text(a.kind), .int(Int64(a.bytes)), .text(a.sha256),
                            .int(a.stored ? 1 : 0),
                        ])
                }
                for n in b.notes {
                    try db.write("INSERT INTO notes (run, statement, text) VALUES (?, ?, ?)", [r, .int(Int64(s.index)), .text(n)])
                }
                for (pos, p) in b.parameters {
                    try db.write(
                        "INSERT OR REPLACE INTO params (run, position, name, value, default_value, overridden) VALUES (?, ?, ?, ?, ?, ?)",
                        [r, .int(Int64(pos)), .text(p.name), .text(p.value), .text(p.defaultValue), .int(p.overridden ? 1 : 0)])
                }
            }
        }
    }

    /// A REPL session's next input: one row, however long the session (its whole source is
    /// written once, by `finishRun`).
    package func appendCell(run: Int, index: Int, text: String) throws {
        try db.write("INSERT OR REPLACE INTO cells (run, idx, text) VALUES (?, ?, ?)", [.int(Int64(run)), .int(Int64(index)), .text(text)])
    }

    /// Records how the run ended; `source`, for a session that grew cell by cell, is its whole source.
    public func finishRun(_ run: Int, status: RunStatus, error: String? = nil, source: String? = nil) throws {
        if let source {
            try db.write(
                "UPDATE runs SET status = ?, finished = ?, error = ?, source = ?, source_sha256 = ? WHERE id = ?",
                [
                    .text(status.rawValue), .real(Date().timeIntervalSince1970), SQLValue(error), .text(source), .text(SHA256.hex(source)),
                    .int(Int64(run)),
                ])
        } else {
            try db.write(
                "UPDATE runs SET status = ?, finished = ?, error = ? WHERE id = ?",
                [.text(status.rawValue), .real(Date().timeIntervalSince1970), SQLValue(error), .int(Int64(run))])
        }
    }

    /// A run's source assembled from its cells (nil when it has none).
    static func sourceFromCells(_ db: Database, run: Int) throws -> String? {
        let rows = try db.rows("SELECT text FROM cells WHERE run = ? ORDER BY idx", [.int(Int64(run))])
        return rows.isEmpty ? nil : rows.compactMap { $0[0].string }.joined()
    }

    /// Writes the cells' source into runs that have cells but whose session never wrote its whole
    /// source (it crashed, or its row was recreated by `repair`).
    static func completeSourcesFromCells(_ db: Database, runs ids: [Int]) throws {
        for id in ids {
            guard let source = try sourceFromCells(db, run: id) else { continue }
            try db.run(
                "UPDATE runs SET source = ?, source_sha256 = ? WHERE id = ?", [.text(source), .text(SHA256.hex(source)), .int(Int64(id))])
        }
    }

    /// A session still running shows the cells it has so far.
    func withLiveSource(_ run: RunRecord) throws -> RunRecord {
        guard run.status == .running, let source = try HistoryStore.sourceFromCells(db, run: run.id) else { return run }
        var r = run
        r.source = source
        r.sourceSHA256 = SHA256.hex(source)
        return r
    }

    // MARK: - Maintenance

    /// `PRAGMA integrity_check` (["ok"] when sound) and the row counts of every table.
    /// `integrity`, when the caller has just checked the file, is used instead of a second full scan.
    public func check(integrity known: [String]? = nil) throws -> (integrity: [String], counts: [(String, Int)], statuses: [(String, Int)])
    {
        let integrity = try known ?? db.rows("PRAGMA integrity_check").compactMap { $0[0].string }
        var counts: [(String, Int)] = []
        for table in ["runs", "params", "statements", "metrics", "notes", "artifacts", "cells"] {
            counts.append((table, try db.rows("SELECT count(*) FROM \(table)").first?[0].int ?? 0))
        }
        let statuses = try db.rows("SELECT status, count(*) FROM runs GROUP BY status ORDER BY status").map {
            ($0[0].string ?? "?", $0[1].int ?? 0)
        }
        return (integrity, counts, statuses)
    }

    /// Every artifact with its run's output directory, for checking the files still hold what was recorded.
    public func allArtifacts() throws -> [(run: Int, artifact: ArtifactRecord, outDirectory: String?)] {
        try db.rows(
            """
                SELECT a.run, r.out_dir, a.statement, a.path, a.kind, a.bytes, a.sha256, a.stored FROM artifacts a \
                JOIN runs r ON r.id = a.run ORDER BY a.run, a.rowid
                """
        ).map { ($0[0].int ?? 0, artifact(Row(values: Array($0.values.dropFirst(2)))), $0[1].string) }
    }

    /// The copies of the files runs wrote, in `artifacts/` next to the database.
    public var artifactStore: ArtifactStore {
        ArtifactStore(root: URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent("artifacts", isDirectory: true))
    }

    /// An artifact row (statement, path, kind, bytes, sha256, stored) with its stored copy's path.
    func artifact(_ row: Row) -> ArtifactRecord {
        let kind = row[2].string ?? "", sha = row[4].string ?? "", stored = row[5].int == 1
        return ArtifactRecord(
            statement: row[0].int, path: row[1].string ?? "", kind: kind, bytes: row[3].int ?? 0, sha256: sha, stored: stored,
            copy: stored ? artifactStore.location(sha256: sha, kind: kind).path : nil)
    }

    // MARK: - Reading

    static let runColumns = """
        id, kind, recipe, source, source_sha256, seed, started, finished, status, error, squeeze_version, git_commit,
        git_dirty, blas, blas_threads, cores, host, cpu, os, out_dir, replay_of, uuid, sweep, sweep_point
        """

    static func runRecord(_ r: Row) -> RunRecord {
        RunRecord(
            id: r[0].int ?? 0, kind: r[1].string ?? "script", recipe: r[2].string, source: r[3].string ?? "",
            sourceSHA256: r[4].string ?? "", seed: r[5].int.map { UInt64(bitPattern: Int64($0)) },
            started: Date(timeIntervalSince1970: r[6].double ?? 0), finished: r[7].double.map { Date(timeIntervalSince1970: $0) },
            status: RunStatus(rawValue: r[8].string ?? "") ?? .crashed, error: r[9].string,
            environment: RunEnvironment(
                squeezeVersion: r[10].string ?? "?", gitCommit: r[11].string, gitDirty: r[12].int.map { $0 != 0 },
                blas: r[13].string, blasThreads: r[14].int, cores: r[15].int, host: r[16].string,
                cpu: r[17].string, os: r[18].string),
            outDirectory: r[19].string, replayOf: r[20].int, uuid: r[21].string, sweep: r[22].string, sweepPoint: r[23].string)
    }

    /// Runs, newest last, with parameters and metrics (not statements) loaded.
    public func runs() throws -> [RunRecord] {
        var runs = try db.rows("SELECT \(HistoryStore.runColumns) FROM runs ORDER BY id").map {
            try withLiveSource(HistoryStore.runRecord($0))
        }
        var index: [Int: Int] = [:]
        for (i, r) in runs.enumerated() { index[r.id] = i }
        for p in try db.rows("SELECT run, name, value, default_value, overridden FROM params ORDER BY run, position") {
            guard let i = p[0].int.flatMap({ index[$0] }) else { continue }
            runs[i].parameters.append(
                ParameterRecord(
                    name: p[1].string ?? "", value: p[2].string ?? "", defaultValue: p[3].string ?? "", overridden: p[4].int == 1))
        }
        for m in try db.rows("SELECT run, seq, statement, name, value, step FROM metrics ORDER BY run, seq") {
            guard let i = m[0].int.flatMap({ index[$0] }) else { continue }
            runs[i].metrics.append(HistoryStore.metric(m, offset: 1))
        }
        return runs
    }

    static func metric(_ m: Row, offset: Int) -> MetricRecord {
        MetricRecord(
            seq: m[offset].int ?? 0, statement: m[offset + 1].int, name: m[offset + 2].string ?? "",
            value: m[offset + 3].double ?? .nan, step: m[offset + 4].int)
    }

    /// The id of the newest run.
    public func lastRunID() throws -> Int? {
        try db.rows("SELECT max(id) FROM runs").first?[0].int
    }

    /// Resolves `ID`, `last`, or `-N` (N-th newest) to a run id.
    public func resolve(_ reference: String) throws -> Int {
        let ref = reference.trimmingCharacters(in: .whitespaces)
        if ref == "last" || ref == "-1" {
            guard let id = try lastRunID() else { throw HistoryError.noSuchRun(reference) }
            return id
        }
        if ref.hasPrefix("-"), let n = Int(ref.dropFirst()), n > 0 {
            let ids = try db.rows("SELECT id FROM runs ORDER BY id DESC LIMIT 1 OFFSET ?", [.int(Int64(n - 1))])
            guard let id = ids.first?[0].int else { throw HistoryError.noSuchRun(reference) }
            return id
        }
        guard let id = Int(ref), try !db.rows("SELECT id FROM runs WHERE id = ?", [.int(Int64(id))]).isEmpty else {
            throw HistoryError.noSuchRun(reference)
        }
        return id
    }

    /// One run with everything recorded under it.
    public func run(_ id: Int) throws -> RunRecord {
        let key = SQLValue.int(Int64(id))
        guard let row = try db.rows("SELECT \(HistoryStore.runColumns) FROM runs WHERE id = ?", [key]).first else {
            throw HistoryError.noSuchRun(String(id))
        }
        var run = try withLiveSource(HistoryStore.runRecord(row))
        run.parameters = try db.rows("SELECT name, value, default_value, overridden FROM params WHERE run = ? ORDER BY position", [key]).map
        {
            ParameterRecord(
                name: $0[0].string ?? "", value: $0[1].string ?? "", defaultValue: $0[2].string ?? "", overridden: $0[3].int == 1)
        }
        run.metrics = try db.rows("SELECT seq, statement, name, value, step FROM metrics WHERE run = ? ORDER BY seq", [key]).map {
            HistoryStore.metric($0, offset: 0)
        }
        run.artifacts = try db.rows(
            "SELECT statement, path, kind, bytes, sha256, stored FROM artifacts WHERE run = ? ORDER BY rowid", [key]
        ).map { artifact($0) }
        run.statements = try db.rows(
            """
                SELECT idx, cell, line, col, end_line, end_col, text, seconds, status, error, output, result FROM statements \
                WHERE run = ? ORDER BY idx
                """,
            [key]
        ).map {
            StatementRecord(
                index: $0[0].int ?? 0, cell: $0[1].int ?? 0, line: $0[2].int ?? 0, column: $0[3].int ?? 0,
                endLine: $0[4].int ?? 0, endColumn: $0[5].int ?? 0, text: $0[6].string ?? "", seconds: $0[7].double ?? 0,
                status: $0[8].string ?? "", error: $0[9].string, output: $0[10].string ?? "", result: $0[11].string)
        }
        run.notes = try db.rows("SELECT text FROM notes WHERE run = ? ORDER BY rowid", [key]).compactMap { $0[0].string }
        return run
    }
}

// MARK: - Repair

extension HistoryStore {
    /// What `repair` saved: rows copied per table and the tables where rows could not be read.
    public struct RepairReport: Sendable {
        public var copied: [(table: String, rows: Int)] = []
        public var unreadable: [String] = []
        public var damagedCopy: String = ""
        /// Runs whose own row was lost but whose statements or metrics were not: recreated as
        /// `crashed` placeholders so what was recovered stays reachable.
        public var placeholderRuns = 0
    }

    /// `PRAGMA integrity_check` of the file as it is, without opening it as a history (which would
    /// write). ["ok"] when sound; the problems otherwise (or why the file could not be read).
    public static func integrity(path: String) -> [String] {
        do {
            let db = try Database(path: path)
            sqlite3_busy_timeout(db.handle, 10_000)
            return try db.rows("PRAGMA integrity_check").compactMap { $0[0].string }
        } catch {
            return ["\(error)"]
        }
    }

    /// Rebuilds a damaged history: every row SQLite can still read (each table scanned forwards
    /// and then backwards, so a bad page loses only what lies on it) goes into a fresh database,
    /// which takes the file's place; the damaged file is kept as `<path>.corrupt-<stamp>`.
    /// No other squeeze may be using the history meanwhile.
    public static func repair(path: String) throws -> RepairReport {
        let fm = FileManager.default
        var report = RepairReport()
        let fresh = path + ".repair-" + stamp()
        try? fm.removeItem(atPath: fresh)
        do {
            let out = try openAndMigrate(fresh)
            try out.execute("ATTACH DATABASE '\(path.replacingOccurrences(of: "'", with: "''"))' AS old")
            // Parents first, so every copied row has its run.
            var tables: [(String, String)] = [
                ("runs", "id"), ("params", "run, name"), ("statements", "run, idx"),
                ("metrics", "run, seq"), ("notes", "rowid"), ("artifacts", "rowid"),
            ]
            // A history from before schema 2 has no cells.
            if try !out.rows("SELECT 1 FROM old.sqlite_master WHERE type = 'table' AND name = 'cells'").isEmpty {
                tables.append(("cells", "run, idx"))
            }
            // Nor before schema 5 sweeps.
            if try !out.rows("SELECT 1 FROM old.sqlite_master WHERE type = 'table' AND name = 'sweeps'").isEmpty {
                tables.append(("sweeps", "id"))
            }
            for (table, key) in tables {
                var damaged = false
                // The old file may be from an earlier schema: copy the columns it has, the rest take their defaults.
                let columns = try out.rows("SELECT name FROM pragma_table_info('\(table)', 'old')").compactMap { $0[0].string }
                let list = columns.joined(separator: ", ")
                // Forwards until a read fails, then backwards from the end until a read fails.
                for order in ["ASC", "DESC"] {
                    let keyOrder = key.split(separator: ",").map { "\($0) \(order)" }.joined(separator: ",")
                    do {
                        try out.execute(
                            "INSERT OR IGNORE INTO main.\(table) (\(list)) SELECT \(list) FROM old.\(table) ORDER BY \(keyOrder)")
                        break  // the whole table read cleanly
                    } catch {
                        damaged = true
                        // A failed INSERT … SELECT rolls back its statement: copy row by row instead.
                        let placeholders = Array(repeating: "?", count: columns.count).joined(separator: ", ")
                        let stmt = try Statement(out, "SELECT \(list) FROM old.\(table) ORDER BY \(keyOrder)")
                        while (try? stmt.step()) == true {
                            let row = stmt.row()
                            try? out.run(
                                "INSERT OR IGNORE INTO main.\(table) (\(list)) VALUES (\(placeholders))",
                                (0..<columns.count).map { row[$0] })
                        }
                    }
                }
                if damaged { report.unreadable.append(table) }
            }
            let before = try out.rows("SELECT count(*) FROM main.runs").first?[0].int ?? 0
            try out.execute(
                """
                INSERT INTO main.runs (id, kind, source, source_sha256, started, status, error, squeeze_version)
                SELECT o.run, 'script', '', '', coalesce((SELECT max(started) FROM main.runs r WHERE r.id < o.run), 0), 'crashed',
                       'this run''s own record was on a damaged page; squeeze doctor recovered its other rows', '?'
                FROM (SELECT run FROM main.params UNION SELECT run FROM main.statements UNION SELECT run FROM main.metrics
                      UNION SELECT run FROM main.notes UNION SELECT run FROM main.artifacts UNION SELECT run FROM main.cells) o
                WHERE o.run NOT IN (SELECT id FROM main.runs)
                """)
            // Runs from before schema 5, and placeholders, get their globally unique id.
            try out.execute("UPDATE main.runs SET uuid = lower(hex(randomblob(16))) WHERE uuid IS NULL")
            // Runs that lost their whole source (placeholders, sessions that crashed) get it back from their cells.
            let bare = try out.rows("SELECT id FROM main.runs WHERE source = '' AND id IN (SELECT run FROM main.cells)").compactMap {
                $0[0].int
            }
            try completeSourcesFromCells(out, runs: bare)
            report.copied = try tables.map { table, _ in (table, try out.rows("SELECT count(*) FROM main.\(table)").first?[0].int ?? 0) }
            report.placeholderRuns = report.copied[0].rows - before
            try out.execute("DETACH DATABASE old")
            try out.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        }
        // Swap: the damaged file (and its journal) aside, the rebuilt one in its place.
        report.damagedCopy = path + ".corrupt-" + stamp()
        for suffix in ["", "-wal", "-shm"] where fm.fileExists(atPath: path + suffix) {
            try fm.moveItem(atPath: path + suffix, toPath: report.damagedCopy + suffix)
        }
        for suffix in ["-wal", "-shm"] { try? fm.removeItem(atPath: fresh + suffix) }
        try fm.moveItem(atPath: fresh, toPath: path)
        return report
    }
}
