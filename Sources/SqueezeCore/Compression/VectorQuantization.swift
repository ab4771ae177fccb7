import Foundation

/// Vector, product and residual vector quantization of a matrix's rows, with k-means codebooks
/// (ALGORITHMS.md §B7, §A5), and the EoRA and BitStack low-rank compensations (§B6).
public enum VectorQuantization {
    public struct Result: Sendable {
        public let recon: Tensor
        /// Codes per stage (RVQ) or per subspace (PQ), each one index per vector.
        public let codes: [[Int]]
        public let codebooks: [Tensor]
    }

    /// Training points per centroid: codebooks are fitted on a random subsample of at most
    /// 256 · codes vectors (faiss's `max_points_per_centroid`), then every vector is assigned to
    /// its nearest code. Beyond that many points the centroids barely move and the fit only costs time.
    public static let pointsPerCentroid = 256

    /// A k-means codebook for the rows of X and every row's code.
    static func fitCodebook(_ X: Tensor, codes: Int, iters: Int, rng: inout RandomGenerator,
                            cancellation: CancellationToken?) throws -> (labels: [Int], centroids: Tensor) {
        let n = X.shape[0], cap = pointsPerCentroid * codes
        guard n > cap else {
            let k = try KMeans.fit(X, k: codes, maxIter: iters, tol: 1e-4, rng: &rng, cancellation: cancellation)
            return (k.labels, k.centroids)
        }
        let sample = try X.rows(at: rng.choice(n, count: cap).sorted())
        let k = try KMeans.fit(sample, k: codes, maxIter: iters, tol: 1e-4, rng: &rng, cancellation: cancellation)
        return (try KMeans.assign(X, k.centroids, cancellation: cancellation).labels, k.centroids)
    }

    /// Rows cut into consecutive sub-vectors of `dim` values: an (rows·cols/dim) × dim matrix.
    static func vectors(_ W: Tensor, dim: Int) throws -> Tensor {
        guard W.rank == 2 else { throw CoreError.invalidArgument("vq: expected a matrix, got shape \(Shape.describe(W.shape))") }
        guard dim >= 1, W.shape[1] % dim == 0 else { throw CoreError.invalidArgument("vq: dim \(dim) does not divide the \(W.shape[1]) columns") }
        return try W.reshaped([W.count / dim, dim])
    }

    /// Plain VQ (one shared codebook of `codes` entries) or RVQ (`stages` codebooks, each fitted to
    /// the previous stages' residual): r₀ = x, q_l = VQ_l(r_{l−1}), r_l = r_{l−1} − q_l, x̂ = Σ q_l.
    public static func residual(_ W: Tensor, dim: Int, codes: Int, stages: Int, iters: Int, rng: inout RandomGenerator,
                                cancellation: CancellationToken? = nil) throws -> Result {
        var residual = try vectors(W, dim: dim)
        guard codes >= 1, codes <= residual.shape[0] else {
            throw CoreError.invalidArgument("vq: \(codes) codes need at least as many vectors; W has \(residual.shape[0]) of length \(dim)")
        }
        var total = [Float](repeating: 0, count: residual.count)
        var allCodes: [[Int]] = []
        var books: [Tensor] = []
        for _ in 0..<max(1, stages) {
            let k = try fitCodebook(residual, codes: codes, iters: iters, rng: &rng, cancellation: cancellation)
            allCodes.append(k.labels)
            books.append(k.centroids)
            var next = residual.storage
            for (i, c) in k.labels.enumerated() {
                for j in 0..<dim {
                    let q = k.centroids.storage[c * dim + j]
                    total[i * dim + j] += q
                    next[i * dim + j] -= q
                }
            }
            residual = Tensor(shape: residual.shape, storage: next)
        }
        return Result(recon: Tensor(shape: W.shape, storage: total), codes: allCodes, codebooks: books)
    }

