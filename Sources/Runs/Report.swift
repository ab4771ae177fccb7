import Foundation
import History
import Recipe

/// `squeeze show` and `squeeze diff`, as text; runs as JSON objects.
public enum Report {
    static func when(_ d: Date) -> String { RunTable.dateFormatter.string(from: d) }

    static func header(_ run: RunRecord) -> String {
        var s = "run \(run.id) · \(run.kind) · \(run.recipe ?? run.recipeName) · \(run.status.rawValue)"
        if let d = run.duration { s += " · \(RunTable.duration(d))" }
        s += "\nstarted \(when(run.started))"
        if let seed = run.seed { s += " · seed \(seed)" }
        if let r = run.replayOf { s += " · replay of run \(r)" }
        return s + "\n"
    }

    /// Whether the history holds the bytes a run wrote: `stored`, `missing` (stored, since lost:
    /// `squeeze doctor`), or `hash only` (over the size limit, or recorded before the store existed).
    public static func copyState(_ a: ArtifactRecord) -> String {
        guard let copy = a.copy else { return "hash only" }
        return ArtifactStore.holds(file: copy, bytes: a.bytes) ? "stored" : "missing"
    }

    /// Everything recorded for one run.
    public static func show(_ run: RunRecord) -> String {
        var out = header(run)
        if let e = run.error { out += "\nerror:\n" + indent(e) }
        if !run.parameters.isEmpty {
            out += "\nparameters:\n"
            out +=
                TextTable.render(
                    header: ["name", "value", "default", "from"],
                    rows: run.parameters.map {
                        [$0.name, $0.value, $0.defaultValue, $0.overridden ? "-p" : "default"]
                    }
                ).split(separator: "\n").map { "  " + $0 }.joined(separator: "\n") + "\n"
        }
        if !run.metrics.isEmpty {
            out += "\nmetrics:\n"
            out += metricTable(run).split(separator: "\n").map { "  " + $0 }.joined(separator: "\n") + "\n"
            for series in stepped(run) {
                out +=
                    "  \(series.name) by step: " + series.points.map { "\($0.0): \(RunTable.number($0.1))" }.joined(separator: ", ") + "\n"
            }
        }
        if !run.artifacts.isEmpty {
            out += "\nartifacts:\n"
            out +=
                TextTable.render(
                    header: ["path", "kind", "bytes", "sha256", "copy"],
                    rows: run.artifacts.map {
                        [$0.path, $0.kind, String($0.bytes), String($0.sha256.prefix(16)), copyState($0)]
                    }
                ).split(separator: "\n").map { "  " + $0 }.joined(separator: "\n") + "\n"
        }
        if run.artifacts.contains(where: { $0.copy != nil }) {
            out += "  (squeeze artifact \(run.id) PATH -o FILE gets a stored copy back)\n"
        }
        if !run.notes.isEmpty {
            out += "\nnotes:\n" + run.notes.map { "  - " + $0 }.joined(separator: "\n") + "\n"
        }
        out += "\nenvironment:\n"
        for (k, v) in run.environment.fields { out += "  \(k.padding(toLength: 13, withPad: " ", startingAt: 0)) \(v)\n" }
        if let o = run.outDirectory { out += "  out dir       \(o)\n" }
        out += "\nsource (sha256 \(run.sourceSHA256.prefix(16))…):\n"
        let lines = run.source.split(separator: "\n", omittingEmptySubsequences: false)
        let width = String(lines.count).count
        for (i, l) in lines.enumerated() where !(i == lines.count - 1 && l.isEmpty) {
            out += "  " + String(i + 1).leftPad(width) + "  " + l + "\n"
        }
        return out
    }

