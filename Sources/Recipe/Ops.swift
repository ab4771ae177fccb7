import Foundation
import SqueezeCore

/// The semantics of operators, indexing, field access and conversions.
enum Ops {
    /// 2⁵³: every whole number below it is exact in a Double, so it is the language's bound for
    /// integers (seeds drawn for runs are below it, so `seed(…)` lines written by `:save` read back).
    static let wholeLimit: Double = 9_007_199_254_740_992

    static func fail(_ message: String, _ span: SourceSpan, suggestion: String? = nil) -> Diagnostic {
        Diagnostic(.runtime, message, at: span, suggestion: suggestion)
    }

    /// Wraps a core error as a diagnostic at `span`.
    static func wrap(_ error: Error, _ span: SourceSpan, prefix: String? = nil) -> Error {
        if error is Diagnostic { return error }
        if let e = error as? CoreError {
            if e == .cancelled { return Diagnostic(.interrupted, "interrupted", at: span) }
            let text = e.description
            var lead = ""
            if let prefix, !text.hasPrefix("\(prefix):"), !text.hasPrefix("\(prefix) ") { lead = "\(prefix): " }
            return Diagnostic(.runtime, lead + text, at: span)
        }
        return Diagnostic(.runtime, "\(error)", at: span)
    }

    // MARK: - Conversions

    /// A tensor from a tensor, number, nested list of numbers or compressed value.
    static func toTensor(_ v: Value) -> Tensor? {
        switch v {
        case .tensor(let t): return t
        case .variable(let v): return v.operand.value
        case .number(let x): return Tensor(scalar: Float(x))
        case .bool(let b): return Tensor(scalar: b ? 1 : 0)
        case .compressed(let c): return c.recon
        case .range(let r): return Tensor((0..<r.count).map { Float(r.element($0)) })
        case .list(let items):
            if items.isEmpty { return Tensor.zeros([0]) }
            if items.allSatisfy({
                if case .number = $0 { return true }; return false
            }) {
                return Tensor(items.map { Float($0.asNumber!) })
            }
            let parts = items.compactMap(toTensor)
            guard parts.count == items.count, let first = parts.first,
                parts.allSatisfy({ $0.shape == first.shape }), first.rank < Tensor.maxRank
            else { return nil }
            return try? Tensor.stack(parts)
        default: return nil
        }
    }

    /// Truthiness for conditions: bools, numbers (non-zero), none, one-element tensors.
    static func truthy(_ v: Value, _ span: SourceSpan) throws -> Bool {
        switch v {
        case .bool(let b): return b
        case .number(let x): return x != 0 && !x.isNaN
        case .none: return false
        case .tensor(let t) where t.count == 1: return t.storage[0] != 0
        case .variable(let v): return try truthy(.tensor(v.operand.value), span)
        case .tensor(let t):
            throw fail(
                "the truth value of a tensor with \(t.count) elements (shape \(Shape.describe(t.shape))) is ambiguous", span,
                suggestion: "reduce it first, e.g. all: min(A == B) == 1, or any: max(A) > 0")
        default:
            throw fail("expected a bool condition, got \(v.typeDescription)", span)
        }
    }

    // MARK: - Operators

    static func binary(_ op: String, _ a: Value, _ b: Value, _ span: SourceSpan) throws -> Value {
        if let tape = Autodiff.liveTape(a, b) { return try Autodiff.binary(op, a, b, tape, span) }
        switch (a, b) {
        case let (.number(x), .number(y)):
            return try numeric(op, x, y, span)
        case let (.string(x), .string(y)):
            if op == "+" { return .string(x + y) }
            if let c = compare(op, x, y) { return .bool(c) }
        case let (.list(x), .list(y)) where op == "+":
            return .list(x + y)
        case let (.string(s), .number(n)) where op == "*" && n == n.rounded() && n >= 0 && n < 1e6:
            return .string(String(repeating: s, count: Int(n)))
        case let (.list(l), .number(n)) where op == "*" && n == n.rounded() && n >= 0 && n * Double(l.count) < 1e7:
            return .list(Array([[Value]](repeating: l, count: Int(n)).joined()))
        default:
            break
        }
        if case .tensor = a { return try tensorOp(op, a, b, span) }
        if case .tensor = b { return try tensorOp(op, a, b, span) }
        if case .compressed = a { return try tensorOp(op, a, b, span) }
        if case .compressed = b { return try tensorOp(op, a, b, span) }
        if op == "==" { return .bool(a.isEqual(to: b)) }
        if op == "!=" { return .bool(!a.isEqual(to: b)) }
        if op == "@" {
            throw fail("'@' needs tensors (matrices or vectors), got \(a.typeDescription) and \(b.typeDescription)", span)
        }
        throw fail("unsupported operand types for '\(op)': \(a.typeDescription) and \(b.typeDescription)", span)
    }

