import CBLAS
import Foundation

/// LAPACKE's `lapack_int` (a C macro Swift cannot import): 32-bit in Debian's build.
public typealias LapackInt = Int32

/// Factorizations on LAPACK (through LAPACKE). Row-major data is handed to column-major LAPACK as
/// its transpose wherever the algebra allows it, so most calls make no layout copies.
extension Tensor {
    func requireMatrix(_ op: String) throws {
        guard rank == 2 else { throw CoreError.invalidArgument("\(op): expected a matrix, got shape \(Shape.describe(shape))") }
    }

    func requireSquare(_ op: String) throws {
        try requireMatrix(op)
        guard shape[0] == shape[1] else {
            throw CoreError.invalidArgument("\(op): expected a square matrix, got shape \(Shape.describe(shape))")
        }
    }

    static func check(_ info: LapackInt, _ routine: String, _ positive: (Int) -> String) throws {
        if info < 0 { throw CoreError.lapack(routine: routine, info: Int(info), message: "argument \(-info) had an illegal value") }
        if info > 0 { throw CoreError.lapack(routine: routine, info: Int(info), message: positive(Int(info))) }
    }

    /// Thin SVD `A = U · diag(S) · Vt` by divide and conquer (`sgesdd`): U is m×k, S has k values in
    /// descending order, Vt is k×n, k = min(m, n).
    ///
    /// The row-major m×n buffer is LAPACK's column-major n×m matrix Aᵀ = V S Uᵀ. For a wide or
    /// square A that is what LAPACK gets, and its "U" output is already our row-major Vt and its
    /// "VT" output our row-major U; a tall A is handed over as one transposed copy (see below).
    public func svd() throws -> (U: Tensor, S: Tensor, Vt: Tensor) {
        try requireMatrix("svd")
        try requireFinite("svd")
        let m = shape[0], n = shape[1], k = min(m, n)
        if k == 0 { return (Tensor.zeros([m, 0]), Tensor.zeros([0]), Tensor.zeros([0, n])) }
        // LAPACK gets the tall orientation: a wide matrix as its row-major buffer (= the tall
        // column-major Aᵀ), a tall one as one transposed copy. The row-major buffer of a tall matrix
        // would be the wide Aᵀ and take sgesdd's LQ path, ~2× slower (4096 × 1024: 0.91 → 0.48 s,
        // numpy 0.91 s). LAPACK's outputs are then our factors, transposed back when A was copied.
        let tall = m > n
        var a = tall ? transposed.storage : storage
        let (rows, cols) = tall ? (m, n) : (n, m)
        var s = [Float](repeating: 0, count: k)
        var lu = [Float](repeating: 0, count: rows * k)  // LAPACK's U (rows × k, column-major)
        var lvt = [Float](repeating: 0, count: k * cols)  // LAPACK's VT (k × cols, column-major)
        let info = LAPACKE_sgesdd(
            LAPACK_COL_MAJOR, Int8(UInt8(ascii: "S")), LapackInt(rows), LapackInt(cols),
            &a, LapackInt(rows), &s, &lu, LapackInt(rows), &lvt, LapackInt(k))
        try Tensor.check(info, "sgesdd") { _ in "the SVD did not converge" }
        if tall { return (Tensor(shape: [k, m], storage: lu).transposed, Tensor(s), Tensor(shape: [n, k], storage: lvt).transposed) }
        return (Tensor(shape: [m, k], storage: lvt), Tensor(s), Tensor(shape: [k, n], storage: lu))
    }

    /// Singular values only (`sgesdd` with jobz = N), descending.
    public func singularValues() throws -> Tensor {
        try requireMatrix("svd")
        try requireFinite("svd")
        let m = shape[0], n = shape[1], k = min(m, n)
        if k == 0 { return Tensor.zeros([0]) }
        // LAPACK gets the tall orientation, as in `svd`.
        let tall = m > n
        var a = tall ? transposed.storage : storage
        var s = [Float](repeating: 0, count: k)
        var du: Float = 0, dv: Float = 0
        let (rows, cols) = tall ? (m, n) : (n, m)
        let info = LAPACKE_sgesdd(
            LAPACK_COL_MAJOR, Int8(UInt8(ascii: "N")), LapackInt(rows), LapackInt(cols),
            &a, LapackInt(rows), &s, &du, 1, &dv, 1)
        try Tensor.check(info, "sgesdd") { _ in "the SVD did not converge" }
        return Tensor(s)
    }

