import CBLAS
import Foundation
import SqueezeCore

/// The layer Hessian the second-order compressors share (GPTQ, SparseGPT, VPTQ): for a linear layer
/// y = W x with calibration inputs X (N × in), the squared output error is a quadratic form in each
/// row's weight error with H = (2/N) XᵀX. Their reference code prepares it the same way: inputs
/// that never fire ("dead", H_ii = 0) get H_ii = 1 and their weights zeroed, 1% of the mean diagonal
/// is added as damping, and the algorithms read U, the upper Cholesky factor of H⁻¹, whose row i
/// spreads the error of column i over the columns after it.
public enum Hessian {
    /// H = 2/N · XᵀX as a full symmetric in × in matrix in Float64. The product is accumulated in
    /// Float32 as the references do (torch's inp.matmul(inp.t())), which is half the time of a Float64
    /// product for the 8,192 × 1536 inputs of a decoder's down projection.
    public static func of(_ X: Tensor, columns cols: Int, parameter: String = "X") throws -> [Double] {
        guard X.rank == 2, X.shape[1] == cols else {
            throw CoreError.invalidParameter(
                parameter, "calibration X must have \(cols) columns (the layer's inputs), got shape \(Shape.describe(X.shape))")
        }
        let n = X.shape[0]
        guard n > 0 else { throw CoreError.invalidParameter(parameter, "X has no calibration rows") }
        var Hf = [Float](repeating: 0, count: cols * cols)
        X.withBuffer { xp in
            cblas_ssyrk(
                CblasRowMajor, CblasUpper, CblasTrans, Int32(cols), Int32(n), 2 / Float(n), xp.baseAddress, Int32(cols), 0, &Hf,
                Int32(cols))
        }
        var H = [Double](repeating: 0, count: cols * cols)
        for i in 0..<cols { for j in i..<cols { let v = Double(Hf[i * cols + j]); H[i * cols + j] = v; H[j * cols + i] = v } }
        return H
    }

    /// Dead inputs: H_ii = 0 becomes 1 and the weights of that column (rows × cols, row-major) become 0.
    public static func reviveDead(_ H: inout [Double], _ w: inout [Double], rows: Int, cols: Int) {
        for i in 0..<cols where H[i * cols + i] == 0 {
            H[i * cols + i] = 1
            for r in 0..<rows { w[r * cols + i] = 0 }
        }
    }

    /// U, the upper Cholesky factor of (H + damp · mean(diag H) · I)⁻¹, row-major with zeros below
    /// the diagonal. `H` is consumed.
    public static func inverseCholesky(_ H: [Double], columns cols: Int, damp: Double, parameter: String = "X") throws -> [Double] {
        var H = H
        let mean = (0..<cols).reduce(0.0) { $0 + H[$1 * cols + $1] } / Double(cols)
        for i in 0..<cols { H[i * cols + i] += damp * mean }
        // A row-major upper triangle is a column-major lower one: LAPACK works on the buffer as it is
        // (LAPACKE's row-major path would transpose it in and out around every call).
        let ci = Int32(cols), lower = Int8(UInt8(ascii: "L"))
        guard LAPACKE_dpotrf(LAPACK_COL_MAJOR, lower, ci, &H, ci) == 0, LAPACKE_dpotri(LAPACK_COL_MAJOR, lower, ci, &H, ci) == 0 else {
            throw CoreError.invalidParameter(parameter, "the damped Hessian XᵀX is not positive definite (raise damp)")
        }
        for i in 0..<cols { for j in 0..<i { H[i * cols + j] = H[j * cols + i] } }
        guard LAPACKE_dpotrf(LAPACK_COL_MAJOR, lower, ci, &H, ci) == 0 else {
            throw CoreError.invalidParameter(parameter, "H⁻¹ is not positive definite (raise damp)")
        }
        for i in 0..<cols { for j in 0..<i { H[i * cols + j] = 0 } }
        return H
    }

    /// w[k] −= e · u[k] for k in from..<to: one column's error spread over the rest of its block
    /// (GPTQ's and SparseGPT's inner loop, on raw pointers so that it vectorises; each element's arithmetic as written).
    @inline(__always)
    public static func spread(_ e: Double, into w: UnsafeMutablePointer<Double>, from u: UnsafePointer<Double>, _ from: Int, _ to: Int) {
        var k = from
        while k < to {
            w[k] -= e * u[k]
            k += 1
        }
    }

    /// The lazy update after a block of columns [start, end): w[:, end:] −= Err · U[start..<end, end:],
    /// with Err the block's scaled errors (rows × (end − start)), as one GEMM.
    public static func propagate(
        _ w: inout [Double], _ err: [Double], _ U: [Double], rows: Int, cols: Int, start: Int, end: Int
    ) {
        guard end < cols else { return }
        let bw = end - start, rest = cols - end
        var Ub = [Double](repeating: 0, count: bw * rest)
        for a in 0..<bw { for b in 0..<rest { Ub[a * rest + b] = U[(start + a) * cols + end + b] } }
        var upd = [Double](repeating: 0, count: rows * rest)
        cblas_dgemm(
            CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(rows), Int32(rest), Int32(bw), 1, err, Int32(bw), Ub, Int32(rest), 0,
            &upd, Int32(rest))
        for r in 0..<rows { for b in 0..<rest { w[r * cols + end + b] -= upd[r * rest + b] } }
    }
}
