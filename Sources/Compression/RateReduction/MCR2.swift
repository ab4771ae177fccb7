import CBLAS
import Foundation
import SqueezeCore

/// Supervised MCR² (Yu et al. 2020; ALGORITHMS.md §A1): learn a feature map f(X) whose rows are
/// L2-normalised, maximising ΔR = R(Z) − R_c(Z, labels) by full-batch Adam with the closed-form
/// gradients ∂/∂Z ½ logdet(I + aZᵀZ) = aZ(I + aZᵀZ)⁻¹. The map is linear (Z = normalise(XW)) or a
/// one-hidden-layer ReLU network (Z = normalise(relu(XW₁ + b₁)W₂)).
public enum MCR2 {
    public struct Model: Sendable {
        public var W1: [Double]  // in × hidden (or in × dim when linear)
        public var b1: [Double]
        public var W2: [Double]  // hidden × dim (empty when linear)
        public let input: Int, hidden: Int, dim: Int

        public var isLinear: Bool { W2.isEmpty }
    }

    public struct Result: Sendable {
        public let model: Model
        public let features: Tensor
        /// ΔR after each epoch (index 0: before training).
        public let deltas: [Double]
    }

    static func gemm(_ a: [Double], _ b: [Double], _ m: Int, _ k: Int, _ n: Int, transA: Bool = false, transB: Bool = false) -> [Double] {
        var c = [Double](repeating: 0, count: m * n)
        cblas_dgemm(
            CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, Int32(m), Int32(n), Int32(k),
            1, a, Int32(transA ? m : k), b, Int32(transB ? k : n), 0, &c, Int32(n))
        return c
    }

