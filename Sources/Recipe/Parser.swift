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

    // MARK: - Expressions

    mutating func parseExpression(_ minimum: Precedence = .lowest) throws -> Expr {
        var left = try parsePrefix()
        // Each operator applied deepens the tree by one: count it against the nesting bound.
        var added = 0
        defer { nesting -= added }
        while true {
            if added > 0 && nesting > Parser.maxNesting {
                throw fail("expression nested too deeply (more than \(Parser.maxNesting) levels)")
            }
            guard case .symbol(let op) = current.kind, let (prec, right) = Parser.infix[op], prec > minimum else {
                if (current.isKeyword(.and) && Precedence.and > minimum) || (current.isKeyword(.or) && Precedence.or > minimum) {
                    let isAnd = current.isKeyword(.and)
                    try continueAfterOperator(advance())
                    let rhs = try parseExpression(isAnd ? .and : .or)
                    left = Expr(kind: isAnd ? .and(left, rhs) : .or(left, rhs), span: left.span.to(rhs.span))
                    nesting += 1
                    added += 1
                    continue
                }
                return left
            }
            let opToken = advance()
            nesting += 1
            added += 1
            switch op {
            case "(": left = try parseCall(left)
            case "[": left = try parseIndex(left)
            case ".":
                let (name, span) = try expectFieldName()
                left = Expr(kind: .field(left, name: name, nameSpan: span), span: left.span.to(span))
            case "|>":
                try continueAfterOperator(opToken)
                let rhs = try parseExpression(.pipe)
                left = try pipe(left, into: rhs, opToken)
            default:
                try continueAfterOperator(opToken)
                let rhs = try parseExpression(right ? Precedence(rawValue: prec.rawValue - 1)! : prec)
                left = Expr(kind: .binary(op: op, left, rhs), span: left.span.to(rhs.span))
            }
        }
    }

    /// A trailing operator continues its expression on the next line, unless that line can only be
    /// a statement of its own (`name = …`, `if …`): then the operand is missing, and that is the error.
    mutating func continueAfterOperator(_ op: Token) throws {
        guard current.isNewline else { return }
        let lineEnd = index
        skipNewlines()
        let startsStatement: Bool
        switch current.kind {
        case .keyword(let k): startsStatement = [.if, .for, .while, .param, .return, .break, .continue].contains(k)
        case .identifier: startsStatement = tokens[index + 1].isSymbol("=")
        default: startsStatement = false
        }
        if startsStatement {
            index = lineEnd   // recovery resumes at that next statement, which gets parsed
            throw fail("expected an expression after \(op.describe) at the end of the line", at: op,
                       suggestion: "an operator at the end of a line continues the expression on the next line")
        }
    }

    mutating func expectFieldName() throws -> (String, SourceSpan) {
        if case .identifier(let n) = current.kind { let t = advance(); return (n, t.span) }
        if case .keyword(let k) = current.kind { let t = advance(); return (k.rawValue, t.span) }
        throw fail("expected a field name after '.', found \(current.describe)")
    }

    /// `a |> f(b)` is `f(a, b)`; `a |> f` is `f(a)`.
    mutating func pipe(_ value: Expr, into rhs: Expr, _ op: Token) throws -> Expr {
        switch rhs.kind {
        case let .call(callee, args):
            let arg = CallArgument(name: nil, nameSpan: nil, value: value)
            return Expr(kind: .call(callee: callee, args: [arg] + args), span: value.span.to(rhs.span))
        case .name, .field, .function:
            return Expr(
                kind: .call(callee: rhs, args: [CallArgument(name: nil, nameSpan: nil, value: value)]), span: value.span.to(rhs.span))
        default:
            throw fail(
                "the right side of '|>' must be a function or a call, like x |> f(k: 1)", at: Token(kind: .symbol("|>"), span: rhs.span))
        }
    }

    mutating func parseCall(_ callee: Expr) throws -> Expr {
        let saved = inCondition
        inCondition = false
        defer { inCondition = saved }
        var args: [CallArgument] = []
        var sawNamed = false
        while !current.isSymbol(")") {
            if current.isEOF { throw fail("expected ')' to close the call, found end of input") }
            if case .identifier(let n) = current.kind, tokens[index + 1].isSymbol(":") {
                let nameTok = advance(); _ = advance()
                if args.contains(where: { $0.name == n }) { throw fail("argument '\(n)' is given twice", at: nameTok) }
                let v = try parseExpression()
                args.append(CallArgument(name: n, nameSpan: nameTok.span, value: v))
                sawNamed = true
            } else {
                let v = try parseExpression()
                if sawNamed {
                    throw fail("positional argument after a named argument", at: Token(kind: .symbol(","), span: v.span))
                }
                args.append(CallArgument(name: nil, nameSpan: nil, value: v))
            }
            if current.isSymbol(",") {
                _ = advance()
            } else if !current.isSymbol(")") {
                throw fail("expected ',' or ')' in the argument list, found \(current.describe)")
            }
        }
        let close = advance()
        return Expr(kind: .call(callee: callee, args: args), span: callee.span.to(close.span))
    }

    mutating func parseIndex(_ base: Expr) throws -> Expr {
        var items: [IndexItem] = []
        while !current.isSymbol("]") {
            if current.isEOF { throw fail("expected ']' to close the index, found end of input") }
            let itemStart = current.span
            var start: Expr?
            if !current.isSymbol(":") { start = try parseExpression() }
            if current.isSymbol(":") {
                _ = advance()
                var stop: Expr?, step: Expr?
                if !current.isSymbol(":") && !current.isSymbol(",") && !current.isSymbol("]") { stop = try parseExpression() }
                if current.isSymbol(":") {
                    _ = advance()
                    if !current.isSymbol(",") && !current.isSymbol("]") { step = try parseExpression() }
                }
                items.append(.slice(start: start, stop: stop, step: step, span: itemStart.to(previous.span)))
            } else if let start {
                items.append(.at(start))
            }
            if current.isSymbol(",") {
                _ = advance()
            } else if !current.isSymbol("]") {
                throw fail("expected ',' or ']' in the index, found \(current.describe)")
            }
        }
        let close = advance()
        if items.isEmpty { throw fail("empty index: write A[i], A[i, j] or A[a:b]", at: close) }
        return Expr(kind: .index(base, items), span: base.span.to(close.span))
    }

    mutating func parsePrefix() throws -> Expr {
        nesting += 1
        defer { nesting -= 1 }
        if nesting > Parser.maxNesting { throw fail("expression nested too deeply (more than \(Parser.maxNesting) levels)") }
        let t = current
        switch t.kind {
        case .number(let v):
            _ = advance()
            return Expr(kind: .number(v), span: t.span)
        case .string(let parts):
            _ = advance()
            return Expr(kind: .string(try interpolate(parts)), span: t.span)
        case .identifier(let n):
            _ = advance()
            return Expr(kind: .name(n), span: t.span)
        case .keyword(let k):
            switch k {
            case .true, .false:
                _ = advance()
                return Expr(kind: .bool(k == .true), span: t.span)
            case .none:
                _ = advance()
                return Expr(kind: .none, span: t.span)
            case .not:
                _ = advance()
                let e = try parseExpression(.not)
                return Expr(kind: .not(e), span: t.span.to(e.span))
            case .fn:
                let decl = try parseFunction()
                return Expr(kind: .function(decl), span: decl.span)
            default:
                throw fail("expected an expression, found '\(k.rawValue)'")
            }
        case .symbol(let s):
            switch s {
            case "-", "+":
                _ = advance()
                let e = try parseExpression(.unary)
                return s == "-" ? Expr(kind: .unary(op: "-", e), span: t.span.to(e.span)) : e
            case "(":
                _ = advance()
                let saved = inCondition
                inCondition = false
                defer { inCondition = saved }
                let e = try parseExpression()
                _ = try expectSymbol(")", "to close the parenthesis")
                return Expr(kind: e.kind, span: t.span.to(previous.span))
            case "[":
                _ = advance()
                let saved = inCondition
                inCondition = false
                defer { inCondition = saved }
                var items: [Expr] = []
                while !current.isSymbol("]") {
                    if current.isEOF { throw fail("expected ']' to close the list, found end of input") }
                    items.append(try parseExpression())
                    if current.isSymbol(",") {
                        _ = advance()
                    } else if !current.isSymbol("]") {
                        throw fail("expected ',' or ']' in the list, found \(current.describe)")
                    }
                }
                let close = advance()
                return Expr(kind: .list(items), span: t.span.to(close.span))
            case "{":
                if inCondition && !recordAhead() {
                    throw fail(
                        "expected an expression after \(previous.describe), found '{'",
                        suggestion: "the condition is incomplete: its body starts at this '{'")
                }
                return try parseRecord()
            default:
                throw fail("expected an expression, found '\(s)'")
            }
        case .newline:
            throw fail("expected an expression, found end of line")
        case .eof:
            throw fail("expected an expression, found end of input")
        }
    }

    /// After a `{`: whether a record's first key follows (`{a: 1}`, `{"k": 2}`), not a block.
    func recordAhead() -> Bool {
        var i = index + 1
        while tokens[i].isNewline { i += 1 }
        switch tokens[i].kind {
        case .identifier, .keyword, .string: return tokens[i + 1].isSymbol(":")
        default: return false
        }
    }

    mutating func parseRecord() throws -> Expr {
        let open = advance()
        var fields: [(key: String, value: Expr)] = []
        skipNewlines()
        while !current.isSymbol("}") {
            if current.isEOF { throw fail("expected '}' to close the record, found end of input") }
            let key: String
            let keyTok = current
            switch current.kind {
            case .identifier(let n): key = n
            case .keyword(let k): key = k.rawValue
            case .string(let parts):
                guard parts.count <= 1, case .text(let s)? = parts.first ?? .text("") else {
                    throw fail("record keys cannot be interpolated strings")
                }
                key = s
            default:
                throw fail("expected a field name in the record, found \(current.describe)")
            }
            _ = advance()
            _ = try expectSymbol(":", "after the field name '\(key)'")
            skipNewlines()
            if fields.contains(where: { $0.key == key }) { throw fail("field '\(key)' appears twice in the record", at: keyTok) }
            fields.append((key, try parseExpression()))
            skipNewlines()
            if current.isSymbol(",") {
                _ = advance(); skipNewlines()
            } else if !current.isSymbol("}") {
                throw fail("expected ',' or '}' in the record, found \(current.describe)")
            }
        }
        let close = advance()
        return Expr(kind: .record(fields), span: open.span.to(close.span))
    }

    /// Parses each `\( … )` of a string literal as an expression in place.
    mutating func interpolate(_ parts: [StringPart]) throws -> [Expr.Piece] {
        try parts.map { part in
            switch part {
            case .text(let s): return .text(s)
            case let .code(start, end):
                var sub = Parser(file: file, start: start, end: end)
                sub.functionDepth = functionDepth
                let e = try? sub.parseExpression()
                if let e, sub.current.isEOF, sub.diagnostics.isEmpty { return .expr(e) }
                diagnostics.append(
                    contentsOf: sub.diagnostics.map {
                        var d = $0; d.isIncomplete = false; return d
                    })
                if sub.diagnostics.isEmpty {
                    throw fail("expected one expression inside \\( … )", at: sub.current)
                }
                throw Failure()
            }
        }
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
