import Foundation
import History
import Recipe

/// Records one run into the history as the interpreter reports it: each top-level statement, with
/// the output, metrics, notes, parameters and artifacts it produced, is committed when it finishes.
///
/// Commits happen on a writer thread (group commit): a finished statement is handed over and the
/// writer commits everything waiting in one transaction, at once when idle. So a fast recipe is not
/// slowed by one SQLite commit per statement, and a crash loses only what the writer had not yet
/// committed — at most the last few microseconds' statements. `finish` waits for the writer.
/// A failure to write the history never stops the recipe: it is reported once and recording stops.
public final class RunRecorder: RunObserver, @unchecked Sendable {
    public let store: HistoryStore
    /// Set on `writer` once the run's row exists.
    var id: Int?
    /// Lines of the `# %%` markers of the source (a statement's cell is the number of markers above it).
    let cellLines: [Int]
    /// Relative artifact paths are recorded relative to this directory.
    let outDirectory: URL?
    let warn: (String) -> Void
    /// Touched only on `writer`.
    var broken = false
    let writer = DispatchQueue(label: "squeeze.history.writer")
    let lock = NSLock()
    /// Finished statements not yet committed (guarded by `lock`).
    var pending: [Finished] = []

    /// A finished statement as the interpreter reported it; turned into rows on the writer, so the
    /// recipe's thread only appends to a list.
    struct Finished {
        let index: Int
        let span: SourceSpan
        let seconds: Double
        let status: String
        let error: String?
        let cell: Int?
        let lineOffset: Int
        let output: String
        let result: String?
        let metrics: [MetricRecord]
        let artifacts: [ArtifactRecord]
        let notes: [String]
        let parameters: [(position: Int, ParameterRecord)]
    }
    var flushScheduled = false
    /// Set on the writer queue by the first `finish`.
    var finished = false

    // What the running statement has produced so far.
    var output = ""
    var result: String?
    var metrics: [MetricRecord] = []
    var artifacts: [ArtifactRecord] = []
    var notes: [String] = []
    var parameters: [(position: Int, ParameterRecord)] = []
    var metricSeq = 0
    var parameterCount = 0
    var currentStatement: Int?

    // A REPL session: each input is a cell appended to the run's source.
    var source: String
    var lineOffset = 0
    /// Lines in `source` so far (kept as cells are appended, never recounted).
    var sourceLines: Int
    var inputCell: Int?
    var inputs = 0

