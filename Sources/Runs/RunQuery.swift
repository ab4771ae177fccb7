import Foundation
import History
import Recipe

/// `--where`: a recipe expression over a run's parameters, last metric values and fields (`id`,
/// `status`, `recipe`, `kind`, `seed`, `duration`). A run lacking a name the expression uses does
/// not match; a name no run has is an error with a suggestion.
public struct RunFilter {
    let text: String
    let program: Program

    public init(_ text: String) throws {
        self.text = text
        program = Parser.parse(SourceFile(name: "--where", text: text))
        if let d = program.diagnostics.first { throw d }
        guard program.statements.count == 1, case .expr = program.statements[0].kind else {
            throw Diagnostic(
                .syntax, "--where takes one expression, such as 'accuracy > 0.9 and k == 8'",
                at: program.statements.first?.span)
        }
    }

    /// The names a run offers to the filter.
    static func bindings(_ run: RunRecord) -> [(String, Value)] {
        var out: [(String, Value)] = [
            ("id", .number(Double(run.id))), ("status", .string(run.status.rawValue)),
            ("recipe", .string(run.recipeName)), ("kind", .string(run.kind)),
        ]
        if let s = run.seed { out.append(("seed", .number(Double(s)))) }
        if let d = run.duration { out.append(("duration", .number(d))) }
        for p in run.parameters { out.append((p.name, Literal.parse(p.value, name: p.name))) }
        for m in run.lastMetrics { out.append((m.name, .number(m.value))) }
        return out
    }

    func evaluate(_ bindings: [(String, Value)]) throws -> Value {
        let interp = Interpreter(seed: 0, sandbox: Sandbox(baseDirectory: URL(fileURLWithPath: "/")), write: { _ in })
        defer { interp.reset() }
        for (name, value) in bindings { interp.setGlobal(name, value) }
        var result = Value.none
        try interp.run(program) { result = $0 }
        return result
    }

    static func isUnknownName(_ d: Diagnostic) -> Bool { d.message.hasPrefix("unknown name") }

    /// The runs that match, in their order.
    public func apply(_ runs: [RunRecord]) throws -> [RunRecord] {
        // Check names against everything any run has, so a typo is an error, not an empty table.
        var union: [String: Value] = [:]
        for r in runs { for (n, v) in RunFilter.bindings(r) where union[n] == nil { union[n] = v } }
        do { _ = try evaluate(union.map { ($0.key, $0.value) }) } catch let d as Diagnostic where RunFilter.isUnknownName(d) {
            throw d
        } catch {}
        var out: [RunRecord] = []
        var firstError: Error?
        for r in runs {
            do {
                let v = try evaluate(RunFilter.bindings(r))
                guard case .bool(let b) = v else {
                    throw Diagnostic(
                        .runtime, "--where must give true or false, got \(v.typeName) (\(Format.inline(v)))", at: program.statements[0].span
                    )
                }
                if b { out.append(r) }
            } catch let d as Diagnostic where RunFilter.isUnknownName(d) {
                continue
            } catch {
                firstError = firstError ?? error
            }
        }
        if out.isEmpty, let e = firstError { throw e }
        return out
    }
}

/// A column of `squeeze runs`: a run field, a parameter or a metric.
public enum RunKey: Equatable {
    case field(String)
    case parameter(String)
    case metric(String)

    static let fields = ["id", "when", "recipe", "kind", "status", "duration", "seed"]

    /// Resolves a name: a field, else a parameter of some run, else a metric of some run.
    static func resolve(_ name: String, in runs: [RunRecord]) throws -> RunKey {
        if fields.contains(name) { return .field(name) }
        if runs.contains(where: { $0.parameter(name) != nil }) { return .parameter(name) }
        if runs.contains(where: { r in r.metrics.contains { $0.name == name } }) { return .metric(name) }
        var known = Set(fields)
        for r in runs { known.formUnion(r.parameters.map(\.name)); known.formUnion(r.metrics.map(\.name)) }
        throw HistoryQueryError(
            "no field, parameter or metric named '\(name)'" + (Suggest.didYouMean(name, in: known).map { "; \($0)" } ?? ""))
    }

