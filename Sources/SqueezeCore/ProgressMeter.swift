import Foundation
import Synchronization

/// The one progress facility. A long operation opens a task with its total amount of work, advances
/// it as it goes and ends it; where the report goes is the executable's choice (`ProgressMeter.sink`):
/// squeeze draws one redrawn line on standard error when that is a terminal, and nothing otherwise.
/// Tasks nest (k-means inside a codebook): only the outermost is shown, so the line never flickers
/// between levels. Without a sink every call is a relaxed atomic load and nothing more.
public enum ProgressMeter {
    /// What is shown: the task's name, the work done of its total, and when it started.
    public struct Report: Sendable {
        public let name: String
        public let done: Double
        public let total: Double
        public let started: ContinuousClock.Instant
        /// What the task says besides its fraction (a sweep's running and failed counts).
        public var detail = ""
        public var fraction: Double { total > 0 ? min(1, done / total) : 0 }
    }

    /// Receives reports of the outermost task (at most as often as it wants to draw them) and the
    /// end of that task.
    public protocol Sink: AnyObject, Sendable {
        func update(_ report: Report)
        func finish()
    }

    nonisolated(unsafe) private static var installed: Sink?
    private static let active = Atomic<Bool>(false)
    private static let depth = Atomic<Int>(0)

    /// Where reports go (nil: nowhere). Set once, at start-up, before any task.
    public static var sink: Sink? {
        get { installed }
        set {
            installed = newValue
            active.store(newValue != nil, ordering: .releasing)
        }
    }

    /// A task in progress. `advance` may be called from any thread.
    public final class Task: Sendable {
        let name: String
        let total: Double
        let started = ContinuousClock.now
        let shown: Bool
        private let done = Atomic<Int>(0)
        private let detail = Mutex<String>("")

        init(name: String, total: Double, shown: Bool) {
            self.name = name
            self.total = total
            self.shown = shown
        }

        /// `amount` more units of work are done.
        public func advance(_ amount: Int = 1) {
            guard shown else { return }
            let now = done.add(amount, ordering: .relaxed).newValue
            var report = Report(name: name, done: Double(now), total: total, started: started)
            report.detail = detail.withLock { $0 }
            ProgressMeter.installed?.update(report)
        }

        /// Sets the detail shown beside the fraction, and redraws.
        public func note(_ text: String) {
            guard shown else { return }
            detail.withLock { $0 = text }
            advance(0)
        }

        /// The work is over (also on an error): the line is erased.
        public func end() {
            guard shown else { return }
            ProgressMeter.depth.subtract(1, ordering: .relaxed)
            ProgressMeter.installed?.finish()
        }
    }

    /// Opens a task of `total` units; end it with `end()` (a `defer` right after is the idiom).
    public static func start(_ name: String, total: Int) -> Task {
        guard active.load(ordering: .acquiring) else { return Task(name: name, total: 0, shown: false) }
        let outermost = depth.add(1, ordering: .relaxed).newValue == 1
        if !outermost { depth.subtract(1, ordering: .relaxed) }
        return Task(name: name, total: Double(max(total, 1)), shown: outermost)
    }
}