    /// Group-residual VQ (HiFi-Codec): the columns split into `groups` equal blocks, each with its
    /// own `stages`-level residual VQ.
    public static func groupResidual(_ W: Tensor, groups: Int, dim: Int, codes: Int, stages: Int, iters: Int,
                                     rng: inout RandomGenerator, cancellation: CancellationToken? = nil) throws -> Result {
        guard W.rank == 2 else { throw CoreError.invalidArgument("grvq: expected a matrix, got shape \(Shape.describe(W.shape))") }
        let rows = W.shape[0], cols = W.shape[1]
        guard groups >= 1, cols % groups == 0, (cols / groups) % dim == 0 else {
            throw CoreError.invalidArgument("grvq: groups \(groups) × dim \(dim) must divide the \(cols) columns")
        }
        let width = cols / groups
        var out = [Float](repeating: 0, count: W.count)
        var allCodes: [[Int]] = [], books: [Tensor] = []
        for gi in 0..<groups {
            let sub = Tensor(shape: [rows, width]) { o in for r in 0..<rows { for j in 0..<width { o[r * width + j] = W.storage[r * cols + gi * width + j] } } }
            let res = try residual(sub, dim: dim, codes: codes, stages: stages, iters: iters, rng: &rng, cancellation: cancellation)
            allCodes += res.codes
            books += res.codebooks
            for r in 0..<rows { for j in 0..<width { out[r * cols + gi * width + j] = res.recon.storage[r * width + j] } }
        }
        return Result(recon: Tensor(shape: W.shape, storage: out), codes: allCodes, codebooks: books)
    }

    /// Product quantization (Jégou et al. 2011): each row split into cols/dim subspaces, each with
    /// its own codebook of `codes` centroids over all rows.
    public static func product(_ W: Tensor, dim: Int, codes: Int, iters: Int, rng: inout RandomGenerator,
                               cancellation: CancellationToken? = nil) throws -> Result {
        guard W.rank == 2 else { throw CoreError.invalidArgument("pq: expected a matrix, got shape \(Shape.describe(W.shape))") }
        let rows = W.shape[0], cols = W.shape[1]
        guard dim >= 1, cols % dim == 0 else { throw CoreError.invalidArgument("pq: dim \(dim) does not divide the \(cols) columns") }
        guard codes >= 1, codes <= rows else { throw CoreError.invalidArgument("pq: \(codes) codes per subspace need at least as many rows; W has \(rows)") }
        var out = [Float](repeating: 0, count: W.count)
        var allCodes: [[Int]] = []
        var books: [Tensor] = []
        for s in stride(from: 0, to: cols, by: dim) {
            let sub = Tensor(shape: [rows, dim]) { o in for r in 0..<rows { for j in 0..<dim { o[r * dim + j] = W.storage[r * cols + s + j] } } }
            let k = try fitCodebook(sub, codes: codes, iters: iters, rng: &rng, cancellation: cancellation)
            allCodes.append(k.labels)
            books.append(k.centroids)
            for r in 0..<rows { for j in 0..<dim { out[r * cols + s + j] = k.centroids.storage[k.labels[r] * dim + j] } }
        }
        return Result(recon: Tensor(shape: W.shape, storage: out), codes: allCodes, codebooks: books)
    }
}

extension LowRank {
    static func fp16(_ t: Tensor) -> Tensor { t.map { Float(Float16($0)) } }

