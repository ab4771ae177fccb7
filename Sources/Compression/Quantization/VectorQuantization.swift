import Foundation
import SqueezeCore

/// Vector, product and residual vector quantization of a matrix's rows, with k-means codebooks
/// (ALGORITHMS.md §B7, §A5).
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
    static func fitCodebook(
        _ X: Tensor, codes: Int, iters: Int, rng: inout RandomGenerator,
        cancellation: CancellationToken?
    ) throws -> (labels: [Int], centroids: Tensor) {
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
        guard W.rank == 2 else { throw CoreError.invalidParameter("W", "expected a matrix, got shape \(Shape.describe(W.shape))") }
        guard dim >= 1, W.shape[1] % dim == 0 else {
            throw CoreError.invalidParameter("dim", "dim \(dim) does not divide the \(W.shape[1]) columns")
        }
        return try W.reshaped([W.count / dim, dim])
    }

    /// Plain VQ (one shared codebook of `codes` entries) or RVQ (`stages` codebooks, each fitted to
    /// the previous stages' residual): r₀ = x, q_l = VQ_l(r_{l−1}), r_l = r_{l−1} − q_l, x̂ = Σ q_l.
    public static func residual(
        _ W: Tensor, dim: Int, codes: Int, stages: Int, iters: Int, rng: inout RandomGenerator,
        cancellation: CancellationToken? = nil
    ) throws -> Result {
        var residual = try vectors(W, dim: dim)
        guard codes >= 1, codes <= residual.shape[0] else {
            throw CoreError.invalidParameter(
                "codes", "\(codes) codes need at least as many vectors; W has \(residual.shape[0]) of length \(dim)")
        }
        var total = [Float](repeating: 0, count: residual.count)
        var allCodes: [[Int]] = []
        var books: [Tensor] = []
        for _ in 0..<max(1, stages) {
            let k = try fitCodebook(residual, codes: codes, iters: iters, rng: &rng, cancellation: cancellation)
            allCodes.append(k.labels)
            books.append(k.centroids)
            try cancellation?.check()
            var next = residual.storage
            k.centroids.withBuffer { cp in
                total.withUnsafeMutableBufferPointer { tp in
                    next.withUnsafeMutableBufferPointer { np in
                        for (i, c) in k.labels.enumerated() {
                            for j in 0..<dim {
                                let q = cp[c * dim + j]
                                tp[i * dim + j] += q
                                np[i * dim + j] -= q
                            }
                        }
                    }
                }
            }
            residual = Tensor(shape: residual.shape, storage: next)
        }
        return Result(recon: Tensor(shape: W.shape, storage: total), codes: allCodes, codebooks: books)
    }

    /// Group-residual VQ (HiFi-Codec): the columns split into `groups` equal blocks, each with its
    /// own `stages`-level residual VQ.
    public static func groupResidual(
        _ W: Tensor, groups: Int, dim: Int, codes: Int, stages: Int, iters: Int,
        rng: inout RandomGenerator, cancellation: CancellationToken? = nil
    ) throws -> Result {
        guard W.rank == 2 else { throw CoreError.invalidParameter("W", "expected a matrix, got shape \(Shape.describe(W.shape))") }
        let rows = W.shape[0], cols = W.shape[1]
        guard groups >= 1, cols % groups == 0, (cols / groups) % dim == 0 else {
            throw CoreError.invalidParameter("groups", "groups \(groups) × dim \(dim) must divide the \(cols) columns")
        }
        let width = cols / groups
        var out = [Float](repeating: 0, count: W.count)
        var allCodes: [[Int]] = [], books: [Tensor] = []
        for gi in 0..<groups {
            let sub = Tensor(shape: [rows, width]) { o in
                for r in 0..<rows { for j in 0..<width { o[r * width + j] = W.storage[r * cols + gi * width + j] } }
            }
            let res = try residual(sub, dim: dim, codes: codes, stages: stages, iters: iters, rng: &rng, cancellation: cancellation)
            allCodes += res.codes
            books += res.codebooks
            for r in 0..<rows { for j in 0..<width { out[r * cols + gi * width + j] = res.recon.storage[r * width + j] } }
        }
        return Result(recon: Tensor(shape: W.shape, storage: out), codes: allCodes, codebooks: books)
    }

    /// Product quantization (Jégou et al. 2011): each row split into cols/dim subspaces, each with
    /// its own codebook of `codes` centroids over all rows.
    public static func product(
        _ W: Tensor, dim: Int, codes: Int, iters: Int, rng: inout RandomGenerator,
        cancellation: CancellationToken? = nil
    ) throws -> Result {
        guard W.rank == 2 else { throw CoreError.invalidParameter("W", "expected a matrix, got shape \(Shape.describe(W.shape))") }
        let rows = W.shape[0], cols = W.shape[1]
        guard dim >= 1, cols % dim == 0 else { throw CoreError.invalidParameter("dim", "dim \(dim) does not divide the \(cols) columns") }
        guard codes >= 1, codes <= rows else {
            throw CoreError.invalidParameter("codes", "\(codes) codes per subspace need at least as many rows; W has \(rows)")
        }
        var out = [Float](repeating: 0, count: W.count)
        var allCodes: [[Int]] = []
        var books: [Tensor] = []
        for s in stride(from: 0, to: cols, by: dim) {
            let sub = Tensor(shape: [rows, dim]) { o in
                for r in 0..<rows { for j in 0..<dim { o[r * dim + j] = W.storage[r * cols + s + j] } }
            }
            let k = try fitCodebook(sub, codes: codes, iters: iters, rng: &rng, cancellation: cancellation)
            allCodes.append(k.labels)
            books.append(k.centroids)
            for r in 0..<rows { for j in 0..<dim { out[r * cols + s + j] = k.centroids.storage[k.labels[r] * dim + j] } }
        }
        return Result(recon: Tensor(shape: W.shape, storage: out), codes: allCodes, codebooks: books)
    }
}

