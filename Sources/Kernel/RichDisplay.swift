import Foundation
import Recipe
import SqueezeCore

/// A value as a Jupyter MIME bundle: `text/plain` always (what the REPL prints), `text/html` for
/// what reads better as a table — tensors of rank 1 or 2, records, lists of records (run tables).
enum RichDisplay {
    /// Rows and columns shown at each end of a long axis (the middle is elided, as NumPy does).
    static let edge = 8

    static func bundle(_ value: Value, width: Int) -> [String: Any] {
        var data: [String: Any] = ["text/plain": Format.describe(value, width: width)]
        if let html = html(value) { data["text/html"] = html }
        return data
    }

    static func html(_ value: Value) -> String? {
        switch value {
        case .tensor(let t) where t.rank == 1 || t.rank == 2: return tensor(t)
        case .record(let r) where !r.fields.isEmpty:
            let rows = r.fields.map { k, v in "<tr><th style=\"text-align:left\">\(escape(k))</th><td style=\"text-align:left\">"
                + "\(escape(Format.summary(v)))</td></tr>" }
            return "<table>\(rows.joined())</table>"
        case .list(let items) where !items.isEmpty:
            let records = items.compactMap { v -> Record? in if case .record(let r) = v { return r }; return nil }
            guard records.count == items.count else { return nil }
            return table(records)
        default: return nil
        }
    }

    /// A list of records: one row each, the columns in the order fields first appear.
    static func table(_ records: [Record]) -> String {
        var columns: [String] = []
        for r in records { for k in r.fields.keys where !columns.contains(k) { columns.append(k) } }
        var s = "<table><thead><tr>" + columns.map { "<th>\(escape($0))</th>" }.joined() + "</tr></thead><tbody>"
        for r in records {
            s += "<tr>" + columns.map { c in
                guard let v = r.fields[c] else { return "<td></td>" }
                if case .number = v { return "<td>\(escape(Format.inline(v)))</td>" }
                return "<td style=\"text-align:left\">\(escape(Format.summary(v)))</td>"
            }.joined() + "</tr>"
        }
        return s + "</tbody></table>"
    }

    /// The shape as a caption and the entries as a grid, long axes elided in the middle.
    static func tensor(_ t: Tensor) -> String {
        let rows = t.rank == 1 ? 1 : t.shape[0]
        let cols = t.shape[t.rank - 1]
        func kept(_ n: Int) -> [Int?] { n <= 2 * edge ? Array(0..<n) : Array(0..<edge) + [nil] + Array((n - edge)..<n) }
        var s = "<table><caption style=\"text-align:left\">Tensor \(Shape.describe(t.shape)) f32</caption><tbody>"
        for i in kept(rows) {
            s += "<tr>"
            for j in kept(cols) {
                guard let i, let j else { s += "<td>…</td>"; continue }
                s += "<td>\(Format.float(t.storage[i * cols + j]))</td>"
            }
            s += "</tr>"
        }
        return s + "</tbody></table>"
    }

    static func escape(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(c)
            }
        }
        return out
    }
}