    /// Starts recording. The run's row is written on the writer thread, so the recipe starts at
    /// once; `environment`, when given, is also gathered there (it reads /proc and may run git).
    public init(
        store: HistoryStore, start: RunStart, cellLines: [Int] = [], environment: (@Sendable () -> RunEnvironment)? = nil,
        warn: @escaping (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
    ) {
        self.store = store
        self.cellLines = cellLines
        self.outDirectory = start.outDirectory.map { URL(fileURLWithPath: $0).standardizedFileURL }
        self.warn = warn
        self.source = start.source
        self.sourceLines = start.source.reduce(0) { $1 == "\n" ? $0 + 1 : $0 }
        writer.async { [self] in
            var start = start
            if let environment { start.environment = environment() }
            attempt { id = try store.beginRun(start) }
        }
    }

    /// The run's id in the history (nil if it could not be recorded). Waits for the writer.
    public var runID: Int? { writer.sync { id } }

    /// Runs on `writer`.
    func attempt(_ body: () throws -> Void) {
        guard !broken else { return }
        do { try body() } catch {
            broken = true
            warn("squeeze: could not write the history '\(store.path)' (\(error)); this run is no longer being recorded")
        }
    }

    /// The REPL calls this before running each input: the input becomes the next cell of the
    /// session's source (`# %% In [n]`), and its statements are recorded against that cell.
    public func beginInput(_ text: String) {
        inputs += 1
        let header = "# %% In [\(inputs)]\n"
        lineOffset = sourceLines + 1
        let cell = header + text + (text.hasSuffix("\n") ? "" : "\n")
        sourceLines += cell.reduce(0) { $1 == "\n" ? $0 + 1 : $0 }
        source += cell
        inputCell = inputs
        let index = inputs
        writer.async { [self] in
            flush()
            guard let id else { return }
            attempt { try store.appendCell(run: id, index: index, text: cell) }
        }
    }

    /// Commits what is pending and records how the run ended; returns when it is on disk.
    /// Marks the run finished; only the first call counts (a second Ctrl-C may race the end of a run).
    public func finish(status: RunStatus, error: String? = nil) {
        let whole = inputs > 0 ? source : nil  // a session's cells, written whole once
        writer.sync {
            flush()
            guard let id, !finished else { return }
            finished = true
            attempt { try store.finishRun(id, status: status, error: error, source: whole) }
        }
    }

    /// Waits until every finished statement is committed.
    public func sync() {
        writer.sync { flush() }
    }

    func enqueue(_ batch: Finished) {
        lock.lock()
        pending.append(batch)
        let schedule = !flushScheduled
        flushScheduled = true
        lock.unlock()
        if schedule { writer.async { [self] in flush() } }
    }

    /// On `writer`: commits everything pending in one transaction.
    func flush() {
        lock.lock()
        let batches = pending
        pending = []
        flushScheduled = false
        lock.unlock()
        guard !batches.isEmpty, let id else { return }
        attempt { try store.record(run: id, batches.map(batch)) }
    }

    // MARK: - RunObserver

    public func statementStarted(index: Int, span: SourceSpan) {
        currentStatement = index
        output = ""
        result = nil
        metrics = []
        artifacts = []
        notes = []
        parameters = []
    }

    public func statementFinished(index: Int, span: SourceSpan, seconds: Double, error: Diagnostic?) {
        let status = error.map { $0.kind == .interrupted ? "interrupted" : "failed" } ?? "completed"
        enqueue(
            Finished(
                index: index, span: span, seconds: seconds, status: status, error: error?.render(), cell: inputCell,
                lineOffset: lineOffset, output: output, result: result, metrics: metrics, artifacts: artifacts, notes: notes,
                parameters: parameters))
        currentStatement = nil
    }

    /// On `writer`: the rows of a finished statement.
    func batch(_ f: Finished) -> HistoryStore.StatementBatch {
        let file = f.span.file
        let (line, column) = file.location(of: f.span.start)
        let (endLine, endColumn) = file.location(of: f.span.end)
        let text = String(decoding: file.bytes[f.span.start..<min(f.span.end, file.bytes.count)], as: UTF8.self)
        let cell = f.cell ?? cellLines.reduce(0) { $1 <= line ? $0 + 1 : $0 }
        let record = StatementRecord(
            index: f.index, cell: cell, line: line + f.lineOffset, column: column,
            endLine: endLine + f.lineOffset, endColumn: endColumn, text: text, seconds: f.seconds,
            status: f.status, error: f.error, output: f.output, result: f.result)
        return HistoryStore.StatementBatch(
            statement: record, metrics: f.metrics, artifacts: f.artifacts,
            notes: f.notes, parameters: f.parameters)
    }

    public func parameter(name: String, value: Value, defaultValue: Value, overridden: Bool) {
        parameters.append(
            (
                parameterCount,
                ParameterRecord(
                    name: name, value: Format.inline(value),
                    defaultValue: Format.inline(defaultValue), overridden: overridden)
            ))
        parameterCount += 1
    }

    public func metric(name: String, value: Double, step: Int?) {
        metrics.append(MetricRecord(seq: metricSeq, statement: currentStatement, name: name, value: value, step: step))
        metricSeq += 1
    }

    public func note(_ text: String) { notes.append(text) }

    public func output(_ text: String) { output += text }

    public func valueShown(_ text: String) { result = (result.map { $0 + "\n" } ?? "") + text }

    /// A file the statement wrote: digested and, up to the history's `artifactLimit` bytes, copied
    /// into its artifact store, so later runs writing the same path cannot take it away.
    public func artifact(path: String, kind: String) {
        let url = URL(fileURLWithPath: path).standardizedFileURL
        guard let kept = store.artifactStore.keep(path: url.path, kind: kind, limit: store.artifactLimit) else { return }
        var shown = url.path
        if let root = outDirectory?.path, shown.hasPrefix(root + "/") { shown = String(shown.dropFirst(root.count + 1)) }
        artifacts.append(
            ArtifactRecord(
                statement: currentStatement, path: shown, kind: kind, bytes: kept.bytes, sha256: kept.sha256, stored: kept.stored))
    }
}