extension Compressed {
    /// The vector quantizers `quantize` offers.
    public enum VectorMethod: String, Sendable, CaseIterable { case vq, pq, rvq, grvq }

    /// Vector, product, residual or group-residual VQ with its storage account: every stage's (or
    /// subspace's) indices at log₂ codes bits, then every codebook at 32 bits per value.
    public static func vectorQuantized(
        _ W: Tensor, method: VectorMethod, dim: Int, codes: Int, stages: Int, groups: Int,
        iters: Int, rng: inout RandomGenerator,
        cancellation: CancellationToken? = nil
    ) throws -> Compressed {
        let r: VectorQuantization.Result
        switch method {
        case .pq:
            r = try VectorQuantization.product(W, dim: dim, codes: codes, iters: iters, rng: &rng, cancellation: cancellation)
        case .grvq:
            r = try VectorQuantization.groupResidual(
                W, groups: groups, dim: dim, codes: codes, stages: stages, iters: iters,
                rng: &rng, cancellation: cancellation)
        case .vq, .rvq:
            r = try VectorQuantization.residual(
                W, dim: dim, codes: codes, stages: method == .rvq ? stages : 1, iters: iters,
                rng: &rng, cancellation: cancellation)
        }
        let indexBits = Compressed.indexBits(codes)
        let lines =
            r.codes.map { Line("codes", "one index per vector", count: $0.count, bits: indexBits) }
            + r.codebooks.map { Line("codebooks", "codebook entries", count: $0.count, bits: 32) }
        let codeTensors = r.codes.map { Tensor($0.map(Float.init)) }
        let codesPart: Part = codeTensors.count == 1 ? .tensor(codeTensors[0]) : .tensor(Tensor(r.codes.flatMap { $0.map(Float.init) }))
        return Compressed(
            method: method.rawValue, recon: r.recon, parts: [("codes", codesPart), ("codebooks", .tensors(r.codebooks))],
            storage: lines)
    }
}
