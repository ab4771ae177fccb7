/// An error with the place it happened: the one error type of the language, rendered in exactly
/// one place (`render`).
public struct Diagnostic: Error, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// The recipe does not parse (exit 65).
        case syntax = "syntax error"
        /// The recipe failed while running (exit 70).
        case runtime = "error"
        /// The user pressed Ctrl-C (exit 130).
        case interrupted = "interrupted"
    }

    public var kind: Kind
    public var message: String
    public var span: SourceSpan?
    public var notes: [String]
    /// "did you mean 'x'?" and the like.
    public var suggestion: String?
    /// Function calls active when a runtime error happened, innermost first.
    public var trace: [(function: String, span: SourceSpan)]
    /// The parser hit the end of input where more was expected (the REPL keeps reading).
    public var isIncomplete: Bool

    public init(
        _ kind: Kind, _ message: String, at span: SourceSpan?, notes: [String] = [],
        suggestion: String? = nil, incomplete: Bool = false
    ) {
        self.kind = kind
        self.message = message
        self.span = span
        self.notes = notes
        self.suggestion = suggestion
        self.trace = []
        self.isIncomplete = incomplete
    }

    /// `file:line:col: error: message`, the source line, a caret under the span, then notes.
    public func render() -> String {
        var out = ""
        if let span {
            let (line, column) = span.file.location(of: span.start)
            let text = span.file.line(line)
            let what = kind == .interrupted && message == "interrupted" ? kind.rawValue : "\(kind.rawValue): \(message)"
            out += "\(span.file.name):\(line):\(column): \(what)\n"
            let (endLine, endColumn) = span.file.location(of: max(span.start, span.end - 1))
            let width = endLine == line ? max(1, endColumn - column + 1) : max(1, text.count - column + 1)
            let gutter = String(line)
            out += " \(gutter) | \(text)\n"
            let pad = String(text.prefix(column - 1).map { $0 == "\t" ? "\t" : " " })
            out += " \(String(repeating: " ", count: gutter.count)) | \(pad)^\(String(repeating: "~", count: max(0, width - 1)))\n"
        } else {
            out += "\(kind.rawValue): \(message)\n"
        }
        if let suggestion { out += "  help: \(suggestion)\n" }
        for note in notes { out += "  note: \(note)\n" }
        for frame in trace { out += "  in \(frame.function) called at \(frame.span.position)\n" }
        return out
    }

    public var description: String { render() }
}

/// "Did you mean" by edit distance.
public enum Suggest {
    /// The closest candidate within a distance that scales with the name's length.
    public static func closest(to name: String, in candidates: some Sequence<String>) -> String? {
        let limit = max(1, name.count / 3 + 1)
        var best: (String, Int)?
        for c in candidates where c != name {
            let d = distance(name.lowercased(), c.lowercased())
            if d <= limit && (best == nil || d < best!.1 || (d == best!.1 && c < best!.0)) { best = (c, d) }
        }
        return best?.0
    }

    /// Damerau–Levenshtein distance (optimal string alignment).
    public static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var d = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { d[i][0] = i }
        for j in 0...b.count { d[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
                if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                    d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
                }
            }
        }
        return d[a.count][b.count]
    }

    /// "did you mean 'x'?" or nil.
    public static func didYouMean(_ name: String, in candidates: some Sequence<String>) -> String? {
        closest(to: name, in: candidates).map { "did you mean '\($0)'?" }
    }
}
