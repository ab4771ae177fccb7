import CBLAS
import Foundation
import SqueezeCore

/// VPTQ, vector post-training quantization (Liu et al. 2024, microsoft/VPTQ): each row's weights are
/// cut into vectors of `dim` consecutive inputs, every vector is replaced by a codebook entry, and
/// the choice is made column tile by column tile as GPTQ does, the error of each tile propagated to
/// the columns after it through the inverse Hessian. The codebook is a k-means of the vectors with
/// each coordinate weighted by the Hessian's diagonal H_jj (VPTQ's kmeans_mode "hessian"): centre_d =
/// Σ h_id x_id / Σ h_id, distance Σ_d h_d (x_d − c_d)². A tile T of `dim` columns is quantized at once
/// and its error spread by the block form of GPTQ's update: E_T = (W_T − Q_T)·U_TT⁻¹, W_R −= E_T·U_TR,
/// with U the upper Cholesky factor of H⁻¹. Options: a residual codebook fitted to the first pass's
/// errors, then a second pass choosing c₁ + c₂ greedily; and outlier tiles — the fraction of tiles
/// with the largest Hessian mass — with a codebook of their own. Deterministic for a seed (the
/// initial codebooks are distinct vectors drawn from it) or for given initial codebooks.
public enum VPTQ {
    public struct Options: Sendable {
        public var dim = 4
        public var codes = 256
        public var residualCodes = 0
        public var outlierFraction = 0.0
        public var iterations = 10
        /// When > 0, k-means is fitted on at most this many vectors per code (as faiss's
        /// max_points_per_centroid), chosen by `stratifiedSample`: the half with the largest weighted
        /// norms always, the rest drawn from the generator and weighted up. 0 (the default, as the
        /// reference) fits on every vector. A uniform sample missed the rare large weights: SmolLM2 with
        /// 64 codes of dim 2 and 256 vectors per code went to perplexity 1.2 million (78 on every
        /// vector); the stratified one gives 54.1 in a third of the time.
        public var pointsPerCode = 0
        public var blockSize = 128
        public var damp = 0.01
        public init() {}
    }

    public struct Result: Sendable {
        public let recon: Tensor
        /// Codebook index of each vector (rows × tiles), and of its residual (empty without one).
        public let indices: [Int32]
        public let residualIndices: [Int32]
        public let codebook: Tensor, residualCodebook: Tensor?, outlierCodebook: Tensor?
        /// Tiles (column blocks of `dim`) with the outlier codebook.
        public let outlierTiles: [Int]
    }

    /// Initial codebooks, for reproducing a reference run; nil entries are drawn from `rng`.
    public struct Initial: Sendable {
        public var main: Tensor?, residual: Tensor?, outlier: Tensor?
        public init(main: Tensor? = nil, residual: Tensor? = nil, outlier: Tensor? = nil) {
            self.main = main
            self.residual = residual
            self.outlier = outlier
        }
    }