    static func indent(_ s: String) -> String {
        s.split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }.joined(separator: "\n") + "\n"
    }

    struct MetricSummary {
        let name: String
        let last: Double, min: Double, max: Double
        let count: Int
    }

    static func summaries(_ run: RunRecord) -> [MetricSummary] {
        var order: [String] = []
        var values: [String: [Double]] = [:]
        for m in run.metrics {
            if values[m.name] == nil { order.append(m.name) }
            values[m.name, default: []].append(m.value)
        }
        return order.map { name in
            let xs = values[name] ?? []
            let finite = xs.filter { !$0.isNaN }
            return MetricSummary(name: name, last: xs.last ?? .nan, min: finite.min() ?? .nan, max: finite.max() ?? .nan, count: xs.count)
        }
    }

    static func metricTable(_ run: RunRecord) -> String {
        TextTable.render(
            header: ["name", "last", "min", "max", "n"],
            rows: summaries(run).map {
                $0.count == 1
                    ? [$0.name, RunTable.number($0.last), "", "", "1"]
                    : [$0.name, RunTable.number($0.last), RunTable.number($0.min), RunTable.number($0.max), String($0.count)]
            })
    }

    /// Metrics logged with `step:`, as (step, value) series; long series show their ends.
    static func stepped(_ run: RunRecord, limit: Int = 12) -> [(name: String, points: [(String, Double)])] {
        var order: [String] = []
        var series: [String: [(Int, Double)]] = [:]
        for m in run.metrics {
            guard let step = m.step else { continue }
            if series[m.name] == nil { order.append(m.name) }
            series[m.name, default: []].append((step, m.value))
        }
        return order.map { name in
            let pts = series[name] ?? []
            if pts.count <= limit { return (name, pts.map { (String($0.0), $0.1) }) }
            let head = pts.prefix(limit / 2).map { (String($0.0), $0.1) }
            let tail = pts.suffix(limit / 2).map { (String($0.0), $0.1) }
            return (name, head + [("…", Double.nan)] + tail)
        }
    }

    /// What differs between two runs (everything with `all`), and a unified diff of their sources.
    public static func diff(_ a: RunRecord, _ b: RunRecord, all: Bool = false) -> String {
        var out = "--- run \(a.id) (\(a.recipeName), \(a.status.rawValue), \(when(a.started)))\n"
        out += "+++ run \(b.id) (\(b.recipeName), \(b.status.rawValue), \(when(b.started)))\n"
        var same = true

        var rows: [[String]] = []
        if all || a.seed != b.seed { rows.append(["seed", a.seed.map(String.init) ?? "-", b.seed.map(String.init) ?? "-"]) }
        if all || a.status != b.status { rows.append(["status", a.status.rawValue, b.status.rawValue]) }
        if !rows.isEmpty {
            out += "\nrun:\n" + TextTable.render(header: ["", "run \(a.id)", "run \(b.id)"], rows: rows).indented(); same = false
        }

        var names: [String] = a.parameters.map(\.name)
        for p in b.parameters where !names.contains(p.name) { names.append(p.name) }
        rows = []
        for n in names {
            let x = a.parameter(n), y = b.parameter(n)
            if all || x?.value != y?.value {
                rows.append([
                    n, x.map { $0.value + ($0.overridden ? " (-p)" : "") } ?? "—",
                    y.map { $0.value + ($0.overridden ? " (-p)" : "") } ?? "—",
                ])
            }
        }
        if !rows.isEmpty {
            out += "\nparameters:\n" + TextTable.render(header: ["name", "run \(a.id)", "run \(b.id)"], rows: rows).indented(); same = false
        }

        let ma = Dictionary(summaries(a).map { ($0.name, $0) }, uniquingKeysWith: { x, _ in x })
        let mb = Dictionary(summaries(b).map { ($0.name, $0) }, uniquingKeysWith: { x, _ in x })
        var mnames = summaries(a).map(\.name)
        for m in summaries(b) where !mnames.contains(m.name) { mnames.append(m.name) }
        rows = []
        for n in mnames {
            let x = ma[n]?.last, y = mb[n]?.last
            let equal = x.map { xv in y.map { yv in xv == yv || (xv.isNaN && yv.isNaN) } ?? false } ?? (y == nil)
            if all || !equal {
                var delta = ""
                if let x, let y, x.isFinite, y.isFinite {
                    delta = (y - x >= 0 ? "+" : "") + RunTable.number(y - x)
                    if x != 0 { delta += String(format: " (%+.2f%%)", (y - x) / abs(x) * 100) }
                }
                rows.append([n, x.map { RunTable.number($0) } ?? "—", y.map { RunTable.number($0) } ?? "—", delta])
            }
        }
        if !rows.isEmpty {
            out +=
                "\nmetrics (last value):\n" + TextTable.render(header: ["name", "run \(a.id)", "run \(b.id)", "Δ"], rows: rows).indented();
            same = false
        }

        rows = []
        var paths = a.artifacts.map(\.path)
        for x in b.artifacts where !paths.contains(x.path) { paths.append(x.path) }
        for p in paths {
            let x = a.artifacts.last { $0.path == p }, y = b.artifacts.last { $0.path == p }
            if all || x?.sha256 != y?.sha256 {
                rows.append([p, x.map { String($0.sha256.prefix(12)) } ?? "—", y.map { String($0.sha256.prefix(12)) } ?? "—"])
            }
        }
        if !rows.isEmpty {
            out += "\nartifacts (sha256):\n" + TextTable.render(header: ["path", "run \(a.id)", "run \(b.id)"], rows: rows).indented();
            same = false
        }

        rows = []
        for ((k, x), (_, y)) in zip(a.environment.fields, b.environment.fields) where all || x != y { rows.append([k, x, y]) }
        if !rows.isEmpty {
            out += "\nenvironment:\n" + TextTable.render(header: ["", "run \(a.id)", "run \(b.id)"], rows: rows).indented(); same = false
        }

        if a.sourceSHA256 != b.sourceSHA256 {
            out += "\nsource:\n" + UnifiedDiff.render(a.source, b.source, from: "run \(a.id)", to: "run \(b.id)")
            same = false
        } else if all {
            out += "\nsource: identical (sha256 \(a.sourceSHA256.prefix(16))…)\n"
        }
        if same { out += "\nno differences in parameters, metrics, artifacts, environment or source (--all shows everything)\n" }
        return out
    }

    /// A run as a JSON object: `id`, `status`, `recipe`, `params`, `metrics` (last values) and the
    /// run's fields; `full` adds defaults, every metric point, artifacts, statements and the source.
    public static func json(_ run: RunRecord, full: Bool = false) -> [String: Any] {
        var o: [String: Any] = [
            "id": run.id, "kind": run.kind, "status": run.status.rawValue, "recipe": run.recipe ?? NSNull(),
            "started": ISO8601DateFormatter().string(from: run.started),
            "duration": run.duration.map { $0 as Any } ?? NSNull(),
            "seed": run.seed.map { $0 as Any } ?? NSNull(),
        ]
        var params: [String: Any] = [:]
        for p in run.parameters { params[p.name] = jsonValue(Literal.parse(p.value, name: p.name)) }
        o["params"] = params
        var metrics: [String: Any] = [:]
        for m in run.lastMetrics { metrics[m.name] = m.value.isFinite ? m.value : NSNull() }
        o["metrics"] = metrics
        if let r = run.replayOf { o["replay_of"] = r }
        guard full else { return o }
        o["error"] = run.error ?? NSNull()
        o["source"] = run.source
        o["source_sha256"] = run.sourceSHA256
        o["finished"] = run.finished.map { ISO8601DateFormatter().string(from: $0) as Any } ?? NSNull()
        o["out_dir"] = run.outDirectory ?? NSNull()
        o["parameters"] = run.parameters.map {
            ["name": $0.name, "value": $0.value, "default": $0.defaultValue, "overridden": $0.overridden]
        }
        o["metric_points"] = run.metrics.map { m -> [String: Any] in
            [
                "name": m.name, "value": m.value.isFinite ? m.value : NSNull(), "step": m.step.map { $0 as Any } ?? NSNull(),
                "statement": m.statement.map { $0 as Any } ?? NSNull(),
            ]
        }
        o["artifacts"] = run.artifacts.map {
            ["path": $0.path, "kind": $0.kind, "bytes": $0.bytes, "sha256": $0.sha256, "copy": $0.copy.map { $0 as Any } ?? NSNull()]
        }
        o["statements"] = run.statements.map { s -> [String: Any] in
            [
                "index": s.index, "cell": s.cell, "line": s.line, "column": s.column, "text": s.text, "seconds": s.seconds,
                "status": s.status, "error": s.error ?? NSNull(), "output": s.output,
            ]
        }
        o["notes"] = run.notes
        var env: [String: Any] = [:]
        let e = run.environment
        env["squeeze_version"] = e.squeezeVersion
        env["git_commit"] = e.gitCommit ?? NSNull()
        env["git_dirty"] = e.gitDirty ?? NSNull()
        env["blas"] = e.blas ?? NSNull()
        env["blas_threads"] = e.blasThreads ?? NSNull()
        env["cores"] = e.cores ?? NSNull()
        env["host"] = e.host ?? NSNull()
        env["cpu"] = e.cpu ?? NSNull()
        env["os"] = e.os ?? NSNull()
        o["environment"] = env
        return o
    }

    static func jsonValue(_ v: Value) -> Any {
        switch v {
        case .number(let x): return x.isFinite ? (x == x.rounded() && abs(x) < 1e15 ? Int(x) as Any : x as Any) : NSNull()
        case .bool(let b): return b
        case .string(let s): return s
        case .none: return NSNull()
        case .list(let xs): return xs.map(jsonValue)
        default: return Format.inline(v)
        }
    }
}