    var name: String {
        switch self {
        case .field(let n), .parameter(let n), .metric(let n): return n
        }
    }
}

public struct HistoryQueryError: Error, CustomStringConvertible {
    public let description: String
    public init(_ s: String) { description = s }
}

/// A cell value for sorting, display and aggregation.
enum Cell: Comparable, Hashable {
    case missing
    case number(Double)
    case text(String)

    static func < (a: Cell, b: Cell) -> Bool {
        switch (a, b) {
        case let (.number(x), .number(y)): return x < y
        case let (.text(x), .text(y)): return x < y
        case (.number, .text): return true
        case (.missing, .missing): return false
        case (.missing, _): return false
        case (_, .missing): return true
        case (.text, .number): return false
        }
    }

    var number: Double? { if case .number(let x) = self { return x }; return nil }

    func display(digits: Int = 6) -> String {
        switch self {
        case .missing: return ""
        case .text(let s): return s
        case .number(let x): return RunTable.number(x, digits: digits)
        }
    }
}

/// `squeeze runs`: selection, sorting, grouping and rendering.
public struct RunTable {
    public var filter: RunFilter?
    public var recipe: String?
    public var status: RunStatus?
    public var sort: String?
    public var limit: Int?
    public var metrics: [String]?
    public var groupBy: [String] = []
    public var aggregates: [String] = ["mean", "std"]
    /// Only runs of these kinds (script, repl, notebook, replay); nil: all.
    public var kinds: Set<String>?
    /// Only the runs of this sweep (by name).
    public var sweep: String?

    public init() {}

    /// Replays repeat a run: aggregates count each experiment once unless `--kind` asks for replays.
    var aggregatesReplays: Bool { kinds?.contains("replay") ?? false }

    static let dateFormatter: DateFormatter = {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.dateFormat = "yyyy-MM-dd HH:mm:ss"
        return f
    }()

    public static func number(_ x: Double, digits: Int = 6) -> String {
        if x.isNaN { return "nan" }
        if x.isInfinite { return x > 0 ? "inf" : "-inf" }
        if x == x.rounded(), abs(x) < 1e15 { return String(Int64(x)) }
        // Full precision is the shortest text that reads back as the same Double.
        return digits >= 17 ? "\(x)" : String(format: "%.\(digits)g", x)
    }

    static func cell(_ run: RunRecord, _ key: RunKey) -> Cell {
        switch key {
        case .field(let f):
            switch f {
            case "id": return .number(Double(run.id))
            case "when": return .text(dateFormatter.string(from: run.started))
            case "recipe": return .text(run.recipeName)
            case "kind": return .text(run.kind)
            case "status": return .text(run.status.rawValue)
            case "duration": return run.duration.map { .number($0) } ?? .missing
            case "seed": return run.seed.map { .number(Double($0)) } ?? .missing
            default: return .missing
            }
        case .parameter(let p):
            guard let v = run.parameter(p)?.value else { return .missing }
            if case .number(let x) = Literal.parse(v, name: p) { return .number(x) }
            if case .string(let s) = Literal.parse(v, name: p) { return .text(s) }
            return .text(v)
        case .metric(let m):
            guard let last = run.metrics.last(where: { $0.name == m }) else { return .missing }
            return .number(last.value)
        }
    }

