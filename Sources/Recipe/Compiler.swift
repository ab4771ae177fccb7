import Foundation
import SqueezeCore

typealias Eval = (Frame) throws -> Value
typealias Exec = (Frame) throws -> Flow

/// Turns the syntax tree into Swift closures with every variable resolved to a slot, so running a
/// loop never hashes a name. Scoping is Python's: inside a function, a name assigned anywhere in
/// its body is local to it; other names are looked up in the enclosing functions, then the globals,
/// then the operations. Blocks (`if`, `for`, `while`) do not open scopes.
struct Compiler {
    final class Scope {
        let parent: Scope?
        let name: String
        var slots: [String: Int] = [:]
        init(parent: Scope?, name: String) { self.parent = parent; self.name = name }
        func add(_ n: String) { if slots[n] == nil { slots[n] = slots.count } }
    }

    enum Resolution {
        case local(depth: Int, slot: Int)
        case global(Int)
    }

    let interpreter: Interpreter
    /// The current function's scope; nil at the top level.
    var scope: Scope?

    init(interpreter: Interpreter) { self.interpreter = interpreter }

    // MARK: - Top level

    mutating func compileTopLevel(_ stmts: [Stmt], onValue: @escaping (Value) -> Void) throws -> [(Stmt, Exec)] {
        for name in Compiler.assignedNames(stmts) { _ = interpreter.globalSlot(name) }
        return try stmts.map { s in
            if case let .expr(e, silent) = s.kind {
                let ev = try compile(e)
                return (
                    s,
                    { f in
                        let v = try ev(f)
                        if !silent { onValue(v) }
                        return .normal
                    }
                )
            }
            return (s, try compile(s))
        }
    }

    /// Names a body assigns (not looking into nested functions).
    static func assignedNames(_ stmts: [Stmt]) -> [String] {
        var out: [String] = []
        func visit(_ s: Stmt) {
            switch s.kind {
            case .assign(let targets, _): out += targets.map(\.name)
            case .function(let d): if let n = d.name { out.append(n) }
            case .for(let names, _, let body): out += names.map(\.name); body.forEach(visit)
            case .while(_, let body): body.forEach(visit)
            case .if(_, let then, let els): then.forEach(visit); els?.forEach(visit)
            case .param(let name, _, _): out.append(name)
            default: break
            }
        }
        stmts.forEach(visit)
        return out
    }

    func resolve(_ name: String) -> Resolution {
        var depth = 0
        var s = scope
        while let sc = s {
            if let i = sc.slots[name] { return .local(depth: depth, slot: i) }
            depth += 1
            s = sc.parent
        }
        return .global(interpreter.globalSlot(name))
    }

    func unknownName(_ name: String, _ span: SourceSpan) -> Diagnostic {
        var candidates = Set(interpreter.globalNames).union(Registry.globalNames)
        var s = scope
        while let sc = s { candidates.formUnion(sc.slots.keys); s = sc.parent }
        return Diagnostic(.runtime, "unknown name '\(name)'", at: span, suggestion: Suggest.didYouMean(name, in: candidates))
    }

    // MARK: - Statements

    mutating func compileBlock(_ stmts: [Stmt]) throws -> Exec {
        let execs = try stmts.map { try compile($0) }
        if execs.count == 1 { return execs[0] }
        return { f in
            for e in execs {
                let r = try e(f)
                if case .normal = r { continue }
                return r
            }
            return .normal
        }
    }