    /// EoRA (Liu et al. 2024): compensate ΔW = W − C in the eigenspace of the calibration
    /// covariance: C_X = XᵀX/N = QΛQᵀ (negative eigenvalues clamped to the smallest positive),
    /// Q′ = QΛ^½, SVD of ΔW Q′ = USVᵀ, B = U_r S_r^½, A = S_r^½ V_rᵀ Q′⁻¹; factors stored in fp16.
    /// Minimises ‖(ΔW − BA) Xᵀ‖ over rank r.
    public static func eora(_ W: Tensor, _ C: Tensor, X: Tensor, rank: Int) throws -> (B: Tensor, A: Tensor) {
        guard W.rank == 2, C.shape == W.shape else { throw CoreError.invalidArgument("eora: C must have W's shape \(Shape.describe(W.shape))") }
        let (m, n) = (W.shape[0], W.shape[1])
        guard X.rank == 2, X.shape[1] == n, X.shape[0] > 0 else { throw CoreError.invalidArgument("eora: X must be tokens × \(n)") }
        guard rank >= 1, rank <= min(m, n) else { throw CoreError.invalidArgument("eora: rank \(rank) must be between 1 and min(m, n) = \(min(m, n))") }
        let cov = try Tensor.gemm(X, X, transA: true, alpha: 1 / Float(X.shape[0]))
        let e = try cov.eigh()
        let positive = e.values.storage.filter { $0 > 0 }
        guard let floor = positive.min() else { throw CoreError.invalidArgument("eora: the calibration covariance has no positive eigenvalue") }
        let lam = e.values.storage.map { $0 > 0 ? $0 : floor }
        let Q = e.vectors   // columns are eigenvectors
        let Qp = Tensor(shape: [n, n]) { o in for i in 0..<n { for j in 0..<n { o[i * n + j] = Q.storage[i * n + j] * lam[j].squareRoot() } } }
        let dW = Tensor(shape: W.shape, storage: zip(W.storage, C.storage).map { $0 - $1 })
        let f = try Tensor.gemm(dW, Qp).svd()
        let root = f.S.storage.map { $0.squareRoot() }
        let B = Tensor(shape: [m, rank]) { o in for i in 0..<m { for j in 0..<rank { o[i * rank + j] = f.U.storage[i * f.U.shape[1] + j] * root[j] } } }
        // Q′⁻¹ = Λ^−½ Qᵀ, so A = S^½ Vᵀ Λ^−½ Qᵀ.
        let VtScaled = Tensor(shape: [rank, n]) { o in for i in 0..<rank { for j in 0..<n { o[i * n + j] = root[i] * f.Vt.storage[i * n + j] / lam[j].squareRoot() } } }
        let A = try Tensor.gemm(VtScaled, Q, transB: true)
        return (fp16(B), fp16(A))
    }

    /// BitStack (Wang et al. 2025): R₀ = W; each block stores S = sign(R) (0 → +1) as bits and a
    /// rank-k approximation of |R| in fp16; R ← R − S ⊙ (U_k Σ_k V_kᵀ). ‖R‖ never increases.
    public static func bitstack(_ W: Tensor, blocks: Int, rank: Int) throws -> (recon: Tensor, residualNorms: [Double]) {
        guard W.rank == 2 else { throw CoreError.invalidArgument("bitstack: expected a matrix, got shape \(Shape.describe(W.shape))") }
        let (m, n) = (W.shape[0], W.shape[1])
        guard rank >= 1, rank <= min(m, n) else { throw CoreError.invalidArgument("bitstack: rank \(rank) must be between 1 and min(m, n) = \(min(m, n))") }
        guard blocks >= 1 else { throw CoreError.invalidArgument("bitstack: blocks must be at least 1") }
        var R = W.storage
        var norms = [R.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()]
        for _ in 0..<blocks {
            let sign = R.map { $0 >= 0 ? Float(1) : -1 }
            let absR = Tensor(shape: [m, n], storage: R.map { abs($0) })
            let f = try truncated(absR, rank: rank, energy: nil)
            let approx = try Tensor.gemm(fp16(f.B), fp16(f.A))
            for i in 0..<(m * n) { R[i] -= sign[i] * approx.storage[i] }
            norms.append(R.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot())
        }
        return (Tensor(shape: W.shape, storage: zip(W.storage, R).map { $0 - $1 }), norms)
    }
}

