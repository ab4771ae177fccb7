import Foundation
import History
import REPL
import Runs

/// The REPL's sessions recorded into the history database: the wiring lives here, in the
/// executable, so neither the REPL nor the language knows SQLite.
final class HistorySessionRecording: SessionRecording {
    let store: HistoryStore
    /// What the session runs on, for the record: gathered on the history's writer thread (it reads
    /// /proc and may run git), so the prompt does not wait for it.
    let environment: @Sendable () -> RunEnvironment

    init(store: HistoryStore, environment: @escaping @Sendable () -> RunEnvironment) {
        self.store = store
        self.environment = environment
    }

    var protectedFiles: [URL] { [URL(fileURLWithPath: store.path)] }

    func start(kind: SessionKind, source: String, seed: UInt64, cellLines: [Int], outDirectory: String) -> SessionRun? {
        let start = RunStart(
            kind: kind == .repl ? .repl : kind == .notebook ? .notebook : .script, recipe: nil, source: source, seed: seed,
            environment: RunEnvironment(squeezeVersion: "?"), outDirectory: outDirectory)
        let recorder = RunRecorder(store: store, start: start, cellLines: cellLines, environment: environment)
        recordForcedExit(into: recorder)
        return recorder
    }
}

extension RunRecorder: SessionRun {
    public func end(_ how: SessionEnd, error: String?) {
        switch how {
        case .completed: finish(status: .completed, error: error)
        case .failed: finish(status: .failed, error: error)
        case .interrupted: finish(status: .interrupted, error: error)
        }
    }
}