    mutating func compile(_ s: Stmt) throws -> Exec {
        switch s.kind {
        case .expr(let e, _):
            let ev = try compile(e)
            return { f in
                _ = try ev(f); return .normal
            }

        case let .assign(targets, value):
            let ev = try compile(value)
            let setters = targets.map { setter($0.name) }
            if setters.count == 1 {
                let set = setters[0]
                return { f in
                    set(f, try ev(f)); return .normal
                }
            }
            let span = s.span
            return { f in
                let v = try ev(f)
                let items: [Value]
                switch v {
                case .list(let l): items = l
                case .record(let r): items = Array(r.fields.values)
                default: throw Diagnostic(.runtime, "cannot unpack \(v.typeDescription) into \(setters.count) names", at: span)
                }
                guard items.count == setters.count else {
                    throw Diagnostic(
                        .runtime, "cannot unpack \(items.count) value\(items.count == 1 ? "" : "s") into \(setters.count) names", at: span)
                }
                for (set, item) in zip(setters, items) { set(f, item) }
                return .normal
            }

        case .function(let decl):
            let make = try compileFunction(decl)
            let set = setter(decl.name ?? "<fn>")
            return { f in
                set(f, try make(f)); return .normal
            }

        case .return(let e):
            guard let e else { return { _ in .returned(.none) } }
            let ev = try compile(e)
            return { f in .returned(try ev(f)) }

        case let .if(cond, then, els):
            let c = try compile(cond), cspan = cond.span
            let t = try compileBlock(then)
            let e = try els.map { try compileBlock($0) }
            return { f in
                if try Ops.truthy(try c(f), cspan) { return try t(f) }
                if let e { return try e(f) }
                return .normal
            }

        case let .while(cond, body):
            let c = try compile(cond), cspan = cond.span
            let b = try compileBlock(body)
            let token = interpreter.cancellation
            return { f in
                while try Ops.truthy(try c(f), cspan) {
                    if token.isCancelled { throw Diagnostic(.interrupted, "interrupted", at: cspan) }
                    switch try b(f) {
                    case .normal, .continueLoop: continue
                    case .breakLoop: return .normal
                    case .returned(let v): return .returned(v)
                    }
                }
                return .normal
            }

        case let .for(names, iterable, body):
            return try compileFor(names: names, iterable: iterable, body: body)

        case .break:
            return { _ in .breakLoop }
        case .continue:
            return { _ in .continueLoop }

        case let .param(name, nameSpan, value):
            let ev = try compile(value)
            let slot = interpreter.globalSlot(name)
            let interp = interpreter
            return { _ in
                let def = try ev(interp.globals)
                var v = def
                var overridden = false
                if let o = interp.parameterOverrides[name] {
                    let compatible =
                        o.typeName == def.typeName || def.typeName == "none" || (def.typeName == "tensor" && o.typeName == "list")
                    guard compatible else {
                        throw Diagnostic(
                            .runtime,
                            "parameter '\(name)' has a \(def.typeName) default (\(Format.inline(def))), but -p \(name)= gives a " +
                            "\(o.typeName) (\(Format.inline(o)))",
                            at: nameSpan)
                    }
                    v = o
                    overridden = true
                }
                interp.globals.slots[slot] = v
                interp.declareParameter(name, v, defaultValue: def, overridden: overridden)
                return .normal
            }
        }
    }

    /// A closure that stores into the variable `name` (local in a function, else global).
    func setter(_ name: String) -> (Frame, Value) -> Void {
        if let sc = scope, let i = sc.slots[name] {
            return { f, v in f.slots[i] = v }
        }
        let g = interpreter.globals
        let i = interpreter.globalSlot(name)
        return { _, v in g.slots[i] = v }
    }

    /// `for x in progress(xs, label: "…")`: the loop reports its progress (the one progress facility).
    func progressLabel(_ iterable: Expr) -> String? {
        guard case .call(let callee, let args) = iterable.kind, case .name("progress") = callee.kind,
              case .global = resolve("progress"), interpreter.global("progress") == nil else { return nil }
        for a in args where a.name == "label" {
            if case .string(let pieces) = a.value.kind, pieces.count <= 1, case .text(let t)? = pieces.first ?? .text("loop") { return t }
        }
        return "loop"
    }