    @inline(__always)
    static func numeric(_ op: String, _ x: Double, _ y: Double, _ span: SourceSpan) throws -> Value {
        switch op {
        case "+": return .number(x + y)
        case "-": return .number(x - y)
        case "*": return .number(x * y)
        case "/":
            if y == 0 { throw fail("division by zero", span) }
            return .number(x / y)
        case "%":
            if y == 0 { throw fail("modulo by zero", span) }
            let r = fmod(x, y)
            return .number(r != 0 && (r < 0) != (y < 0) ? r + y : r)
        case "**": return .number(pow(x, y))
        case "@": throw fail("'@' needs tensors, got two numbers (use '*')", span)
        default:
            if let c = compare(op, x, y) { return .bool(c) }
            throw fail("unknown operator '\(op)'", span)
        }
    }

    /// The comparison operators on any ordered type; nil for other operators.
    static func compare<T: Comparable>(_ op: String, _ x: T, _ y: T) -> Bool? {
        switch op {
        case "==": return x == y
        case "!=": return x != y
        case "<": return x < y
        case "<=": return x <= y
        case ">": return x > y
        case ">=": return x >= y
        default: return nil
        }
    }

    static let binaryOps: [String: BinaryOp] = [
        "+": .add, "-": .sub, "*": .mul, "/": .div, "**": .pow, "%": .mod,
        "==": .eq, "!=": .ne, "<": .lt, "<=": .le, ">": .gt, ">=": .ge,
    ]

    static func tensorOp(_ op: String, _ a: Value, _ b: Value, _ span: SourceSpan) throws -> Value {
        guard let x = toTensor(a), let y = toTensor(b) else {
            throw fail("unsupported operand types for '\(op)': \(a.typeDescription) and \(b.typeDescription)", span)
        }
        do {
            if op == "@" {
                let r = try x.matmul(y)
                return r.rank == 0 ? .number(Double(r.storage[0])) : .tensor(r)
            }
            guard let bop = binaryOps[op] else { throw fail("unknown operator '\(op)'", span) }
            if case .number(let s) = b { return .tensor(x.elementwise(bop, scalar: Float(s))) }
            return .tensor(try x.elementwise(bop, y))
        } catch let e as CoreError {
            if case let .shapeMismatch(_, l, r) = e {
                let what = op == "@" ? "matrix product '@'" : "'\(op)'"
                throw fail(
                    "shape mismatch in \(what): \(Shape.describe(l)) and \(Shape.describe(r))", span,
                    suggestion: op == "@"
                        ? "the inner dimensions must agree; transpose one side with .T?"
                        : "shapes must be equal or broadcastable (NumPy rules)")
            }
            throw wrap(e, span)
        }
    }

    static func negate(_ v: Value, _ span: SourceSpan) throws -> Value {
        switch v {
        case .number(let x): return .number(-x)
        case .tensor(let t): return .tensor(t.map(.neg))
        case .variable(let v) where v.isLive: return Autodiff.value(v.tape.apply(.neg, v.operand), v.tape)
        case .variable(let v): return .tensor(v.operand.value.map(.neg))
        case .compressed(let c): return .tensor(c.recon.map(.neg))
        default: throw fail("cannot negate \(v.typeDescription)", span)
        }
    }

    // MARK: - Indexing

    enum Index {
        case at(Value, SourceSpan)
        case slice(Int?, Int?, Int, SourceSpan)
    }

