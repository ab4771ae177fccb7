import CBLAS
import Foundation

/// Matrix products on OpenBLAS. Transposes are passed to BLAS as flags, never copied.
extension Tensor {
    /// `alpha · op(A) · op(B)` with `op` = transpose when the flag is set (both rank 2).
    public static func gemm(_ a: Tensor, _ b: Tensor, transA: Bool = false, transB: Bool = false, alpha: Float = 1) throws -> Tensor {
        guard a.rank == 2, b.rank == 2 else {
            throw CoreError.invalidArgument(
                "matmul: expected matrices, got shapes \(Shape.describe(a.shape)) and \(Shape.describe(b.shape))")
        }
        let m = transA ? a.shape[1] : a.shape[0]
        let k = transA ? a.shape[0] : a.shape[1]
        let kb = transB ? b.shape[1] : b.shape[0]
        let n = transB ? b.shape[0] : b.shape[1]
        guard k == kb else {
            throw CoreError.shapeMismatch(
                op: "matmul (inner dimensions \(k) and \(kb))",
                lhs: transA ? a.shape.reversed() : a.shape,
                rhs: transB ? b.shape.reversed() : b.shape)
        }
        try Memory.check(shape: [m, n], "the matrix product")
        if m == 0 || n == 0 { return Tensor.zeros([m, n]) }
        if k == 0 { return Tensor.zeros([m, n]) }
        return Tensor(shape: [m, n]) { c in
            a.withBuffer { pa in
                b.withBuffer { pb in
                    cblas_sgemm(
                        CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                        Int32(m), Int32(n), Int32(k), alpha,
                        pa.baseAddress, Int32(a.shape[1]), pb.baseAddress, Int32(b.shape[1]),
                        0, c.baseAddress, Int32(n))
                }
            }
        }
    }

    /// The matrix product with NumPy's `@` rules for rank 1 and 2 (vector·matrix, matrix·vector,
    /// vector·vector gives a scalar).
    public func matmul(_ other: Tensor) throws -> Tensor {
        switch (rank, other.rank) {
        case (2, 2):
            return try Tensor.gemm(self, other)
        case (1, 2):
            let r = try Tensor.gemm(try reshaped([1, count]), other)
            return try r.reshaped([r.count])
        case (2, 1):
            let r = try Tensor.gemm(self, try other.reshaped([other.count, 1]))
            return try r.reshaped([r.count])
        case (1, 1):
            guard count == other.count else { throw CoreError.shapeMismatch(op: "matmul", lhs: shape, rhs: other.shape) }
            return Tensor(scalar: Float(dot(other)))
        default:
            throw CoreError.invalidArgument(
                "matmul: expected vectors or matrices, got shapes \(Shape.describe(shape)) and \(Shape.describe(other.shape))")
        }
    }

    /// Inner product of equal-length tensors, accumulated in Float64.
    public func dot(_ other: Tensor) -> Double {
        precondition(count == other.count)
        return withBuffer { a in
            other.withBuffer { b in
                var s0 = 0.0, s1 = 0.0
                var k = 0
                while k + 2 <= a.count {
                    s0 += Double(a[k]) * Double(b[k]); s1 += Double(a[k + 1]) * Double(b[k + 1]); k += 2
                }
                if k < a.count { s0 += Double(a[k]) * Double(b[k]) }
                return s0 + s1
            }
        }
    }

    /// The Gram matrix `AᵀA` (`transpose: false`, n×n) or `AAᵀ` (`transpose: true`, m×m) by `ssyrk`,
    /// with both triangles filled.
    public func gram(outer: Bool = false) throws -> Tensor {
        guard rank == 2 else { throw CoreError.invalidArgument("gram: expected a matrix, got shape \(Shape.describe(shape))") }
        let m = shape[0], n = shape[1]
        let size = outer ? m : n
        let k = outer ? n : m
        try Memory.check(shape: [size, size], "the Gram matrix")
        var c = Tensor.zeros([size, size])
        if size == 0 || k == 0 { return c }
        c.withMutableBuffer { pc in
            withBuffer { pa in
                // Row-major C = AᵀA is 'upper, trans' on the row-major layout.
                cblas_ssyrk(
                    CblasRowMajor, CblasUpper, outer ? CblasNoTrans : CblasTrans,
                    Int32(size), Int32(k), 1, pa.baseAddress, Int32(n), 0, pc.baseAddress, Int32(size))
            }
            for i in 0..<size { for j in 0..<i { pc[i * size + j] = pc[j * size + i] } }
        }
        return c
    }

    /// The sum of the diagonal of a square matrix, in Float64.
    public func trace() throws -> Double {
        guard rank == 2 else { throw CoreError.invalidArgument("trace: expected a matrix, got shape \(Shape.describe(shape))") }
        return (0..<min(shape[0], shape[1])).reduce(0.0) { $0 + Double(storage[$1 * shape[1] + $1]) }
    }
}

/// OpenBLAS's build and thread facts.
public enum BLAS {
    /// `openblas_get_config()`, e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Zen MAX_THREADS=64".
    public static var config: String { String(cString: openblas_get_config()) }
    /// The kernel OpenBLAS chose for this CPU.
    public static var coreName: String { String(cString: openblas_get_corename()) }
    /// Threads OpenBLAS uses for one call.
    public static var threads: Int { Int(openblas_get_num_threads()) }
    /// Sets OpenBLAS's thread count (see `Parallel` for the policy).
    public static func setThreads(_ n: Int) { openblas_set_num_threads(Int32(max(1, n))) }

    /// Makes idle BLAS worker threads sleep after 2^`log2Cycles` cycles of spinning instead of
    /// OpenBLAS's 2^28 (~0.1 s), unless OPENBLAS_THREAD_TIMEOUT is set. Call once, first thing in
    /// `main`, before any BLAS call: the pool is restarted.
    public static func limitIdleSpinning(log2Cycles: Int = 20) {
        squeeze_blas_set_thread_timeout(Int32(min(30, max(4, log2Cycles))))
    }
    /// Runs `body` with OpenBLAS at one thread, for code that calls BLAS from several threads of its
    /// own (two BLAS threads inside two Swift threads oversubscribe the cores), or for many small
    /// products, where handing work to a second thread costs more than it saves. One caller at a time
    /// owns the setting (a concurrent second caller would save the 1 and restore it for good); the same
    /// thread may nest calls.
    public static func singleThreaded<R>(_ body: () throws -> R) rethrows -> R {
        singleThreadLock.lock()
        defer { singleThreadLock.unlock() }
        let threads = self.threads
        setThreads(1)
        defer { setThreads(threads) }
        return try body()
    }
    private static let singleThreadLock = NSRecursiveLock()

    /// One line for `--version` and the history.
    public static var summary: String { "\(config); core \(coreName); \(threads) threads" }
}
