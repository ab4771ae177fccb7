import CBLAS
import Foundation
import SqueezeCore

/// MLC — manifold linearizing and clustering (Ding et al., ICCV 2023; ALGORITHMS.md §A2), full
/// batch. Two heads, each a one-hidden-layer ReLU MLP with L2-normalised outputs, map X to features
/// Z (n × d) and cluster features C (n × d). The membership Γ = n·Sinkhorn(|C Cᵀ|/η) is a doubly
/// stochastic n × n matrix (log-domain Sinkhorn with uniform marginals, alternating row and column
/// updates, `sinkhornIters` of them, as CPP's code runs it). Training minimises
///     −R(Z) + γ R_c(Z, Γ) + (λ_Γ/2)‖Γ‖_F²,
/// R(Z) = ½ logdet(I + d/(n ε²) ZᵀZ), R_c(Z, Γ) = 1/(2n) Σ_j logdet(I + d/ε² Zᵀ Diag(Γ_:j) Z), the
/// entropy regularisation coming from the temperature η. Gradients are in closed form:
/// ∂R/∂Z = aZ(I + aZᵀZ)⁻¹; ∂R_c/∂Γ_ij = b/(2n)·z_iᵀ M_j z_i and ∂R_c/∂z_i = b/n·Σ_j Γ_ij M_j z_i
/// with M_j = (I + b Zᵀ D_j Z)⁻¹; the Sinkhorn steps are differentiated exactly (each is a
/// log-softmax over rows or columns). The feature head is first warmed up alone on R(Z) (the total
/// coding rate), then copied into the cluster head (MLC's one-shot initialisation); both train with
/// Adam. Labels: spectral clustering of ½(Γ + Γᵀ).
public enum MLC {
    public struct Options: Sendable {
        public var k: Int
        public var dim = 16, hidden = 128
        public var warmup = 100, epochs = 100
        public var lr = 1e-3
        public var eps2 = 0.1, gamma = 1.0, lambdaGamma = 0.05, eta = 0.175
        public var sinkhornIters = 5
        public init(k: Int) { self.k = k }
    }

    public struct Result: Sendable {
        public let labels: [Int]
        public let Z: Tensor
        public let Gamma: Tensor
        /// Per training epoch (index 0 before it): R, R_c and the objective R − γR_c − (λ/2)‖Γ‖².
        public let R: [Double], Rc: [Double], objective: [Double]
        /// max |row or column sum − 1| of Γ at the end.
        public let marginalError: Double
    }

    /// A head: normalise(relu(X A + a) B).
    struct Head {
        var A: [Float], a: [Float], B: [Float]
        let p: Int, h: Int, d: Int

        func forward(_ X: [Float], _ n: Int) -> (H: [Float], U: [Float], Y: [Float], norms: [Float]) {
            var H = [Float](repeating: 0, count: n * h)
            cblas_sgemm(
                CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(h), Int32(p), 1, X, Int32(p), A, Int32(h), 0, &H, Int32(h))
            for i in 0..<n { for j in 0..<h { H[i * h + j] = max(0, H[i * h + j] + a[j]) } }
            var U = [Float](repeating: 0, count: n * d)
            cblas_sgemm(
                CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(d), Int32(h), 1, H, Int32(h), B, Int32(d), 0, &U, Int32(d))
            var Y = U, norms = [Float](repeating: 0, count: n)
            for i in 0..<n {
                var s: Float = 0
                for j in 0..<d { s += U[i * d + j] * U[i * d + j] }
                norms[i] = max(s.squareRoot(), 1e-12)
                for j in 0..<d { Y[i * d + j] = U[i * d + j] / norms[i] }
            }
            return (H, U, Y, norms)
        }

