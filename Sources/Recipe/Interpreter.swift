import Foundation
import OrderedCollections
import SqueezeCore
import Training

/// Variable storage of one function call (or of the top level).
final class Frame: @unchecked Sendable {
    var slots: [Value]
    let parent: Frame?

    init(count: Int, parent: Frame?) {
        slots = [Value](repeating: .unset, count: count)
        self.parent = parent
    }

    /// A function defined inside a call captures the call's frame while the frame holds the
    /// function: a reference cycle that would keep both alive forever. Assignments are local, so a
    /// closure can leave its call only through the return value; when none did, nothing can reach
    /// this frame any more and its slots are cleared (which frees both).
    func releaseAfterCall(returning value: Value?) {
        guard
            slots.contains(where: {
                if case .function(.user(let u)) = $0 { return u.captured === self }; return false
            })
        else { return }
        if let value, value.anyUserFunction({ _ in true }) { return }
        slots.removeAll()
    }
}

/// How a statement ended.
enum Flow {
    case normal, breakLoop, continueLoop
    case returned(Value)
}

/// A recipe function: compiled body plus the frame it closes over.
public final class UserFunction: @unchecked Sendable {
    public let name: String
    let parameters: [String]
    /// Default values, evaluated when the `fn` statement ran (as Python does).
    let defaults: [Value?]
    let slotCount: Int
    let body: (Frame) throws -> Flow
    let captured: Frame?

    init(name: String, parameters: [String], defaults: [Value?], slotCount: Int, body: @escaping (Frame) throws -> Flow, captured: Frame?) {
        self.name = name
        self.parameters = parameters
        self.defaults = defaults
        self.slotCount = slotCount
        self.body = body
        self.captured = captured
    }

    public var parameterNames: [String] { parameters }

    /// `name(a, b, k: 3)`.
    public var signature: String {
        let ps = zip(parameters, defaults).map { p, d in d.map { "\(p): \(Format.inline($0))" } ?? p }
        return "\(name)(\(ps.joined(separator: ", ")))"
    }
}

/// Runs recipes. One interpreter is one run (or one REPL session): it owns the global variables,
/// the random generator, the sandbox and the observer.
public final class Interpreter: @unchecked Sendable {
    /// Deepest chain of recipe function calls before "recursion too deep".
    public static let maxCallDepth = 1000

    public weak var observer: RunObserver?
    /// Where `print` writes (stdout by default).
    public var write: (String) -> Void
    public var sandbox: Sandbox
    public let cancellation: CancellationToken
    /// The generator used by stochastic operations called without `seed:`.
    public var rng: RandomGenerator
    public private(set) var seed: UInt64
    /// `-p name=value` overrides, applied by `param` statements.
    public var parameterOverrides: [String: Value]
    /// Parameters as the run resolved them.
    public private(set) var parameters: OrderedDictionary<String, Value> = [:]
    /// Width for tensor grids (the REPL sets the terminal width).
    public var displayWidth = 80
    /// The last expression-statement value (`_` in the REPL).
    public private(set) var lastValue: Value = .none
    /// In a kernel session, a later `param` line for a name already declared overrides it (recorded
    /// as an override of the first default) instead of declaring it anew.
    public var laterParametersOverride = false
    var firstDefaults: [String: Value] = [:]

    let globals = Frame(count: 0, parent: nil)
    var globalSlots: [String: Int] = [:]
    var callDepth = 0
    /// The tape of the `grad` call running now (nil outside one); see `Autodiff`.
    var tape: Tape?
    var statementIndex = 0
    let started = ContinuousClock.now

    /// A fresh interpreter. Without `seed`, one is drawn from the system generator and reported.
    public init(
        seed: UInt64? = nil, sandbox: Sandbox, parameterOverrides: [String: Value] = [:],
        cancellation: CancellationToken = .shared, write: @escaping (String) -> Void = { print($0, terminator: "") }
    ) {
        let s = seed ?? UInt64.random(in: 0..<(1 << 53))
        self.seed = s
        self.rng = RandomGenerator(seed: s)
        self.sandbox = sandbox
        self.parameterOverrides = parameterOverrides
        self.cancellation = cancellation
        self.write = write
    }

