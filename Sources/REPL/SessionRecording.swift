import Foundation
import Recipe

/// How a session is recorded. The REPL defines what it needs and the executable supplies an
/// implementation backed by the history database, so the REPL never knows the store.
public protocol SessionRecording: AnyObject {
    /// Files the session must never read or write (the history database and its journals).
    var protectedFiles: [URL] { get }
    /// Starts recording one run of the session; nil when it cannot be recorded (the reason has
    /// been told to the user).
    func start(kind: SessionKind, source: String, seed: UInt64, cellLines: [Int], outDirectory: String) -> SessionRun?
}

/// A REPL session, the recipe piped to squeeze's standard input, or a Jupyter kernel's session.
public enum SessionKind: Sendable { case repl, script, notebook }

/// How a recorded run ended.
public enum SessionEnd: Sendable { case completed, failed, interrupted }

/// One recorded run: it observes the interpreter, and the REPL tells it where inputs begin and how
/// the run ended.
public protocol SessionRun: RunObserver {
    func beginInput(_ source: String)
    func end(_ how: SessionEnd, error: String?)
    /// The run's id in the history (nil when it could not be recorded).
    var runID: Int? { get }
}
