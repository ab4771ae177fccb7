import Foundation
import Runs
import SqueezeCore

/// Ctrl-C sets the shared cancellation token (the handler does nothing else); long loops poll it.
/// A second Ctrl-C within a second exits with 130 — after the run being recorded is marked
/// interrupted, by a thread the handler wakes (a signal handler may only post a semaphore).
nonisolated(unsafe) var lastInterrupt: timespec = timespec()
nonisolated(unsafe) var forcedExit = sem_t()

/// The run being recorded, to mark interrupted when a second Ctrl-C ends the process.
nonisolated(unsafe) var recordingToInterrupt: RunRecorder?
let recordingLock = NSLock()

func recordForcedExit(into recorder: RunRecorder?) {
    recordingLock.lock()
    recordingToInterrupt = recorder
    recordingLock.unlock()
}

func installInterruptHandler() {
    _ = CancellationToken.shared  // initialise before any signal can touch it
    sem_init(&forcedExit, 0, 0)
    Thread.detachNewThread {
        while sem_wait(&forcedExit) != 0 {}
        recordingLock.lock()
        recordingToInterrupt?.finish(status: .interrupted, error: "interrupted: a second Ctrl-C ended the process")
        recordingLock.unlock()
        _exit(130)
    }
    // A parent may start us with SIGINT blocked (the mask is inherited across exec): unblock it,
    // before any thread is created, so Ctrl-C always reaches the handler.
    var set = sigset_t()
    sigemptyset(&set)
    sigaddset(&set, SIGINT)
    pthread_sigmask(SIG_UNBLOCK, &set, nil)
    signal(SIGINT) { _ in
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let since = Double(now.tv_sec - lastInterrupt.tv_sec) + Double(now.tv_nsec - lastInterrupt.tv_nsec) / 1e9
        if CancellationToken.shared.isCancelled && since < 1 {
            sem_post(&forcedExit)
            return
        }
        lastInterrupt = now
        CancellationToken.shared.cancel()
    }
}
