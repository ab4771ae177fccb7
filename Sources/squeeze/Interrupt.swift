import Foundation
import SqueezeCore

/// Ctrl-C sets the shared cancellation token (the handler does nothing else); long loops poll it.
/// A second Ctrl-C within a second exits at once with 130.
nonisolated(unsafe) var lastInterrupt: timespec = timespec()

func installInterruptHandler() {
    _ = CancellationToken.shared  // initialise before any signal can touch it
    // A parent may start us with SIGINT blocked (the mask is inherited across exec): unblock it,
    // before any thread is created, so Ctrl-C always reaches the handler.
    var set = sigset_t()
    sigemptyset(&set)
    sigaddset(&set, SIGINT)
    pthread_sigmask(SIG_UNBLOCK, &set, nil)
    signal(SIGINT) { _ in
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        if CancellationToken.shared.isCancelled && now.tv_sec - lastInterrupt.tv_sec < 1 { _exit(130) }
        lastInterrupt = now
        CancellationToken.shared.cancel()
    }
}
