/// The history's tables. Each entry of `migrations` moves the schema one version forward; a database
/// is brought to `Schema.version` on open, and a database from a newer squeeze is refused.
enum Schema {
    static var version: Int { migrations.count }

    static let migrations: [String] = [
        // 1: runs, their parameters, statements, metrics, notes and artifacts.
        """
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('script', 'repl', 'replay')),
            recipe TEXT,
            source TEXT NOT NULL,
            source_sha256 TEXT NOT NULL,
            seed INTEGER,
            started REAL NOT NULL,
            finished REAL,
            status TEXT NOT NULL CHECK (status IN ('running', 'completed', 'failed', 'interrupted', 'crashed')),
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
        );
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
            status TEXT NOT NULL CHECK (status IN ('completed', 'failed', 'interrupted')),
            error TEXT,
            output TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (run, idx)
        );
        CREATE TABLE metrics (
            run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            statement INTEGER,
            name TEXT NOT NULL,
            value REAL,
            step INTEGER,
            PRIMARY KEY (run, seq)
        );
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
    ]
}