    mutating func compileFor(names: [(name: String, span: SourceSpan)], iterable: Expr, body: [Stmt]) throws -> Exec {
        let it = try compile(iterable)
        let progressLabel = progressLabel(iterable)
        let ispan = iterable.span
        let b = try compileBlock(body)
        let setters = names.map { setter($0.name) }
        let token = interpreter.cancellation
        let bind: (Frame, Value) throws -> Void
        if setters.count == 1 {
            let set = setters[0]
            bind = { f, v in set(f, v) }
        } else {
            let nameSpan = names[0].span.to(names[names.count - 1].span)
            bind = { f, v in
                let items: [Value]
                switch v {
                case .list(let l): items = l
                case .tensor(let t) where t.rank == 1: items = t.storage.map { .number(Double($0)) }
                default: throw Diagnostic(.runtime, "cannot unpack \(v.typeDescription) into \(setters.count) loop variables", at: nameSpan)
                }
                guard items.count == setters.count else {
                    throw Diagnostic(.runtime, "cannot unpack \(items.count) values into \(setters.count) loop variables", at: nameSpan)
                }
                for (s, x) in zip(setters, items) { s(f, x) }
            }
        }
        return { f in
            let seq = try it(f)
            let task = progressLabel.map { ProgressMeter.start($0, total: Compiler.iterationCount(seq)) }
            defer { task?.end() }
            @inline(__always) func step(_ v: Value) throws -> Flow? {
                if token.isCancelled { throw Diagnostic(.interrupted, "interrupted", at: ispan) }
                defer { task?.advance() }
                try bind(f, v)
                switch try b(f) {
                case .normal, .continueLoop: return nil
                case .breakLoop: return .normal
                case .returned(let r): return .returned(r)
                }
            }
            switch seq {
            case .range(let r):
                var x = r.start
                for _ in 0..<r.count {
                    if let out = try step(.number(Double(x))) { return out }
                    x += r.step
                }
            case .list(let l):
                for v in l { if let out = try step(v) { return out } }
            case .tensor(let t):
                guard t.rank >= 1 else { throw Diagnostic(.runtime, "cannot iterate over a scalar tensor", at: ispan) }
                for i in 0..<t.shape[0] {
                    let v: Value = t.rank == 1 ? .number(Double(t.storage[i])) : .tensor(t.rows(i..<(i + 1)).dropLeadingAxis())
                    if let out = try step(v) { return out }
                }
            case .variable(let x):
                // The rows of a differentiated tensor, each recorded as an index (a plain tensor once its grad returned).
                guard x.operand.value.rank >= 1 else { throw Diagnostic(.runtime, "cannot iterate over a scalar tensor", at: ispan) }
                for i in 0..<x.operand.shape[0] {
                    let item = [Ops.Index.at(.number(Double(i)), ispan)]
                    let v = x.isLive ? try Autodiff.index(x, item, ispan) : try Ops.index(seq, item, ispan)
                    if let out = try step(v) { return out }
                }
            case .record(let r):
                for (k, v) in r.fields { if let out = try step(.list([.string(k), v])) { return out } }
            case .string(let s):
                for ch in s { if let out = try step(.string(String(ch))) { return out } }
            default:
                throw Diagnostic(
                    .runtime, "cannot iterate over \(seq.typeDescription)", at: ispan,
                    suggestion: "loop over a list, a range, a string, a record or the rows of a tensor")
            }
            return .normal
        }
    }

    /// How many times a for loop over `v` runs (for its progress line).
    static func iterationCount(_ v: Value) -> Int {
        switch v {
        case .range(let r): return r.count
        case .list(let l): return l.count
        case .tensor(let t): return t.rank >= 1 ? t.shape[0] : 0
        case .variable(let x): return x.operand.value.rank >= 1 ? x.operand.shape[0] : 0
        case .record(let r): return r.fields.count
        case .string(let s): return s.count
        default: return 0
        }
    }

