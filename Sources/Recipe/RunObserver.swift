import Foundation

/// What the interpreter reports while it runs. The history (in the `squeeze` target) implements it;
/// the language never knows SQLite (Sacred's observer pattern).
public protocol RunObserver: AnyObject {
    /// A top-level statement is about to run. `index` counts from 0 over the run.
    func statementStarted(index: Int, span: SourceSpan)
    /// It finished (`error` is nil on success).
    func statementFinished(index: Int, span: SourceSpan, seconds: Double, error: Diagnostic?)
    /// `param name = …` resolved, to its default or a `-p` override.
    func parameter(name: String, value: Value, defaultValue: Value, overridden: Bool)
    /// The run's seed: from `--seed`, drawn once at start, or set by `seed(n)`.
    func seed(_ seed: UInt64)
    /// `log(name: value, …)`, or a value an operation reports (`Interpreter.report`).
    func metric(name: String, value: Double, step: Int?)
    /// `note("…")`.
    func note(_ text: String)
    /// A file written by the recipe.
    func artifact(path: String, kind: String)
    /// Text the recipe printed.
    func output(_ text: String)
    /// The value a statement displayed (the REPL shows a bare expression's value), as text.
    func valueShown(_ text: String)
}

extension RunObserver {
    public func statementStarted(index: Int, span: SourceSpan) {}
    public func statementFinished(index: Int, span: SourceSpan, seconds: Double, error: Diagnostic?) {}
    public func parameter(name: String, value: Value, defaultValue: Value, overridden: Bool) {}
    public func seed(_ seed: UInt64) {}
    public func metric(name: String, value: Double, step: Int?) {}
    public func note(_ text: String) {}
    public func artifact(path: String, kind: String) {}
    public func output(_ text: String) {}
    public func valueShown(_ text: String) {}
}
