import SqueezeCore

/// What `squeeze --version` prints and the history records.
enum Version {
    static let squeeze = "0.1.0"

    static var swift: String {
        #if compiler(>=6.4)
        return "6.4 or newer"
        #elseif compiler(>=6.3)
        return "6.3"
        #elseif compiler(>=6.2)
        return "6.2"
        #elseif compiler(>=6.1)
        return "6.1"
        #else
        return "6.0"
        #endif
    }

    static var full: String {
        """
        squeeze \(squeeze)
        Swift \(swift)
        BLAS: \(BLAS.config)
        BLAS core: \(BLAS.coreName), \(BLAS.threads) thread\(BLAS.threads == 1 ? "" : "s"); Swift-side cores: \(Parallel.cores)
        """
    }
}
