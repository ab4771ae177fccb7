import Foundation
import Recipe

/// What Tab offers, computed from the registry and the live session (no readline here, so it is
/// testable on its own).
public enum Completion {
    static let keywords = Keyword.allCases.map(\.rawValue)

    /// Candidates for the word `text` that starts at byte `start` of `line`.
    /// - After `name.` (or `a.b.`): the fields of that live value.
    /// - Inside a call `f(…`: `f`'s named arguments as `name:`, then names.
    /// - Otherwise: variables, operations, namespaces and keywords.
    public static func candidates(line: String, start: Int, text: String, session: Interpreter) -> [String] {
        let bytes = Array(line.utf8)
        let before = Array(bytes.prefix(max(0, min(start, bytes.count))))
        if let dot = before.last, dot == UInt8(ascii: ".") {
            let path = trailingPath(Array(before.dropLast()))
            guard !path.isEmpty, let value = lookup(path, session) else { return [] }
            return fields(of: value).filter { $0.hasPrefix(text) }
        }
        var out: [String] = []
        if let callee = enclosingCall(before) {
            out += parameterNames(callee, session).map { "\($0):" }
        }
        if before.last == UInt8(ascii: ":") && before.dropLast().allSatisfy({ $0 == UInt8(ascii: " ") }) {
            return REPLCommand.names.filter { $0.hasPrefix(text) }
        }
        let names = session.globalNames.filter { $0 != "_" } + Array(Registry.globalNames) + keywords
        // Named arguments first, then every name, without repeats.
        var seen = Set(out)
        for n in Set(names).sorted() where seen.insert(n).inserted { out.append(n) }
        return out.filter { $0.hasPrefix(text) }
    }

    /// `a.b` in `x = a.b` → ["a", "b"].
    static func trailingPath(_ bytes: [UInt8]) -> [String] {
        var i = bytes.count
        while i > 0 {
            let c = bytes[i - 1]
            if Lexer.isIdentStart(c) || Lexer.isDigit(c) || c == UInt8(ascii: ".") { i -= 1 } else { break }
        }
        let s = String(decoding: bytes[i...], as: UTF8.self)
        return s.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
    }

    static func lookup(_ path: [String], _ session: Interpreter) -> Value? {
        guard let first = path.first else { return nil }
        var v = session.global(first) ?? Registry.value(named: first)
        for name in path.dropFirst() {
            guard let cur = v else { return nil }
            switch cur {
            case .record(let r): v = r[name]
            case .compressed(let c): v = c.field(name)
            default: return nil
            }
        }
        return v
    }

    static func fields(of v: Value) -> [String] {
        switch v {
        case .record(let r): return Array(r.fields.keys)
        case .tensor: return ["T", "shape", "rank", "size"]
        case .compressed(let c): return c.fieldNames
        case .range: return ["start", "stop", "step"]
        default: return []
        }
    }

    /// The callee (as a dotted path) of the innermost call still open before the cursor.
    static func enclosingCall(_ bytes: [UInt8]) -> [String]? {
        var depth = 0
        var inString = false
        var opens: [Int] = []
        for (i, c) in bytes.enumerated() {
            if inString {
                if c == UInt8(ascii: "\"") { inString = false }
                continue
            }
            switch c {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "("), UInt8(ascii: "["), UInt8(ascii: "{"): opens.append(i); depth += 1
            case UInt8(ascii: ")"), UInt8(ascii: "]"), UInt8(ascii: "}"): if !opens.isEmpty { opens.removeLast() }; depth -= 1
            default: break
            }
        }
        guard let open = opens.last, bytes[open] == UInt8(ascii: "(") else { return nil }
        let path = trailingPath(Array(bytes[..<open]))
        return path.first?.isEmpty == false ? path : nil
    }

    static func parameterNames(_ callee: [String], _ session: Interpreter) -> [String] {
        if let op = Registry.byName[callee.joined(separator: ".")] { return op.params.map(\.name) }
        if case .function(let f)? = lookup(callee, session) {
            switch f {
            case .builtin(let op): return op.params.map(\.name)
            case .user(let u): return u.parameterNames
            }
        }
        return []
    }

    /// True when the cursor at byte `start` is inside a string literal (file-name completion).
    public static func insideString(line: String, start: Int) -> Bool {
        var inString = false
        var escaped = false
        for c in line.utf8.prefix(start) {
            if escaped { escaped = false; continue }
            if c == UInt8(ascii: "\\") { escaped = true; continue }
            if c == UInt8(ascii: "\"") { inString.toggle() }
        }
        return inString
    }

    /// File names completing `text` inside a string literal: the literal up to `start` is the
    /// directory (relative to `base`), `text` the start of the name; directories end with `/`.
    public static func fileCandidates(line: String, start: Int, text: String, base: String) -> [String] {
        let bytes = Array(line.utf8.prefix(start))
        var quote = -1, escaped = false, inString = false
        for (i, c) in bytes.enumerated() {
            if escaped { escaped = false; continue }
            if c == UInt8(ascii: "\\") { escaped = true; continue }
            if c == UInt8(ascii: "\"") { inString.toggle(); if inString { quote = i } }
        }
        guard quote >= 0 else { return [] }
        let directory = String(decoding: bytes[(quote + 1)...], as: UTF8.self)
        let folder = directory.hasPrefix("/") ? directory : (base as NSString).appendingPathComponent(directory)
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder.isEmpty ? "." : folder) else { return [] }
        return names.filter { $0.hasPrefix(text) && (text.hasPrefix(".") || !$0.hasPrefix(".")) }.sorted().map { name in
            var isDirectory: ObjCBool = false
            let path = (folder as NSString).appendingPathComponent(name)
            let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
            return exists && isDirectory.boolValue ? name + "/" : name
        }
    }
}
