/// A piece of a string literal: literal text or the source range of an interpolated `\( … )`.
public enum StringPart: Sendable {
    case text(String)
    case code(start: Int, end: Int)
}

public enum Keyword: String, Sendable, CaseIterable {
    case fn, `return`, `if`, `else`, `for`, `in`, `while`, `break`, `continue`, param
    case `true`, `false`, none, and, or, not
}

public enum TokenKind: Sendable {
    case number(Double)
    case string([StringPart])
    case identifier(String)
    case keyword(Keyword)
    /// Punctuation and operators, by their spelling.
    case symbol(String)
    case newline
    case eof
}

public struct Token: Sendable {
    public let kind: TokenKind
    public let span: SourceSpan

    func isSymbol(_ s: String) -> Bool { if case .symbol(let x) = kind { return x == s }; return false }
    func isKeyword(_ k: Keyword) -> Bool { if case .keyword(let x) = kind { return x == k }; return false }
    var isNewline: Bool { if case .newline = kind { return true }; return false }
    var isEOF: Bool { if case .eof = kind { return true }; return false }

    /// How the token reads in an error message.
    var describe: String {
        switch kind {
        case .number: return "number '\(span.file.text(of: span))'"
        case .string: return "string"
        case .identifier(let n): return "name '\(n)'"
        case .keyword(let k): return "'\(k.rawValue)'"
        case .symbol(let s): return "'\(s)'"
        case .newline: return "end of line"
        case .eof: return "end of input"
        }
    }
}

/// A `# %%` cell marker: the notebook unit used by the history and exports.
public struct CellMarker: Sendable {
    public let line: Int
    public let title: String
}

/// Turns source bytes into tokens. Newlines inside `( )` and `[ ]` are dropped (implicit line
/// continuation); inside `{ }` and at top level they end statements.
public struct Lexer {
    let file: SourceFile
    let bytes: [UInt8]
    var pos: Int
    let end: Int
    var nesting: [UInt8] = []
    /// Where each open bracket of `nesting` was opened.
    var openedAt: [Int] = []
    /// Brackets reported as never closed, as (opening offset, offset of the newline where that was
    /// noticed): the parser does not report the same mistake again inside that range.
    public private(set) var neverClosed: [(open: Int, newline: Int)] = []
    public private(set) var diagnostics: [Diagnostic] = []
    public private(set) var cells: [CellMarker] = []

    static let symbols2: Set<String> = ["**", "|>", "==", "!=", "<=", ">="]
    static let symbols1: Set<UInt8> = Set("()[]{},:;.+-*/%@<>=".utf8)

    public init(file: SourceFile, start: Int = 0, end: Int? = nil) {
        self.file = file
        self.bytes = file.bytes
        self.pos = start
        self.end = end ?? file.bytes.count
    }

    func span(_ a: Int, _ b: Int) -> SourceSpan { SourceSpan(file: file, start: a, end: b) }

    mutating func error(_ message: String, _ a: Int, _ b: Int, incomplete: Bool = false) {
        diagnostics.append(Diagnostic(.syntax, message, at: span(a, b), incomplete: incomplete))
    }

    /// All tokens, ending with `.eof`.
    public mutating func tokenize() -> [Token] {
        var out: [Token] = []
        while true {
            let t = next()
            if t.isNewline, let last = out.last, last.isNewline { continue }
            out.append(t)
            if t.isEOF { break }
        }
        return out
    }

    @inline(__always) func peek(_ k: Int = 0) -> UInt8? { pos + k < end ? bytes[pos + k] : nil }