    /// Compiles a function declaration to a closure that makes the function value (evaluating
    /// defaults and capturing the current frame).
    mutating func compileFunction(_ decl: FunctionDecl) throws -> Eval {
        let name = decl.name ?? "<fn>"
        let defaults = try decl.parameters.map { try $0.defaultValue.map { try compile($0) } }
        let inner = Scope(parent: scope, name: name)
        for p in decl.parameters { inner.add(p.name) }
        for n in Compiler.assignedNames(decl.body) { inner.add(n) }
        var sub = Compiler(interpreter: interpreter)
        sub.scope = inner
        let body = try sub.compileBlock(decl.body)
        let params = decl.parameters.map(\.name)
        let isNested = scope != nil
        return { f in
            let d = try defaults.map { try $0?(f) }
            let slotCount = inner.slots.count
            return .function(
                .user(
                    UserFunction(
                        name: name, parameters: params, defaults: d, slotCount: slotCount,
                        body: body, captured: isNested ? f : nil)))
        }
    }

    // MARK: - Expressions

    mutating func compile(_ e: Expr) throws -> Eval {
        let span = e.span
        switch e.kind {
        case .number(let x):
            let v = Value.number(x)
            return { _ in v }
        case .bool(let b):
            let v = Value.bool(b)
            return { _ in v }
        case .none:
            return { _ in .none }
        case .string(let pieces):
            if pieces.count == 1, case .text(let s) = pieces[0] {
                let v = Value.string(s)
                return { _ in v }
            }
            let parts: [(String?, Eval?)] = try pieces.map { p in
                switch p {
                case .text(let s): return (s, nil)
                case .expr(let x): return (nil, try compile(x))
                }
            }
            return { f in
                var s = ""
                for (text, ev) in parts {
                    if let text {
                        s += text
                    } else if let ev {
                        let v = try ev(f)
                        s += {
                            if case .string(let x) = v { return x }; return Format.inline(v)
                        }()
                    }
                }
                return .string(s)
            }
        case .name(let n):
            return compileName(n, span)
        case .list(let items):
            let evs = try items.map { try compile($0) }
            return { f in .list(try evs.map { try $0(f) }) }
        case .record(let fields):
            let evs = try fields.map { ($0.key, try compile($0.value)) }
            return { f in
                var r = Record()
                for (k, ev) in evs { r.fields[k] = try ev(f) }
                return .record(r)
            }
        case let .unary(_, x):
            let ev = try compile(x)
            return { f in
                let v = try ev(f)
                if case .number(let n) = v { return .number(-n) }
                return try Ops.negate(v, span)
            }
        case let .binary(op, l, r):
            return try compileBinary(op, l, r, span)
        case let .and(l, r):
            let a = try compile(l), b = try compile(r), ls = l.span, rs = r.span
            return { f in .bool(try Ops.truthy(try a(f), ls) && Ops.truthy(try b(f), rs)) }
        case let .or(l, r):
            let a = try compile(l), b = try compile(r), ls = l.span, rs = r.span
            return { f in .bool(try Ops.truthy(try a(f), ls) || Ops.truthy(try b(f), rs)) }
        case .not(let x):
            let a = try compile(x), xs = x.span
            return { f in .bool(!(try Ops.truthy(try a(f), xs))) }
        case let .call(callee, args):
            return try compileCall(callee, args, span)
        case let .field(base, name, nameSpan):
            let b = try compile(base)
            return { f in try Ops.field(try b(f), name, nameSpan) }
        case let .index(base, items):
            let b = try compile(base)
            let its: [(Eval?, Eval?, Eval?, Eval?, SourceSpan)] = try items.map { item in
                switch item {
                case .at(let x): return (try compile(x), nil, nil, nil, x.span)
                case let .slice(a, z, st, sp):
                    return (nil, try a.map { try compile($0) }, try z.map { try compile($0) }, try st.map { try compile($0) }, sp)
                }
            }
            return { f in
                let v = try b(f)
                var idx: [Ops.Index] = []
                for (at, a, z, st, sp) in its {
                    if let at { idx.append(.at(try at(f), sp)); continue }
                    func bound(_ ev: Eval?) throws -> Int? {
                        guard let ev else { return nil }
                        let x = try ev(f)
                        if case .none = x { return nil }
                        return try Ops.integer(x, sp, "slice bound")
                    }
                    idx.append(.slice(try bound(a), try bound(z), try bound(st) ?? 1, sp))
                }
                return try Ops.index(v, idx, span)
            }
        case .function(let decl):
            return try compileFunction(decl)
        }
    }

