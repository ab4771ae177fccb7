import CBLAS
import Foundation
import SqueezeCore

/// Learning a VQ codebook inside a small VQ autoencoder, to compare how codebook-learning methods
/// use their codes (ALGORITHMS.md §A4). Data rows x (centred, scaled to unit mean variance) are encoded linearly, z = x E (latent
/// width e), snapped to the nearest code, z_q = c_q, and decoded, x̂ = z_q D, with the
/// straight-through estimator. The loss is mean‖x̂ − x‖² + mean‖sg(z) − c_q‖² (codebook term) +
/// β mean‖z − sg(c_q)‖² (commitment, β 0.25). E and D start at the top-e principal directions,
/// the same for every method, and train with Adam. What differs is the codebook:
///
/// - vanilla: a free K × e codebook, taming's Uniform(±1/K) start, trained by the codebook term —
///   a code that is never nearest gets no gradient and stays dead;
/// - ema: codes are exponential moving averages of their assigned latents (decay 0.99, Laplace
///   smoothing ε 1e-5), no codebook term;
/// - k-means initialisation (either of the above): the codebook starts at k-means (10 Lloyd
///   iterations) of the initial latents of a sample of 4·K rows;
/// - lc (VQGAN-LC): a frozen feature codebook F (K × f, e.g. centroids of the data) behind a
///   trained linear projector P (e × f, N(0, 1/e) start): codes = F Pᵀ;
/// - simvq (SimVQ): a frozen random codebook C (K × e, N(0, 1/e)) behind one trained linear layer:
///   codes = C Wᵀ + b (W, b start as PyTorch's nn.Linear does, U(±1/√e)).
///
/// In lc and simvq every code moves with every step, which is why their codes do not die.
public enum CodebookLearning {
    public enum Method: String, Sendable { case vanilla, ema, lc, simvq }

    public struct Options: Sendable {
        public var size: Int
        public var latent = 8
        public var method: Method = .vanilla
        public var kmeansInit = false
        public var features: Tensor?
        public var epochs = 3
        public var batch = 256
        public var lr = 1e-3
        public var beta: Float = 0.25
        public var decay: Float = 0.99
        public init(size: Int) { self.size = size }
    }

    public struct Result: Sendable {
        /// The effective K × e codebook the latents are snapped to.
        public let codebook: Tensor
        /// The code of every row of X after training.
        public let codes: [Int]
        public let utilization: Double
        /// exp(entropy) of the code frequencies over all of X (not per batch).
        public let perplexity: Double
        /// mean (x̂ − x)² per element over all of X, in X's units.
        public let reconstruction: Double
        /// Per epoch: the mean training loss and the fraction of codes used during the epoch.
        public let loss: [Double]
        public let trainUtilization: [Double]
        public let encoder: Tensor, decoder: Tensor
    }

