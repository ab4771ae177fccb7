/// Values given on the command line (`-p k=8`, `-p method=kmeans`, `-p sizes=[1, 2]`).
public enum Literal {
    /// A number, string, bool, none, or list of those written as in a recipe; anything that is not
    /// a literal is taken as a bare string, so `-p method=kmeans` needs no quotes.
    public static func parse(_ text: String, name: String) -> Value {
        let file = SourceFile(name: "-p \(name)", text: text)
        guard let e = Parser.parseLiteralExpression(file), let v = evaluate(e) else { return .string(text) }
        return v
    }

    static func evaluate(_ e: Expr) -> Value? {
        switch e.kind {
        case .number(let x): return .number(x)
        case .bool(let b): return .bool(b)
        case .none: return Value.none
        case .string(let pieces):
            guard pieces.count <= 1 else { return nil }
            if case .text(let s)? = pieces.first { return .string(s) }
            return .string("")
        case .unary("-", let x):
            if case .number(let v) = x.kind { return .number(-v) }
            return nil
        case .list(let items):
            let vs = items.compactMap(evaluate)
            return vs.count == items.count ? .list(vs) : nil
        default:
            return nil
        }
    }
}
