import Foundation
import History
import Recipe

/// `squeeze export`: a run as a Jupyter notebook (nbformat 4.5) or a Markdown report.
public enum Notebook {
    /// The source split at its `# %%` markers: cell 0 is what precedes the first marker (dropped
    /// when blank), cell k starts at the k-th marker line. Statement records carry the same numbers.
    public struct Cell {
        public let index: Int
        /// The cell's lines, its `# %%` marker included.
        public let text: String
        /// The cell without its marker line.
        public var body: String {
            guard index > 0 else { return text }
            return text.firstIndex(of: "\n").map { String(text[text.index(after: $0)...]) } ?? ""
        }
    }

    public static func cells(_ source: String) -> [Cell] {
        let markers = Parser.parse(SourceFile(name: "<source>", text: source)).cells.map(\.line)
        var lines = source.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        var out: [Cell] = []
        var bounds = [1] + markers
        bounds.append(lines.count + 1)
        for k in 0..<(bounds.count - 1) {
            let lo = bounds[k], hi = bounds[k + 1]
            guard lo < hi || k > 0 else { continue }
            let text = lines[max(0, lo - 1)..<max(lo - 1, min(hi - 1, lines.count))].joined(separator: "\n")
            if k == 0 && text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { continue }
            out.append(Cell(index: k, text: text))
        }
        return out
    }

    /// The absolute path of an artifact of `run`.
    static func artifactPath(_ a: ArtifactRecord, _ run: RunRecord) -> String {
        if a.path.hasPrefix("/") { return a.path }
        return URL(fileURLWithPath: run.outDirectory ?? FileManager.default.currentDirectoryPath).appendingPathComponent(a.path).path
    }

    /// Where the bytes the run wrote are now: the history's stored copy, else the file itself if it
    /// still holds what the run wrote; nil when neither does.
    public static func recordedFile(_ a: ArtifactRecord, _ run: RunRecord) -> String? {
        for path in [a.copy, artifactPath(a, run)].compactMap({ $0 }) where SHA256.file(path)?.hex == a.sha256 { return path }
        return nil
    }

    /// An artifact's bytes as the run wrote them, if they can still be had.
    static func unchangedBytes(_ a: ArtifactRecord, _ run: RunRecord) -> Data? {
        recordedFile(a, run).flatMap { FileManager.default.contents(atPath: $0) }
    }

    static func lines(_ text: String) -> [String] {
        var parts = text.split(separator: "\n", omittingEmptySubsequences: false).map { String($0) + "\n" }
        if let last = parts.last {
            parts[parts.count - 1] = String(last.dropLast())
            if parts[parts.count - 1].isEmpty { parts.removeLast() }
        }
        return parts
    }

    /// nbformat 4.5 JSON: a Markdown cell describing the run, then one code cell per `# %%` cell with
    /// its captured output, errors and the PNGs its statements wrote.
    public static func ipynb(_ run: RunRecord) -> String {
        var notebookCells: [[String: Any]] = []
        notebookCells.append([
            "cell_type": "markdown", "id": "run-summary", "metadata": [String: Any](),
            "source": lines(summaryMarkdown(run)),
        ])
        var count = 0
        for cell in cells(run.source) {
            let statements = run.statements.filter { $0.cell == cell.index }
            var outputs: [[String: Any]] = []
            let text = statements.map(\.output).joined()
            if !text.isEmpty { outputs.append(["output_type": "stream", "name": "stdout", "text": lines(text)]) }
            let indices = Set(statements.map(\.index))
            for a in run.artifacts where a.statement.map(indices.contains) == true {
                if a.kind == "png", let data = unchangedBytes(a, run) {
                    outputs.append([
                        "output_type": "display_data", "metadata": [String: Any](),
                        "data": ["image/png": data.base64EncodedString(), "text/plain": ["<\(a.path)>"]],
                    ])
                } else {
                    outputs.append(["output_type": "stream", "name": "stdout", "text": ["wrote \(a.path) (\(a.bytes) bytes)\n"]])
                }
            }
            // What the cell displayed, as Jupyter shows a cell's value (its count is set below).
            let results = statements.compactMap(\.result)
            if !results.isEmpty {
                outputs.append([
                    "output_type": "execute_result", "metadata": [String: Any](), "execution_count": count + 1,
                    "data": ["text/plain": lines(results.joined(separator: "\n"))],
                ])
            }
            for s in statements where s.error != nil {
                let e = s.error ?? ""
                outputs.append([
                    "output_type": "error", "ename": s.status == "interrupted" ? "Interrupted" : "Error",
                    "evalue": e.split(separator: "\n").first.map(String.init) ?? e,
                    "traceback": e.split(separator: "\n").map(String.init),
                ])
            }
            var c: [String: Any] = [
                "cell_type": "code", "id": "cell-\(cell.index)", "metadata": [String: Any](),
                "source": lines(cell.body), "outputs": outputs,
            ]
            if statements.isEmpty {
                c["execution_count"] = NSNull()
            } else {
                count += 1
                c["execution_count"] = count
            }
            notebookCells.append(c)
        }
        let meta: [String: Any] = [
            "kernelspec": ["name": "squeeze", "display_name": "squeeze", "language": "squeeze"],
            "language_info": ["name": "squeeze", "file_extension": ".recipe", "mimetype": "text/x-squeeze-recipe"],
            "squeeze": Report.json(run),
        ]
        return TextTable.json(["nbformat": 4, "nbformat_minor": 5, "metadata": meta, "cells": notebookCells])
    }

