import Foundation
import SqueezeCore

/// Reconstruction metrics.
public enum Metrics {
    static func diffs(_ a: Tensor, _ b: Tensor) throws -> (err2: Double, ref2: Double, n: Int) {
        guard a.shape == b.shape else { throw CoreError.shapeMismatch(op: "error", lhs: a.shape, rhs: b.shape) }
        var e = 0.0, r = 0.0
        for (x, y) in zip(a.storage, b.storage) { let d = Double(x) - Double(y); e += d * d; r += Double(x) * Double(x) }
        return (e, r, a.count)
    }

    /// ‖A − B‖_F / ‖A‖_F.
    public static func relativeError(_ a: Tensor, _ b: Tensor) throws -> Double {
        let d = try diffs(a, b)
        return d.ref2 == 0 ? (d.err2 == 0 ? 0 : .infinity) : (d.err2 / d.ref2).squareRoot()
    }

    public static func mse(_ a: Tensor, _ b: Tensor) throws -> Double {
        let d = try diffs(a, b)
        return d.n == 0 ? 0 : d.err2 / Double(d.n)
    }

    /// 10 log₁₀(peak² / MSE).
    public static func psnr(_ a: Tensor, _ b: Tensor, peak: Double) throws -> Double {
        let m = try mse(a, b)
        return m == 0 ? .infinity : 10 * log10(peak * peak / m)
    }

    /// 10 log₁₀(‖A‖² / ‖A − B‖²).
    public static func snr(_ a: Tensor, _ b: Tensor) throws -> Double {
        let d = try diffs(a, b)
        return d.err2 == 0 ? .infinity : 10 * log10(d.ref2 / d.err2)
    }

    /// ‖X Wᵀ − X Cᵀ‖ / ‖X Wᵀ‖ for calibration rows X.
    public static func outputError(_ W: Tensor, _ C: Tensor, _ X: Tensor) throws -> Double {
        let y = try Tensor.gemm(X, W, transB: true), z = try Tensor.gemm(X, C, transB: true)
        return try relativeError(y, z)
    }
}
