import Foundation
import SqueezeCore

/// Numeric CSV: comma-separated numbers, one row per line, an optional header row of names.
public enum CSV {
    public struct Table: Sendable {
        public let header: [String]?
        public let rows: Tensor
    }

    /// Parses numeric CSV. A first row that is not all numbers is taken as the header. Empty
    /// lines are skipped; every other row must have the same number of fields.
    public static func read(_ text: String, name: String) throws -> Table {
        var header: [String]?
        var values: [Float] = []
        var columns: Int?
        var rows = 0
        var offset = 0
        for (lineNo, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            defer { offset += rawLine.utf8.count + 1 }
            let line = rawLine.hasSuffix("\r") ? rawLine.dropLast() : rawLine
            if line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            let fields = line.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            let numbers = fields.map { Float($0) ?? (($0.lowercased() == "nan") ? .nan : nil) }
            if rows == 0 && header == nil && numbers.contains(where: { $0 == nil }) {
                header = fields.map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
                columns = fields.count
                continue
            }
            if let c = columns, c != fields.count {
                throw DataError(name, at: offset, "line \(lineNo + 1) has \(fields.count) fields, expected \(c)")
            }
            columns = fields.count
            for (i, v) in numbers.enumerated() {
                guard let v else {
                    throw DataError(name, at: offset, "line \(lineNo + 1), column \(i + 1): '\(fields[i])' is not a number")
                }
                values.append(v)
            }
            rows += 1
        }
        return Table(header: header, rows: Tensor(shape: [rows, columns ?? 0], storage: values))
    }

    /// CSV text of a matrix (a vector is one column), numbers in shortest round-trip form.
    public static func write(_ t: Tensor, header: [String]? = nil) -> String {
        let cols = t.rank == 2 ? t.shape[1] : 1
        let rows = t.rank == 0 ? 1 : t.shape[0]
        var out = header.map { $0.joined(separator: ",") + "\n" } ?? ""
        for i in 0..<rows {
            out +=
                (0..<cols).map { j in
                    let v = t.storage[i * cols + j]
                    return v == v.rounded() && abs(v) < 1e7 ? String(Int(v)) : "\(v)"
                }.joined(separator: ",") + "\n"
        }
        return out
    }
}