    static func integer(_ v: Value, _ span: SourceSpan, _ what: String = "index") throws -> Int {
        guard case .number(let x) = v else { throw fail("\(what) must be a whole number, got \(v.typeDescription)", span) }
        guard x == x.rounded(), abs(x) < Ops.wholeLimit else { throw fail("\(what) must be a whole number, got \(Format.number(x))", span) }
        return Int(x)
    }

    static func index(_ base: Value, _ items: [Index], _ span: SourceSpan) throws -> Value {
        switch base {
        case .list(let l):
            return try sequenceIndex(l.count, items, span, typeName: "list") {
                .list(Array($0.map { l[$0] }))
            } element: {
                l[$0]
            }
        case .string(let s):
            let chars = Array(s)
            return try sequenceIndex(chars.count, items, span, typeName: "string") {
                .string(String($0.map { chars[$0] }))
            } element: {
                .string(String(chars[$0]))
            }
        case .range(let r):
            return try sequenceIndex(r.count, items, span, typeName: "range") { idx in
                .list(idx.map { .number(Double(r.element($0))) })
            } element: {
                .number(Double(r.element($0)))
            }
        case .record(let r):
            guard items.count == 1, case let .at(key, kspan) = items[0] else {
                throw fail("a record is indexed by one field name: r[\"name\"]", span)
            }
            guard case .string(let k) = key else { throw fail("record keys are strings, got \(key.typeDescription)", kspan) }
            guard let v = r[k] else {
                throw fail("record has no field \(Format.quoted(k))", kspan, suggestion: Suggest.didYouMean(k, in: r.fields.keys))
            }
            return v
        case .tensor(let t):
            return try tensorIndex(t, items, span)
        case .variable(let v) where v.isLive:
            return try Autodiff.index(v, items, span)
        case .variable(let v):
            return try tensorIndex(v.operand.value, items, span)
        case .compressed(let c):
            return try tensorIndex(c.recon, items, span)
        case .model(let m):
            guard items.count == 1, case let .at(key, kspan) = items[0], case .string(let k) = key else {
                throw fail("a model is indexed by a tensor name: m[\"encoder.layer.0.intermediate.dense.weight\"]", span)
            }
            guard let t = m.weights[k] else {
                throw fail(
                    "model has no tensor \(Format.quoted(k))", kspan, suggestion: Suggest.didYouMean(k, in: m.names) ?? "see m.tensors")
            }
            return .tensor(t)
        case .decoder(let m):
            guard items.count == 1, case let .at(key, kspan) = items[0], case .string(let k) = key else {
                throw fail("a model is indexed by a tensor name: m[\"blk.0.ffn_down.weight\"]", span)
            }
            guard let t = m.weights[k] ?? m.weight(k) else {
                throw fail(
                    "model has no tensor \(Format.quoted(k))", kspan, suggestion: Suggest.didYouMean(k, in: m.names) ?? "see m.tensors")
            }
            return .tensor(t)
        default:
            throw fail("\(base.typeDescription) cannot be indexed", span)
        }
    }

    static func sequenceIndex(
        _ n: Int, _ items: [Index], _ span: SourceSpan, typeName: String,
        slice: ([Int]) -> Value, element: (Int) -> Value
    ) throws -> Value {
        guard items.count == 1 else { throw fail("a \(typeName) takes one index, got \(items.count)", span) }
        switch items[0] {
        case let .at(v, ispan):
            let i0 = try integer(v, ispan)
            let i = i0 < 0 ? i0 + n : i0
            guard i >= 0 && i < n else { throw fail("index \(i0) is out of range for a \(typeName) of length \(n)", ispan) }
            return element(i)
        case let .slice(a, b, step, sspan):
            guard step != 0 else { throw fail("slice step cannot be zero", sspan) }
            let t = Tensor(shape: [n], storage: (0..<n).map(Float.init))
            let picked = try t.slice([.range(start: a, stop: b, step: step)])
            return slice(picked.storage.map { Int($0) })
        }
    }

    /// `A[idx]` and `A[[i, j]]`: the rows an index vector or list selects (negative counting from the
    /// end); nil when `v` is neither.
    static func rowIndices(_ v: Value, _ rows: Int, _ span: SourceSpan) throws -> [Int]? {
        switch v {
        case .tensor(let idx) where idx.rank == 1:
            return try idx.storage.map { x in
                guard x == x.rounded() else { throw fail("row indices must be whole numbers", span) }
                return Int(x) < 0 ? Int(x) + rows : Int(x)
            }
        case .list(let l):
            return try l.map { try integer($0, span) }.map { $0 < 0 ? $0 + rows : $0 }
        default:
            return nil
        }
    }