    /// Selects and orders runs.
    public func select(_ all: [RunRecord]) throws -> [RunRecord] {
        var runs = all
        if let recipe {
            runs = runs.filter { $0.recipe == recipe || $0.recipeName == recipe || $0.recipe?.hasSuffix("/" + recipe) == true }
        }
        if let status { runs = runs.filter { $0.status == status } }
        if let sweep { runs = runs.filter { $0.sweep == sweep } }
        if let kinds { runs = runs.filter { kinds.contains($0.kind) } }
        if let filter { runs = try filter.apply(runs) }
        if let sort {
            let descending = sort.hasPrefix("-")
            let key = try RunKey.resolve(descending ? String(sort.dropFirst()) : sort, in: runs)
            runs = runs.map { ($0, RunTable.cell($0, key)) }.sorted { a, b in
                if a.1 == .missing || b.1 == .missing { return b.1 == .missing && a.1 != .missing }
                return descending ? b.1 < a.1 : a.1 < b.1
            }.map(\.0)
        }
        if let limit, limit >= 0 {
            // Without --sort, the newest runs are the interesting ones.
            runs = sort == nil ? Array(runs.suffix(limit)) : Array(runs.prefix(limit))
        }
        return runs
    }

    /// Parameters whose values differ between the runs (all of them when there is one run).
    static func varyingParameters(_ runs: [RunRecord]) -> [String] {
        var order: [String] = []
        var values: [String: Set<String>] = [:]
        for r in runs {
            for p in r.parameters {
                if values[p.name] == nil { order.append(p.name) }
                values[p.name, default: []].insert(p.value)
            }
        }
        if runs.count <= 1 { return order }
        return order.filter { name in
            (values[name]?.count ?? 0) > 1 || runs.contains { $0.parameter(name) == nil }
        }
    }

    /// Metric names, in first-logged order, or the ones asked for.
    func metricColumns(_ runs: [RunRecord]) throws -> [String] {
        if let metrics { return try metrics.map { try RunKey.resolve($0, in: runs).name } }
        var order: [String] = []
        var seen = Set<String>()
        for r in runs { for m in r.metrics where seen.insert(m.name).inserted { order.append(m.name) } }
        return Array(order.prefix(8))
    }

    /// Header and rows of the plain listing. `exact` (for CSV) writes numbers in full precision and
    /// durations in seconds, for pandas rather than for eyes.
    public func listing(_ runs: [RunRecord], exact: Bool = false) throws -> (header: [String], rows: [[String]], keys: [RunKey]) {
        var keys: [RunKey] = ["id", "when", "recipe", "kind", "status", "duration"].map { .field($0) }
        keys += RunTable.varyingParameters(runs).map { .parameter($0) }
        keys += try metricColumns(runs).map { .metric($0) }
        let rows = runs.map { r in
            keys.map { k -> String in
                let c = RunTable.cell(r, k)
                if k == .field("duration"), let d = c.number { return exact ? "\(d)" : RunTable.duration(d) }
                return c.display(digits: exact ? 17 : 6)
            }
        }
        return (keys.map(\.name), rows, keys)
    }

    static func duration(_ s: Double) -> String {
        if s < 1 { return String(format: "%.0f ms", s * 1000) }
        if s < 120 { return String(format: "%.2f s", s) }
        return String(format: "%dm%02ds", Int(s) / 60, Int(s) % 60)
    }