    /// ½ logdet(I + aZᵀZ) of rows Z (m × d) and its gradient a·Z(I + aZᵀZ)⁻¹ (d × d side; d is small).
    static func rateAndGradient(_ z: [Double], _ m: Int, _ d: Int, a: Double) throws -> (Double, [Double]) {
        var M = gemm(z, z, d, m, d, transA: true)
        for i in 0..<(d * d) { M[i] *= a }
        for i in 0..<d { M[i * d + i] += 1 }
        guard LAPACKE_dpotrf(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "U")), Int32(d), &M, Int32(d)) == 0 else {
            throw CoreError.invalidParameter("X", "mcr2: I + aZᵀZ lost positive definiteness (NaN features?)")
        }
        let logdet = (0..<d).reduce(0.0) { $0 + 2 * log(M[$1 * d + $1]) }
        guard LAPACKE_dpotri(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "U")), Int32(d), &M, Int32(d)) == 0 else {
            throw CoreError.invalidParameter("X", "mcr2: cannot invert I + aZᵀZ")
        }
        for i in 0..<d { for j in 0..<i { M[i * d + j] = M[j * d + i] } }
        var g = gemm(z, M, m, d, d)
        for i in 0..<g.count { g[i] *= a }
        return (0.5 * logdet, g)
    }

    /// ΔR of row-normalised features and ∂ΔR/∂Z.
    static func deltaAndGradient(_ z: [Double], _ m: Int, _ d: Int, labels: [Int], eps2: Double) throws -> (Double, [Double]) {
        var (R, grad) = try rateAndGradient(z, m, d, a: Double(d) / (Double(m) * eps2))
        var Rc = 0.0
        for c in Set(labels) {
            let idx = labels.indices.filter { labels[$0] == c }
            var zj = [Double]()
            zj.reserveCapacity(idx.count * d)
            for i in idx { zj += z[(i * d)..<((i + 1) * d)] }
            let mj = Double(idx.count) + 1e-8
            let (rj, gj) = try rateAndGradient(zj, idx.count, d, a: Double(d) / (mj * eps2))
            let w = mj / Double(m)
            Rc += w * rj
            for (r, i) in idx.enumerated() { for t in 0..<d { grad[i * d + t] -= w * gj[r * d + t] } }
        }
        return (R - Rc, grad)
    }

    /// R(Z) and ΔR(Z, labels) of features Z (rows, as given: not normalised here) with their closed-form
    /// gradients, as `train` uses them; the gradient rule of `rate_reduction` under `grad`.
    public static func rateReductionGradients(_ Z: Tensor, labels: [Int], eps2: Double) throws
        -> (R: Double, gradR: Tensor, delta: Double, gradDelta: Tensor)
    {
        guard Z.rank == 2, labels.count == Z.rows, Z.rows > 0 else {
            throw CoreError.invalidArgument("rate_reduction: Z must be a matrix with one label per row")
        }
        let (m, d) = (Z.rows, Z.cols)
        let z = Z.storage.map(Double.init)
        let (R, gR) = try rateAndGradient(z, m, d, a: Double(d) / (Double(m) * eps2))
        let (delta, gD) = try deltaAndGradient(z, m, d, labels: labels, eps2: eps2)
        return (R, Tensor(shape: Z.shape, storage: gR.map(Float.init)), delta, Tensor(shape: Z.shape, storage: gD.map(Float.init)))
    }

    /// Forward pass: pre-normalisation outputs Y, hidden activations H, and the normalised Z.
    static func forward(_ model: Model, _ x: [Double], _ n: Int) -> (y: [Double], h: [Double], z: [Double], norms: [Double]) {
        var h: [Double] = []
        var y: [Double]
        if model.isLinear {
            y = gemm(x, model.W1, n, model.input, model.dim)
        } else {
            h = gemm(x, model.W1, n, model.input, model.hidden)
            for i in 0..<n { for j in 0..<model.hidden { h[i * model.hidden + j] = max(0, h[i * model.hidden + j] + model.b1[j]) } }
            y = gemm(h, model.W2, n, model.hidden, model.dim)
        }
        var z = y
        var norms = [Double](repeating: 0, count: n)
        for i in 0..<n {
            var s = 0.0
            for t in 0..<model.dim { s += y[i * model.dim + t] * y[i * model.dim + t] }
            norms[i] = max(s.squareRoot(), 1e-12)
            for t in 0..<model.dim { z[i * model.dim + t] /= norms[i] }
        }
        return (y, h, z, norms)
    }

    /// ΔR of the model's features and the gradients of ΔR with respect to every parameter.
    static func gradients(
        _ model: Model, _ x: [Double], _ n: Int, labels: [Int], eps2: Double
    ) throws -> (Double, [Double], [Double], [Double]) {
        let f = forward(model, x, n)
        let d = model.dim
        let (delta, gz) = try deltaAndGradient(f.z, n, d, labels: labels, eps2: eps2)
        // Through z = y/‖y‖: ∂y = (g − (g·z) z)/‖y‖.
        var gy = gz
        for i in 0..<n {
            var dot = 0.0
            for t in 0..<d { dot += gz[i * d + t] * f.z[i * d + t] }
            for t in 0..<d { gy[i * d + t] = (gz[i * d + t] - dot * f.z[i * d + t]) / f.norms[i] }
        }
        if model.isLinear {
            return (delta, gemm(x, gy, model.input, n, d, transA: true), [], [])
        }
        let gW2 = gemm(f.h, gy, model.hidden, n, d, transA: true)
        var gh = gemm(gy, model.W2, n, d, model.hidden, transB: true)
        for i in 0..<(n * model.hidden) where f.h[i] <= 0 { gh[i] = 0 }
        let gW1 = gemm(x, gh, model.input, n, model.hidden, transA: true)
        var gb1 = [Double](repeating: 0, count: model.hidden)
        for i in 0..<n { for j in 0..<model.hidden { gb1[j] += gh[i * model.hidden + j] } }
        return (delta, gW1, gb1, gW2)
    }

    public static func train(
        _ X: Tensor, labels: [Int], dim: Int, hidden: Int?, epochs: Int, lr: Double, eps2: Double,
        rng: inout RandomGenerator, cancellation: CancellationToken? = nil
    ) throws -> Result {
        guard X.rank == 2 else {
            throw CoreError.invalidParameter("X", "mcr2: expected samples as rows (n × d), got shape \(Shape.describe(X.shape))")
        }
        let (n, p) = (X.shape[0], X.shape[1])
        guard labels.count == n else { throw CoreError.invalidParameter("labels", "mcr2: \(labels.count) labels for \(n) samples") }
        guard dim >= 1 else { throw CoreError.invalidParameter("dim", "mcr2: dim must be at least 1") }
        try X.requireFinite("mcr2")
        let x = X.storage.map(Double.init)
        let h = hidden ?? 0
        func gaussian(_ count: Int, _ fanIn: Int) -> [Double] { (0..<count).map { _ in rng.normal() / Double(fanIn).squareRoot() } }
        var model =
            h > 0
            ? Model(W1: gaussian(p * h, p), b1: [Double](repeating: 0, count: h), W2: gaussian(h * dim, h), input: p, hidden: h, dim: dim)
            : Model(W1: gaussian(p * dim, p), b1: [], W2: [], input: p, hidden: 0, dim: dim)
        // Adam (β₁ 0.9, β₂ 0.999, ε 1e-8), ascending ΔR.
        var m1 = [[Double]](repeating: [], count: 3), v1 = [[Double]](repeating: [], count: 3)
        var deltas: [Double] = []
        let task = ProgressMeter.start("mcr2", total: epochs + 1)
        defer { task.end() }
        for epoch in 0...epochs {
            if let c = cancellation, c.isCancelled { throw CoreError.cancelled }
            task.advance()
            let (delta, g1, gb, g2) = try gradients(model, x, n, labels: labels, eps2: eps2)
            deltas.append(delta)
            if epoch == epochs { break }
            let t = Double(epoch + 1)
            func step(_ k: Int, _ w: inout [Double], _ g: [Double]) {
                if m1[k].isEmpty { m1[k] = [Double](repeating: 0, count: g.count); v1[k] = m1[k] }
                for i in 0..<g.count {
                    m1[k][i] = 0.9 * m1[k][i] + 0.1 * g[i]
                    v1[k][i] = 0.999 * v1[k][i] + 0.001 * g[i] * g[i]
                    let mh = m1[k][i] / (1 - pow(0.9, t)), vh = v1[k][i] / (1 - pow(0.999, t))
                    w[i] += lr * mh / (vh.squareRoot() + 1e-8)
                }
            }
            step(0, &model.W1, g1)
            if !model.isLinear { step(1, &model.b1, gb); step(2, &model.W2, g2) }
        }
        let z = forward(model, x, n).z
        return Result(model: model, features: Tensor(shape: [n, dim], storage: z.map(Float.init)), deltas: deltas)
    }
}
