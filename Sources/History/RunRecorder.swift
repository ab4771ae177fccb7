import Foundation
import Recipe

/// Records one run into the history as the interpreter reports it: each top-level statement, with
/// the output, metrics, notes, parameters and artifacts it produced, is committed when it finishes.
/// A failure to write the history never stops the recipe: it is reported once and recording stops.
public final class RunRecorder: RunObserver {
    public let store: HistoryStore
    public let runID: Int
    /// Lines of the `# %%` markers of the source (a statement's cell is the number of markers above it).
    var cellLines: [Int]
    /// Relative artifact paths are recorded relative to this directory.
    let outDirectory: URL?
    let warn: (String) -> Void
    var broken = false

    // What the running statement has produced so far.
    var output = ""
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
    var inputCell: Int?
    var inputs = 0

    public init(store: HistoryStore, start: RunStart, cellLines: [Int] = [],
                warn: @escaping (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }) throws {
        self.store = store
        self.runID = try store.beginRun(start)
        self.cellLines = cellLines
        self.outDirectory = start.outDirectory.map { URL(fileURLWithPath: $0).standardizedFileURL }
        self.warn = warn
        self.source = start.source
    }

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
        lineOffset = source.reduce(0) { $1 == "\n" ? $0 + 1 : $0 } + 1
        source += header + text + (text.hasSuffix("\n") ? "" : "\n")
        inputCell = inputs
        attempt { try store.updateSource(run: runID, source: source) }
    }

    public func finish(status: RunStatus, error: String? = nil) {
        attempt { try store.finishRun(runID, status: status, error: error) }
    }

    // MARK: - RunObserver

    public func statementStarted(index: Int, span: SourceSpan) {
        currentStatement = index
        output = ""
        metrics = []
        artifacts = []
        notes = []
        parameters = []
    }

    public func statementFinished(index: Int, span: SourceSpan, seconds: Double, error: Diagnostic?) {
        let (line, column) = span.file.location(of: span.start)
        let (endLine, endColumn) = span.file.location(of: span.end)
        let text = String(decoding: span.file.bytes[span.start..<min(span.end, span.file.bytes.count)], as: UTF8.self)
        let cell = inputCell ?? cellLines.reduce(0) { $1 <= line ? $0 + 1 : $0 }
        let status = error.map { $0.kind == .interrupted ? "interrupted" : "failed" } ?? "completed"
        let record = StatementRecord(index: index, cell: cell, line: line + lineOffset, column: column,
                                     endLine: endLine + lineOffset, endColumn: endColumn, text: text, seconds: seconds,
                                     status: status, error: error?.render(), output: output)
        let batch = HistoryStore.StatementBatch(statement: record, metrics: metrics, artifacts: artifacts,
                                                notes: notes, parameters: parameters)
        attempt { try store.record(run: runID, batch) }
        currentStatement = nil
    }

    public func parameter(name: String, value: Value, defaultValue: Value, overridden: Bool) {
        parameters.append((parameterCount, ParameterRecord(name: name, value: Format.inline(value),
                                                            defaultValue: Format.inline(defaultValue), overridden: overridden)))
        parameterCount += 1
    }

    public func metric(name: String, value: Double, step: Int?) {
        metrics.append(MetricRecord(seq: metricSeq, statement: currentStatement, name: name, value: value, step: step))
        metricSeq += 1
    }

    public func note(_ text: String) { notes.append(text) }

    public func output(_ text: String) { output += text }

    public func artifact(path: String, kind: String) {
        let url = URL(fileURLWithPath: path).standardizedFileURL
        guard let digest = SHA256.file(url.path) else { return }
        var shown = url.path
        if let root = outDirectory?.path, shown.hasPrefix(root + "/") { shown = String(shown.dropFirst(root.count + 1)) }
        artifacts.append(ArtifactRecord(statement: currentStatement, path: shown, kind: kind, bytes: digest.bytes, sha256: digest.hex))
    }
}