    /// `--group-by`: one row per combination of the grouping parameters, with the number of runs and
    /// each metric aggregated (std is the sample standard deviation, n − 1, as pandas computes it).
    func grouped(
        _ runs: [RunRecord]
    ) throws -> (header: [String], rows: [[String]], groups: [(keys: [Cell], count: Int, values: [String: [String: Double]])]) {
        let keys = try groupBy.map { try RunKey.resolve($0, in: runs) }
        for a in aggregates where !["mean", "std", "min", "max", "median", "count"].contains(a) {
            throw HistoryQueryError("--agg: unknown aggregate '\(a)'; use mean, std, min, max, median or count")
        }
        let runs = aggregatesReplays ? runs : runs.filter { $0.kind != "replay" }
        let metricNames = try metricColumns(runs)
        var order: [[Cell]] = []
        var members: [[Cell]: [RunRecord]] = [:]
        for r in runs {
            let k = keys.map { RunTable.cell(r, $0) }
            if members[k] == nil { order.append(k) }
            members[k, default: []].append(r)
        }
        order.sort { a, b in a.lexicographicallyPrecedes(b) }
        var header = keys.map(\.name) + ["runs"]
        for m in metricNames {
            if aggregates == ["mean", "std"] { header.append(m) } else { header += aggregates.map { "\(m) \($0)" } }
        }
        var rows: [[String]] = []
        var groups: [(keys: [Cell], count: Int, values: [String: [String: Double]])] = []
        for k in order {
            let rs = members[k] ?? []
            var row = k.map { $0.display() } + [String(rs.count)]
            var values: [String: [String: Double]] = [:]
            for m in metricNames {
                let xs = rs.compactMap { RunTable.cell($0, .metric(m)).number }
                var agg: [String: Double] = [:]
                for a in aggregates { agg[a] = RunTable.aggregate(a, xs) }
                values[m] = agg
                if aggregates == ["mean", "std"] {
                    let mean = agg["mean"] ?? .nan, std = agg["std"] ?? .nan
                    row.append(
                        xs.isEmpty
                            ? "" : xs.count == 1 ? RunTable.number(mean) : "\(RunTable.number(mean)) ± \(RunTable.number(std, digits: 3))")
                } else {
                    row += aggregates.map { a in xs.isEmpty ? "" : RunTable.number(agg[a] ?? .nan) }
                }
            }
            rows.append(row)
            groups.append((k, rs.count, values))
        }
        return (header, rows, groups)
    }

    static func aggregate(_ name: String, _ xs: [Double]) -> Double {
        guard !xs.isEmpty else { return .nan }
        let n = Double(xs.count)
        // Shifted by the first value, so equal values give exactly their value and a zero spread.
        let mean = xs[0] + xs.reduce(0) { $0 + ($1 - xs[0]) } / n
        switch name {
        case "mean": return mean
        case "std": return xs.count < 2 ? .nan : (xs.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1)).squareRoot()
        case "min": return xs.min() ?? .nan
        case "max": return xs.max() ?? .nan
        case "count": return n
        case "median":
            let s = xs.sorted()
            return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
        default: return .nan
        }
    }
}

/// Plain-text tables, CSV and JSON.
public enum TextTable {
    /// Columns padded to their widest cell; numbers right-aligned.
    public static func render(header: [String], rows: [[String]]) -> String {
        var widths = header.map(\.count)
        for r in rows { for (i, c) in r.enumerated() where i < widths.count { widths[i] = max(widths[i], c.count) } }
        func numeric(_ col: Int) -> Bool {
            rows.allSatisfy { $0[col].isEmpty || Double($0[col].split(separator: " ").first.map(String.init) ?? "") != nil }
        }
        let right = (0..<header.count).map(numeric)
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, c in
                let pad = String(repeating: " ", count: max(0, widths[i] - c.count))
                return right[i] ? pad + c : c + pad
            }.joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
        }
        var out = line(header) + "\n"
        out += widths.map { String(repeating: "─", count: $0) }.joined(separator: "  ") + "\n"
        for r in rows { out += line(r) + "\n" }
        return out
    }

    /// RFC 4180 CSV.
    public static func csv(header: [String], rows: [[String]]) -> String {
        func field(_ s: String) -> String {
            s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
                ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
        }
        return ([header] + rows).map { $0.map(field).joined(separator: ",") }.joined(separator: "\n") + "\n"
    }

    /// JSON with sorted keys, pretty-printed.
    public static func json(_ object: Any) -> String {
        guard JSONSerialization.isValidJSONObject(object),
            let data = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        else {
            return "null\n"
        }
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}