    static func tensorIndex(_ t: Tensor, _ items: [Index], _ span: SourceSpan) throws -> Value {
        guard items.count <= t.rank else {
            throw fail("too many indices for a tensor of shape \(Shape.describe(t.shape)): \(items.count) given, rank \(t.rank)", span)
        }
        var comps: [SliceComponent] = []
        for (axis, item) in items.enumerated() {
            switch item {
            case let .at(v, ispan):
                if items.count == 1, let rows = try rowIndices(v, t.shape[0], ispan) {
                    do { return .tensor(try t.rows(at: rows)) } catch { throw wrap(error, ispan) }
                }
                let i = try integer(v, ispan)
                let d = t.shape[axis]
                guard i >= -d && i < d else {
                    throw fail("index \(i) is out of range for axis \(axis) with size \(d) (shape \(Shape.describe(t.shape)))", ispan)
                }
                comps.append(.index(i))
            case let .slice(a, b, step, sspan):
                guard step != 0 else { throw fail("slice step cannot be zero", sspan) }
                comps.append(.range(start: a, stop: b, step: step))
            }
        }
        do {
            let r = try t.slice(comps)
            return r.rank == 0 ? .number(Double(r.storage[0])) : .tensor(r)
        } catch {
            throw wrap(error, span)
        }
    }

    // MARK: - Fields

    static let tensorFields = ["T", "shape", "rank", "size"]

    static func field(_ base: Value, _ name: String, _ span: SourceSpan) throws -> Value {
        switch base {
        case .record(let r):
            if let v = r[name] { return v }
            throw fail(
                "record has no field '\(name)'", span,
                suggestion: Suggest.didYouMean(name, in: r.fields.keys)
                    ?? (r.fields.isEmpty ? nil : "fields: " + r.fields.keys.joined(separator: ", ")))
        case .variable(let v) where v.isLive && name == "T":
            do { return Autodiff.value(try v.tape.permute(v.operand, nil), v.tape) } catch { throw wrap(error, span) }
        case .variable(let v):
            return try field(.tensor(v.operand.value), name, span)
        case .tensor(let t):
            switch name {
            case "T": return .tensor(t.transposed)
            case "shape": return .list(t.shape.map { .number(Double($0)) })
            case "rank": return .number(Double(t.rank))
            case "size": return .number(Double(t.count))
            default:
                throw fail(
                    "tensor has no field '\(name)'", span,
                    suggestion: Suggest.didYouMean(name, in: tensorFields) ?? "tensor fields: T, shape, rank, size")
            }
        case .compressed(let c):
            if let v = c.field(name) { return v }
            if name == "T" { return .tensor(c.recon.transposed) }
            throw fail(
                "compressed value has no field '\(name)'", span,
                suggestion: Suggest.didYouMean(name, in: c.fieldNames) ?? "fields: " + c.fieldNames.joined(separator: ", "))
        case .model(let m):
            if let v = ModelValue.field(m, name) { return v }
            throw fail(
                "model has no field '\(name)'", span,
                suggestion: Suggest.didYouMean(name, in: ModelValue.fieldNames) ?? "fields: "
                    + ModelValue.fieldNames.joined(separator: ", "))
        case .decoder(let m):
            if let v = ModelValue.field(m, name) { return v }
            throw fail(
                "model has no field '\(name)'", span,
                suggestion: Suggest.didYouMean(name, in: ModelValue.decoderFieldNames) ?? "fields: "
                    + ModelValue.decoderFieldNames.joined(separator: ", "))
        case .range(let r):
            switch name {
            case "start": return .number(Double(r.start))
            case "stop": return .number(Double(r.stop))
            case "step": return .number(Double(r.step))
            default: throw fail("range has no field '\(name)' (fields: start, stop, step)", span)
            }
        default:
            throw fail("\(base.typeDescription) has no field '\(name)'", span)
        }
    }
}
