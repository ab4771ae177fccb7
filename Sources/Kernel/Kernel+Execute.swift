import Foundation
import REPL
import Recipe
import SqueezeCore

/// What the interpreter reports during a cell: forwarded to the session's recorder, and turned into
/// IOPub messages (a plot written → its PNG shown inline).
final class CellObserver: RunObserver {
    var inner: SessionRun?
    /// The top-level statement running now (its value is the cell's result when it is the last).
    var current: SourceSpan?
    var onArtifact: ((String, String) -> Void)?

    func statementStarted(index: Int, span: SourceSpan) {
        current = span
        inner?.statementStarted(index: index, span: span)
    }
    func statementFinished(index: Int, span: SourceSpan, seconds: Double, error: Diagnostic?) {
        inner?.statementFinished(index: index, span: span, seconds: seconds, error: error)
    }
    func parameter(name: String, value: Value, defaultValue: Value, overridden: Bool) {
        inner?.parameter(name: name, value: value, defaultValue: defaultValue, overridden: overridden)
    }
    func seed(_ seed: UInt64) { inner?.seed(seed) }
    func metric(name: String, value: Double, step: Int?) { inner?.metric(name: name, value: value, step: step) }
    func note(_ text: String) { inner?.note(text) }
    func artifact(path: String, kind: String) {
        inner?.artifact(path: path, kind: kind)
        onArtifact?(path, kind)
    }
    func output(_ text: String) { inner?.output(text) }
    func valueShown(_ text: String) { inner?.valueShown(text) }
}

extension Kernel {
    /// `execute_request`: runs the code as the next cell of the session.
    func execute(_ request: Message) -> [String: Any] {
        let c = request.content
        let code = c["code"] as? String ?? ""
        let silent = c["silent"] as? Bool ?? false
        let storeHistory = (c["store_history"] as? Bool ?? true) && !silent
        if storeHistory { executionCount += 1 }
        let count = executionCount
        if !silent { publish("execute_input", parent: request, ["code": code, "execution_count": count]) }
        var printed = ""
        let failure = runCell(code, count: count, request: request, silent: silent, printed: &printed)
        if storeHistory { inputs.append((count, code, printed)) }
        var reply: [String: Any]
        if let failure {
            if !silent { publish("error", parent: request, failure) }
            reply = failure
        } else {
            reply = ["status": "ok", "payload": [Any](), "user_expressions": userExpressions(c["user_expressions"])]
        }
        reply["execution_count"] = count
        return reply
    }

    /// Runs one cell; returns the error content when it failed.
    func runCell(_ code: String, count: Int, request: Message, silent: Bool, printed: inout String) -> [String: Any]? {
        var text = ""
        let stream = { [self] (name: String, s: String) in
            if name == "stdout" { text += s }
            if !silent { publish("stream", parent: request, ["name": name, "text": s]) }
        }
        defer { printed = text }
        let trimmed = code.trimmingCharacters(in: .whitespacesAndNewlines)
        // `?name`, `??word` and `?` alone, as in the REPL: documentation, not a recipe.
        if trimmed.hasPrefix("?") && !trimmed.contains("\n") {
            let query = String(trimmed.dropFirst())
            guard let answer = Help.answer(query, globals: { session.global($0) }) else {
                let message = Help.notFound(query.trimmingCharacters(in: .whitespaces), names: session.globalNames)
                return Kernel.errorContent("NameError", message.trimmingCharacters(in: .newlines))
            }
            stream("stdout", answer)
            return nil
        }
        let program = Parser.parse(SourceFile(name: "In [\(count)]", text: code))
        if !program.diagnostics.isEmpty {
            return failure(program.diagnostics)
        }
        if recorder == nil, let recording {
            recorder = recording.start(
                kind: .notebook, source: "", seed: session.seed, cellLines: [], outDirectory: session.sandbox.outputDirectory.path)
        }
        display.inner = recorder
        recorder?.beginInput(code)
        session.write = { s in stream("stdout", s) }
        session.warnWrite = { s in stream("stderr", s) }
        // The plot a statement wrote: its value (the path) is not shown again under the image.
        var image: (statement: Int, path: String)?
        display.onArtifact = { [self] path, kind in
            guard !silent, kind == "png", let data = FileManager.default.contents(atPath: path) else { return }
            image = (display.current?.start ?? -1, path)
            let shown = session.sandbox.outputDirectory.path
            let name = path.hasPrefix(shown + "/") ? String(path.dropFirst(shown.count + 1)) : path
            publish("display_data", parent: request, [
                "data": ["image/png": data.base64EncodedString(), "text/plain": "<\(name)>"], "metadata": [String: Any](),
                "transient": [String: Any](),
            ])
        }
        defer {
            session.write = { _ in }
            session.warnWrite = { _ in }
            display.onArtifact = nil
        }
        let last = program.statements.last?.span
        cancellation.reset()
        let outcome = session.runCatching(program) { [self] value in
            session.setGlobal("_", value)
            if case .none = value { return }
            recorder?.valueShown(Format.describe(value, width: 100))
            guard !silent else { return }
            if case .string(let p) = value, let image, image.statement == display.current?.start,
                image.path == p || image.path.hasSuffix("/" + p) { return }
            let data = RichDisplay.bundle(value, width: session.displayWidth)
            if let last, display.current?.start == last.start, display.current?.end == last.end {
                publish("execute_result", parent: request, ["data": data, "metadata": [String: Any](), "execution_count": count])
            } else {
                publish("display_data", parent: request, ["data": data, "metadata": [String: Any](), "transient": [String: Any]()])
            }
        }
        cancellation.reset()
        Memory.releaseFreeMemory()
        return outcome.map { failure([$0]) }
    }

    /// The `error` content of diagnostics, rendered as the REPL renders them (caret included).
    func failure(_ diagnostics: [Diagnostic]) -> [String: Any] {
        let first = diagnostics[0]
        let name: String
        switch first.kind {
        case .interrupted: name = "KeyboardInterrupt"
        case .syntax: name = "SyntaxError"
        case .runtime: name = "Error"
        }
        var traceback: [String] = []
        for d in diagnostics {
            traceback += d.render().split(separator: "\n", omittingEmptySubsequences: false).map(String.init).filter { !$0.isEmpty }
        }
        return Kernel.errorContent(name, first.message, traceback: traceback)
    }

    /// `user_expressions`: each evaluated in the session, its value as text/plain (or its error).
    func userExpressions(_ raw: Any?) -> [String: Any] {
        guard let expressions = raw as? [String: Any] else { return [:] }
        var out: [String: Any] = [:]
        for (key, source) in expressions {
            guard let source = source as? String else { continue }
            let program = Parser.parse(SourceFile(name: "<expression \(key)>", text: source))
            if !program.diagnostics.isEmpty { out[key] = failure(program.diagnostics); continue }
            var result: Value = .none
            let observer = session.observer
            session.observer = nil
            defer { session.observer = observer }
            if let error = session.runCatching(program, onValue: { result = $0 }) { out[key] = failure([error]); continue }
            out[key] = ["status": "ok", "data": RichDisplay.bundle(result, width: session.displayWidth), "metadata": [String: Any]()]
        }
        return out
    }
}
