import Dispatch
import Foundation
import Synchronization

/// Two-core execution.
///
/// Policy (no oversubscription): BLAS/LAPACK calls run on the caller's thread and OpenBLAS uses all
/// cores inside them; Swift-side kernels use `Parallel.forEach`, whose bodies never call BLAS. So at
/// any moment either OpenBLAS's threads or ours are busy, never both.
public enum Parallel {
    /// Logical cores available.
    public static let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)

    /// Runs `body` on contiguous chunks `[start, end)` covering `0..<count`, one chunk per core
    /// (serially when the work is below `grain` items). Chunks are fixed by `count` and the core
    /// count only, so a deterministic body gives deterministic results.
    public static func forEach(_ count: Int, grain: Int = 1024, _ body: (Range<Int>) -> Void) {
        if count <= 0 { return }
        let workers = min(cores, max(1, count / max(grain, 1)))
        if workers == 1 { body(0..<count); return }
        let chunk = (count + workers - 1) / workers
        // The body writes disjoint ranges; the caller guarantees that is race-free.
        nonisolated(unsafe) let body = body
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            let lo = w * chunk, hi = min(count, lo + chunk)
            if lo < hi { body(lo..<hi) }
        }
    }
}

/// A flag that long loops poll: set by the SIGINT handler (which does nothing else), checked by
/// SVD sweeps, Lloyd iterations, training epochs and the interpreter's loops.
///
/// `cancel()` also writes a byte to a pipe (`wakeDescriptor`), so a thread blocked in `poll` on a
/// terminal wakes whichever thread took the signal and whenever it came (before the `poll`
/// started, say); only `write` is called, which a signal handler may do.
public final class CancellationToken: Sendable {
    private let flag = Atomic<Bool>(false)
    private let wakeRead: Int32
    private let wakeWrite: Int32

    public init() {
        var fds: [Int32] = [-1, -1]
        if pipe(&fds) == 0 {
            for fd in fds {
                _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
                _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            }
        }
        wakeRead = fds[0]
        wakeWrite = fds[1]
    }

    /// The process-wide token the REPL's Ctrl-C sets.
    public static let shared = CancellationToken()

    /// Readable after `cancel()` until `drainWakes()`; -1 if no pipe could be made.
    public var wakeDescriptor: Int32 { wakeRead }

    public func cancel() {
        flag.store(true, ordering: .relaxed)
        if wakeWrite >= 0 {
            var byte: UInt8 = 1
            _ = write(wakeWrite, &byte, 1)  // a full pipe already wakes its reader
        }
    }

    /// Empties the wake pipe (the flag is left as it is).
    public func drainWakes() {
        guard wakeRead >= 0 else { return }
        var buffer = [UInt8](repeating: 0, count: 64)
        while read(wakeRead, &buffer, buffer.count) > 0 {}
    }

    public func reset() {
        flag.store(false, ordering: .relaxed)
        drainWakes()
    }
    public var isCancelled: Bool { flag.load(ordering: .relaxed) }

    /// Throws `CoreError.cancelled` once the token is set.
    @inline(__always)
    public func check() throws {
        if flag.load(ordering: .relaxed) { throw CoreError.cancelled }
    }
}