extension String {
    func leftPad(_ n: Int) -> String { String(repeating: " ", count: max(0, n - count)) + self }
    func indented() -> String { split(separator: "\n").map { "  " + $0 }.joined(separator: "\n") + "\n" }
}

/// A unified diff (`diff -u` style, three lines of context) from the standard library's Myers diff.
public enum UnifiedDiff {
    public static func render(_ a: String, _ b: String, from: String, to: String, context: Int = 3) -> String {
        func lines(_ s: String) -> [String] {
            var l = s.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            if s.hasSuffix("\n") { l.removeLast() }  // the final newline ends a line; it does not start one
            return l
        }
        let x = lines(a), y = lines(b)
        let change = y.difference(from: x)
        var removed = Set<Int>(), inserted = Set<Int>()
        for c in change {
            switch c {
            case .remove(let o, _, _): removed.insert(o)
            case .insert(let o, _, _): inserted.insert(o)
            }
        }
        // Walk both sides in step, producing (op, text, oldLine, newLine).
        var ops: [(Character, String)] = []
        var i = 0, j = 0
        while i < x.count || j < y.count {
            if i < x.count && removed.contains(i) {
                ops.append(("-", x[i])); i += 1
            } else if j < y.count && inserted.contains(j) {
                ops.append(("+", y[j])); j += 1
            } else if i < x.count && j < y.count {
                ops.append((" ", x[i])); i += 1; j += 1
            } else {
                break
            }
        }
        var out = "--- \(from)\n+++ \(to)\n"
        let changed = ops.indices.filter { ops[$0].0 != " " }
        guard !changed.isEmpty else { return out }
        // Group changes whose contexts touch into hunks.
        var hunks: [ClosedRange<Int>] = []
        for c in changed {
            let lo = max(0, c - context), hi = min(ops.count - 1, c + context)
            if let last = hunks.last, lo <= last.upperBound + 1 {
                hunks[hunks.count - 1] = last.lowerBound...hi
            } else {
                hunks.append(lo...hi)
            }
        }
        for h in hunks {
            var oldStart = 1, newStart = 1
            for k in 0..<h.lowerBound {
                if ops[k].0 != "+" { oldStart += 1 }
                if ops[k].0 != "-" { newStart += 1 }
            }
            let oldCount = ops[h].filter { $0.0 != "+" }.count, newCount = ops[h].filter { $0.0 != "-" }.count
            // GNU's form: a count of one is left out; an empty range names the line before it.
            func range(_ start: Int, _ count: Int) -> String {
                count == 1 ? "\(start)" : "\(count == 0 ? start - 1 : start),\(count)"
            }
            out += "@@ -\(range(oldStart, oldCount)) +\(range(newStart, newCount)) @@\n"
            for k in h { out += String(ops[k].0) + ops[k].1 + "\n" }
        }
        return out
    }
}
