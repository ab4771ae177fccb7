import Foundation
import REPL
import Recipe

/// Completion, inspection, `is_complete` and history: what a notebook asks between executions.
extension Kernel {
    /// The code before the cursor (cursor positions count Unicode code points, protocol ≥ 5.2).
    static func prefix(_ code: String, _ cursor: Any?) -> String {
        let scalars = code.unicodeScalars
        let n = min(max(0, cursor as? Int ?? scalars.count), scalars.count)
        return String(String.UnicodeScalarView(scalars.prefix(n)))
    }

    static func isNameCharacter(_ c: Character) -> Bool { c.isLetter || c.isNumber || c == "_" }

    /// `complete_request`: operations, live values' fields, named arguments and keywords from the
    /// registry and the session (as the REPL's Tab); file names inside a string literal.
    func complete(_ c: [String: Any]) -> [String: Any] {
        let code = c["code"] as? String ?? ""
        let before = Kernel.prefix(code, c["cursor_pos"])
        let cursor = before.unicodeScalars.count
        let line = before.split(separator: "\n", omittingEmptySubsequences: false).last.map(String.init) ?? ""
        var matches: [String]
        var word: Substring
        if Completion.insideString(line: line, start: line.utf8.count) {
            word = line[(line.lastIndex { $0 == "/" || $0 == "\"" }.map { line.index(after: $0) } ?? line.startIndex)...]
            matches = Completion.fileCandidates(
                line: line, start: line.utf8.count - word.utf8.count, text: String(word), base: session.sandbox.baseDirectory.path)
        } else {
            word = line.suffix(line.reversed().prefix(while: Kernel.isNameCharacter).count)
            matches = Completion.candidates(line: line, start: line.utf8.count - word.utf8.count, text: String(word), session: session)
        }
        return [
            "status": "ok", "matches": matches, "cursor_start": cursor - word.unicodeScalars.count, "cursor_end": cursor,
            "metadata": [String: Any](),
        ]
    }

    /// `inspect_request`: the documentation of the operation, or the summary of the variable, named
    /// at the cursor (`plot.line`, `W`, `svd(` …).
    func inspect(_ c: [String: Any]) -> [String: Any] {
        let code = c["code"] as? String ?? ""
        let before = Kernel.prefix(code, c["cursor_pos"])
        let after = code.unicodeScalars.dropFirst(before.unicodeScalars.count)
        let isPart = { (c: Character) in Kernel.isNameCharacter(c) || c == "." }
        var name = String(before.reversed().prefix(while: isPart).reversed())
            + String(String(String.UnicodeScalarView(after)).prefix(while: isPart))
        // Right after `f(`, the cursor names f.
        if name.isEmpty, before.hasSuffix("(") {
            name = String(before.dropLast().reversed().prefix(while: isPart).reversed())
        }
        name = name.trimmingCharacters(in: CharacterSet(charactersIn: "."))
        guard !name.isEmpty, let text = Help.answer(name, globals: { session.global($0) }) else {
            return ["status": "ok", "found": false, "data": [String: Any](), "metadata": [String: Any]()]
        }
        return ["status": "ok", "found": true, "data": ["text/plain": text], "metadata": [String: Any]()]
    }

    /// `is_complete_request`: the parser's incomplete result (an open brace, bracket or string, an
    /// operator at the end), with an indent of two spaces per open brace.
    func isComplete(_ c: [String: Any]) -> [String: Any] {
        let code = c["code"] as? String ?? ""
        let trimmed = code.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.hasPrefix("?") || trimmed.isEmpty { return ["status": "complete"] }
        let program = Parser.parse(SourceFile(name: "<cell>", text: code))
        if program.diagnostics.isEmpty { return ["status": "complete"] }
        guard program.isIncomplete else { return ["status": "invalid"] }
        let depth = max(0, code.filter { $0 == "{" }.count - code.filter { $0 == "}" }.count)
        return ["status": "incomplete", "indent": String(repeating: "  ", count: depth)]
    }

    /// `history_request` over this session's cells (`tail`, `range` and `search` with a glob
    /// pattern, `unique` and `n`); the session number is the notebook run's id in the history.
    func history(_ c: [String: Any]) -> [String: Any] {
        let number = recorder?.runID ?? 0
        let withOutput = c["output"] as? Bool ?? false
        var entries = inputs
        switch c["hist_access_type"] as? String ?? "tail" {
        case "range":
            let asked = c["session"] as? Int ?? 0
            guard asked == 0 || asked == number else { entries = []; break }
            let start = c["start"] as? Int ?? 0
            let stop = (c["stop"] as? Int).flatMap { $0 > 0 ? $0 : nil } ?? Int.max
            entries = entries.filter { $0.count >= start && $0.count < stop }
        case "search":
            let pattern = c["pattern"] as? String ?? "*"
            entries = entries.filter { fnmatch(pattern, $0.code, 0) == 0 }
            if c["unique"] as? Bool ?? false {
                var seen = Set<String>()
                entries = entries.reversed().filter { seen.insert($0.code).inserted }.reversed()
            }
            if let n = c["n"] as? Int, n > 0 { entries = Array(entries.suffix(n)) }
        default:
            if let n = c["n"] as? Int, n >= 0 { entries = Array(entries.suffix(n)) }
        }
        let history: [[Any]] = entries.map { e in
            withOutput ? [number, e.count, [e.code, e.output]] : [number, e.count, e.code]
        }
        return ["status": "ok", "history": history]
    }
}