    /// Where warnings go (stderr by default); each is also attached to the run as a note.
    public var warnWrite: (String) -> Void = { FileHandle.standardError.write(Data($0.utf8)) }
    var counters: [String: Int] = [:]

    /// A warning the run continues past (NaN points skipped in a plot, say).
    public func warn(_ text: String) {
        warnWrite("warning: \(text)\n")
        observer?.note("warning: \(text)")
    }

    /// 1, 2, 3, … per `name` over the run (default file names of plots).
    public func nextCount(_ name: String) -> Int {
        let n = (counters[name] ?? 0) + 1
        counters[name] = n
        return n
    }

    /// Reseeds the run's generator (`seed(n)`).
    public func reseed(_ s: UInt64) {
        seed = s
        rng = RandomGenerator(seed: s)
        observer?.seed(s)
    }

    /// Writes text (with its newline) to the output and the observer.
    public func emit(_ text: String) {
        write(text)
        observer?.output(text)
    }

    /// Names of global variables that hold a value.
    public var globalNames: [String] {
        globalSlots.compactMap { name, slot in
            if case .unset = globals.slots[slot] { return nil }
            return name
        }.sorted()
    }

    /// The value of a global variable, if set.
    public func global(_ name: String) -> Value? {
        guard let i = globalSlots[name] else { return nil }
        if case .unset = globals.slots[i] { return nil }
        return globals.slots[i]
    }

    /// Sets a global variable (the REPL's `_`).
    public func setGlobal(_ name: String, _ value: Value) {
        globals.slots[globalSlot(name)] = value
    }

    /// Forgets every variable and parameter (the REPL's `:reset`).
    ///
    /// Call it when done with an interpreter too: a recipe function in the globals holds its
    /// compiled body, which holds the interpreter — a cycle that only clearing the globals breaks.
    public func reset() {
        // Closures that escaped their call (returned, then stored) still hold their frames, which
        // hold them: clear every frame reachable from the globals, then the globals.
        var frames: [Frame] = [], seen = Set<ObjectIdentifier>()
        func visit(_ v: Value) {
            _ = v.anyUserFunction { u in
                var f = u.captured
                while let fr = f, seen.insert(ObjectIdentifier(fr)).inserted {
                    frames.append(fr)
                    f = fr.parent
                }
                return false
            }
        }
        globals.slots.forEach(visit)
        var i = 0
        while i < frames.count { frames[i].slots.forEach(visit); i += 1 }
        for f in frames { f.slots.removeAll() }
        for i in globals.slots.indices { globals.slots[i] = .unset }
        parameters = [:]
        firstDefaults = [:]
        lastValue = .none
    }

    func globalSlot(_ name: String) -> Int {
        if let i = globalSlots[name] { return i }
        let i = globals.slots.count
        globals.slots.append(.unset)
        globalSlots[name] = i
        return i
    }

    // MARK: - Running

    /// Runs a parsed program top to bottom. Throws the first runtime error (syntax errors must be
    /// checked by the caller, who renders all of them). `onValue` receives the value of each
    /// top-level expression statement not ended by `;` (the REPL displays it).
    public func run(_ program: Program, onValue: ((Value) -> Void)? = nil) throws {
        if let first = program.diagnostics.first { throw first }
        var compiler = Compiler(interpreter: self)
        let statements = try compiler.compileTopLevel(
            program.statements,
            onValue: { [weak self] v in
                self?.lastValue = v
                onValue?(v)
            })
        for (stmt, exec) in statements {
            let index = statementIndex
            statementIndex += 1
            observer?.statementStarted(index: index, span: stmt.span)
            let t0 = ContinuousClock.now
            do {
                try cancellation.check()
                _ = try exec(globals)
                observer?.statementFinished(index: index, span: stmt.span, seconds: (ContinuousClock.now - t0).seconds, error: nil)
            } catch {
                let d = (Ops.wrap(error, stmt.span) as? Diagnostic) ?? Diagnostic(.runtime, "\(error)", at: stmt.span)
                observer?.statementFinished(index: index, span: stmt.span, seconds: (ContinuousClock.now - t0).seconds, error: d)
                callDepth = 0
                throw d
            }
        }
    }

