import Foundation
import SqueezeCore

/// How values print: `print`, the REPL's display and string interpolation all use this.
public enum Format {
    /// Integers without a fraction (`3`), others in shortest round-trip form (`0.1`).
    public static func number(_ v: Double) -> String {
        if v.isNaN { return "nan" }
        if v.isInfinite { return v > 0 ? "inf" : "-inf" }
        if v == v.rounded() && abs(v) < 1e16 { return String(Int64(v)) }
        return "\(v)"
    }

    /// A Float32 in its own shortest round-trip form (`3.1629205`, not its Float64 expansion).
    public static func float(_ v: Float) -> String {
        if v.isNaN { return "nan" }
        if v.isInfinite { return v > 0 ? "inf" : "-inf" }
        if v == v.rounded() && abs(v) < 1e7 { return String(Int64(v)) }
        return "\(v)"
    }

    /// A value as `print` writes it: strings bare at the top level, quoted inside containers.
    public static func display(_ value: Value, width: Int = 80) -> String {
        switch value {
        case .string(let s): return s
        case .tensor(let t): return tensor(t, width: width)
        case .variable(let v): return tensor(v.operand.value, width: width)
        default: return inline(value)
        }
    }

    /// A value on one line, strings quoted (used inside lists and records).
    public static func inline(_ value: Value) -> String {
        switch value {
        case .none: return "none"
        case .bool(let b): return b ? "true" : "false"
        case .number(let v): return number(v)
        case .string(let s): return quoted(s)
        case .list(let l): return "[" + l.map(inline).joined(separator: ", ") + "]"
        case .record(let r): return "{" + r.fields.map { "\($0.key): \(inline($0.value))" }.joined(separator: ", ") + "}"
        case .range(let r): return r.step == 1 ? "range(\(r.start), \(r.stop))" : "range(\(r.start), \(r.stop), \(r.step))"
        case .tensor(let t):
            if t.rank == 0 { return float(t.storage[0]) }
            if t.count <= 6 && t.rank == 1 { return "tensor([" + t.storage.map(float).joined(separator: ", ") + "])" }
            return "<Tensor \(Shape.describe(t.shape)) f32>"
        case .variable(let v): return inline(.tensor(v.operand.value))
        case .function(let f):
            switch f {
            case .user(let u): return "<fn \(u.signature)>"
            case .builtin(let op): return "<op \(op.name)>"
            }
        case .compressed(let c):
            return
                "<compressed \(c.method) \(Shape.describe(c.recon.shape)), \(number((c.bitsPerParam * 1000).rounded() / 1000)) bits/param>"
        case .model(let m):
            return
                "<model \(m.name): \(m.config.layers) layers, \(m.parameterCount) parameters, " +
                "\(number((m.linearBits / Double(max(1, m.linearParameterCount)) * 1000).rounded() / 1000)) bits/param in its linear " +
                "layers>"
        case .decoder(let m):
            return
                "<model \(m.name): decoder, \(m.config.layers) blocks, \(m.parameterCount) parameters, " +
                "\(number((m.linearBits / Double(max(1, m.linearParameterCount)) * 1000).rounded() / 1000)) bits/param in its linear " +
                "layers>"
        case .unset: return "<unset>"
        }
    }

    public static func quoted(_ s: String) -> String {
        var out = "\""
        for ch in s {
            switch ch {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default: out.append(ch)
            }
        }
        return out + "\""
    }

