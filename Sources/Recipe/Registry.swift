import OrderedCollections
import SqueezeCore

/// What an operation's parameter accepts. Validation happens once, at the boundary (STYLE.md 2).
public enum ArgType: Sendable, Equatable {
    case any
    case number
    /// A whole number (a `number` with no fraction).
    case integer
    case bool
    case string
    /// A string from a fixed set.
    case choice([String])
    case list
    /// A tensor; numbers and (nested) lists of numbers are converted, compressed values give their reconstruction.
    case tensor
    case record
    case function

    var name: String {
        switch self {
        case .any: return "any value"
        case .number: return "number"
        case .integer: return "integer"
        case .bool: return "bool"
        case .string: return "string"
        case .choice(let c): return c.map { "\"\($0)\"" }.joined(separator: " | ")
        case .list: return "list"
        case .tensor: return "tensor"
        case .record: return "record"
        case .function: return "function"
        }
    }
}

/// One parameter of an operation.
public struct ParamSpec: Sendable {
    public enum Default: Sendable {
        /// The caller must pass it.
        case required
        /// Omitted means this value.
        case value(Value)
        /// Omitted means `none` (the operation decides, e.g. "the run's generator").
        case none
    }

    public let name: String
    public let type: ArgType
    public let defaultValue: Default
    /// Inclusive bounds for numbers.
    public let range: ClosedRange<Double>?
    public let doc: String
    /// Only by name (`seed:`), never filled by a positional argument.
    public let namedOnly: Bool
    /// The values of the operation's `method` argument this parameter belongs to (nil: all).
    /// Passing it with another method is an error, never silently ignored.
    public let methods: [String]?

    public init(
        _ name: String, _ type: ArgType, _ defaultValue: Default = .required, range: ClosedRange<Double>? = nil,
        namedOnly: Bool = false, doc: String = "", methods: [String]? = nil
    ) {
        self.name = name
        self.type = type
        self.defaultValue = defaultValue
        self.range = range
        self.namedOnly = namedOnly
        self.doc = doc
        self.methods = methods
    }

    /// The same parameter, belonging to `methods` only.
    public func only(_ methods: [String]) -> ParamSpec {
        ParamSpec(name, type, defaultValue, range: range, namedOnly: namedOnly, doc: doc, methods: methods)
    }

    /// `method: "gptq"` or `methods "vq", "pq"`.
    var methodsDescription: String {
        guard let methods else { return "" }
        let quoted = methods.map { "\"\($0)\"" }
        return quoted.count == 1 ? "method: \(quoted[0])" : "methods \(quoted.joined(separator: ", "))"
    }

    /// `k: 3`, `A`, `seed: none`.
    /// How help shows it, which is the rule calls follow: a positional parameter is `name` (or
    /// `name = default`), a named-only one is `name:` (or `name: default`).
    var signature: String {
        let sep = namedOnly ? ": " : " = "
        switch defaultValue {
        case .required: return namedOnly ? "\(name):" : name
        case .value(let v): return "\(name)\(sep)\(Format.inline(v))"
        case .none: return "\(name)\(sep)none"
        }
    }
}

/// A registered operation: the single source of truth for help, completion, validation and
/// docs/operations.md.
public final class Operation: Sendable {
    public typealias Body = @Sendable (Arguments, Interpreter) throws -> Value

    public let name: String
    public let family: String
    public let summary: String
    /// Formula, paper, complexity and why each default.
    public let doc: String
    /// A runnable example (part of the golden tests).
    public let example: String
    public let params: [ParamSpec]
    /// Extra positional arguments are collected (`print(a, b, c)`).
    public let variadic: Bool
    /// Extra named arguments are collected (`log(loss: l, acc: a)`).
    public let extraNamed: Bool
    let body: Body