/// Tensor-train (MPO) decomposition by sequential truncated SVDs (Oseledets 2011; CompactifAI):
/// W's values are viewed as a tensor of extents `shape` (their product is W.count, row-major) and
/// factored into cores G_k of r_{k−1} × n_k × r_k with r_k ≤ ranks[k].
public enum TensorTrain {
    public static func decompose(_ W: Tensor, shape: [Int], ranks: [Int]) throws -> (cores: [Tensor], recon: Tensor) {
        guard shape.count >= 2, shape.allSatisfy({ $0 >= 1 }), shape.reduce(1, *) == W.count else {
            throw CoreError.invalidArgument("tt: shape \(shape) must have at least two extents whose product is W's \(W.count) values")
        }
        guard ranks.count == shape.count - 1, ranks.allSatisfy({ $0 >= 1 }) else {
            throw CoreError.invalidArgument("tt: give \(shape.count - 1) ranks (one between each pair of extents), each ≥ 1")
        }
        var cores: [Tensor] = []
        var C = W.storage
        var rPrev = 1
        var rest = W.count
        for k in 0..<(shape.count - 1) {
            let rowsK = rPrev * shape[k]
            rest /= shape[k]
            let f = try Tensor(shape: [rowsK, rest], storage: C).svd()
            let r = min(ranks[k], f.S.count)
            let q = f.U.shape[1]
            cores.append(Tensor(shape: [rPrev, shape[k], r]) { o in for i in 0..<rowsK { for j in 0..<r { o[i * r + j] = f.U.storage[i * q + j] } } })
            C = [Float](repeating: 0, count: r * rest)
            for i in 0..<r { for j in 0..<rest { C[i * rest + j] = f.S.storage[i] * f.Vt.storage[i * rest + j] } }
            rPrev = r
        }
        cores.append(Tensor(shape: [rPrev, shape.last!, 1], storage: C))
        // Contract left to right: M (prefix × r) @ core (r × n·r′).
        var M = try cores[0].reshaped([shape[0], cores[0].shape[2]])
        for k in 1..<cores.count {
            let c = cores[k]
            let prod = try Tensor.gemm(M, try c.reshaped([c.shape[0], c.shape[1] * c.shape[2]]))
            M = try prod.reshaped([prod.count / c.shape[2], c.shape[2]])
        }
        return (cores, try M.reshaped(W.shape))
    }
}

/// GEAR (Kang et al. 2024) for a KV-cache matrix D (tokens × channels): D̂ = Q(D − S) + L + S with
/// S the ⌊outliers·cols/2⌋ largest and smallest entries of each row kept exactly (set to the row
/// mean before quantizing), Q group-wise asymmetric uniform quantization along each row
/// (KIVI-style: scale = (max − min)/(2^b − 1), q = round(relu((x − min)/scale)), x̂ = q·scale + min),
/// and L a rank-r truncated SVD of the remaining error.
public enum GEAR {
    public struct Result: Sendable {
        public let recon: Tensor
        public let outliers: Int
        public let groups: Int
    }

    public static func compress(_ D: Tensor, bits: Int, group: Int, rank: Int, outliers: Double) throws -> Result {
        guard D.rank == 2 else { throw CoreError.invalidArgument("gear: expected tokens × channels, got shape \(Shape.describe(D.shape))") }
        let (m, n) = (D.shape[0], D.shape[1])
        guard group >= 1, n % group == 0 else { throw CoreError.invalidArgument("gear: group \(group) does not divide the \(n) channels") }
        guard rank >= 0, rank <= min(m, n) else { throw CoreError.invalidArgument("gear: rank \(rank) must be between 0 and min(m, n) = \(min(m, n))") }
        let half = Int((outliers * Double(n) / 2).rounded(.down))
        var x = D.storage
        var sparse = [Float](repeating: 0, count: m * n)
        var isOutlier = [Bool](repeating: false, count: m * n)
        var count = 0
        if half > 0 {
            for r in 0..<m {
                let row = Array(x[(r * n)..<((r + 1) * n)])
                let mean = row.reduce(0, +) / Float(n)
                let order = row.indices.sorted { row[$0] < row[$1] || (row[$0] == row[$1] && $0 < $1) }
                for j in order.prefix(half) + order.suffix(half) where !isOutlier[r * n + j] {
                    isOutlier[r * n + j] = true
                    sparse[r * n + j] = row[j]
                    x[r * n + j] = mean
                    count += 1
                }
            }
        }
        let maxq = Float((1 << bits) - 1)
        var q = [Float](repeating: 0, count: m * n)
        for r in 0..<m {
            for s in stride(from: 0, to: n, by: group) {
                var lo = Float.infinity, hi = -Float.infinity
                for j in s..<(s + group) { lo = min(lo, x[r * n + j]); hi = max(hi, x[r * n + j]) }
                let scale = hi > lo ? (hi - lo) / maxq : 1
                for j in s..<(s + group) {
                    let code = min(maxq, max(0, ((x[r * n + j] - lo) / scale).rounded(.toNearestOrEven)))
                    q[r * n + j] = code * scale + lo
                }
            }
        }
        var recon = (0..<(m * n)).map { isOutlier[$0] ? sparse[$0] : q[$0] }
        if rank > 0 {
            let residual = Tensor(shape: [m, n], storage: zip(D.storage, recon).map { $0 - $1 })
            let f = try LowRank.truncated(residual, rank: rank, energy: nil)
            let L = try Tensor.gemm(f.B, f.A)
            for i in 0..<(m * n) { recon[i] += L.storage[i] }
        }
        return Result(recon: Tensor(shape: D.shape, storage: recon), outliers: count, groups: m * n / group)
    }
}