    /// Eigendecomposition of a symmetric matrix (`ssyevd`), reading its lower triangle as NumPy's
    /// `eigh` does: values ascending, `vectors[:, i]` the unit eigenvector of `values[i]`.
    public func eigh() throws -> (values: Tensor, vectors: Tensor) {
        try requireSquare("eigh")
        try requireFinite("eigh")
        let n = shape[0]
        if n == 0 { return (Tensor.zeros([0]), Tensor.zeros([0, 0])) }
        var a = storage
        var w = [Float](repeating: 0, count: n)
        // Row-major lower triangle = column-major upper triangle.
        let info = LAPACKE_ssyevd(
            LAPACK_COL_MAJOR, Int8(UInt8(ascii: "V")), Int8(UInt8(ascii: "U")),
            LapackInt(n), &a, LapackInt(n), &w)
        try Tensor.check(info, "ssyevd") { _ in "the eigenvalue algorithm did not converge" }
        // Column-major eigenvectors read row-major are the rows: transpose to columns.
        return (Tensor(w), Tensor(shape: [n, n], storage: a).transposed)
    }

    /// Reduced QR: Q is m×k with orthonormal columns, R is k×n upper triangular, k = min(m, n).
    public func qr() throws -> (Q: Tensor, R: Tensor) {
        try requireMatrix("qr")
        try requireFinite("qr")
        let m = shape[0], n = shape[1], k = min(m, n)
        if k == 0 { return (Tensor.zeros([m, 0]), Tensor.zeros([0, n])) }
        var a = storage
        var tau = [Float](repeating: 0, count: k)
        var info = LAPACKE_sgeqrf(LAPACK_ROW_MAJOR, LapackInt(m), LapackInt(n), &a, LapackInt(n), &tau)
        try Tensor.check(info, "sgeqrf") { _ in "unexpected failure" }
        var r = [Float](repeating: 0, count: k * n)
        for i in 0..<k { for j in i..<n { r[i * n + j] = a[i * n + j] } }
        info = LAPACKE_sorgqr(LAPACK_ROW_MAJOR, LapackInt(m), LapackInt(k), LapackInt(k), &a, LapackInt(n), &tau)
        try Tensor.check(info, "sorgqr") { _ in "unexpected failure" }
        var q = [Float](repeating: 0, count: m * k)
        for i in 0..<m { for j in 0..<k { q[i * k + j] = a[i * n + j] } }
        return (Tensor(shape: [m, k], storage: q), Tensor(shape: [k, n], storage: r))
    }

    /// Cholesky factor `L` (lower triangular, `A = L Lᵀ`) of a symmetric positive definite matrix,
    /// reading the lower triangle. Fails with `spotrf`'s error when A is not positive definite.
    public func cholesky() throws -> Tensor {
        try requireSquare("chol")
        try requireFinite("chol")
        let n = shape[0]
        if n == 0 { return self }
        var a = storage
        // Column-major upper U (Uᵀ U = A) is row-major lower L.
        let info = LAPACKE_spotrf(LAPACK_COL_MAJOR, Int8(UInt8(ascii: "U")), LapackInt(n), &a, LapackInt(n))
        try Tensor.check(info, "spotrf") { "the matrix is not positive definite (leading minor of order \($0))" }
        for i in 0..<n { for j in (i + 1)..<max(n, i + 1) { a[i * n + j] = 0 } }
        return Tensor(shape: [n, n], storage: a)
    }

    /// Solves `A X = B` for square A by LU with partial pivoting (`sgesv`); B is a vector or a matrix.
    public func solve(_ b: Tensor) throws -> Tensor {
        try requireSquare("solve")
        let n = shape[0]
        guard (b.rank == 1 || b.rank == 2), b.shape[0] == n else {
            throw CoreError.shapeMismatch(op: "solve", lhs: shape, rhs: b.shape)
        }
        try requireFinite("solve")
        let nrhs = b.rank == 1 ? 1 : b.shape[1]
        if n == 0 || nrhs == 0 { return b }
        var a = storage
        var x = b.storage
        var ipiv = [LapackInt](repeating: 0, count: n)
        let info = LAPACKE_sgesv(LAPACK_ROW_MAJOR, LapackInt(n), LapackInt(nrhs), &a, LapackInt(n), &ipiv, &x, LapackInt(nrhs))
        try Tensor.check(info, "sgesv") { "the matrix is singular (U[\($0 - 1), \($0 - 1)] is exactly zero)" }
        return Tensor(shape: b.shape, storage: x)
    }

