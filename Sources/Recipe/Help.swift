import Foundation
import SqueezeCore

/// What `?`, `?name`, `??word`, `help` and `help(x)` print: one answer for the REPL, recipes and
/// the kernel, all from the registry.
public enum Help {
    /// `?`: the families, with how to go further.
    public static func families() -> String {
        var out = "Operations by family (?family lists one, ?name shows one, ??word searches the docs):\n"
        let w = Registry.families.map(\.count).max() ?? 0
        for fam in Registry.families {
            let ops = Registry.operations.filter { $0.family == fam }
            let names = ops.prefix(6).map(\.name).joined(separator: ", ") + (ops.count > 6 ? ", …" : "")
            out += "  \(fam)\(String(repeating: " ", count: w - fam.count))  \(ops.count) · \(names)\n"
        }
        return out
    }

    /// `?family`: its operations with their summaries.
    public static func family(_ fam: String) -> String {
        let ops = Registry.operations.filter { $0.family == fam }
        let w = ops.map(\.name.count).max() ?? 0
        return "\(fam):\n" + ops.map { "  \($0.name)\(String(repeating: " ", count: w - $0.name.count))  \($0.summary)\n" }.joined()
    }

    /// `??word`: every operation whose name, summary, doc or parameters mention `word`.
    public static func search(_ word: String) -> String {
        let needle = word.lowercased()
        let hits = Registry.operations.filter { op in
            ([op.name, op.summary, op.doc] + op.params.map { "\($0.name) \($0.doc)" }).contains { $0.lowercased().contains(needle) }
        }
        guard !hits.isEmpty else { return "no operation mentions '\(word)'\n" }
        let w = hits.map(\.name.count).max() ?? 0
        return "\(hits.count) operation\(hits.count == 1 ? "" : "s") mention '\(word)':\n"
            + hits.map { "  \($0.name)\(String(repeating: " ", count: w - $0.name.count))  \($0.summary)\n" }.joined()
    }

    /// A variable's type, shape and a one-line summary (functions show their signature).
    public static func variable(_ name: String, _ value: Value) -> String {
        switch value {
        case .function(.builtin(let op)): return op.help
        case .function(.user(let f)): return "\(f.signature)\n  a function defined in this session\n"
        case .tensor(let t):
            return "\(name): tensor \(Shape.describe(t.shape)) f32, \(Memory.describe(t.count * 4))\n  \(Format.summary(value))\n"
        default: return "\(name): \(value.typeDescription)\n  \(Format.summary(value))\n"
        }
    }

    /// The answer to `?query` (or `??word`), looking at the session's variables first; nil when
    /// nothing has that name (the caller says so, with a suggestion).
    public static func answer(_ query: String, globals: (String) -> Value?) -> String? {
        let q = query.trimmingCharacters(in: .whitespaces)
        if q.isEmpty { return families() }
        if q.hasPrefix("?") { return search(String(q.dropFirst()).trimmingCharacters(in: .whitespaces)) }
        if let v = globals(q) { return variable(q, v) }
        if let op = Registry.byName[q] { return op.help }
        if Registry.families.contains(q) { return family(q) }
        let members = Registry.operations.filter { $0.name.hasPrefix(q + ".") }
        if !members.isEmpty {
            let w = members.map(\.name.count).max() ?? 0
            return "\(q).*:\n" + members.map { "  \($0.name)\(String(repeating: " ", count: w - $0.name.count))  \($0.summary)\n" }.joined()
        }
        return nil
    }

    /// "no operation or variable named 'x'; did you mean 'y'?".
    public static func notFound(_ query: String, names: [String]) -> String {
        let all = names + Array(Registry.byName.keys) + Registry.families
        return "no operation, family or variable named '\(query)'" + (Suggest.didYouMean(query, in: all).map { "; \($0)" } ?? "")
            + " (? lists the families, ??word searches)\n"
    }
}
