/// Expressions: the Pratt loop over `Parser.infix`, prefix forms, calls, indexing, records.
extension Parser {

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