    public static func train(_ X: Tensor, _ o: Options, rng: inout RandomGenerator, cancellation: CancellationToken? = nil) throws -> Result
    {
        guard X.rank == 2, X.shape[0] > 0, X.shape[1] > 0 else {
            throw CoreError.invalidParameter("X", "X must be a non-empty matrix (rows are vectors)")
        }
        try X.requireFinite("codebook")
        let n = X.shape[0], p = X.shape[1], K = o.size, e = o.latent
        guard K >= 1 else { throw CoreError.invalidParameter("size", "size must be at least 1") }
        guard e >= 1, e <= p else { throw CoreError.invalidParameter("latent", "latent \(e) must be between 1 and the data width \(p)") }
        guard o.batch >= 1, o.epochs >= 0 else { throw CoreError.invalidParameter("batch", "batch and epochs must be positive") }
        try Memory.check(elements: K * max(e, o.features?.shape.last ?? 0) + o.batch * K, copies: 3, "codebook of size \(K)")
        // Centre the data and scale it to unit variance per dimension on average (one factor for
        // all dimensions, so its shape is kept); E and D start at the principal directions.
        var mean = [Double](repeating: 0, count: p)
        X.withBuffer { x in for i in 0..<n { for j in 0..<p { mean[j] += Double(x[i * p + j]) } } }
        let mu = mean.map { Float($0 / Double(n)) }
        var sq = 0.0
        X.withBuffer { x in for i in 0..<n { for j in 0..<p { let d = Double(x[i * p + j] - mu[j]); sq += d * d } } }
        let scale = sq > 0 ? (sq / Double(n * p)).squareRoot() : 1
        let inv = Float(1 / scale)
        let Xc = Tensor(shape: [n, p]) { out in
            X.withBuffer { x in for i in 0..<n { for j in 0..<p { out[i * p + j] = (x[i * p + j] - mu[j]) * inv } } }
        }
        let sample = n > 20_000 ? try Xc.rows(at: rng.choice(n, count: 20_000).sorted()) : Xc
        let Vt = try sample.svd().Vt  // p × p (or fewer rows)
        var E = [Float](repeating: 0, count: p * e), D = [Float](repeating: 0, count: e * p)
        for j in 0..<p {
            for c in 0..<e where c < Vt.shape[0] { E[j * e + c] = Vt.storage[c * p + j]; D[c * p + j] = Vt.storage[c * p + j] }
        }

        // The codebook's parameters.
        var C = [Float](), F = [Float](), P = [Float](), Wl = [Float](), bl = [Float]()
        var f = 0
        switch o.method {
        case .vanilla, .ema:
            C = (0..<(K * e)).map { _ in Float((rng.uniform() * 2 - 1) / Double(K)) }
            if let feats = o.features {
                guard feats.shape == [K, e] else {
                    throw CoreError.invalidParameter(
                        "features", "features as codes must be \(K) × \(e), got \(Shape.describe(feats.shape))")
                }
                C = feats.storage
            } else if o.kmeansInit {
                let m = min(n, 4 * K)
                guard m >= K else {
                    throw CoreError.invalidParameter("size", "k-means initialisation needs at least size = \(K) rows, X has \(n)")
                }
                let rows = try Xc.rows(at: rng.choice(n, count: m).sorted())
                let Z = try Tensor.gemm(rows, Tensor(shape: [p, e], storage: E))
                C = try KMeans.fit(Z, k: K, maxIter: 10, tol: 0, rng: &rng, cancellation: cancellation).centroids.storage
            }
        case .lc:
            guard let feats = o.features else {
                throw CoreError.invalidParameter("features", "method \"lc\" needs features (K × f, the frozen codebook)")
            }
            guard feats.rank == 2, feats.shape[0] == K else {
                throw CoreError.invalidParameter(
                    "features", "features must have one row per code (\(K) × f), got \(Shape.describe(feats.shape))")
            }
            try feats.requireFinite("codebook")
            f = feats.shape[1]
            F = feats.storage
            P = (0..<(e * f)).map { _ in Float(rng.normal() / Double(e).squareRoot()) }
        case .simvq:
            C = (0..<(K * e)).map { _ in Float(rng.normal() / Double(e).squareRoot()) }
            let bound = 1 / Double(e).squareRoot()
            Wl = (0..<(e * e)).map { _ in Float((rng.uniform() * 2 - 1) * bound) }
            bl = (0..<e).map { _ in Float((rng.uniform() * 2 - 1) * bound) }
        }
        // The effective codebook.
        func codebook() throws -> Tensor {
            switch o.method {
            case .vanilla, .ema: return Tensor(shape: [K, e], storage: C)
            case .lc: return try Tensor.gemm(Tensor(shape: [K, f], storage: F), Tensor(shape: [e, f], storage: P), transB: true)
            case .simvq:
                var cb = try Tensor.gemm(Tensor(shape: [K, e], storage: C), Tensor(shape: [e, e], storage: Wl), transB: true)
                cb.withMutableBuffer { q in for k in 0..<K { for c in 0..<e { q[k * e + c] += bl[c] } } }
                return cb
            }
        }
        var optE = Adam(count: E.count, lr: o.lr), optD = Adam(count: D.count, lr: o.lr)
        var optC = Adam(count: C.count, lr: o.lr), optP = Adam(count: P.count, lr: o.lr)
        var optW = Adam(count: Wl.count, lr: o.lr), optB = Adam(count: bl.count, lr: o.lr)
        var emaN = [Float](repeating: 0, count: o.method == .ema ? K : 0)
        var emaM = o.method == .ema ? C : []
        var losses: [Double] = [], trainUse: [Double] = []
        let task = ProgressMeter.start("codebook", total: o.epochs * ((n + o.batch - 1) / max(1, o.batch)))
        defer { task.end() }
        for _ in 0..<o.epochs {
            let order = rng.permutation(n)
            var used = [Bool](repeating: false, count: K)
            var total = 0.0
            var start = 0
            while start < n {
                try cancellation?.check()
                task.advance()
                let idx = Array(order[start..<min(n, start + o.batch)]).sorted()
                start += o.batch
                let B = idx.count
                let xb = try Xc.rows(at: idx)
                let Z = try Tensor.gemm(xb, Tensor(shape: [p, e], storage: E))
                let cb = try codebook()
                let q = try KMeans.assign(Z, cb).labels
                for k in q { used[k] = true }
                // Forward: z_q, x̂ and the three loss terms (means over elements).
                var Zq = [Float](repeating: 0, count: B * e)
                for i in 0..<B { for c in 0..<e { Zq[i * e + c] = cb.storage[q[i] * e + c] } }
                let Xh = try Tensor.gemm(Tensor(shape: [B, e], storage: Zq), Tensor(shape: [e, p], storage: D))
                var dXh = [Float](repeating: 0, count: B * p)
                var rec = 0.0, vq = 0.0
                for i in 0..<(B * p) { let r = Xh.storage[i] - xb.storage[i]; rec += Double(r * r); dXh[i] = 2 * r / Float(B * p) }
                var dZ = [Float](repeating: 0, count: B * e), dCb = [Float](repeating: 0, count: K * e)
                let dzq = try Tensor.gemm(Tensor(shape: [B, p], storage: dXh), Tensor(shape: [e, p], storage: D), transB: true)
                for i in 0..<B {
                    for c in 0..<e {
                        let diff = Z.storage[i * e + c] - Zq[i * e + c]
                        vq += Double(diff * diff)
                        // Straight-through: the decoder's gradient reaches z; commitment pulls z to its code.
                        dZ[i * e + c] = dzq.storage[i * e + c] + o.beta * 2 * diff / Float(B * e)
                        // The codebook term pulls the code to z.
                        dCb[q[i] * e + c] -= 2 * diff / Float(B * e)
                    }
                }
                total += (rec / Double(B * p) + (1 + Double(o.beta)) * vq / Double(B * e)) * Double(B)
                let dD = try Tensor.gemm(Tensor(shape: [B, e], storage: Zq), Tensor(shape: [B, p], storage: dXh), transA: true)
                let dE = try Tensor.gemm(xb, Tensor(shape: [B, e], storage: dZ), transA: true)
                optD.step(&D, dD.storage)
                optE.step(&E, dE.storage)
                switch o.method {
                case .vanilla:
                    optC.step(&C, dCb)
                case .ema:
                    var counts = [Float](repeating: 0, count: K), sums = [Float](repeating: 0, count: K * e)
                    for i in 0..<B { counts[q[i]] += 1; for c in 0..<e { sums[q[i] * e + c] += Z.storage[i * e + c] } }
                    for k in 0..<K {
                        emaN[k] = o.decay * emaN[k] + (1 - o.decay) * counts[k]
                        for c in 0..<e { emaM[k * e + c] = o.decay * emaM[k * e + c] + (1 - o.decay) * sums[k * e + c] }
                    }
                    let totalN = emaN.reduce(0, +)
                    for k in 0..<K {
                        let smoothed = (emaN[k] + 1e-5) / (totalN + Float(K) * 1e-5) * totalN
                        if smoothed > 0 { for c in 0..<e { C[k * e + c] = emaM[k * e + c] / smoothed } }
                    }
                case .lc:
                    // codes = F Pᵀ → dP = dCbᵀ F (only used codes have non-zero rows).
                    var dP = [Float](repeating: 0, count: e * f)
                    for k in 0..<K where used[k] {
                        for c in 0..<e where dCb[k * e + c] != 0 {
                            let g = dCb[k * e + c]; for j in 0..<f { dP[c * f + j] += g * F[k * f + j] }
                        }
                    }
                    optP.step(&P, dP)
                case .simvq:
                    var dW = [Float](repeating: 0, count: e * e), db = [Float](repeating: 0, count: e)
                    for k in 0..<K {
                        for c in 0..<e where dCb[k * e + c] != 0 {
                            let g = dCb[k * e + c]
                            db[c] += g
                            for j in 0..<e { dW[c * e + j] += g * C[k * e + j] }
                        }
                    }
                    optW.step(&Wl, dW)
                    optB.step(&bl, db)
                }
            }
            losses.append(total / Double(n))
            trainUse.append(Double(used.filter { $0 }.count) / Double(K))
        }
        // Evaluation over all of X.
        let cb = try codebook()
        let Z = try Tensor.gemm(Xc, Tensor(shape: [p, e], storage: E))
        let codes = try KMeans.assign(Z, cb, cancellation: cancellation).labels
        var counts = [Int](repeating: 0, count: K)
        for c in codes { counts[c] += 1 }
        let entropy = counts.reduce(0.0) { acc, c in c == 0 ? acc : acc - Double(c) / Double(n) * log(Double(c) / Double(n)) }
        var Zq = [Float](repeating: 0, count: n * e)
        for i in 0..<n { for c in 0..<e { Zq[i * e + c] = cb.storage[codes[i] * e + c] } }
        let Xh = try Tensor.gemm(Tensor(shape: [n, e], storage: Zq), Tensor(shape: [e, p], storage: D))
        var rec = 0.0
        for i in 0..<(n * p) { let r = Double(Xh.storage[i] - Xc.storage[i]); rec += r * r }
        return Result(
            codebook: cb, codes: codes, utilization: Double(counts.filter { $0 > 0 }.count) / Double(K),
            perplexity: exp(entropy), reconstruction: rec / Double(n * p) * scale * scale, loss: losses, trainUtilization: trainUse,
            encoder: Tensor(shape: [p, e], storage: E), decoder: Tensor(shape: [e, p], storage: D))
    }
}
