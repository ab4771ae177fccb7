import Compression
import Models
import OrderedCollections
import SqueezeCore
import Training

/// A value of the recipe language.
public enum Value: Sendable {
    case none
    case bool(Bool)
    case number(Double)
    case string(String)
    case list([Value])
    indirect case record(Record)
    indirect case range(RangeValue)
    case tensor(Tensor)
    /// A tensor being differentiated: recorded on the tape of the `grad` call that is running.
    /// Recipes see a tensor; once that call has returned it behaves as a plain tensor.
    case variable(Tracked)
    case function(Function)
    indirect case compressed(CompressedValue)
    /// A neural network (`load("minilm")`): its weights, configuration and tokenizer.
    indirect case model(Transformer)
    /// A decoder language model (`load("smollm2")`, a llama GGUF): weights, configuration, tokenizer.
    indirect case decoder(LanguageModel)
    /// A variable slot that has not been assigned yet; never visible to a recipe.
    case unset

    /// The type name used in messages and by `type(x)`.
    public var typeName: String {
        switch self {
        case .none: return "none"
        case .bool: return "bool"
        case .number: return "number"
        case .string: return "string"
        case .list: return "list"
        case .record: return "record"
        case .range: return "range"
        case .tensor, .variable: return "tensor"
        case .function: return "function"
        case .compressed: return "compressed"
        case .model, .decoder: return "model"
        case .unset: return "unset"
        }
    }

    /// `typeName` with a short detail: "tensor 3×4", "list of 5", "string".
    public var typeDescription: String {
        switch self {
        case .tensor(let t): return "tensor \(Shape.describe(t.shape))"
        case .variable(let v): return "tensor \(Shape.describe(v.operand.shape))"
        case .list(let l): return "list of \(l.count)"
        default: return typeName
        }
    }

    /// Calls `body` on each recipe function this value is or holds (lists and records are
    /// searched) until it returns true; whether it did.
    func anyUserFunction(_ body: (UserFunction) -> Bool) -> Bool {
        switch self {
        case .function(.user(let u)): return body(u)
        case .list(let l): return l.contains { $0.anyUserFunction(body) }
        case .record(let r): return r.fields.values.contains { $0.anyUserFunction(body) }
        default: return false
        }
    }

    public var asNumber: Double? { if case .number(let v) = self { return v }; return nil }
    public var asString: String? { if case .string(let s) = self { return s }; return nil }
}

/// An ordered record of named fields (`{name: "x", k: 3}`, `svd(A)` → `{U, S, Vt}`).
public struct Record: Sendable {
    public var fields: OrderedDictionary<String, Value>

    public init(_ fields: OrderedDictionary<String, Value> = [:]) { self.fields = fields }

    public init(pairs: [(String, Value)]) {
        var d = OrderedDictionary<String, Value>()
        for (k, v) in pairs { d[k] = v }
        self.fields = d
    }

    public subscript(_ key: String) -> Value? { fields[key] }
}

/// `range(a, b, step)`: half-open, integer steps.
public struct RangeValue: Sendable, Equatable {
    public let start: Int, stop: Int, step: Int

    public var count: Int {
        if step > 0 { return stop > start ? (stop - start + step - 1) / step : 0 }
        return start > stop ? (start - stop - step - 1) / (-step) : 0
    }

    public func element(_ i: Int) -> Int { start + i * step }
}

/// A callable: a recipe function (a closure) or a registered operation.
public enum Function: Sendable {
    case user(UserFunction)
    case builtin(Operation)

    public var name: String {
        switch self {
        case .user(let f): return f.name
        case .builtin(let op): return op.name
        }
    }
}

/// A compressed form of a tensor as the language shows it: the core's `Compressed` (reconstruction,
/// parts and storage account) with its parts as values.
public struct CompressedValue: Sendable {
    public let core: Compressed
    /// Named parts, in the order the method documents them.
    public let parts: OrderedDictionary<String, Value>

    public init(_ core: Compressed) {
        self.core = core
        var parts = OrderedDictionary<String, Value>()
        for (name, part) in core.parts {
            switch part {
            case .tensor(let t): parts[name] = .tensor(t)
            case .tensors(let ts): parts[name] = .list(ts.map { .tensor($0) })
            case .integer(let i): parts[name] = .number(Double(i))
            case .number(let x): parts[name] = .number(x)
            case .numbers(let xs): parts[name] = .list(xs.map { .number($0) })
            }
        }
        self.parts = parts
    }

    public var method: String { core.method }
    public var recon: Tensor { core.recon }
    public var bits: Double { core.bits }
    public var bitsPerParam: Double { core.bitsPerParam }

    /// The storage account as records {part, what, count, bits, total}.
    var storage: Value {
        .list(
            core.storage.map { line in
                .record(
                    Record(pairs: [
                        ("part", .string(line.part)), ("what", .string(line.what)), ("count", .number(Double(line.count))),
                        ("bits", .number(line.bits)), ("total", .number(line.total)),
                    ]))
            })
    }

    /// Derived fields every compressed value answers.
    public func field(_ name: String) -> Value? {
        switch name {
        case "recon": return .tensor(recon)
        case "bits": return .number(bits)
        case "bits_per_param": return .number(bitsPerParam)
        case "ratio": return .number(core.ratio)
        case "ratio16": return .number(core.ratio16)
        case "method": return .string(method)
        case "shape": return .list(recon.shape.map { .number(Double($0)) })
        case "storage": return storage
        default: return parts[name]
        }
    }

    public var fieldNames: [String] {
        ["recon", "bits", "bits_per_param", "ratio", "ratio16", "method", "shape", "storage"] + parts.keys
    }
}

extension Value {
    /// Structural equality as `==` defines it for non-tensors (numbers by value, NaN unequal).
    public func isEqual(to other: Value) -> Bool {
        switch (self, other) {
        case (.none, .none): return true
        case let (.bool(a), .bool(b)): return a == b
        case let (.number(a), .number(b)): return a == b
        case let (.string(a), .string(b)): return a == b
        case let (.list(a), .list(b)): return a.count == b.count && zip(a, b).allSatisfy { $0.isEqual(to: $1) }
        case let (.record(a), .record(b)):
            return a.fields.keys == b.fields.keys && zip(a.fields.values, b.fields.values).allSatisfy { $0.isEqual(to: $1) }
        case let (.range(a), .range(b)): return a == b
        case let (.tensor(a), .tensor(b)): return a == b
        case let (.variable(a), _): return Value.tensor(a.operand.value).isEqual(to: other)
        case let (_, .variable(b)): return isEqual(to: .tensor(b.operand.value))
        case let (.function(a), .function(b)):
            switch (a, b) {
            case let (.user(x), .user(y)): return x === y
            case let (.builtin(x), .builtin(y)): return x.name == y.name
            default: return false
            }
        default: return false
        }
    }
}

/// A value on a `grad` call's tape: the operand and the tape it belongs to.
public struct Tracked: Sendable {
    public let operand: Operand
    public let tape: Tape

    /// Still being recorded (the `grad` call that made it has not returned).
    public var isLive: Bool { tape.isOpen }
}