    public static func quantize(
        _ W: Tensor, X: Tensor, options o: Options, initial: Initial = Initial(), rng: inout RandomGenerator,
        cancellation: CancellationToken? = nil
    ) throws -> Result {
        guard W.rank == 2 else {
            throw CoreError.invalidParameter("W", "expected a weight matrix [out, in], got \(Shape.describe(W.shape))")
        }
        let rows = W.shape[0], cols = W.shape[1], v = o.dim
        guard v >= 1, cols % v == 0, o.blockSize % v == 0 else {
            throw CoreError.invalidParameter("dim", "dim \(v) must divide the \(cols) inputs and the block of \(o.blockSize)")
        }
        guard o.codes >= 1, o.codes <= 1 << 20, o.residualCodes >= 0, o.outlierFraction >= 0, o.outlierFraction < 1 else {
            throw CoreError.invalidParameter("codes", "codes must be 1…2²⁰, residual codes ≥ 0 and the outlier fraction in [0, 1)")
        }
        var H = try Hessian.of(X, columns: cols)
        let h = (0..<cols).map { H[$0 * cols + $0] }  // k-means weights, before dead inputs are revived (dead: weight 0)
        var w = W.storage.map(Double.init)
        Hessian.reviveDead(&H, &w, rows: rows, cols: cols)
        let U = try Hessian.inverseCholesky(H, columns: cols, damp: o.damp)
        let tiles = cols / v
        let outlierCount = Int((o.outlierFraction * Double(tiles)).rounded())
        let mass = (0..<tiles).map { t in (0..<v).reduce(0.0) { $0 + h[t * v + $1] } }
        let outliers = Array((0..<tiles).sorted { mass[$0] != mass[$1] ? mass[$0] > mass[$1] : $0 < $1 }.prefix(outlierCount)).sorted()
        let isOutlier = Set(outliers)
        // The vectors of the (dead-zeroed) weights: tile-major per row, with their coordinate weights.
        func vectors(_ data: [Double], tilesIn: [Int]) -> (x: [Double], wt: [Double]) {
            var x: [Double] = [], wt: [Double] = []
            for r in 0..<rows { for t in tilesIn { for d in 0..<v { x.append(data[r * cols + t * v + d]); wt.append(h[t * v + d]) } } }
            return (x, wt)
        }
        let regular = (0..<tiles).filter { !isOutlier.contains($0) }
        let (xr, wr) = vectors(w, tilesIn: regular)
        let codebook = try weightedKMeans(
            xr, wr, dim: v, k: o.codes, given: initial.main, iterations: o.iterations, limit: o.pointsPerCode, rng: &rng, "codes")
        var outlierBook: [Double]? = nil
        if !outliers.isEmpty {
            let (xo, wo) = vectors(w, tilesIn: outliers)
            outlierBook = try weightedKMeans(
                xo, wo, dim: v, k: o.codes, given: initial.outlier, iterations: o.iterations, limit: o.pointsPerCode, rng: &rng, "codes")
        }
        let searches = [Search(codebook, dim: v)] + (outlierBook.map { [Search($0, dim: v)] } ?? [])
        let bookOf = (0..<tiles).map { isOutlier.contains($0) ? 1 : 0 }
        let first = try pass(
            w, U, h, rows: rows, cols: cols, options: o, books: searches, bookOf: bookOf, residual: nil, cancellation: cancellation)
        var result = first
        var residualBook: [Double]? = nil
        if o.residualCodes > 0 {
            let (xe, we) = vectors(first.error, tilesIn: Array(0..<tiles))
            residualBook = try weightedKMeans(
                xe, we, dim: v, k: o.residualCodes, given: initial.residual, iterations: o.iterations, limit: o.pointsPerCode,
                rng: &rng, "residual_codes")
            result = try pass(
                w, U, h, rows: rows, cols: cols, options: o, books: searches, bookOf: bookOf,
                residual: residualBook.map { Search($0, dim: v) }, cancellation: cancellation)
        }
        func tensor(_ b: [Double]?) -> Tensor? { b.map { Tensor(shape: [$0.count / v, v], storage: $0.map { Float($0) }) } }
        return Result(
            recon: Tensor(shape: W.shape, storage: result.q.map { Float($0) }), indices: result.indices,
            residualIndices: result.residualIndices,
            codebook: tensor(codebook)!, residualCodebook: tensor(residualBook), outlierCodebook: tensor(outlierBook),
            outlierTiles: outliers)
    }

    struct Pass {
        var q: [Double]
        var error: [Double]
        var indices: [Int32]
        var residualIndices: [Int32]
    }

