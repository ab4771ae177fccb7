/// A Pratt parser. Precedence lives in one table (`Parser.infix`); parse errors recover at
/// statement boundaries so one run reports them all, and running out of input is reported as
/// "incomplete" so the REPL can show its continuation prompt.
public struct Parser {
    /// Binding powers, low to high. `|>` < `or` < `and` < `not` < comparisons < `+ -` < `* / %` <
    /// `@` < unary `-` < `**` < postfix (call, field, index).
    enum Precedence: Int, Comparable {
        case lowest = 0, pipe, or, and, not, comparison, sum, product, matmul, unary, power, postfix
        static func < (a: Precedence, b: Precedence) -> Bool { a.rawValue < b.rawValue }
    }

    /// Infix operators: spelling → (precedence, right-associative).
    static let infix: [String: (Precedence, Bool)] = [
        "|>": (.pipe, false),
        "==": (.comparison, false), "!=": (.comparison, false), "<": (.comparison, false),
        "<=": (.comparison, false), ">": (.comparison, false), ">=": (.comparison, false),
        "+": (.sum, false), "-": (.sum, false),
        "*": (.product, false), "/": (.product, false), "%": (.product, false),
        "@": (.matmul, false),
        "**": (.power, true),
        "(": (.postfix, false), "[": (.postfix, false), ".": (.postfix, false),
    ]

    struct Failure: Error {}

    let file: SourceFile
    var tokens: [Token]
    var index = 0
    var diagnostics: [Diagnostic] = []
    var cells: [CellMarker] = []
    var functionDepth = 0
    var loopDepth = 0
    /// Nesting of expressions and blocks; bounded so that no input can exhaust the stack.
    var nesting = 0
    /// Inside an `if`/`while` condition or a `for` iterable, a `{` opens the body, not a record
    /// (brackets and calls lift this, as in Rust).
    var inCondition = false
    /// Brackets the lexer found never closed: errors inside them are that one mistake.
    var neverClosed: [(open: Int, newline: Int)] = []
    static let maxNesting = 1000

    public init(file: SourceFile) {
        self.file = file
        var lexer = Lexer(file: file)
        self.tokens = lexer.tokenize()
        self.diagnostics = lexer.diagnostics
        self.cells = lexer.cells
        self.neverClosed = lexer.neverClosed
    }

    init(file: SourceFile, start: Int, end: Int) {
        self.file = file
        var lexer = Lexer(file: file, start: start, end: end)
        self.tokens = lexer.tokenize()
        self.diagnostics = lexer.diagnostics
    }

    /// Parses a whole recipe.
    public static func parse(_ file: SourceFile) -> Program {
        var p = Parser(file: file)
        let statements = p.parseStatements(untilBrace: false)
        // Lexer and parser errors, in source order (a stable sort keeps each one's own order).
        let ordered = p.diagnostics.enumerated().sorted { a, b in
            let (x, y) = (a.element.span?.start ?? 0, b.element.span?.start ?? 0)
            return x != y ? x < y : a.offset < b.offset
        }.map(\.element)
        return Program(file: file, statements: statements, cells: p.cells, diagnostics: ordered)
    }

    // MARK: - Tokens

    var current: Token { tokens[index] }
    var previous: Token { tokens[max(0, index - 1)] }

    mutating func advance() -> Token {
        let t = tokens[index]
        if !t.isEOF { index += 1 }
        return t
    }

    mutating func skipNewlines() { while current.isNewline { index += 1 } }

    mutating func fail(_ message: String, at token: Token? = nil, suggestion: String? = nil) -> Failure {
        let t = token ?? current
        if neverClosed.contains(where: { $0.open < t.span.start && t.span.start <= $0.newline }) { return Failure() }
        diagnostics.append(Diagnostic(.syntax, message, at: t.span, suggestion: suggestion, incomplete: t.isEOF))
        return Failure()
    }

    mutating func expectSymbol(_ s: String, _ context: String) throws -> Token {
        if current.isSymbol(s) { return advance() }
        throw fail("expected '\(s)' \(context), found \(current.describe)")
    }

    mutating func expectIdentifier(_ context: String) throws -> (String, SourceSpan) {
        if case .identifier(let n) = current.kind { let t = advance(); return (n, t.span) }
        if case .keyword(let k) = current.kind {
            throw fail("'\(k.rawValue)' is a reserved word and cannot be used as \(context)")
        }
        throw fail("expected \(context), found \(current.describe)")
    }

    // MARK: - Statements