    /// Runs a parsed program on a large stack (as a session's input); returns the diagnostic it
    /// stopped with, nil when it ran to the end.
    public func runCatching(_ program: Program, onValue: ((Value) -> Void)? = nil) -> Diagnostic? {
        Interpreter.onLargeStack {
            do {
                try run(program, onValue: onValue)
                return nil
            } catch let d as Diagnostic {
                return d
            } catch {
                return Diagnostic(.runtime, "\(error)", at: nil)
            }
        }
    }

    /// Names the program declares with `param`, in order.
    public static func parameterNames(_ program: Program) -> [String] {
        program.statements.compactMap {
            if case let .param(name, _, _) = $0.kind { return name }; return nil
        }
    }

    /// Records a parameter's resolved value.
    func declareParameter(_ name: String, _ value: Value, defaultValue: Value, overridden: Bool) {
        var defaultValue = defaultValue, overridden = overridden
        if laterParametersOverride, let first = firstDefaults[name] {
            // A notebook's injected-parameters cell (papermill) re-declares what the parameters cell
            // declared: the first declaration's value stays the default, a different one is an override.
            defaultValue = first
            overridden = overridden || Format.inline(value) != Format.inline(first)
        } else {
            firstDefaults[name] = defaultValue
        }
        parameters[name] = value
        observer?.parameter(name: name, value: value, defaultValue: defaultValue, overridden: overridden)
    }

    /// Records a value an operation chooses to report (k-means inertia, a quantizer's error) as a
    /// metric of the run, beside those the recipe logs.
    public func report(_ name: String, _ value: Double, step: Int? = nil) {
        observer?.metric(name: name, value: value, step: step)
    }

    // MARK: - Calls

    /// Calls a function value with evaluated arguments.
    func call(
        _ fn: Function, positional: [Value], positionalSpans: [SourceSpan],
        named: [(String, Value, SourceSpan)], span: SourceSpan
    ) throws -> Value {
        switch fn {
        case .builtin(let op):
            if let tape, Autodiff.anyLive(positional) || named.contains(where: { Autodiff.isLive($0.1) }) {
                return try Autodiff.call(op, self, tape, positional: positional, positionalSpans: positionalSpans, named: named, span: span)
            }
            let args = try bind(op, positional, positionalSpans, named, span)
            do {
                return try op.body(args, self)
            } catch let CoreError.invalidParameter(name, message) {
                throw Ops.wrap(CoreError.invalidArgument(message), args.spanOf(name), prefix: op.name)
            } catch {
                throw Ops.wrap(error, span, prefix: op.name)
            }
        case .user(let f):
            return try callUser(f, positional: positional, positionalSpans: positionalSpans, named: named, span: span)
        }
    }

    func callUser(
        _ f: UserFunction, positional: [Value], positionalSpans: [SourceSpan],
        named: [(String, Value, SourceSpan)], span: SourceSpan
    ) throws -> Value {
        guard positional.count <= f.parameters.count else {
            throw Diagnostic(
                .runtime, "\(f.name) takes \(f.parameters.count) argument\(f.parameters.count == 1 ? "" : "s"), got \(positional.count)",
                at: positionalSpans[f.parameters.count])
        }
        let frame = Frame(count: f.slotCount, parent: f.captured)
        for (i, v) in positional.enumerated() { frame.slots[i] = v }
        for (name, v, nspan) in named {
            guard let i = f.parameters.firstIndex(of: name) else {
                throw Diagnostic(
                    .runtime, "\(f.name) has no parameter '\(name)'", at: nspan,
                    suggestion: Suggest.didYouMean(name, in: f.parameters) ?? "parameters: \(f.parameters.joined(separator: ", "))")
            }
            if i < positional.count { throw Diagnostic(.runtime, "\(f.name): '\(name)' is given both by position and by name", at: nspan) }
            frame.slots[i] = v
        }
        for i in 0..<f.parameters.count {
            if case .unset = frame.slots[i] {
                guard let d = f.defaults[i] else {
                    throw Diagnostic(
                        .runtime, "\(f.name) is missing argument '\(f.parameters[i])'", at: span, notes: ["signature: \(f.signature)"])
                }
                frame.slots[i] = d
            }
        }
        // Recursion without loops (fib(90)) must still notice Ctrl-C.
        if cancellation.isCancelled { throw Diagnostic(.interrupted, "interrupted", at: span) }
        callDepth += 1
        defer { callDepth -= 1 }
        if callDepth > Interpreter.maxCallDepth {
            throw Diagnostic(.runtime, "recursion too deep: more than \(Interpreter.maxCallDepth) nested calls", at: span)
        }
        do {
            var result = Value.none
            if case .returned(let v) = try f.body(frame) { result = v }
            frame.releaseAfterCall(returning: result)
            return result
        } catch var d as Diagnostic {
            frame.releaseAfterCall(returning: nil)
            if d.trace.count < 20 { d.trace.append((f.name, span)) }
            throw d
        } catch {
            frame.releaseAfterCall(returning: nil)
            throw error
        }
    }