    /// Whether the line starting at `at` can only be a new statement: `name = …` (named arguments
    /// use `:`, so `=` never continues an expression), a statement keyword, or `fn name(`.
    func startsStatement(at: Int) -> Bool {
        var i = at
        while i < end, bytes[i] == UInt8(ascii: " ") || bytes[i] == UInt8(ascii: "\t") { i += 1 }
        let wordStart = i
        while i < end, Lexer.isIdentStart(bytes[i]) || Lexer.isDigit(bytes[i]) { i += 1 }
        guard i > wordStart, !Lexer.isDigit(bytes[wordStart]) else { return false }
        let word = String(decoding: bytes[wordStart..<i], as: UTF8.self)
        var j = i
        while j < end, bytes[j] == UInt8(ascii: " ") || bytes[j] == UInt8(ascii: "\t") { j += 1 }
        switch word {
        case "if", "for", "while", "param", "return", "break", "continue": return true
        case "fn":
            // `fn name(` declares; `fn (x) { … }` is a function value, which may be an argument.
            var k = j
            while k < end, Lexer.isIdentStart(bytes[k]) || Lexer.isDigit(bytes[k]) { k += 1 }
            return k > j
        default:
            return j < end && bytes[j] == UInt8(ascii: "=") && (j + 1 >= end || bytes[j + 1] != UInt8(ascii: "="))
        }
    }