    /// The inverse of a square matrix (`sgetrf` + `sgetri`).
    public func inverse() throws -> Tensor {
        try requireSquare("inv")
        try requireFinite("inv")
        let n = shape[0]
        if n == 0 { return self }
        var a = storage
        var ipiv = [LapackInt](repeating: 0, count: n)
        var info = LAPACKE_sgetrf(LAPACK_ROW_MAJOR, LapackInt(n), LapackInt(n), &a, LapackInt(n), &ipiv)
        try Tensor.check(info, "sgetrf") { "the matrix is singular (U[\($0 - 1), \($0 - 1)] is exactly zero)" }
        info = LAPACKE_sgetri(LAPACK_ROW_MAJOR, LapackInt(n), &a, LapackInt(n), &ipiv)
        try Tensor.check(info, "sgetri") { "the matrix is singular (U[\($0 - 1), \($0 - 1)] is exactly zero)" }
        return Tensor(shape: [n, n], storage: a)
    }

    /// Sign and natural log of |det A|, computed in Float64: by Cholesky when A is symmetric and
    /// positive definite (`dpotrf`, the common case of covariance matrices), else by LU with the
    /// permutation's sign (`dgetrf`). A singular matrix gives sign 0 and -inf, as NumPy's `slogdet`.
    public func slogdet() throws -> (sign: Double, logAbsDet: Double) {
        try requireSquare("logdet")
        try requireFinite("logdet")
        let n = shape[0]
        if n == 0 { return (1, 0) }
        var isSymmetric = true
        outer: for i in 0..<n { for j in 0..<i where storage[i * n + j] != storage[j * n + i] { isSymmetric = false; break outer } }
        if isSymmetric {
            var a = storage.map(Double.init)
            if LAPACKE_dpotrf(LAPACK_COL_MAJOR, Int8(UInt8(ascii: "U")), LapackInt(n), &a, LapackInt(n)) == 0 {
                var s = 0.0
                for i in 0..<n { s += Foundation.log(a[i * n + i]) }
                return (1, 2 * s)
            }
        }
        var a = storage.map(Double.init)
        var ipiv = [LapackInt](repeating: 0, count: n)
        let info = LAPACKE_dgetrf(LAPACK_ROW_MAJOR, LapackInt(n), LapackInt(n), &a, LapackInt(n), &ipiv)
        if info > 0 { return (0, -.infinity) }
        try Tensor.check(info, "dgetrf") { _ in "" }
        var sign = 1.0, s = 0.0
        for i in 0..<n {
            let d = a[i * n + i]
            if d < 0 { sign = -sign }
            if Int(ipiv[i]) != i + 1 { sign = -sign }
            s += Foundation.log(Swift.abs(d))
        }
        return (sign, s)
    }

    /// Principal component analysis of rows-as-samples data: centres the columns, takes the thin SVD
    /// and returns the first `k` scores (n×k), components (k×d, rows), explained variance (k values,
    /// ddof 1) and the column mean. Each component's largest-magnitude entry is made positive
    /// (scikit-learn's `svd_flip` on Vt), so signs are deterministic.
    public func pca(_ k: Int) throws -> (scores: Tensor, components: Tensor, explainedVariance: Tensor, mean: Tensor) {
        try requireMatrix("pca")
        let n = shape[0], d = shape[1]
        guard k >= 0 && k <= min(n, d) else {
            throw CoreError.invalidArgument("pca: k = \(k) must be between 0 and min(n, d) = \(min(n, d))")
        }
        let mu = try reduce(.mean, axis: 0)
        let xc = try elementwise(.sub, mu)
        var (u, s, vt) = try xc.svd()
        for r in 0..<min(k, vt.shape[0]) {
            var best: Float = 0
            for j in 0..<d where Swift.abs(vt.storage[r * d + j]) > Swift.abs(best) { best = vt.storage[r * d + j] }
            if best < 0 {
                for j in 0..<d { vt.storage[r * d + j] = -vt.storage[r * d + j] }
                for i in 0..<n { u.storage[i * u.shape[1] + r] = -u.storage[i * u.shape[1] + r] }
            }
        }
        let comps = try vt.slice([.range(start: 0, stop: k, step: 1)])
        let scores = try Tensor.gemm(xc, comps, transB: true)
        let ev = Tensor((0..<k).map { Float(Double(s.storage[$0]) * Double(s.storage[$0]) / Double(max(n - 1, 1))) })
        return (scores, comps, ev, mu)
    }
}
