/// The syntax tree. Every node carries the span it was parsed from.
public struct Expr: Sendable {
    public indirect enum Kind: Sendable {
        case number(Double)
        case string([Piece])
        case bool(Bool)
        case none
        case name(String)
        case list([Expr])
        case record([(key: String, value: Expr)])
        case unary(op: String, Expr)
        case binary(op: String, Expr, Expr)
        case and(Expr, Expr)
        case or(Expr, Expr)
        case not(Expr)
        case call(callee: Expr, args: [CallArgument])
        case field(Expr, name: String, nameSpan: SourceSpan)
        case index(Expr, [IndexItem])
        case function(FunctionDecl)
    }

    /// A piece of an interpolated string.
    public enum Piece: Sendable {
        case text(String)
        case expr(Expr)
    }

    public let kind: Kind
    public let span: SourceSpan
}

/// `name: value` or a positional `value` in a call.
public struct CallArgument: Sendable {
    public let name: String?
    public let nameSpan: SourceSpan?
    public let value: Expr
}

/// One subscript: an expression or a `start:stop:step` slice (each part optional).
public enum IndexItem: Sendable {
    case at(Expr)
    case slice(start: Expr?, stop: Expr?, step: Expr?, span: SourceSpan)
}

/// `fn name(a, b, k: 3) { … }` or an anonymous `fn (x) { … }`.
public final class FunctionDecl: Sendable {
    public struct Parameter: Sendable {
        public let name: String
        public let defaultValue: Expr?
        public let span: SourceSpan
    }

    public let name: String?
    public let parameters: [Parameter]
    public let body: [Stmt]
    public let span: SourceSpan

    init(name: String?, parameters: [Parameter], body: [Stmt], span: SourceSpan) {
        self.name = name
        self.parameters = parameters
        self.body = body
        self.span = span
    }
}

public struct Stmt: Sendable {
    public indirect enum Kind: Sendable {
        case expr(Expr, silent: Bool)
        case assign(targets: [(name: String, span: SourceSpan)], value: Expr)
        case function(FunctionDecl)
        case `return`(Expr?)
        case `if`(condition: Expr, then: [Stmt], else: [Stmt]?)
        case `for`(names: [(name: String, span: SourceSpan)], iterable: Expr, body: [Stmt])
        case `while`(condition: Expr, body: [Stmt])
        case `break`
        case `continue`
        case param(name: String, nameSpan: SourceSpan, value: Expr)
    }

    public let kind: Kind
    public let span: SourceSpan
}

/// A parsed recipe: statements, `# %%` cells and every syntax error found.
public struct Program: Sendable {
    public let file: SourceFile
    public let statements: [Stmt]
    public let cells: [CellMarker]
    public let diagnostics: [Diagnostic]

    /// True when the only problem is that input ended too early (the REPL asks for more).
    public var isIncomplete: Bool { diagnostics.contains { $0.isIncomplete } }
}