    public static func isIdentStart(_ c: UInt8) -> Bool { (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c == 95 || c >= 0x80 }
    public static func isDigit(_ c: UInt8) -> Bool { c >= 48 && c <= 57 }

    mutating func next() -> Token {
        while let c = peek() {
            if c == UInt8(ascii: " ") || c == UInt8(ascii: "\t") || c == UInt8(ascii: "\r") { pos += 1; continue }
            if c == UInt8(ascii: "\\") && peek(1) == UInt8(ascii: "\n") { pos += 2; continue }  // explicit continuation
            if c == UInt8(ascii: "#") { comment(); continue }
            if c == UInt8(ascii: "\n") {
                let s = pos
                pos += 1
                if let top = nesting.last, top != UInt8(ascii: "{") {
                    // Inside ( ) or [ ] a newline continues the statement, unless the next line can
                    // only start a statement (`name = …`, `if`, `for`, …): then the bracket was never
                    // closed, and saying so there beats swallowing the rest of the file.
                    guard startsStatement(at: pos), let open = openedAt.last else { continue }
                    error("'\(Character(UnicodeScalar(top)))' was never closed", open, open + 1)
                    neverClosed.append((open, s))
                    while let t = nesting.last, t != UInt8(ascii: "{") { nesting.removeLast(); openedAt.removeLast() }
                }
                return Token(kind: .newline, span: span(s, s + 1))
            }
            break
        }
        guard let c = peek() else { return Token(kind: .eof, span: span(end, end)) }
        let start = pos
        if Lexer.isDigit(c) { return number() }
        if Lexer.isIdentStart(c) {
            while let d = peek(), Lexer.isIdentStart(d) || Lexer.isDigit(d) { pos += 1 }
            let name = String(decoding: bytes[start..<pos], as: UTF8.self)
            if let k = Keyword(rawValue: name) { return Token(kind: .keyword(k), span: span(start, pos)) }
            return Token(kind: .identifier(name), span: span(start, pos))
        }
        if c == UInt8(ascii: "\"") { return string() }
        if let d = peek(1) {
            let two = String(decoding: [c, d], as: UTF8.self)
            if Lexer.symbols2.contains(two) {
                pos += 2
                return Token(kind: .symbol(two), span: span(start, pos))
            }
        }
        if Lexer.symbols1.contains(c) {
            pos += 1
            switch c {
            case UInt8(ascii: "("), UInt8(ascii: "["), UInt8(ascii: "{"):
                nesting.append(c)
                openedAt.append(start)
            case UInt8(ascii: ")"), UInt8(ascii: "]"), UInt8(ascii: "}"):
                if !nesting.isEmpty { nesting.removeLast(); openedAt.removeLast() }
            default: break
            }
            return Token(kind: .symbol(String(UnicodeScalar(c))), span: span(start, pos))
        }
        // Unknown character: report it and skip the whole UTF-8 sequence.
        pos += 1
        while let d = peek(), d & 0xC0 == 0x80 { pos += 1 }
        let text = String(decoding: bytes[start..<pos], as: UTF8.self)
        let hint =
            text == "'"
            ? " (strings use double quotes)" : (text == "!" ? " (use 'not')" : (text == "&" || text == "|" ? " (use 'and' / 'or')" : ""))
        error("unexpected character '\(text)'\(hint)", start, pos)
        return next()
    }

    mutating func comment() {
        let start = pos
        while let c = peek(), c != UInt8(ascii: "\n") { pos += 1 }
        let text = String(decoding: bytes[start..<pos], as: UTF8.self)
        if text.hasPrefix("# %%") || text.hasPrefix("#%%") {
            let title = text.drop(while: { $0 == "#" || $0 == " " || $0 == "%" }).trimmingCharacters(in: " \t")
            cells.append(CellMarker(line: file.location(of: start).line, title: title))
        }
    }

    mutating func number() -> Token {
        let start = pos
        var digits = ""
        func takeDigits() {
            while let d = peek(), Lexer.isDigit(d) || d == UInt8(ascii: "_") {
                if d != UInt8(ascii: "_") { digits.append(Character(UnicodeScalar(d))) }; pos += 1
            }
        }
        takeDigits()
        if peek() == UInt8(ascii: "."), let d = peek(1), Lexer.isDigit(d) {
            digits.append("."); pos += 1; takeDigits()
        }
        if let e = peek(), e == UInt8(ascii: "e") || e == UInt8(ascii: "E") {
            var k = 1
            if let s = peek(1), s == UInt8(ascii: "+") || s == UInt8(ascii: "-") { k = 2 }
            if let d = peek(k), Lexer.isDigit(d) {
                digits.append("e")
                if k == 2 { digits.append(Character(UnicodeScalar(bytes[pos + 1]))) }
                pos += k
                takeDigits()
            } else {
                pos += 1
                error("malformed number: exponent needs digits", start, pos)
                return Token(kind: .number(0), span: span(start, pos))
            }
        }
        if let c = peek(), Lexer.isIdentStart(c) {
            while let d = peek(), Lexer.isIdentStart(d) || Lexer.isDigit(d) { pos += 1 }
            error("malformed number '\(String(decoding: bytes[start..<pos], as: UTF8.self))'", start, pos)
        }
        return Token(kind: .number(Double(digits) ?? .nan), span: span(start, pos))
    }

    mutating func string() -> Token {
        let start = pos
        pos += 1
        var parts: [StringPart] = []
        var text: [UInt8] = []
        while true {
            guard let c = peek() else {
                error("unterminated string", start, pos, incomplete: true)
                break
            }
            if c == UInt8(ascii: "\n") {
                error("unterminated string (strings end on the line they start; use \\n for a newline)", start, pos)
                break
            }
            pos += 1
            if c == UInt8(ascii: "\"") { break }
            if c != UInt8(ascii: "\\") { text.append(c); continue }
            guard let e = peek() else { continue }
            pos += 1
            switch e {
            case UInt8(ascii: "n"): text.append(10)
            case UInt8(ascii: "t"): text.append(9)
            case UInt8(ascii: "r"): text.append(13)
            case UInt8(ascii: "0"): text.append(0)
            case UInt8(ascii: "\\"), UInt8(ascii: "\""): text.append(e)
            case UInt8(ascii: "("):
                if !text.isEmpty { parts.append(.text(String(decoding: text, as: UTF8.self))); text = [] }
                let codeStart = pos
                var depth = 1
                var inString = false
                while let d = peek(), d != UInt8(ascii: "\n") {
                    if inString {
                        if d == UInt8(ascii: "\\") { pos += 1 } else if d == UInt8(ascii: "\"") { inString = false }
                    } else if d == UInt8(ascii: "\"") {
                        inString = true
                    } else if d == UInt8(ascii: "(") {
                        depth += 1
                    } else if d == UInt8(ascii: ")") {
                        depth -= 1; if depth == 0 { break }
                    }
                    pos += 1
                }
                guard peek() == UInt8(ascii: ")") else {
                    error("unterminated interpolation '\\(' in string", codeStart - 2, pos, incomplete: peek() == nil)
                    return Token(kind: .string(parts), span: span(start, pos))
                }
                parts.append(.code(start: codeStart, end: pos))
                pos += 1
            default:
                error("unknown escape '\\\(Character(UnicodeScalar(e)))' in string", pos - 2, pos)
            }
        }
        if !text.isEmpty || parts.isEmpty { parts.append(.text(String(decoding: text, as: UTF8.self))) }
        return Token(kind: .string(parts), span: span(start, pos))
    }
}

extension Substring {
    func trimmingCharacters(in set: String) -> String {
        var s = self
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return String(s)
    }
}