    func compileName(_ n: String, _ span: SourceSpan) -> Eval {
        switch resolve(n) {
        case let .local(depth, slot):
            let unassigned = Diagnostic(
                .runtime, "'\(n)' is used before it is assigned", at: span,
                notes: ["'\(n)' is assigned somewhere in this function, so it is local to it"])
            if depth == 0 {
                return { f in
                    let v = f.slots[slot]
                    if case .unset = v { throw unassigned }
                    return v
                }
            }
            return { f in
                var fr = f
                for _ in 0..<depth { fr = fr.parent.unsafelyUnwrapped }
                let v = fr.slots[slot]
                if case .unset = v { throw unassigned }
                return v
            }
        case .global(let slot):
            let g = interpreter.globals
            let fallback = Registry.value(named: n)
            let compiler = self
            return { _ in
                let v = g.slots[slot]
                if case .unset = v {
                    if let fallback { return fallback }
                    throw compiler.unknownName(n, span)
                }
                return v
            }
        }
    }

    mutating func compileBinary(_ op: String, _ l: Expr, _ r: Expr, _ span: SourceSpan) throws -> Eval {
        let a = try compile(l), b = try compile(r)
        switch op {
        case "+":
            return { f in
                let x = try a(f), y = try b(f)
                if case .number(let p) = x, case .number(let q) = y { return .number(p + q) }
                return try Ops.binary(op, x, y, span)
            }
        case "-":
            return { f in
                let x = try a(f), y = try b(f)
                if case .number(let p) = x, case .number(let q) = y { return .number(p - q) }
                return try Ops.binary(op, x, y, span)
            }
        case "*":
            return { f in
                let x = try a(f), y = try b(f)
                if case .number(let p) = x, case .number(let q) = y { return .number(p * q) }
                return try Ops.binary(op, x, y, span)
            }
        case "<":
            return { f in
                let x = try a(f), y = try b(f)
                if case .number(let p) = x, case .number(let q) = y { return .bool(p < q) }
                return try Ops.binary(op, x, y, span)
            }
        case ">":
            return { f in
                let x = try a(f), y = try b(f)
                if case .number(let p) = x, case .number(let q) = y { return .bool(p > q) }
                return try Ops.binary(op, x, y, span)
            }
        default:
            return { f in try Ops.binary(op, try a(f), try b(f), span) }
        }
    }

    mutating func compileCall(_ callee: Expr, _ args: [CallArgument], _ span: SourceSpan) throws -> Eval {
        let c = try compile(callee)
        let positional = try args.filter { $0.name == nil }.map { (try compile($0.value), $0.value.span) }
        let named = try args.compactMap { a -> (String, Eval, SourceSpan)? in
            guard let n = a.name else { return nil }
            return (n, try compile(a.value), a.nameSpan ?? a.value.span)
        }
        let interp = interpreter
        let cspan = callee.span
        let posSpans = positional.map(\.1)
        return { f in
            let fv = try c(f)
            guard case .function(let fn) = fv else {
                throw Diagnostic(.runtime, "\(Format.inline(fv).prefix(40)) is a \(fv.typeName), not a function", at: cspan)
            }
            var pos: [Value] = []
            pos.reserveCapacity(positional.count)
            for (ev, _) in positional { pos.append(try ev(f)) }
            var nam: [(String, Value, SourceSpan)] = []
            for (n, ev, s) in named { nam.append((n, try ev(f), s)) }
            return try interp.call(fn, positional: pos, positionalSpans: posSpans, named: nam, span: span)
        }
    }
}

extension Tensor {
    /// A 1×… tensor without its leading axis.
    func dropLeadingAxis() -> Tensor {
        Tensor(shape: Array(shape.dropFirst()), storage: storage)
    }
}