    static func summaryMarkdown(_ run: RunRecord) -> String {
        var s = "# squeeze run \(run.id): \(run.recipeName)\n\n"
        s += "\(run.kind) run, **\(run.status.rawValue)**, started \(Report.when(run.started))"
        if let d = run.duration { s += ", \(RunTable.duration(d))" }
        if let seed = run.seed { s += ", seed \(seed)" }
        s += ". Replay with `squeeze replay \(run.id)`.\n"
        if !run.parameters.isEmpty {
            s += "\n| parameter | value | default |\n|---|---|---|\n"
            for p in run.parameters { s += "| \(p.name) | `\(p.value)`\(p.overridden ? " (-p)" : "") | `\(p.defaultValue)` |\n" }
        }
        let sums = Report.summaries(run)
        if !sums.isEmpty {
            s += "\n| metric | last | min | max | n |\n|---|---|---|---|---|\n"
            for m in sums {
                s += "| \(m.name) | \(RunTable.number(m.last)) | \(RunTable.number(m.min)) | \(RunTable.number(m.max)) | \(m.count) |\n"
            }
        }
        s += "\n"
        for (k, v) in run.environment.fields { s += "- \(k): \(v)\n" }
        return s
    }

    /// A readable report: the summary, then each cell's code, output and linked plots. Links are
    /// relative to `linkBase` (the report's directory) when given.
    public static func markdown(_ run: RunRecord, linkBase: URL? = nil) -> String {
        var s = summaryMarkdown(run)
        for cell in cells(run.source) {
            s += "\n```\n\(cell.text)\n```\n"
            let statements = run.statements.filter { $0.cell == cell.index }
            let text = statements.map(\.output).joined()
            if !text.isEmpty { s += "\nOutput:\n\n```text\n\(text.hasSuffix("\n") ? String(text.dropLast()) : text)\n```\n" }
            let results = statements.compactMap(\.result)
            if !results.isEmpty { s += "\nValue:\n\n```text\n\(results.joined(separator: "\n"))\n```\n" }
            for st in statements {
                if let e = st.error { s += "\n**\(st.status)**:\n\n```text\n\(e.trimmingCharacters(in: .newlines))\n```\n" }
            }
            let indices = Set(statements.map(\.index))
            for a in run.artifacts where a.statement.map(indices.contains) == true {
                // The stored copy: the file at the run's path may since hold another run's result.
                let kept = recordedFile(a, run)
                let path = link(kept ?? artifactPath(a, run), base: linkBase)
                let lost = kept == nil ? "\n(\(a.path) no longer holds what this run wrote, and the history kept no copy.)\n" : ""
                s +=
                    (a.kind == "png"
                        ? "\n![\(a.path)](\(path))\n"
                        : "\nWrote [\(a.path)](\(path)) (\(a.bytes) bytes, sha256 `\(a.sha256.prefix(16))…`).\n")
                    + lost
            }
        }
        return s
    }

    static func link(_ path: String, base: URL?) -> String {
        guard let base else { return path }
        let p = URL(fileURLWithPath: path).standardizedFileURL.pathComponents
        let b = base.standardizedFileURL.pathComponents
        var common = 0
        while common < min(p.count, b.count) && p[common] == b[common] { common += 1 }
        let ups = Array(repeating: "..", count: b.count - common)
        return (ups + p[common...]).joined(separator: "/")
    }
}