extension RunTable {
    /// Tidy records for `--format csv | json`: one per run with `id`, `kind`, `status`, `recipe`,
    /// `seed`, `started` (ISO 8601), `duration` (seconds), `param.<name>` for every parameter and
    /// `metric.<name>` (the last value) for every metric, so a parameter and a metric may share a name.
    public func tidy(_ runs: [RunRecord]) -> (columns: [String], records: [[String: Any]]) {
        var params: [String] = [], metrics: [String] = []
        for r in runs {
            for p in r.parameters where !params.contains(p.name) { params.append(p.name) }
            for m in r.metrics where !metrics.contains(m.name) { metrics.append(m.name) }
        }
        let columns = ["id", "kind", "status", "recipe", "seed", "started", "duration", "replay_of"] + params.map { "param.\($0)" }
            + metrics.map { "metric.\($0)" }
        let iso = ISO8601DateFormatter()
        let records = runs.map { r -> [String: Any] in
            var o: [String: Any] = [
                "id": r.id, "kind": r.kind, "status": r.status.rawValue, "recipe": r.recipe ?? NSNull(),
                "seed": r.seed.map { $0 as Any } ?? NSNull(), "started": iso.string(from: r.started),
                "duration": r.duration.map { $0 as Any } ?? NSNull(), "replay_of": r.replayOf.map { $0 as Any } ?? NSNull(),
            ]
            for p in params {
                o["param.\(p)"] = r.parameter(p).map { Report.jsonValue(Literal.parse($0.value, name: p)) } ?? NSNull()
            }
            let last = Dictionary(r.lastMetrics.map { ($0.name, $0.value) }, uniquingKeysWith: { _, b in b })
            for m in metrics { o["metric.\(m)"] = last[m].map { $0.isFinite ? $0 as Any : NSNull() } ?? NSNull() }
            return o
        }
        return (columns, records)
    }

    /// Tidy records of `--group-by`: the group's `param.<name>` values, `runs`, and one numeric
    /// column per metric and aggregate, `metric.<name>.<agg>`.
    public func tidyGroups(_ runs: [RunRecord]) throws -> (columns: [String], records: [[String: Any]]) {
        let g = try grouped(runs)
        let metricNames = try metricColumns(aggregatesReplays ? runs : runs.filter { $0.kind != "replay" })
        let columns = groupBy.map { "param.\($0)" } + ["runs"] + metricNames.flatMap { m in aggregates.map { "metric.\(m).\($0)" } }
        let records = g.groups.map { group -> [String: Any] in
            var o: [String: Any] = ["runs": group.count]
            for (name, cell) in zip(groupBy, group.keys) {
                switch cell {
                case .missing: o["param.\(name)"] = NSNull()
                case .number(let x): o["param.\(name)"] = x == x.rounded() && abs(x) < 1e15 ? Int(x) as Any : x as Any
                case .text(let t): o["param.\(name)"] = t
                }
            }
            for m in metricNames {
                for a in aggregates {
                    let v = group.values[m]?[a] ?? .nan
                    o["metric.\(m).\(a)"] = v.isFinite ? v as Any : NSNull()
                }
            }
            return o
        }
        return (columns, records)
    }

    /// Records as CSV with the given columns: numbers in full precision, missing values empty.
    public static func csv(columns: [String], records: [[String: Any]]) -> String {
        TextTable.csv(header: columns, rows: records.map { r in
            columns.map { c in
                switch r[c] {
                case let x as Double: return RunTable.number(x, digits: 17)
                case let i as Int: return String(i)
                case let u as UInt64: return String(u)
                case let b as Bool: return b ? "true" : "false"
                case let t as String: return t
                case .none, is NSNull: return ""
                case let v?: return "\(v)"
                }
            }
        })
    }

    /// `--group-by` as a table.
    public func groupedTable(_ runs: [RunRecord]) throws -> (header: [String], rows: [[String]]) {
        let g = try grouped(runs)
        return (g.header, g.rows)
    }
}