    /// One GPTQ-style sweep: tile by tile, each row's vector snapped to its codebook (plus the residual
    /// codebook's entry nearest to what remains), the tile's error spread over the later columns;
    /// tile t uses books[bookOf[t]].
    static func pass(
        _ w0: [Double], _ U: [Double], _ h: [Double], rows: Int, cols: Int, options o: Options, books: [Search], bookOf: [Int],
        residual: Search?, cancellation: CancellationToken?
    ) throws -> Pass {
        let v = o.dim, tiles = cols / v
        var w = w0, q = [Double](repeating: 0, count: rows * cols), error = q
        var indices = [Int32](repeating: 0, count: rows * tiles),
            residualIndices = [Int32](repeating: 0, count: residual == nil ? 0 : rows * tiles)
        // Each tile's U_TT⁻¹ (upper triangular), tile-major: inverses[t·v² + a·v + b].
        let inverses = UnsafeMutableBufferPointer<Double>.allocate(capacity: max(1, tiles * v * v))
        inverses.initialize(repeating: 0)
        defer { inverses.deallocate() }
        for t in 0..<tiles {
            var T = [Double](repeating: 0, count: v * v)
            for a in 0..<v { for b in a..<v { T[a * v + b] = U[(t * v + a) * cols + t * v + b] } }
            let inv = inverses.baseAddress! + t * v * v
            for col in 0..<v {  // back substitution of T x = e_col
                for a in stride(from: v - 1, through: 0, by: -1) {
                    var s = a == col ? 1.0 : 0
                    for b in (a + 1)..<v { s -= T[a * v + b] * inv[b * v + col] }
                    inv[a * v + col] = s / T[a * v + a]
                }
            }
        }
        let hBuffer = UnsafeMutableBufferPointer<Double>.allocate(capacity: h.count)
        _ = hBuffer.initialize(from: h)
        defer { hBuffer.deallocate() }
        var start = 0
        while start < cols {
            try cancellation?.check()
            let end = min(cols, start + o.blockSize), bw = end - start
            var err = [Double](repeating: 0, count: rows * bw)
            w.withUnsafeMutableBufferPointer { wp in
                q.withUnsafeMutableBufferPointer { qp in
                    err.withUnsafeMutableBufferPointer { ep in
                        indices.withUnsafeMutableBufferPointer { ip in
                            residualIndices.withUnsafeMutableBufferPointer { rp in
                                U.withUnsafeBufferPointer { up in
                                    nonisolated(unsafe) let (wp, qp, ep, ip, rp) = (wp.baseAddress!, qp.baseAddress!, ep, ip, rp)
                                    nonisolated(unsafe) let (hp, up) = (hBuffer.baseAddress!, up.baseAddress!)
                                    nonisolated(unsafe) let inverses = inverses.baseAddress!
                                    Parallel.forEach(rows, grain: 8) { rr in
                                        let scratch = UnsafeMutablePointer<Double>.allocate(capacity: 3 * v)
                                        defer { scratch.deallocate() }
                                        let chosen = scratch, rest = scratch + v, e = scratch + 2 * v
                                        let main = books[0], other = books[books.count - 1]
                                        for r in rr {
                                            for t in (start / v)..<(end / v) {
                                                let x = wp + r * cols + t * v, ht = hp + t * v
                                                let book = bookOf[t] == 0 ? main : other
                                                let c = book.nearest(x, weights: ht)
                                                ip[r * tiles + t] = Int32(c)
                                                book.entry(c, into: chosen)
                                                if let residual {
                                                    for d in 0..<v { rest[d] = x[d] - chosen[d] }
                                                    let c2 = residual.nearest(rest, weights: ht)
                                                    rp[r * tiles + t] = Int32(c2)
                                                    residual.add(c2, to: chosen)
                                                }
                                                let inv = inverses + t * v * v
                                                for d in 0..<v {
                                                    var s = 0.0
                                                    for a in 0...d { s += (x[a] - chosen[a]) * inv[a * v + d] }
                                                    e[d] = s
                                                    ep[r * bw + t * v - start + d] = s
                                                }
                                                for d in 0..<v { qp[r * cols + t * v + d] = chosen[d] }
                                                // The rest of the block: W_R −= E_T · U_TR.
                                                Self.update(
                                                    wp + r * cols, e, up + t * v * cols, cols: cols, dim: v, from: (t + 1) * v, to: end)
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            for r in 0..<rows { for col in start..<end { error[r * cols + col] = w[r * cols + col] - q[r * cols + col] } }
            Hessian.propagate(&w, err, U, rows: rows, cols: cols, start: start, end: end)
            start = end
        }
        return Pass(q: q, error: error, indices: indices, residualIndices: residualIndices)
    }

    /// w[col] −= Σ_d e_d · u[d·cols + col] for col in from..<to (u: the tile's rows of U), each sum in
    /// order of d from 0; the common dims unrolled so the loop over columns vectorises.
    @inline(__always)
    static func update(
        _ w: UnsafeMutablePointer<Double>, _ e: UnsafePointer<Double>, _ u: UnsafePointer<Double>, cols: Int, dim v: Int, from: Int, to: Int
    ) {
        guard from < to else { return }
        switch v {
        case 1:
            let e0 = e[0]
            for col in from..<to { w[col] -= 0.0 + e0 * u[col] }
        case 2:
            let (e0, e1, u1) = (e[0], e[1], u + cols)
            for col in from..<to { w[col] -= 0.0 + e0 * u[col] + e1 * u1[col] }
        case 4:
            let (e0, e1, e2, e3) = (e[0], e[1], e[2], e[3])
            let (u1, u2, u3) = (u + cols, u + 2 * cols, u + 3 * cols)
            for col in from..<to { w[col] -= 0.0 + e0 * u[col] + e1 * u1[col] + e2 * u2[col] + e3 * u3[col] }
        default:
            for col in from..<to {
                var s = 0.0
                for d in 0..<v { s += e[d] * u[d * cols + col] }
                w[col] -= s
            }
        }
    }

    /// The entry of `book` (k × dim, row-major) nearest to x by Σ_d weights_d (x_d − c_d)²; the first on ties.
    static func nearest(
        _ x: UnsafePointer<Double>, _ book: UnsafePointer<Double>, count k: Int, dim v: Int, weights w: UnsafePointer<Double>
    )
        -> Int
    {
        var best = 0, bestD = Double.infinity
        for c in 0..<k {
            let d = distance(x, book + c * v, dim: v, weights: w)
            if d < bestD { bestD = d; best = c }
        }
        return best
    }

    /// Σ_d w_d (x_d − c_d)², summed in coordinate order (each term w·e·e): the one arithmetic both the
    /// full scan and `Search`'s pruned walk use, so the walk's bound (one term) never exceeds it.
    @inline(__always)
    static func distance(_ x: UnsafePointer<Double>, _ c: UnsafePointer<Double>, dim v: Int, weights w: UnsafePointer<Double>) -> Double {
        if v == 2 {
            let e0 = x[0] - c[0], e1 = x[1] - c[1]
            return w[0] * e0 * e0 + w[1] * e1 * e1
        }
        var d = 0.0
        for j in 0..<v { let e = x[j] - c[j]; d += w[j] * e * e }
        return d
    }

    /// Lloyd iterations with per-coordinate weights: assign each vector to its nearest centre
    /// (weighted distance), then centre_d = Σ w_id x_id / Σ w_id over its vectors (kept where the
    /// weights sum to 0). Starts from `given` or k distinct vectors drawn from `rng`. With more than
    /// limit·k vectors (limit > 0), it is fitted on limit·k of them (`stratifiedSample`).
    static func weightedKMeans(
        _ x: [Double], _ wt: [Double], dim v: Int, k: Int, given: Tensor?, iterations: Int, limit: Int, rng: inout RandomGenerator,
        _ parameter: String
    ) throws -> [Double] {
        var (x, wt) = (x, wt)
        var multiplicity: [Double]? = nil
        if limit > 0, x.count / v > limit * k {
            let sample = stratifiedSample(x, wt, dim: v, size: limit * k, rng: &rng)
            x = sample.keep.flatMap { x[($0 * v)..<(($0 + 1) * v)] }
            wt = sample.keep.flatMap { wt[($0 * v)..<(($0 + 1) * v)] }
            multiplicity = sample.multiplicity
        }
        let n = x.count / v
        var centres: [Double]
        if let given {
            guard given.shape == [k, v] else {
                throw CoreError.invalidParameter(parameter, "the initial codebook must be \(k) × \(v), got \(Shape.describe(given.shape))")
            }
            centres = given.storage.map(Double.init)
        } else {
            guard n >= k else { throw CoreError.invalidParameter(parameter, "\(k) codes need at least \(k) vectors; the layer has \(n)") }
            centres = rng.choice(n, count: k).flatMap { Array(x[($0 * v)..<(($0 + 1) * v)]) }
        }
        var labels = [Int](repeating: 0, count: n)
        for _ in 0..<iterations {
            assign(x, wt, centres, dim: v, into: &labels)
            var num = [Double](repeating: 0, count: k * v), den = num
            for i in 0..<n {
                let m = multiplicity?[i] ?? 1
                for d in 0..<v {
                    let h = m * wt[i * v + d]
                    num[labels[i] * v + d] += h * x[i * v + d]
                    den[labels[i] * v + d] += h
                }
            }
            for j in 0..<(k * v) where den[j] > 0 { centres[j] = num[j] / den[j] }
        }
        return centres
    }
}

extension Compressed {
    /// VPTQ with its storage account: an index of log₂ codes bits per vector (and log₂ residual codes
    /// for the residual), the codebooks at 16 bits per value (as the reference stores them), and which
    /// tiles are outliers (log₂ C(tiles, outliers) bits).
    public static func vptq(
        _ W: Tensor, X: Tensor, options: VPTQ.Options, initial: VPTQ.Initial = VPTQ.Initial(), rng: inout RandomGenerator,
        cancellation: CancellationToken? = nil
    ) throws -> Compressed {
        let r = try VPTQ.quantize(W, X: X, options: options, initial: initial, rng: &rng, cancellation: cancellation)
        let vectors = W.count / options.dim, tiles = W.shape[1] / options.dim
        var lines = [
            Line("indices", "one codebook index per vector of \(options.dim)", count: vectors, bits: indexBits(options.codes)),
            Line("codebook", "the codebook's values", count: r.codebook.count, bits: 16),
        ]
        var parts: [(name: String, part: Part)] = [
            ("indices", .tensor(Tensor(shape: [W.shape[0], tiles], storage: r.indices.map { Float($0) }))),
            ("codebook", .tensor(r.codebook)),
        ]
        if let rc = r.residualCodebook {
            lines += [
                Line("residual_indices", "one residual index per vector", count: vectors, bits: indexBits(options.residualCodes)),
                Line("residual_codebook", "the residual codebook's values", count: rc.count, bits: 16),
            ]
            parts += [
                ("residual_indices", .tensor(Tensor(shape: [W.shape[0], tiles], storage: r.residualIndices.map { Float($0) }))),
                ("residual_codebook", .tensor(rc)),
            ]
        }
        if let oc = r.outlierCodebook {
            lines += [
                Line("outlier_codebook", "the outlier tiles' codebook", count: oc.count, bits: 16),
                Line("outlier_tiles", "which tiles are outliers", count: 1, bits: choiceBits(r.outlierTiles.count, of: tiles)),
            ]
            parts += [("outlier_codebook", .tensor(oc)), ("outlier_tiles", .tensor(Tensor(r.outlierTiles.map { Float($0) })))]
        }
        return Compressed(method: "vptq", recon: r.recon, parts: parts, storage: lines)
    }

}

extension VPTQ {
    /// Each vector's nearest centre by weighted distance Σ_d h_d (x_d − c_d)², on both cores, without
    /// materialising the vectors × centres distances (with dim 2 their writing was the whole cost),
    /// by the pruned walk of `Search`. The first centre wins ties.
    static func assign(_ x: [Double], _ wt: [Double], _ centres: [Double], dim v: Int, into labels: inout [Int]) {
        let n = x.count / v, search = Search(centres, dim: v)
        x.withUnsafeBufferPointer { xp in
            wt.withUnsafeBufferPointer { wp in
                labels.withUnsafeMutableBufferPointer { lp in
                    nonisolated(unsafe) let (xp, wp, lp) = (xp, wp, lp)
                    Parallel.forEach(n, grain: 2048) { range in
                        for i in range { lp[i] = search.nearest(xp.baseAddress! + i * v, weights: wp.baseAddress! + i * v) }
                    }
                }
            }
        }
    }
}