    mutating func parseStatements(untilBrace: Bool) -> [Stmt] {
        var out: [Stmt] = []
        while true {
            while current.isNewline || current.isSymbol(";") { index += 1 }
            if current.isEOF { return out }
            if current.isSymbol("}") {
                if untilBrace { return out }
                _ = fail("unmatched '}'")
                index += 1
                continue
            }
            let before = index
            do {
                let stmt = try parseStatement()
                out.append(stmt)
                // A statement ending in a block's '}' may be followed by another on the same line.
                switch stmt.kind {
                case .if, .for, .while, .function: if previous.isSymbol("}") { continue }
                default: break
                }
                try endOfStatement()
            } catch {
                synchronize(from: before)
                // Always make progress, whatever the error left behind.
                if index == before && !current.isEOF { index += 1 }
            }
        }
    }

    /// A statement ends at a newline, `;`, a closing brace or the end.
    mutating func endOfStatement() throws {
        if current.isNewline || current.isEOF || current.isSymbol("}") { return }
        if current.isSymbol(";") { return }
        throw fail(
            "expected end of statement, found \(current.describe)",
            suggestion: current.isSymbol("=") ? "only names can be assigned to" : nil)
    }

    /// Skips to the next statement boundary at the depth the statement began at: braces the failed
    /// statement opened (a record, a body) are skipped to their close, not taken for the block's end.
    mutating func synchronize(from start: Int) {
        var depth = 0
        for t in tokens[start..<index] {
            if t.isSymbol("{") { depth += 1 }
            if t.isSymbol("}") { depth = max(0, depth - 1) }
        }
        while !current.isEOF {
            if current.isSymbol("{") { depth += 1 }
            if current.isSymbol("}") {
                if depth == 0 { return }
                depth -= 1
            }
            if depth == 0 && (current.isNewline || current.isSymbol(";")) { return }
            index += 1
        }
    }

    mutating func parseBlock(_ context: String) throws -> [Stmt] {
        _ = try expectSymbol("{", "to open the body of \(context)")
        let body = parseStatements(untilBrace: true)
        if !current.isSymbol("}") {
            throw fail("expected '}' to close the body of \(context), found \(current.describe)")
        }
        _ = advance()
        return body
    }

    mutating func parseStatement() throws -> Stmt {
        nesting += 1
        defer { nesting -= 1 }
        if nesting > Parser.maxNesting { throw fail("blocks nested too deeply (more than \(Parser.maxNesting) levels)") }
        let start = current
        if case .keyword(let k) = current.kind, tokens[index + 1].isSymbol("="), !tokens[index + 1].isSymbol("==") {
            throw fail("'\(k.rawValue)' is a reserved word and cannot be assigned to")
        }
        if case .keyword(let k) = current.kind {
            switch k {
            case .fn:
                if case .identifier = tokens[index + 1].kind {
                    let decl = try parseFunction()
                    return Stmt(kind: .function(decl), span: decl.span)
                }
            case .return:
                _ = advance()
                guard functionDepth > 0 else { throw fail("'return' outside a function", at: start) }
                if current.isNewline || current.isEOF || current.isSymbol("}") || current.isSymbol(";") {
                    return Stmt(kind: .return(nil), span: start.span)
                }
                let e = try parseExpression()
                return Stmt(kind: .return(e), span: start.span.to(e.span))
            case .if:
                return try parseIf()
            case .for:
                _ = advance()
                var names = [try expectIdentifier("a loop variable name")]
                while current.isSymbol(",") { _ = advance(); names.append(try expectIdentifier("a loop variable name")) }
                guard current.isKeyword(.in) else { throw fail("expected 'in' after the loop variable, found \(current.describe)") }
                _ = advance()
                let iterable = try parseCondition()
                loopDepth += 1; defer { loopDepth -= 1 }
                let body = try parseBlock("the for loop")
                return Stmt(
                    kind: .for(names: names.map { ($0.0, $0.1) }, iterable: iterable, body: body), span: start.span.to(previous.span))
            case .while:
                _ = advance()
                let cond = try parseCondition()
                loopDepth += 1; defer { loopDepth -= 1 }
                let body = try parseBlock("the while loop")
                return Stmt(kind: .while(condition: cond, body: body), span: start.span.to(previous.span))
            case .break, .continue:
                _ = advance()
                guard loopDepth > 0 else { throw fail("'\(k.rawValue)' outside a loop", at: start) }
                return Stmt(kind: k == .break ? .break : .continue, span: start.span)
            case .param:
                _ = advance()
                guard functionDepth == 0 && loopDepth == 0 else {
                    throw fail("'param' is only allowed at the top level of a recipe", at: start)
                }
                let (name, nameSpan) = try expectIdentifier("a parameter name")
                _ = try expectSymbol("=", "after the parameter name (param name = default)")
                skipNewlines()
                let value = try parseExpression()
                return Stmt(kind: .param(name: name, nameSpan: nameSpan, value: value), span: start.span.to(value.span))
            case .else:
                throw fail("'else' without a matching 'if'")
            default:
                break
            }
        }
        let first = try parseExpression()
        if current.isSymbol(",") || current.isSymbol("=") {
            var targets: [Expr] = [first]
            while current.isSymbol(",") {
                _ = advance()
                targets.append(try parseExpression())
            }
            guard current.isSymbol("=") else { throw fail("expected '=' after the names to assign, found \(current.describe)") }
            _ = advance()  // =
            var names: [(String, SourceSpan)] = []
            for t in targets {
                guard case .name(let n) = t.kind else {
                    throw fail(
                        "cannot assign to this expression; only names can be assigned (x = …, a, b = …)",
                        at: Token(kind: .symbol("="), span: t.span))
                }
                names.append((n, t.span))
            }
            skipNewlines()
            if current.isEOF { throw fail("expected a value after '='", at: current) }
            let value = try parseExpression()
            return Stmt(kind: .assign(targets: names.map { ($0.0, $0.1) }, value: value), span: first.span.to(value.span))
        }
        let silent = current.isSymbol(";")
        return Stmt(kind: .expr(first, silent: silent), span: first.span)
    }