    /// Validates and converts arguments against an operation's specification.
    func bind(
        _ op: Operation, _ positional: [Value], _ positionalSpans: [SourceSpan],
        _ named: [(String, Value, SourceSpan)], _ span: SourceSpan
    ) throws -> Arguments {
        var values: [String: Value] = [:]
        var spans: [String: SourceSpan] = [:]
        var rest: [Value] = [], restSpans: [SourceSpan] = []
        var extra = OrderedDictionary<String, Value>()
        let positionalParams = op.params.filter { !$0.namedOnly }
        for (i, v) in positional.enumerated() {
            if i < positionalParams.count {
                values[positionalParams[i].name] = v
                spans[positionalParams[i].name] = positionalSpans[i]
            } else if op.variadic {
                rest.append(v); restSpans.append(positionalSpans[i])
            } else {
                throw Diagnostic(
                    .runtime,
                    "\(op.name) takes at most \(positionalParams.count) positional argument\(positionalParams.count == 1 ? "" : "s") " +
                    "(\(positionalParams.map(\.name).joined(separator: ", "))), got \(positional.count)",
                    at: positionalSpans[i], notes: ["signature: \(op.signature)"],
                    suggestion: op.params.first(where: \.namedOnly).map { "the others are named, e.g. \($0.name): …" })
            }
        }
        for (name, v, nspan) in named {
            if op.params.contains(where: { $0.name == name }) {
                if values[name] != nil {
                    throw Diagnostic(.runtime, "\(op.name): '\(name)' is given both by position and by name", at: nspan)
                }
                values[name] = v
                spans[name] = nspan
            } else if op.extraNamed {
                extra[name] = v
                spans[name] = nspan
            } else {
                throw Diagnostic(
                    .runtime, "\(op.name) has no argument '\(name)'", at: nspan,
                    suggestion: Suggest.didYouMean(name, in: op.params.map(\.name)) ?? "signature: \(op.signature)")
            }
        }
        for p in op.params {
            guard let v = values[p.name] else {
                switch p.defaultValue {
                case .required:
                    throw Diagnostic(
                        .runtime, "\(op.name) is missing argument '\(p.name)'", at: span, notes: ["signature: \(op.signature)"])
                case .value(let d): values[p.name] = d
                case .none: values[p.name] = Value.none
                }
                continue
            }
            if case .none = v, case .none = p.defaultValue { continue }
            values[p.name] = try convert(v, to: p, op: op, span: spans[p.name] ?? span)
        }
        try checkMethods(op, values, spans)
        return Arguments(operation: op, values: values, spans: spans, rest: rest, restSpans: restSpans, extra: extra, span: span)
    }

    /// A parameter that belongs to some methods only, given with another method, is an error: a
    /// researcher who passes calibration data to RTN must not get a quiet wrong answer.
    func checkMethods(_ op: Operation, _ values: [String: Value], _ spans: [String: SourceSpan]) throws {
        guard case .string(let method)? = values["method"] else { return }
        for p in op.params {
            guard let methods = p.methods, !methods.contains(method), let at = spans[p.name] else { continue }
            if case .none? = values[p.name] { continue }
            throw Diagnostic(
                .runtime, "\(op.name): '\(p.name)' applies to \(p.methodsDescription) only, not method: \"\(method)\"",
                at: at, notes: ["signature: \(op.signature)"])
        }
    }

