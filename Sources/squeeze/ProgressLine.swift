import Foundation
import SqueezeCore

/// ProgressMeter on a terminal: one line on standard error, redrawn at most ten times a second, shown
/// only once an operation has run for a second (short ones stay silent), erased when it ends.
/// Installed only when standard error is a terminal and `--quiet` was not given.
/// `SQUEEZE_PROGRESS_AFTER` (seconds) changes the one-second delay (the tests set 0).
final class ProgressLine: ProgressMeter.Sink, @unchecked Sendable {
    let lock = NSLock()
    let after = ProcessInfo.processInfo.environment["SQUEEZE_PROGRESS_AFTER"].flatMap(Double.init).map { max(0, $0) } ?? 1
    var lastDraw = ContinuousClock.now
    var drawn = false

    func update(_ r: ProgressMeter.Report) {
        let now = ContinuousClock.now
        let elapsed = (now - r.started).seconds
        lock.lock()
        defer { lock.unlock() }
        guard elapsed >= after, !drawn || (now - lastDraw).seconds >= 0.1 else { return }
        lastDraw = now
        drawn = true
        var line = "\(r.name)  \(Int(r.fraction * 100))%\(r.detail.isEmpty ? "" : "  " + r.detail)  \(ProgressLine.time(elapsed))"
        if r.fraction > 0.01 { line += ", ~\(ProgressLine.time(elapsed / r.fraction - elapsed)) left" }
        FileHandle.standardError.write(Data("\r\u{1B}[K\(line)".utf8))
    }

    func finish() {
        lock.lock()
        defer { lock.unlock() }
        if drawn { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        drawn = false
    }

    static func time(_ s: Double) -> String {
        s < 60 ? String(format: "%.1f s", s) : String(format: "%dm%02ds", Int(s) / 60, Int(s) % 60)
    }
}