    /// A condition or iterable: an expression that a `{` ends.
    mutating func parseCondition() throws -> Expr {
        let saved = inCondition
        inCondition = true
        defer { inCondition = saved }
        return try parseExpression()
    }

    mutating func parseIf() throws -> Stmt {
        let start = advance()
        let cond = try parseCondition()
        let then = try parseBlock("the if statement")
        var elseBody: [Stmt]?
        // `else` may sit on the next line after the closing brace.
        var look = index
        while tokens[look].isNewline { look += 1 }
        if tokens[look].isKeyword(.else) {
            index = look
            _ = advance()
            if current.isKeyword(.if) {
                elseBody = [try parseIf()]
            } else {
                elseBody = try parseBlock("the else branch")
            }
        }
        return Stmt(kind: .if(condition: cond, then: then, else: elseBody), span: start.span.to(previous.span))
    }

    mutating func parseFunction() throws -> FunctionDecl {
        let start = advance()  // fn
        var name: String?
        if case .identifier(let n) = current.kind { name = n; _ = advance() }
        if case .keyword(let k) = current.kind { throw fail("'\(k.rawValue)' is a reserved word and cannot name a function") }
        _ = try expectSymbol("(", "to open the parameter list")
        var params: [FunctionDecl.Parameter] = []
        var seen = Set<String>()
        while !current.isSymbol(")") {
            let (pname, pspan) = try expectIdentifier("a parameter name")
            guard seen.insert(pname).inserted else { throw fail("duplicate parameter '\(pname)'", at: previous) }
            var def: Expr?
            if current.isSymbol(":") {
                _ = advance()
                def = try parseExpression()
            } else if params.last?.defaultValue != nil {
                throw fail("positional parameter '\(pname)' cannot follow named parameters", at: previous)
            }
            params.append(.init(name: pname, defaultValue: def, span: pspan))
            if current.isSymbol(",") {
                _ = advance()
            } else if !current.isSymbol(")") {
                throw fail("expected ',' or ')' in the parameter list, found \(current.describe)")
            }
        }
        _ = advance()
        functionDepth += 1
        let savedLoop = loopDepth
        loopDepth = 0
        defer { functionDepth -= 1; loopDepth = savedLoop }
        let body = try parseBlock(name.map { "fn \($0)" } ?? "the function")
        return FunctionDecl(name: name, parameters: params, body: body, span: start.span.to(previous.span))
    }
}


extension Parser {
    /// One expression filling the whole file, or nil (used for `-p name=value`).
    public static func parseLiteralExpression(_ file: SourceFile) -> Expr? {
        var p = Parser(file: file)
        guard p.diagnostics.isEmpty, let e = try? p.parseExpression() else { return nil }
        p.skipNewlines()
        return p.current.isEOF && p.diagnostics.isEmpty ? e : nil
    }
}