    public init(
        _ name: String, family: String, summary: String, doc: String = "", example: String,
        params: [ParamSpec] = [], variadic: Bool = false, extraNamed: Bool = false, body: @escaping Body
    ) {
        self.name = name
        self.family = family
        self.summary = summary
        self.doc = doc
        self.example = example
        self.params = params
        self.variadic = variadic
        self.extraNamed = extraNamed
        self.body = body
    }

    /// `svd(A, rank: none)`.
    public var signature: String {
        var parts = params.filter { !$0.namedOnly }.map(\.signature)
        if variadic { parts.append("…") }
        parts += params.filter(\.namedOnly).map(\.signature)
        if extraNamed { parts.append("name: value …") }
        return "\(name)(\(parts.joined(separator: ", ")))"
    }

    /// The help text `?name` prints.
    public var help: String {
        var out = "\(signature)\n\n\(summary)\n"
        if !doc.isEmpty { out += "\n\(doc)\n" }
        // Parameters that every method takes first, then one group per set of methods.
        var groups: [(title: String, params: [ParamSpec])] = []
        for p in params where !p.doc.isEmpty || p.methods != nil {
            let title = p.methods == nil ? "Parameters:" : "For \(p.methodsDescription):"
            if let i = groups.firstIndex(where: { $0.title == title }) { groups[i].params.append(p) } else { groups.append((title, [p])) }
        }
        groups.sort { ($0.title == "Parameters:" ? 0 : 1) < ($1.title == "Parameters:" ? 0 : 1) }
        let w = groups.flatMap(\.params).map(\.name.count).max() ?? 0
        for g in groups {
            out += "\n\(g.title)\n"
            for p in g.params {
                let text = p.doc.isEmpty ? p.signature : p.doc
                out += "  \(p.name)\(String(repeating: " ", count: w - p.name.count))  \(text)\n"
            }
        }
        out +=
            "\nExample:\n" + example.split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }.joined(separator: "\n")
            + "\n"
        return out
    }
}

/// Arguments bound to an operation's parameters, with the spans to blame when one is wrong.
public struct Arguments: Sendable {
    public let operation: Operation
    public let values: [String: Value]
    let spans: [String: SourceSpan]
    /// Variadic positional arguments, in order.
    public let rest: [Value]
    let restSpans: [SourceSpan]
    /// Extra named arguments, in order.
    public let extra: OrderedDictionary<String, Value>
    /// The whole call, for errors that concern no single argument.
    public let span: SourceSpan

    /// An error that points at argument `name` (or the call when it was omitted).
    public func error(_ name: String, _ message: String) -> Diagnostic {
        Diagnostic(.runtime, "\(operation.name): \(message)", at: spans[name] ?? span)
    }

    /// An error about the call as a whole.
    public func error(_ message: String) -> Diagnostic {
        Diagnostic(.runtime, "\(operation.name): \(message)", at: span)
    }

    public func spanOf(_ name: String) -> SourceSpan { spans[name] ?? span }
    public func spanOfRest(_ i: Int) -> SourceSpan { i < restSpans.count ? restSpans[i] : span }

    public func value(_ name: String) -> Value { values[name] ?? .none }
    public func isNone(_ name: String) -> Bool { if case .none = value(name) { return true }; return false }

    public func tensor(_ name: String) throws -> Tensor {
        guard case .tensor(let t) = value(name) else { throw error(name, "'\(name)' must be a tensor") }
        return t
    }

    public func optionalTensor(_ name: String) throws -> Tensor? { isNone(name) ? nil : try tensor(name) }

    public func number(_ name: String) throws -> Double {
        guard case .number(let v) = value(name) else { throw error(name, "'\(name)' must be a number") }
        return v
    }

    public func optionalNumber(_ name: String) throws -> Double? { isNone(name) ? nil : try number(name) }

    public func int(_ name: String) throws -> Int {
        let v = try number(name)
        guard v == v.rounded(), abs(v) < Ops.wholeLimit else {
            throw error(name, "'\(name)' must be a whole number, got \(Format.number(v))")
        }
        return Int(v)
    }

