import Foundation
import OrderedCollections
import SqueezeCore

extension Builtins {
    static let language: [Operation] = [
        Operation(
            "print", family: "language", summary: "Write values separated by spaces, then a newline.",
            doc:
                """
                    Strings print without quotes (quoted inside lists and records); integers as 3, other numbers in shortest round-trip \
                    form; tensors with a header `Tensor 3×4 f32` and a NumPy-style grid.
                    """,
            example: "print(\"k =\", 3, [1, \"a\"], {b: 0.5})", variadic: true
        ) { args, interp in
            interp.emit(args.rest.map { Format.display($0, width: interp.displayWidth) }.joined(separator: " ") + "\n")
            return .none
        },
        Operation(
            "assert", family: "language", summary: "Fail the run with `message` unless `condition` holds.",
            example: "assert(1 + 1 == 2, \"arithmetic\")",
            params: [ParamSpec("condition", .any), ParamSpec("message", .string, .value(.string("assertion failed")))]
        ) { args, _ in
            guard try Ops.truthy(args.value("condition"), args.spanOf("condition")) else {
                throw Diagnostic(.runtime, "assertion failed: \(try args.string("message"))", at: args.span)
            }
            return .none
        },
        Operation(
            "len", family: "language", summary: "Length of a list, string, record, range, or the first axis of a tensor.",
            example: "len([1, 2, 3])", params: [ParamSpec("x", .any)]
        ) { args, _ in
            switch args.value("x") {
            case .list(let l): return int(l.count)
            case .string(let s): return int(s.count)
            case .record(let r): return int(r.fields.count)
            case .range(let r): return int(r.count)
            case .tensor(let t): return int(t.rank == 0 ? 1 : t.shape[0])
            case let v: throw args.error("x", "\(v.typeDescription) has no length")
            }
        },
        Operation(
            "type", family: "language",
            summary: "The type name of a value: number, bool, string, none, list, record, range, tensor, function, compressed.",
            example: "type(eye(2))", params: [ParamSpec("x", .any)]
        ) { args, _ in
            .string(args.value("x").typeName)
        },
        Operation(
            "str", family: "language", summary: "A value as text, as print would write it.",
            example: "str(0.1) + \"!\"", params: [ParamSpec("x", .any)]
        ) { args, _ in
            if case .string(let s) = args.value("x") { return .string(s) }
            return .string(Format.inline(args.value("x")))
        },
        Operation(
            "table", family: "language", summary: "A list of records as an aligned text table (one row per record).",
            doc:
                """
                    Columns are the records' fields in the order they first appear; numbers are rounded to digits significant \
                    decimals (integers as written), strings left-aligned, numbers right-aligned, a missing field blank. For the \
                    method × bits tables of the quantization papers: print(table(rows)).
                    """,
            example: "print(table([{method: \"RTN\", bits: 4, ppl: 21.2345}, {method: \"GPTQ\", bits: 4, ppl: 19.87}]))",
            params: [ParamSpec("rows", .list), ParamSpec("digits", .integer, .value(.number(4)), range: 0...12, namedOnly: true)]
        ) { args, _ in
            let rows = try args.list("rows").enumerated().map { i, v -> Record in
                guard case .record(let r) = v else { throw args.error("rows", "row \(i) is \(v.typeDescription), expected a record") }
                return r
            }
            let digits = try args.int("digits")
            var columns: [String] = []
            for r in rows { for k in r.fields.keys where !columns.contains(k) { columns.append(k) } }
            func cell(_ v: Value?) -> (String, Bool) {
                switch v {
                case .none?, nil: return ("", false)
                case .number(let x)?:
                    if x == x.rounded(), abs(x) < 1e15 { return (String(Int(x)), true) }
                    return (String(format: "%.\(digits)f", x), true)
                case .string(let s)?: return (s, false)
                case let v?: return (Format.inline(v), false)
                }
            }
            let cells = rows.map { r in columns.map { cell(r[$0]) } }
            let widths = columns.enumerated().map { j, c in max(c.count, cells.map { $0[j].0.count }.max() ?? 0) }
            func line(_ items: [(String, Bool)]) -> String {
                zip(items, widths).map { item, w in
                    let pad = String(repeating: " ", count: max(0, w - item.0.count))
                    return item.1 ? pad + item.0 : item.0 + pad
                }.joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
            }
            let header = line(columns.map { ($0, false) })
            let rule = widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")
            return .string(([header, rule] + cells.map(line)).joined(separator: "\n"))
        },
        Operation(
            "number", family: "language", summary: "Parse a string as a number (or convert a bool or one-element tensor).",
            example: "number(\"2.5\") * 2", params: [ParamSpec("x", .any)]
        ) { args, _ in
            switch args.value("x") {
            case .number(let x): return .number(x)
            case .bool(let b): return .number(b ? 1 : 0)
            case .tensor(let t) where t.count == 1: return .number(Double(t.storage[0]))
            case .string(let s):
                guard let x = Double(s.trimmingCharacters(in: .whitespaces)) else {
                    throw args.error("x", "cannot read \(Format.quoted(s)) as a number")
                }
                return .number(x)
            case let v: throw args.error("x", "cannot convert \(v.typeDescription) to a number")
            }
        },
        Operation(
            "range", family: "language", summary: "Half-open integer range: range(n) is 0…n−1, range(a, b, step).",
            example: "for i in range(2, 10, 3) { print(i) }",
            params: [ParamSpec("a", .integer), ParamSpec("b", .integer, .none), ParamSpec("step", .integer, .value(.number(1)))]
        ) { args, _ in
            let a = try args.int("a")
            let step = try args.int("step")
            guard step != 0 else { throw args.error("step", "range step cannot be zero") }
            if let b = try args.optionalInt("b") { return .range(RangeValue(start: a, stop: b, step: step)) }
            return .range(RangeValue(start: 0, stop: a, step: step))
        },
        Operation(
            "list", family: "language",
            summary: "A list from a range, a tensor (its rows, or numbers for a vector), a string (characters) or a record (values).",
            example: "list(range(3))", params: [ParamSpec("x", .any)]
        ) { args, _ in
            switch args.value("x") {
            case .list(let l): return .list(l)
            case .range(let r):
                try Memory.check(elements: r.count, copies: MemoryLayout<Value>.stride / 4 + 1, "a list of \(r.count) numbers")
                return .list((0..<r.count).map { int(r.element($0)) })
            case .string(let s): return .list(s.map { .string(String($0)) })
            case .record(let r): return .list(Array(r.fields.values))
            case .tensor(let t) where t.rank == 1: return .list(t.storage.map { num($0) })
            case .tensor(let t) where t.rank > 1:
                try Memory.check(elements: t.count + t.shape[0] * 32, "a list of \(t.shape[0]) rows")
                return .list((0..<t.shape[0]).map { .tensor(t.rows($0..<($0 + 1)).dropLeadingAxis()) })
            case let v: throw args.error("x", "cannot make a list from \(v.typeDescription)")
            }
        },
        Operation(
            "append", family: "language", summary: "A new list with `x` added at the end (lists are values: the original is unchanged).",
            example: "xs = append([1, 2], 3)", params: [ParamSpec("list", .list), ParamSpec("x", .any)]
        ) { args, _ in
            .list(try args.list("list") + [args.value("x")])
        },
        Operation(
            "keys", family: "language", summary: "The field names of a record, in order.",
            example: "keys({a: 1, b: 2})", params: [ParamSpec("record", .record)]
        ) { args, _ in
            guard case .record(let r) = args.value("record") else { return .none }
            return .list(r.fields.keys.map { .string($0) })
        },
        Operation(
            "round", family: "language", summary: "Round half to even (as Python and NumPy), to `digits` decimals; elementwise on tensors.",
            example: "round(2.675, digits: 2)",
            params: [ParamSpec("x", .any), ParamSpec("digits", .integer, .value(.number(0)), range: -15...15)]
        ) { args, _ in
            let d = try args.int("digits")
            let scale = Foundation.pow(10.0, Double(d))
            switch args.value("x") {
            case .number(let x):
                if d == 0 { return .number(x.rounded(.toNearestOrEven)) }
                return .number((x * scale).rounded(.toNearestOrEven) / scale)
            case .tensor(let t):
                let s = Float(scale)
                return .tensor(d == 0 ? t.map(.round) : t.map { ($0 * s).rounded(.toNearestOrEven) / s })
            case let v: throw args.error("x", "cannot round \(v.typeDescription)")
            }
        },
        Operation(
            "help", family: "language",
            summary: "Print an operation's documentation, a family's operations (help(\"clustering\")), or the families.",
            example: "help(\"svd\")", params: [ParamSpec("name", .any, .none)]
        ) { args, interp in
            switch args.value("name") {
            case .none: interp.emit(Help.families())
            case .function(.builtin(let op)): interp.emit(op.help)
            case .function(.user(let f)): interp.emit("\(f.signature)\n  a function defined in this recipe\n")
            case .string(let s):
                guard let text = Help.answer(s, globals: { _ in nil }) else {
                    throw args.error("name", Help.notFound(s, names: []).trimmingCharacters(in: .newlines))
                }
                interp.emit(text)
            case let v: throw args.error("name", "help takes an operation, a family or its name, got \(v.typeDescription)")
            }
            return .none
        },
        Operation(
            "progress", family: "language",
            summary: "Loop with a progress line: for x in progress(xs, label: \"epochs\") { … } (the argument itself otherwise).",
            doc: """
                Returns its argument unchanged; a for loop over progress(…) reports how many of its iterations are done \
                through the one progress facility: one line on standard error that redraws (label, fraction, elapsed, \
                estimated remaining), shown after the first second, erased at the end, never when standard error is not \
                a terminal or with --quiet.
                """,
            example: "total = 0\nfor i in progress(range(5), label: \"sum\") { total = total + i }\nprint(total)",
            params: [ParamSpec("items", .any), ParamSpec("label", .string, .value(.string("loop")), namedOnly: true)]
        ) { args, interp in
            args.value("items")
        },
    ]

