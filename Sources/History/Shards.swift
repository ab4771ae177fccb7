import Foundation

/// Sweeps and their shards. A sweep run by a cluster writes each task's runs into a history of its
/// own (SQLite's WAL is unsafe over a network file system, so no two nodes share a file); `merge`
/// brings a shard's finished runs into this history with everything recorded under them and the
/// artifacts they kept. Runs carry a globally unique id, so merging a shard twice adds nothing.
extension HistoryStore {
    /// A sweep as registered in the history.
    public struct SweepRecord: Sendable {
        public let id: String
        public let name: String
        public let recipe: String
        public let folder: String
        public let engine: String
        public let created: Date
        public let points: Int
        public let manifest: String
    }

    /// What merging one shard did.
    public struct MergeResult: Sendable, Equatable {
        public var added = 0
        /// Runs already in this history (collected before).
        public var present = 0
        /// Runs still running in the shard (left for a later collect).
        public var running = 0
        public var artifactsCopied = 0
        public init() {}
    }

    /// Registers a sweep; a sweep of that name already registered is returned instead.
    public func registerSweep(
        id: String, name: String, recipe: String, folder: String, engine: String, points: Int, manifest: String
    ) throws -> SweepRecord {
        if let existing = try sweep(named: name) { return existing }
        try db.run(
            "INSERT INTO sweeps (id, name, recipe, folder, engine, created, points, manifest) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [.text(id), .text(name), .text(recipe), .text(folder), .text(engine), .real(Date().timeIntervalSince1970),
             .int(Int64(points)), .text(manifest)])
        return try sweep(named: name)!
    }

    /// Updates a sweep's manifest (a resumed sweep, a Slurm job id).
    public func updateSweep(name: String, engine: String, points: Int, manifest: String) throws {
        try db.run("UPDATE sweeps SET engine = ?, points = ?, manifest = ? WHERE name = ?",
                   [.text(engine), .int(Int64(points)), .text(manifest), .text(name)])
    }

    public func sweep(named name: String) throws -> SweepRecord? {
        try db.rows("SELECT id, name, recipe, folder, engine, created, points, manifest FROM sweeps WHERE name = ?", [.text(name)])
            .first.map(HistoryStore.sweepRecord)
    }

    public func sweeps() throws -> [SweepRecord] {
        try db.rows("SELECT id, name, recipe, folder, engine, created, points, manifest FROM sweeps ORDER BY created")
            .map(HistoryStore.sweepRecord)
    }

    static func sweepRecord(_ r: Row) -> SweepRecord {
        SweepRecord(
            id: r[0].string ?? "", name: r[1].string ?? "", recipe: r[2].string ?? "", folder: r[3].string ?? "",
            engine: r[4].string ?? "", created: Date(timeIntervalSince1970: r[5].double ?? 0), points: r[6].int ?? 0,
            manifest: r[7].string ?? "{}")
    }

    /// Opens a shard for merging: a damaged file is an error (never moved aside and replaced, as
    /// the main history would be), and runs of this host whose process died are marked crashed.
    public static func openShard(path: String) throws -> HistoryStore {
        guard FileManager.default.fileExists(atPath: path) else {
            throw HistoryError.cannotOpen(path: path, reason: "no such file")
        }
        do {
            let probe = try Database(path: path, readOnly: true)
            let check = try probe.rows("PRAGMA quick_check").compactMap { $0[0].string }
            guard check == ["ok"] else {
                throw HistoryError.cannotOpen(path: path, reason: "damaged: " + check.prefix(3).joined(separator: "; "))
            }
        } catch let e as SQLiteError {
            throw HistoryError.cannotOpen(path: path, reason: "damaged: \(e.message)")
        }
        return try HistoryStore(path: path, create: false, setAsideDamaged: false)
    }

    /// Merges the finished runs of `shard` that this history does not hold yet (by uuid), with
    /// their parameters, statements, metrics, notes, cells and artifacts, and copies the artifact
    /// files the shard's store holds into this one. One transaction: a crash leaves nothing half-merged.
    public func merge(shard: HistoryStore) throws -> MergeResult {
        var result = MergeResult()
        let list = try db.rows("PRAGMA table_info(runs)").compactMap { $0[1].string }.filter { $0 != "id" }.joined(separator: ", ")
        // The tables under a run, with their columns but `run` (the same for every run merged).
        let children = try ["params", "statements", "metrics", "notes", "artifacts", "cells"].map { table in
            (table, try db.rows("PRAGMA main.table_info(\(table))").compactMap { $0[1].string }.filter { $0 != "run" }
                .joined(separator: ", "))
        }
        let candidates = try shard.db.rows("SELECT id, uuid, status FROM runs ORDER BY id")
        try db.execute("ATTACH DATABASE '\(shard.path.replacingOccurrences(of: "'", with: "''"))' AS shard")
        defer { try? db.execute("DETACH DATABASE shard") }
        var copied: [(sha: String, kind: String, bytes: Int)] = []
        try db.transaction {
            for row in candidates {
                guard let old = row[0].int, let uuid = row[1].string else { continue }
                if row[2].string == RunStatus.running.rawValue { result.running += 1; continue }
                if try !db.rows("SELECT 1 FROM main.runs WHERE uuid = ?", [.text(uuid)]).isEmpty { result.present += 1; continue }
                let o = SQLValue.int(Int64(old))
                try db.run("INSERT INTO main.runs (\(list)) SELECT \(list) FROM shard.runs WHERE id = ?", [o])
                let new = SQLValue.int(db.lastInsertID)
                // A replay's original is a run of the shard, not of this history.
                try db.run("UPDATE main.runs SET replay_of = NULL, pid = NULL, pid_start = NULL WHERE id = ?", [new])
                for (table, c) in children {
                    try db.run("INSERT INTO main.\(table) (run, \(c)) SELECT ?, \(c) FROM shard.\(table) WHERE run = ?", [new, o])
                }
                for a in try db.rows("SELECT sha256, kind, bytes FROM shard.artifacts WHERE run = ? AND stored = 1", [o]) {
                    copied.append((a[0].string ?? "", a[1].string ?? "", a[2].int ?? 0))
                }
                result.added += 1
            }
        }
        // The copies the merged rows point at (content-addressed: one already there is kept).
        let fm = FileManager.default
        for a in copied where !artifactStore.holds(sha256: a.sha, kind: a.kind, bytes: a.bytes) {
            let from = shard.artifactStore.location(sha256: a.sha, kind: a.kind)
            let to = artifactStore.location(sha256: a.sha, kind: a.kind)
            guard ArtifactStore.holds(file: from.path, bytes: a.bytes) else { continue }
            try? fm.createDirectory(at: to.deletingLastPathComponent(), withIntermediateDirectories: true)
            let scratch = to.deletingLastPathComponent().appendingPathComponent("incoming-\(UUID().uuidString)")
            do {
                try fm.copyItem(at: from, to: scratch)
                try fm.moveItem(at: scratch, to: to)
                result.artifactsCopied += 1
            } catch {
                try? fm.removeItem(at: scratch)
            }
        }
        return result
    }

    /// Marks every run still `running` as crashed, with `reason`; the number marked. For a shard
    /// whose task is known to have ended (its process may have been on another host, where the
    /// pid check of `markCrashedRuns` cannot look).
    public func markRunningRunsCrashed(reason: String) throws -> Int {
        let ids = try db.rows("SELECT id FROM runs WHERE status = 'running'").compactMap { $0[0].int }
        for id in ids {
            try db.run(
                """
                UPDATE runs SET status = 'crashed', error = ?,
                    finished = started + (SELECT coalesce(sum(seconds), 0) FROM statements WHERE run = runs.id)
                WHERE id = ? AND status = 'running'
                """, [.text(reason), .int(Int64(id))])
        }
        try HistoryStore.completeSourcesFromCells(db, runs: ids)
        return ids.count
    }

    /// The runs of one sweep (by its name), with parameters and metrics loaded.
    public func runs(sweep name: String) throws -> [RunRecord] {
        try runs().filter { $0.sweep == name }
    }
}