    public func optionalInt(_ name: String) throws -> Int? { isNone(name) ? nil : try int(name) }

    public func string(_ name: String) throws -> String {
        guard case .string(let s) = value(name) else { throw error(name, "'\(name)' must be a string") }
        return s
    }

    public func bool(_ name: String) throws -> Bool {
        guard case .bool(let b) = value(name) else { throw error(name, "'\(name)' must be a bool") }
        return b
    }

    public func list(_ name: String) throws -> [Value] {
        guard case .list(let l) = value(name) else { throw error(name, "'\(name)' must be a list") }
        return l
    }

    /// A list of whole numbers (a shape, a set of axes).
    public func ints(_ name: String) throws -> [Int] {
        switch value(name) {
        case .number(let v) where v == v.rounded(): return [Int(v)]
        case .list(let l):
            return try l.map { v in
                guard case .number(let x) = v, x == x.rounded(), abs(x) < Ops.wholeLimit else {
                    throw error(name, "'\(name)' must be a list of whole numbers, found \(v.typeName)")
                }
                return Int(x)
            }
        default:
            throw error(name, "'\(name)' must be a list of whole numbers")
        }
    }
}

/// All operations, by name. Built once from the family tables in `Builtins/`.
public enum Registry {
    public static let operations: [Operation] = Builtins.all

    public static let byName: [String: Operation] = {
        var d: [String: Operation] = [:]
        for op in operations {
            precondition(d[op.name] == nil, "operation \(op.name) registered twice")
            d[op.name] = op
        }
        return d
    }()

    /// Families in the order they were registered.
    public static var families: [String] {
        var seen = OrderedSet<String>()
        for op in operations { seen.append(op.family) }
        return Array(seen)
    }

    /// Top-level names: plain operations, and namespaces (`plot` for `plot.line`).
    public static let globalNames: Set<String> = Set(
        operations.map { op in
            op.name.split(separator: ".").first.map(String.init) ?? op.name
        })

    /// The value a bare name resolves to when no variable has it: an operation, or a record of
    /// the operations in a namespace.
    public static func value(named name: String) -> Value? {
        if let op = byName[name] { return .function(.builtin(op)) }
        let prefix = name + "."
        let members = operations.filter { $0.name.hasPrefix(prefix) }
        guard !members.isEmpty else { return nil }
        var r = OrderedDictionary<String, Value>()
        for op in members { r[String(op.name.dropFirst(prefix.count))] = .function(.builtin(op)) }
        return .record(Record(r))
    }

    /// The operation table of docs/operations.md (Markdown), generated so it is never written twice.
    public static func markdownTable() -> String {
        var out = "| family | operation | summary |\n|---|---|---|\n"
        for fam in families {
            for op in operations where op.family == fam {
                let summary = op.summary.replacingOccurrences(of: "|", with: "\\|")
                out += "| \(fam) | `\(op.signature.replacingOccurrences(of: "|", with: "\\|"))` | \(summary) |\n"
            }
        }
        return out
    }

    /// docs/operations.md: the table, then every operation's full help by family (what `?name` prints).
    public static func markdownReference() -> String {
        var out = """
            # Operations

            [← README](../README.md) · Generated from the registry by `Scripts/generate/docs.sh` \
            (`squeeze help --reference`): do not edit. `squeeze help NAME` and `?NAME` in the REPL print the same text.


            """
        out += markdownTable()
        for fam in families {
            out += "\n## \(fam)\n"
            for op in operations where op.family == fam {
                out += "\n### `\(op.name)`\n\n```\n\(op.help)```\n"
            }
        }
        return out
    }

    /// `squeeze help`: the operations grouped by family.
    public static func overview() -> String {
        var out = ""
        for fam in families {
            out += "\(fam):\n"
            for op in operations where op.family == fam {
                let sig = op.name
                out += "  \(sig)\(String(repeating: " ", count: max(1, 16 - sig.count)))\(op.summary)\n"
            }
        }
        return out
    }
}