    func convert(_ v: Value, to p: ParamSpec, op: Operation, span: SourceSpan) throws -> Value {
        func mismatch() -> Diagnostic {
            Diagnostic(
                .runtime,
                "\(op.name): argument '\(p.name)' must be \(p.type == .integer ? "an" : "a") \(p.type.name), got \(v.typeDescription)",
                at: span)
        }
        var out = v
        switch p.type {
        case .any: break
        case .number:
            if case .tensor(let t) = v, t.count == 1 { out = .number(Double(t.storage[0])) }
            if case .variable(let x) = v, x.operand.value.count == 1 { out = .number(Double(x.operand.value.storage[0])) }
            guard case .number = out else { throw mismatch() }
        case .integer:
            if case .tensor(let t) = v, t.count == 1 { out = .number(Double(t.storage[0])) }
            guard case .number(let x) = out else { throw mismatch() }
            guard x == x.rounded(), abs(x) < Ops.wholeLimit else {
                throw Diagnostic(.runtime, "\(op.name): argument '\(p.name)' must be a whole number, got \(Format.number(x))", at: span)
            }
        case .bool:
            guard case .bool = v else { throw mismatch() }
        case .string:
            guard case .string = v else { throw mismatch() }
        case .choice(let options):
            guard case .string(let s) = v else { throw mismatch() }
            guard options.contains(s) else {
                throw Diagnostic(
                    .runtime, "\(op.name): argument '\(p.name)' must be one of \(p.type.name), got \(Format.quoted(s))", at: span,
                    suggestion: Suggest.didYouMean(s, in: options))
            }
        case .list:
            if case .range(let r) = v { out = .list((0..<r.count).map { .number(Double(r.element($0))) }) }
            guard case .list = out else { throw mismatch() }
        case .tensor:
            if case .variable(let x) = v, x.isLive { break }
            guard let t = Ops.toTensor(v) else {
                if case .list = v {
                    throw Diagnostic(
                        .runtime, "\(op.name): argument '\(p.name)' must be a tensor; this list is not a rectangular array of numbers",
                        at: span)
                }
                throw mismatch()
            }
            out = .tensor(t)
        case .record:
            guard case .record = v else { throw mismatch() }
        case .function:
            guard case .function = v else { throw mismatch() }
        }
        if let range = p.range, case .number(let x) = out, !range.contains(x) {
            let bounds =
                range.upperBound == .infinity
                ? "at least \(Format.number(range.lowerBound))"
                : "between \(Format.number(range.lowerBound)) and \(Format.number(range.upperBound))"
            throw Diagnostic(.runtime, "\(op.name): argument '\(p.name)' must be \(bounds), got \(Format.number(x))", at: span)
        }
        return out
    }

    /// Calls a function value from an operation (e.g. a user callback).
    public func invoke(_ fn: Function, _ args: [Value], at span: SourceSpan) throws -> Value {
        try call(fn, positional: args, positionalSpans: args.map { _ in span }, named: [], span: span)
    }

    /// Seconds since the interpreter started.
    public var elapsed: Double { (ContinuousClock.now - started).seconds }
}

extension Interpreter {
    /// Runs `body` on a thread with a 512 MiB stack and waits for it, so that deep recursion in
    /// recipes and deeply nested source end in a diagnostic rather than a stack overflow.
    public static func onLargeStack<T>(_ body: () -> T) -> T {
        var result: T?
        withoutActuallyEscaping({ result = body() }) { work in
            let box = LargeStackBox(work)
            var attr = pthread_attr_t()
            pthread_attr_init(&attr)
            pthread_attr_setstacksize(&attr, 1 << 29)
            var tid = pthread_t()
            let context = Unmanaged.passRetained(box).toOpaque()
            let created = pthread_create(&tid, &attr, largeStackEntry, context)
            pthread_attr_destroy(&attr)
            if created == 0 {
                pthread_join(tid, nil)
            } else {
                // No thread could be made (resource limits): run here, on the ordinary stack.
                Unmanaged<LargeStackBox>.fromOpaque(context).release()
                work()
            }
        }
        return result.unsafelyUnwrapped
    }
}

/// The work handed to the large-stack thread.
private final class LargeStackBox {
    let work: () -> Void
    init(_ work: @escaping () -> Void) { self.work = work }
}

private func largeStackEntry(_ raw: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    guard let raw else { return nil }
    let box = Unmanaged<LargeStackBox>.fromOpaque(raw).takeRetainedValue()
    box.work()
    return nil
}