        /// Gradients of the parameters from the gradient dY of the normalised outputs.
        func backward(
            _ X: [Float], _ n: Int, _ f: (H: [Float], U: [Float], Y: [Float], norms: [Float]), _ dY: [Float]
        ) -> (dA: [Float], da: [Float], dB: [Float]) {
            var dU = [Float](repeating: 0, count: n * d)
            for i in 0..<n {
                var dot: Float = 0
                for j in 0..<d { dot += f.Y[i * d + j] * dY[i * d + j] }
                for j in 0..<d { dU[i * d + j] = (dY[i * d + j] - f.Y[i * d + j] * dot) / f.norms[i] }
            }
            var dB = [Float](repeating: 0, count: h * d)
            cblas_sgemm(
                CblasRowMajor, CblasTrans, CblasNoTrans, Int32(h), Int32(d), Int32(n), 1, f.H, Int32(h), dU, Int32(d), 0, &dB, Int32(d))
            var dH = [Float](repeating: 0, count: n * h)
            cblas_sgemm(
                CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(h), Int32(d), 1, dU, Int32(d), B, Int32(d), 0, &dH, Int32(h))
            for i in 0..<(n * h) where f.H[i] <= 0 { dH[i] = 0 }
            var dA = [Float](repeating: 0, count: p * h)
            cblas_sgemm(
                CblasRowMajor, CblasTrans, CblasNoTrans, Int32(p), Int32(h), Int32(n), 1, X, Int32(p), dH, Int32(h), 0, &dA, Int32(h))
            var da = [Float](repeating: 0, count: h)
            for i in 0..<n { for j in 0..<h { da[j] += dH[i * h + j] } }
            return (dA, da, dB)
        }
    }

    /// (I + c·S)⁻¹ for a symmetric positive semidefinite d × d S (row-major, Float64), in place.
    static func inverseIPlus(_ S: inout [Double], _ d: Int, _ c: Double) throws {
        for i in 0..<(d * d) { S[i] *= c }
        for i in 0..<d { S[i * d + i] += 1 }
        let u = Int8(UInt8(ascii: "U"))
        guard LAPACKE_dpotrf(LAPACK_ROW_MAJOR, u, Int32(d), &S, Int32(d)) == 0,
            LAPACKE_dpotri(LAPACK_ROW_MAJOR, u, Int32(d), &S, Int32(d)) == 0
        else {
            throw CoreError.invalidParameter("X", "mlc: I + cZᵀDZ is not positive definite")
        }
        for i in 0..<d { for j in 0..<i { S[i * d + j] = S[j * d + i] } }
    }