    static let recording: [Operation] = [
        Operation(
            "seed", family: "recording", summary: "Reseed the run's random generator (PCG64); the seed is recorded with the run.",
            doc:
                """
                    Every stochastic operation without its own `seed:` draws from this generator, so a recipe with seed(n) gives the same \
                    numbers on every run. Without seed(n) or --seed, a seed is drawn once per run and recorded.
                    """,
            example: "seed(7)\nA = randn(2, 2)", params: [ParamSpec("n", .integer, range: 0...9.007199254740991e15)]
        ) { args, interp in
            interp.reseed(UInt64(try args.int("n")))
            return .none
        },
        Operation(
            "clock", family: "recording", summary: "Monotonic seconds since the run started, for timing inside a recipe.",
            example: "t0 = clock()\nA = randn(100, 100)\nelapsed = clock() - t0"
        ) { _, interp in
            .number(interp.elapsed)
        },
        Operation(
            "log", family: "recording",
            summary: "log(x): natural logarithm (elementwise on tensors). log(name: value, …): record metrics with the run.",
            doc:
                """
                    With named arguments only, each becomes a metric of the run (a number, or a one-element tensor); `step:` sets the \
                    step for a curve. The values are also printed as `name = value` so a script run shows them.
                    """,
            example: "log(2.718281828459045)\nlog(step: 1, loss: 0.25, accuracy: 0.9)",
            params: [ParamSpec("x", .any, .none)], extraNamed: true
        ) { args, interp in
            if !args.isNone("x") {
                guard args.extra.isEmpty else { throw args.error("log(x) takes one value; to record metrics use only named arguments") }
                switch args.value("x") {
                case .number(let x): return .number(Foundation.log(x))
                case let v:
                    guard let t = Ops.toTensor(v), case .tensor = v else {
                        throw args.error("x", "log needs a number or a tensor, got \(v.typeDescription)")
                    }
                    return .tensor(t.map(.log))
                }
            }
            guard !args.extra.isEmpty else { throw args.error("log needs a value, log(x), or named metrics, log(loss: 0.1)") }
            // `step:` applies to every metric of the call, wherever it is written.
            var step: Int?
            if let v = args.extra["step"] {
                guard case .number(let x) = v, x == x.rounded(), abs(x) < 1e15 else {
                    throw Diagnostic(.runtime, "log: step must be a whole number, got \(Format.inline(v))", at: args.spanOf("step"))
                }
                step = Int(x)
            }
            var printed: [String] = []
            for (name, v) in args.extra where name != "step" {
                let x: Double
                switch v {
                case .number(let n): x = n
                case .bool(let b): x = b ? 1 : 0
                case .tensor(let t) where t.count == 1: x = Double(t.storage[0])
                default:
                    throw Diagnostic(.runtime, "log: metric '\(name)' must be a number, got \(v.typeDescription)", at: args.spanOf(name))
                }
                printed.append("\(name) = \(Format.number(x))")
                interp.observer?.metric(name: name, value: x, step: step)
            }
            interp.emit((step.map { "[step \($0)] " } ?? "") + printed.joined(separator: ", ") + "\n")
            return .none
        },
        Operation(
            "note", family: "recording", summary: "Attach a note to the run (shown by squeeze show and exports).",
            example: "note(\"baseline before pruning\")", params: [ParamSpec("text", .string)]
        ) { args, interp in
            interp.observer?.note(try args.string("text"))
            return .none
        },
        Operation(
            "warn", family: "recording",
            summary: "Write a warning to standard error (a notebook's stderr stream) and attach it to the run as a note.",
            example: "warn(\"only 3 calibration batches\")", params: [ParamSpec("text", .string)]
        ) { args, interp in
            interp.warn(try args.string("text"))
            return .none
        },
    ]
}