/// KVQuant (Hooper et al. 2024), without the Fisher weighting (no gradients here): per channel
/// (keys) or per token (values), the values outside the [1 − t, t] percentiles (t = 1 − outliers/2)
/// are kept exactly as sparse outliers; the rest is normalised to [−1, 1] with zero point
/// (hi + lo)/2 and range (hi − lo)/2 and rounded to the nearest of 2^b non-uniform levels learned by
/// 1-D k-means on the normalised values (NUQ).
public enum KVQuant {
    public struct Result: Sendable {
        public let recon: Tensor
        public let levels: [Float]
        public let outliers: Int
        public let vectors: Int
    }

    public static func compress(_ X: Tensor, bits: Int, perChannel: Bool, outliers: Double, rng: inout RandomGenerator) throws -> Result {
        guard X.rank == 2 else { throw CoreError.invalidArgument("kvquant: expected tokens × channels, got shape \(Shape.describe(X.shape))") }
        let (m, n) = (X.shape[0], X.shape[1])
        let lines = perChannel ? n : m, len = perChannel ? m : n
        guard len >= 2 else { throw CoreError.invalidArgument("kvquant: each vector needs at least two values") }
        func at(_ l: Int, _ i: Int) -> Int { perChannel ? i * n + l : l * n + i }
        var normalized = [Float](repeating: 0, count: m * n)
        var exact = [Bool](repeating: false, count: m * n)
        var zero = [Float](repeating: 0, count: lines), half = [Float](repeating: 1, count: lines)
        var count = 0
        let t = 1 - outliers / 2
        for l in 0..<lines {
            let v = (0..<len).map { X.storage[at(l, $0)] }.sorted()
            // numpy's percentile with linear interpolation.
            func pct(_ p: Double) -> Float {
                let pos = p * Double(len - 1), lo = Int(pos.rounded(.down)), frac = Float(pos - Double(lo))
                return lo + 1 < len ? v[lo] + (v[lo + 1] - v[lo]) * frac : v[lo]
            }
            let hi = outliers > 0 ? pct(t) : v[len - 1], lo = outliers > 0 ? pct(1 - t) : v[0]
            zero[l] = (hi + lo) / 2
            half[l] = hi > lo ? (hi - lo) / 2 : 1
            for i in 0..<len {
                let x = X.storage[at(l, i)]
                if outliers > 0 && (x > hi || x < lo) { exact[at(l, i)] = true; count += 1 }
                normalized[at(l, i)] = (x - zero[l]) / half[l]
            }
        }
        // NUQ levels: 1-D k-means over (a sample of) the normalised inliers.
        var sample = (0..<(m * n)).filter { !exact[$0] }.map { normalized[$0] }
        if sample.count > 100_000 { sample = rng.choice(sample.count, count: 100_000).map { sample[$0] } }
        let k = min(1 << bits, Set(sample).count)
        guard k >= 1 else { throw CoreError.invalidArgument("kvquant: no values left to quantize") }
        let km = try KMeans.fit(Tensor(shape: [sample.count, 1], storage: sample), k: k, maxIter: 50, rng: &rng)
        let levels = km.centroids.storage.sorted()
        var out = [Float](repeating: 0, count: m * n)
        for l in 0..<lines {
            for i in 0..<len {
                let idx = at(l, i)
                if exact[idx] { out[idx] = X.storage[idx]; continue }
                var best = levels[0]
                for c in levels where abs(c - normalized[idx]) < abs(best - normalized[idx]) { best = c }
                out[idx] = best * half[l] + zero[l]
            }
        }
        return Result(recon: Tensor(shape: X.shape, storage: out), levels: levels, outliers: count, vectors: lines)
    }
}