    /// R(Z) and ∂R/∂Z for unit rows Z (n × d).
    static func totalRate(_ Z: [Float], _ n: Int, _ d: Int, _ eps2: Double) throws -> (Double, [Float]) {
        let a = Double(d) / (Double(n) * eps2)
        let z = Z.map(Double.init)
        var S = [Double](repeating: 0, count: d * d)
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, Int32(d), Int32(n), 1, z, Int32(d), 0, &S, Int32(d))
        for i in 0..<d { for j in 0..<i { S[i * d + j] = S[j * d + i] } }
        let R = 0.5 * (try RateReduction.logdetIPlus(z, rows: n, cols: d, a: a))
        try inverseIPlus(&S, d, a)
        var g = [Double](repeating: 0, count: n * d)
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(d), Int32(d), a, z, Int32(d), S, Int32(d), 0, &g, Int32(d))
        return (R, g.map { Float($0) })
    }

    /// R_c(Z, Γ) and its gradients with respect to Z and Γ.
    static func clusterRate(_ Z: [Float], _ G: [Double], _ n: Int, _ d: Int, _ eps2: Double) throws -> (Double, [Float], [Double]) {
        let b = Double(d) / eps2
        let z = Z.map(Double.init)
        // Q_i = vec(z_i z_iᵀ); S_j = Σ_i Γ_ij Q_i = (Γᵀ Q)_j.
        let dd = d * d
        var Q = [Double](repeating: 0, count: n * dd)
        for i in 0..<n { for r in 0..<d { for c in 0..<d { Q[i * dd + r * d + c] = z[i * d + r] * z[i * d + c] } } }
        var S = [Double](repeating: 0, count: n * dd)
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(n), Int32(dd), Int32(n), 1, G, Int32(n), Q, Int32(dd), 0, &S, Int32(dd))
        var total = 0.0
        var M = [Double](repeating: 0, count: n * dd)
        for j in 0..<n {
            var Sj = Array(S[(j * dd)..<((j + 1) * dd)])
            // logdet(I + b S_j) from its Cholesky factor, then the inverse.
            var L = Sj.map { $0 * b }
            for i in 0..<d { L[i * d + i] += 1 }
            guard LAPACKE_dpotrf(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "U")), Int32(d), &L, Int32(d)) == 0 else {
                throw CoreError.invalidParameter("X", "mlc: I + bZᵀDZ is not positive definite")
            }
            for i in 0..<d { total += 2 * log(L[i * d + i]) }
            try inverseIPlus(&Sj, d, b)
            for t in 0..<dd { M[j * dd + t] = Sj[t] }
        }
        let Rc = total / (2 * Double(n))
        // ∂R_c/∂Γ_ij = b/(2n)·vec(Q_i)·vec(M_j): one GEMM Q Mᵀ.
        var dG = [Double](repeating: 0, count: n * n)
        cblas_dgemm(
            CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(n), Int32(dd), b / (2 * Double(n)), Q, Int32(dd), M, Int32(dd), 0, &dG,
            Int32(n))
        // ∂R_c/∂z_i = b/n·(Σ_j Γ_ij M_j) z_i.
        var GM = [Double](repeating: 0, count: n * dd)
        cblas_dgemm(
            CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(dd), Int32(n), 1, G, Int32(n), M, Int32(dd), 0, &GM, Int32(dd))
        var dZ = [Float](repeating: 0, count: n * d)
        for i in 0..<n {
            for r in 0..<d {
                var s = 0.0
                for c in 0..<d { s += GM[i * dd + r * d + c] * z[i * d + c] }
                dZ[i * d + r] = Float(b / Double(n) * s)
            }
        }
        return (Rc, dZ, dG)
    }

    /// Log-domain Sinkhorn of K (n × n): the log-iterates after each update (row updates on even
    /// steps, column updates on odd ones, marginals 1/n) and Γ = n·exp(last).
    static func sinkhorn(_ K: [Double], _ n: Int, iters: Int) -> (steps: [[Double]], Gamma: [Double]) {
        var L = K
        var steps: [[Double]] = []
        let logMarginal = -log(Double(n))
        for t in 0..<max(1, iters) {
            // Even steps normalise rows, odd steps columns: line a, element b is L[at(a, b)].
            let rows = t % 2 == 0
            for a in 0..<n {
                @inline(__always) func at(_ b: Int) -> Int { rows ? a * n + b : b * n + a }
                var m = -Double.infinity
                for b in 0..<n { m = max(m, L[at(b)]) }
                var s = 0.0
                for b in 0..<n { s += exp(L[at(b)] - m) }
                let shift = logMarginal - (m + log(s))
                for b in 0..<n { L[at(b)] += shift }
            }
            steps.append(L)
        }
        return (steps, L.map { Double(n) * exp($0) })
    }

    /// Back through Sinkhorn: from ∂/∂Γ to ∂/∂K.
    static func sinkhornBackward(_ steps: [[Double]], _ Gamma: [Double], _ dGamma: [Double], _ n: Int) -> [Double] {
        var dL = (0..<(n * n)).map { dGamma[$0] * Gamma[$0] }
        for t in stride(from: steps.count - 1, through: 0, by: -1) {
            let Lp = steps[t]  // softmax of the input along the update = n·exp(L')
            let rows = t % 2 == 0
            for a in 0..<n {
                @inline(__always) func at(_ b: Int) -> Int { rows ? a * n + b : b * n + a }
                var s = 0.0
                for b in 0..<n { s += dL[at(b)] }
                for b in 0..<n { dL[at(b)] -= Double(n) * exp(Lp[at(b)]) * s }
            }
        }
        return dL
    }

    /// The membership from cluster features C (unit rows): Γ = n·Sinkhorn(|C Cᵀ|/η).
    static func membership(
        _ C: [Float], _ n: Int, _ d: Int, eta: Double, iters: Int
    ) -> (K: [Double], G: [Double], steps: [[Double]], Gamma: [Double]) {
        var G = [Float](repeating: 0, count: n * n)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(n), Int32(d), 1, C, Int32(d), C, Int32(d), 0, &G, Int32(n))
        let Gd = G.map(Double.init)
        let K = Gd.map { abs($0) / eta }
        let s = sinkhorn(K, n, iters: iters)
        return (K, Gd, s.steps, s.Gamma)
    }

    public static func fit(_ X: Tensor, _ o: Options, rng: inout RandomGenerator, cancellation: CancellationToken? = nil) throws -> Result {
        guard X.rank == 2, X.shape[0] >= 2 else {
            throw CoreError.invalidParameter("X", "mlc: expected at least two samples as rows of a matrix")
        }
        try X.requireFinite("mlc")
        let n = X.shape[0], p = X.shape[1], d = o.dim, h = o.hidden
        guard o.k >= 1, o.k <= n else { throw CoreError.invalidParameter("k", "mlc: k = \(o.k) needs at least \(o.k) samples") }
        guard d >= 1, h >= 1 else { throw CoreError.invalidParameter("dim", "mlc: dim and hidden must be at least 1") }
        try Memory.check(elements: n * max(n, d * d), copies: 2 * (o.sinkhornIters + 4), "mlc's n × n membership and n × d² blocks")
        let x = X.storage
        func gaussian(_ count: Int, _ fanIn: Int) -> [Float] { (0..<count).map { _ in Float(rng.normal() / Double(fanIn).squareRoot()) } }
        var feat = Head(A: gaussian(p * h, p), a: [Float](repeating: 0, count: h), B: gaussian(h * d, h), p: p, h: h, d: d)
        var opt = [Adam(count: p * h, lr: o.lr), Adam(count: h, lr: o.lr), Adam(count: h * d, lr: o.lr)]
        let task = ProgressMeter.start("mlc", total: o.warmup + o.epochs + 1)
        defer { task.end() }
        // Warm-up: the feature head alone, maximising R(Z).
        for _ in 0..<o.warmup {
            try cancellation?.check()
            task.advance()
            let f = feat.forward(x, n)
            let (_, gR) = try totalRate(f.Y, n, d, o.eps2)
            let g = feat.backward(x, n, f, gR.map { -$0 })
            opt[0].step(&feat.A, g.dA); opt[1].step(&feat.a, g.da); opt[2].step(&feat.B, g.dB)
        }
        // One-shot initialisation: the cluster head starts as a copy of the feature head.
        var clus = feat
        var optC = [Adam(count: p * h, lr: o.lr), Adam(count: h, lr: o.lr), Adam(count: h * d, lr: o.lr)]
        var Rs: [Double] = [], Rcs: [Double] = [], objs: [Double] = []
        var lastGamma: [Double] = []
        var lastZ: [Float] = []
        for epoch in 0...o.epochs {
            try cancellation?.check()
            task.advance()
            let fz = feat.forward(x, n), fc = clus.forward(x, n)
            let m = membership(fc.Y, n, d, eta: o.eta, iters: o.sinkhornIters)
            let (R, gR) = try totalRate(fz.Y, n, d, o.eps2)
            let (Rc, gRcZ, gRcG) = try clusterRate(fz.Y, m.Gamma, n, d, o.eps2)
            let frob = m.Gamma.reduce(0) { $0 + $1 * $1 }
            Rs.append(R); Rcs.append(Rc); objs.append(R - o.gamma * Rc - o.lambdaGamma / 2 * frob)
            lastGamma = m.Gamma; lastZ = fz.Y
            if epoch == o.epochs { break }
            // Loss −R + γR_c + λ/2‖Γ‖²: the feature head.
            let dZ = (0..<(n * d)).map { -gR[$0] + Float(o.gamma) * gRcZ[$0] }
            let g = feat.backward(x, n, fz, dZ)
            opt[0].step(&feat.A, g.dA); opt[1].step(&feat.a, g.da); opt[2].step(&feat.B, g.dB)
            // The cluster head, through Γ, Sinkhorn, |CCᵀ|/η and the normalisation.
            let dGamma = (0..<(n * n)).map { o.gamma * gRcG[$0] + o.lambdaGamma * m.Gamma[$0] }
            let dK = sinkhornBackward(m.steps, m.Gamma, dGamma, n)
            var dGram = [Float](repeating: 0, count: n * n)
            for i in 0..<n {
                for j in 0..<n {
                    let s = m.G[i * n + j] >= 0 ? 1.0 : -1.0
                    dGram[i * n + j] = Float(s * (dK[i * n + j] + dK[j * n + i]) / o.eta)
                }
            }
            var dC = [Float](repeating: 0, count: n * d)
            cblas_sgemm(
                CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(d), Int32(n), 1, dGram, Int32(n), fc.Y, Int32(d), 0, &dC,
                Int32(d))
            let gc = clus.backward(x, n, fc, dC)
            optC[0].step(&clus.A, gc.dA); optC[1].step(&clus.a, gc.da); optC[2].step(&clus.B, gc.dB)
        }
        var err = 0.0
        for i in 0..<n {
            var r = 0.0, c = 0.0
            for j in 0..<n { r += lastGamma[i * n + j]; c += lastGamma[j * n + i] }
            err = max(err, abs(r - 1), abs(c - 1))
        }
        let labels = try Spectral.cluster(affinity: lastGamma, n: n, k: o.k, rng: &rng, cancellation: cancellation)
        return Result(
            labels: labels, Z: Tensor(shape: [n, d], storage: lastZ), Gamma: Tensor(shape: [n, n], storage: lastGamma.map { Float($0) }),
            R: Rs, Rc: Rcs, objective: objs, marginalError: err)
    }
}