    /// A multi-line description for the REPL: records one field per line with summaries.
    public static func describe(_ value: Value, width: Int = 80) -> String {
        switch value {
        case .record(let r) where !r.fields.isEmpty:
            let keyWidth = r.fields.keys.map(\.count).max() ?? 0
            return r.fields.map { k, v in
                let pad = String(repeating: " ", count: keyWidth - k.count)
                return "\(k)\(pad) : \(summary(v))"
            }.joined(separator: "\n")
        case .model(let m):
            var lines = [inline(value)]
            for name in ModelValue.fieldNames where name != "weights" && name != "layers" {
                lines.append("  \(name): \(summary(ModelValue.field(m, name) ?? .none))")
            }
            lines.append("  layers: \(m.linearLayers.count) linear layers, e.g. \(quoted(m.linearLayers[4]))")
            return lines.joined(separator: "\n")
        case .decoder(let m):
            var lines = [inline(value)]
            for name in ModelValue.decoderFieldNames where !["weights", "layers", "layer_info", "tensors"].contains(name) {
                lines.append("  \(name): \(summary(ModelValue.field(m, name) ?? .none))")
            }
            lines.append("  layers: \(m.linearLayers.count) linear layers ([out, in]), e.g. \(quoted(m.linearLayers[1]))")
            return lines.joined(separator: "\n")
        case .compressed(let c):
            var lines = [inline(value)]
            for name in ["bits", "bits_per_param", "ratio"] { lines.append("  \(name): \(inline(c.field(name) ?? .none))") }
            for (k, v) in c.parts { lines.append("  \(k): \(summary(v))") }
            return lines.joined(separator: "\n")
        default:
            return display(value, width: width)
        }
    }

    /// One short line: tensors by shape and range, long lists by length.
    public static func summary(_ value: Value) -> String {
        switch value {
        case .tensor(let t) where t.count > 6 || t.rank > 1:
            let lo = t.storage.min() ?? 0, hi = t.storage.max() ?? 0
            return "Tensor \(Shape.describe(t.shape)) f32  [\(short(lo)) … \(short(hi))]"
        case .list(let l) where l.count > 8:
            return "[" + l.prefix(4).map(inline).joined(separator: ", ") + ", … (\(l.count) items)]"
        default:
            let s = inline(value)
            return s.count > 100 ? String(s.prefix(97)) + "..." : s
        }
    }

    static func short(_ v: Float) -> String {
        if v == v.rounded() && abs(v) < 1e7 { return String(Int(v)) }
        return String(format: "%.4g", Double(v))
    }

    // MARK: - Tensors, NumPy style

    /// Header `Tensor 3×4 f32` and a grid like NumPy's: shared format per tensor, rows bracketed,
    /// long axes elided with `...` (the first and last 3 when the tensor has over 1000 elements).
    public static func tensor(_ t: Tensor, width: Int = 80) -> String {
        let header = "Tensor \(Shape.describe(t.shape)) f32"
        if t.rank == 0 { return "\(header)\n\(number(Double(t.storage[0])))" }
        if t.count == 0 { return "\(header)\n[]" }
        let summarize = t.count > 1000
        // As NumPy: when summarizing, the format is chosen from the elements shown.
        let fmt = ElementFormat(summarize ? Tensor(shownElements(t)) : t)
        var lines: [String] = []
        grid(t, fmt: fmt, summarize: summarize, width: width, prefix: [], indent: 0, into: &lines)
        return header + "\n" + lines.joined(separator: "\n")
    }

    struct ElementFormat {
        let scientific: Bool
        let decimals: Int
        let allIntegral: Bool
        let width: Int

        init(_ t: Tensor) {
            let finite = t.storage.filter { $0.isFinite }
            let absVals = finite.map { abs(Double($0)) }
            let maxAbs = absVals.max() ?? 0
            let minNonZero = absVals.filter { $0 > 0 }.min() ?? 0
            allIntegral = finite.allSatisfy { $0 == $0.rounded() } && maxAbs < 1e8
            scientific =
                !allIntegral
                && (maxAbs >= 1e8 || (minNonZero > 0 && minNonZero < 1e-4)
                    || (minNonZero > 0 && maxAbs / minNonZero > 1e3 && maxAbs >= 1e3))
            // The fewest decimals (up to 4) that show every sampled value as "%.4f" would.
            var d = 0
            if !allIntegral && !scientific {
                for v in finite.prefix(4096) {
                    let text = String(format: "%.4f", Double(v))
                    let frac = text.split(separator: ".").last ?? ""
                    d = max(d, frac.count - frac.reversed().prefix { $0 == "0" }.count)
                    if d == 4 { break }
                }
            }
            decimals = d
            let sample = finite.isEmpty ? [Float(0)] : finite
            var w = 1
            for v in [sample.min()!, sample.max()!] {
                w = max(w, ElementFormat.render(v, scientific: scientific, decimals: decimals, integral: allIntegral).count)
            }
            for v in t.storage where !v.isFinite { w = max(w, v.isNaN ? 3 : (v > 0 ? 3 : 4)) }
            width = w
        }

