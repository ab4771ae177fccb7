/// The history's tables. Each entry of `migrations` moves the schema one version forward; a database
/// is brought to `Schema.version` on open, and a database from a newer squeeze is refused.
/// Per-statement rows live in WITHOUT ROWID tables keyed by (run, …): one b-tree per insert and no
/// statement journal, which keeps a commit of many statements cheap. `REFERENCES` document the
/// links; they are not enforced (PRAGMA foreign_keys stays off) because nothing is ever deleted.
/// Enumerated columns are checked by the Swift types that write them, not by `CHECK (x IN (…))`:
/// SQLite evaluates such a check with a temporary b-tree on every insert (a third of a commit's cost).
enum Schema {
    static var version: Int { migrations.count }

    static let migrations: [String] = [
        // 1: runs, their parameters, statements, metrics, notes and artifacts.
        """
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,     -- script, repl, replay or notebook
            recipe TEXT,
            source TEXT NOT NULL,
            source_sha256 TEXT NOT NULL,
            seed INTEGER,
            started REAL NOT NULL,
            finished REAL,
            status TEXT NOT NULL,   -- running, completed, failed, interrupted or crashed
            error TEXT,
            squeeze_version TEXT NOT NULL,
            git_commit TEXT,
            git_dirty INTEGER,
            blas TEXT,
            blas_threads INTEGER,
            cores INTEGER,
            host TEXT,
            cpu TEXT,
            os TEXT,
            out_dir TEXT,
            replay_of INTEGER REFERENCES runs(id),
            pid INTEGER,
            pid_start INTEGER
        );
        CREATE INDEX runs_recipe ON runs(recipe);
        CREATE INDEX runs_status ON runs(status);
        CREATE TABLE params (
            run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            name TEXT NOT NULL,
            value TEXT NOT NULL,
            default_value TEXT NOT NULL,
            overridden INTEGER NOT NULL,
            PRIMARY KEY (run, name)
        ) WITHOUT ROWID;
        CREATE TABLE statements (
            run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            idx INTEGER NOT NULL,
            cell INTEGER NOT NULL,
            line INTEGER NOT NULL,
            col INTEGER NOT NULL,
            end_line INTEGER NOT NULL,
            end_col INTEGER NOT NULL,
            text TEXT NOT NULL,
            seconds REAL NOT NULL,
            status TEXT NOT NULL,   -- completed, failed or interrupted
            error TEXT,
            output TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (run, idx)
        ) WITHOUT ROWID;
        CREATE TABLE metrics (
            run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            statement INTEGER,
            name TEXT NOT NULL,
            value REAL,
            step INTEGER,
            PRIMARY KEY (run, seq)
        ) WITHOUT ROWID;
        CREATE INDEX metrics_name ON metrics(name);
        CREATE TABLE notes (
            run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            statement INTEGER,
            text TEXT NOT NULL
        );
        CREATE TABLE artifacts (
            run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            statement INTEGER,
            path TEXT NOT NULL,
            kind TEXT NOT NULL,
            bytes INTEGER NOT NULL,
            sha256 TEXT NOT NULL
        );
        """,
        // 2: a REPL session's inputs, one row per cell as it comes. The run's source is written whole
        // once, when the session ends (or when a later squeeze finds it crashed); rewriting it at
        // every input made a long session's recording quadratic in its length.
        """
        CREATE TABLE cells (
            run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            idx INTEGER NOT NULL,
            text TEXT NOT NULL,
            PRIMARY KEY (run, idx)
        ) WITHOUT ROWID;
        """,
        // 3: the value a REPL input displayed (its Jupyter execute_result), apart from what it printed.
        """
        ALTER TABLE statements ADD COLUMN result TEXT;
        """,
        // 4: whether the artifact store next to the database holds a copy of the file.
        """
        ALTER TABLE artifacts ADD COLUMN stored INTEGER NOT NULL DEFAULT 0;
        """,
        // 5: sweeps. Every run gets a globally unique id (so runs recorded in a sweep's shards are
        // merged into a history once, however often they are collected), and the sweep and point
        // it ran for.
        """
        ALTER TABLE runs ADD COLUMN uuid TEXT;
        UPDATE runs SET uuid = lower(hex(randomblob(16))) WHERE uuid IS NULL;
        CREATE UNIQUE INDEX runs_uuid ON runs(uuid);
        ALTER TABLE runs ADD COLUMN sweep TEXT;
        ALTER TABLE runs ADD COLUMN sweep_point TEXT;
        CREATE INDEX runs_sweep ON runs(sweep);
        CREATE TABLE sweeps (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            recipe TEXT NOT NULL,
            folder TEXT NOT NULL,
            engine TEXT NOT NULL,    -- local or slurm
            created REAL NOT NULL,
            points INTEGER NOT NULL,
            manifest TEXT NOT NULL   -- the sweep's sweep.json
        );
        """,
    ]
}