        static func render(_ v: Float, scientific: Bool, decimals: Int, integral: Bool) -> String {
            if v.isNaN { return "nan" }
            if v.isInfinite { return v > 0 ? "inf" : "-inf" }
            if integral { return "\(Int64(v))." }
            if scientific { return String(format: "%.4e", Double(v)) }
            return String(format: "%.\(decimals)f", Double(v))
        }

        func callAsFunction(_ v: Float) -> String {
            let s = ElementFormat.render(v, scientific: scientific, decimals: decimals, integral: allIntegral)
            return String(repeating: " ", count: max(0, width - s.count)) + s
        }
    }

    /// The elements a summarized grid shows: the first and last 3 along every axis.
    static func shownElements(_ t: Tensor) -> [Float] {
        let strides = Shape.strides(t.shape)
        func indices(_ n: Int) -> [Int] { n > 6 ? Array(0..<3) + Array((n - 3)..<n) : Array(0..<n) }
        var out: [Float] = []
        func visit(_ axis: Int, _ offset: Int) {
            if axis == t.rank { out.append(t.storage[offset]); return }
            for i in indices(t.shape[axis]) { visit(axis + 1, offset + i * strides[axis]) }
        }
        visit(0, 0)
        return out
    }

    static func grid(_ t: Tensor, fmt: ElementFormat, summarize: Bool, width: Int, prefix: [Int], indent: Int, into lines: inout [String]) {
        let axis = prefix.count
        let n = t.shape[axis]
        let edge = 3
        let shown: [Int?] = (summarize && n > 2 * edge) ? Array(0..<edge) + [nil] + Array((n - edge)..<n) : Array(0..<n)
        if axis == t.rank - 1 {
            let strides = Shape.strides(t.shape)
            let base = zip(prefix, strides).reduce(0) { $0 + $1.0 * $1.1 }
            let items = shown.map { $0.map { fmt(t.storage[base + $0]) } ?? "..." }
            // Wrap long rows at the terminal width, NumPy-style.
            var rows: [String] = []
            var line = "["
            for (k, item) in items.enumerated() {
                let piece = item + (k == items.count - 1 ? "]" : "")
                if line.count + piece.count + 1 > width - indent && line != "[" {
                    rows.append(line)
                    line = " "
                }
                line += (line == "[" || line == " " ? "" : " ") + piece
            }
            rows.append(line)
            let pad = String(repeating: " ", count: indent)
            for (k, r) in rows.enumerated() { lines.append((k == 0 ? "" : pad) + r) }
            return
        }
        let start = lines.count
        for (k, i) in shown.enumerated() {
            guard let i else { lines.append(String(repeating: " ", count: indent) + "..."); continue }
            grid(t, fmt: fmt, summarize: summarize, width: width, prefix: prefix + [i], indent: indent + 1, into: &lines)
            if k < shown.count - 1 && t.rank - axis > 2 { lines.append("") }
        }
        // Bracket this block: "[" before the first child, "]" after the last.
        lines[start] = "[" + lines[start]
        for j in (start + 1)..<lines.count where !lines[j].isEmpty { lines[j] = " " + lines[j] }
        lines[lines.count - 1] += "]"
    }
}
