import CBLAS
import Foundation
import Synchronization

/// k-means as scikit-learn runs it (ALGORITHMS.md §A5): greedy k-means++ seeding, Lloyd iterations
/// with squared distances from one GEMM per block (‖x‖² + ‖c‖² − 2 x·c), tolerance scaled by the mean
/// feature variance, empty clusters moved to the points farthest from their centres, and a final
/// assignment so labels match the returned centroids.
public enum KMeans {
    public struct Result: Sendable {
        public let centroids: Tensor
        public let labels: [Int]
        /// Σ‖x − c(x)‖² (Float64).
        public let inertia: Double
        public let iterations: Int
    }

    public enum Init: Sendable {
        case kmeansPlusPlus
        case random
        case given(Tensor)
    }

    /// Nearest centroid of every row of X, and the squared distance to it. Rows and codes are
    /// processed in blocks whose distance tile stays cache-sized (1 MB per core on two cores, 8 MB
    /// for small inputs or one core), so 10⁵ codes never need an n×k matrix.
    public static func assign(_ X: Tensor, _ C: Tensor, cancellation: CancellationToken? = nil, xNorms: [Float]? = nil) throws -> (labels: [Int], distances: [Float]) {
        guard X.rank == 2, C.rank == 2, X.shape[1] == C.shape[1] else {
            throw CoreError.invalidArgument("assign: expected X (n×d) and C (k×d) with the same d, got \(Shape.describe(X.shape)) and \(Shape.describe(C.shape))")
        }
        let n = X.shape[0], d = X.shape[1], k = C.shape[0]
        guard k > 0 else { throw CoreError.invalidArgument("assign: the codebook is empty") }
        var labels = [Int](repeating: 0, count: n)
        var dist = [Float](repeating: 0, count: n)
        guard n > 0 else { return (labels, dist) }
        if d <= 4 {
            // Short vectors (scalar and VQ codebooks of 2–4 values): exact distances directly; a GEMM
            // with an inner dimension of 1–4 would spend its time writing the n × k tile.
            try X.withBuffer { px in try C.withBuffer { pc in try labels.withUnsafeMutableBufferPointer { lp in try dist.withUnsafeMutableBufferPointer { dp in
                nonisolated(unsafe) let (px, pc, lp, dp) = (px, pc, lp, dp)
                let grain = max(64, 65_536 / k)
                var start = 0
                while start < n {
                    if let c = cancellation, c.isCancelled { throw CoreError.cancelled }
                    let rows = min(n - start, grain * 64)
                    let base = start
                    Parallel.forEach(rows, grain: grain) { range in
                        for r in range {
                            let i = base + r
                            var best = 0
                            var bestValue = Float.infinity
                            switch d {
                            case 1:
                                let x = px[i]
                                for c in 0..<k { let e = x - pc[c]; let dd = e * e; if dd < bestValue { bestValue = dd; best = c } }
                            case 2:
                                let x0 = px[2 * i], x1 = px[2 * i + 1]
                                for c in 0..<k {
                                    let e0 = x0 - pc[2 * c], e1 = x1 - pc[2 * c + 1]
                                    let dd = e0 * e0 + e1 * e1
                                    if dd < bestValue { bestValue = dd; best = c }
                                }
                            default:
                                for c in 0..<k {
                                    var dd: Float = 0
                                    for j in 0..<d { let e = px[i * d + j] - pc[c * d + j]; dd += e * e }
                                    if dd < bestValue { bestValue = dd; best = c }
                                }
                            }
                            lp[i] = best
                            dp[i] = bestValue
                        }
                    }
                    start += rows
                }
            } } } }
            return (labels, dist)
        }
        let cNorm = rowNorms(C)
        let xNorm = xNorms ?? rowNorms(X)
        if Parallel.cores > 1 && n >= 4096 {   // both cores, each with its own tile
            try assignPerCore(X, C, cNorm: cNorm, xNorm: xNorm, labels: &labels, distances: &dist, cancellation: cancellation)
            return (labels, dist)
        }
        // Tiles of at most 2 M distances (8 MB, cache-sized: the GEMM's zeroing pass and the argmin
        // stay out of main memory): blocks of rows × blocks of 4,096 codes, so a 10⁵-entry codebook
        // streams through in pieces while a row block stays (50k × 100k, d = 64: 6.1 → ~4.9 s).
        let codeBlock = min(k, 4096)
        let block = max(16, min(4096, (2 << 20) / codeBlock))
        var tile = [Float](repeating: 0, count: min(block, n) * codeBlock)
        for i in 0..<n { dist[i] = .infinity }
        try X.withBuffer { px in try C.withBuffer { pc in
            var start = 0
            while start < n {
                if let c = cancellation, c.isCancelled { throw CoreError.cancelled }
                let rows = min(block, n - start)
                var c0 = 0
                while c0 < k {
                    let cols = min(codeBlock, k - c0)
                    tile.withUnsafeMutableBufferPointer { t in
                        if d > 0 {
                            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(cols), Int32(d), -2,
                                        px.baseAddress! + start * d, Int32(d), pc.baseAddress! + c0 * d, Int32(d), 0, t.baseAddress, Int32(cols))
                        } else {
                            for i in 0..<(rows * cols) { t[i] = 0 }
                        }
                        // The argmin over the tile on both cores (the GEMM above has finished with BLAS's
                        // threads); a later code block wins only when strictly closer, so ties keep the lower index.
                        cNorm.withUnsafeBufferPointer { cn in labels.withUnsafeMutableBufferPointer { lp in dist.withUnsafeMutableBufferPointer { dp in
                            nonisolated(unsafe) let (t, cn, lp, dp) = (t, cn, lp, dp)
                            let (base, first) = (start, c0)
                            Parallel.forEach(rows, grain: max(1, 16_384 / max(1, cols))) { range in
                                for r in range {
                                    let (best, value) = KMeans.argmin(t.baseAddress! + r * cols, cn.baseAddress! + first, cols)
                                    if value < dp[base + r] { dp[base + r] = value; lp[base + r] = first + best }
                                }
                            }
                        } } }
                    }
                    c0 += cols
                }
                start += rows
            }
        } }
        for i in 0..<n { dist[i] = max(0, dist[i] + xNorm[i]) }
        return (labels, dist)
    }

    /// `assign` on two cores: each core takes half the rows and walks them in blocks whose distance
    /// tile (≤ 1 MB) stays in its own L2 cache — a single-threaded GEMM writes a block's tile for up
    /// to 512 codes and the argmin reads it back while it is hot, instead of one two-thread GEMM
    /// writing a multi-MB tile to L3 that the argmin then fetches. BLAS runs with one thread
    /// meanwhile (two BLAS threads inside two Swift threads would oversubscribe the cores).
    static func assignPerCore(_ X: Tensor, _ C: Tensor, cNorm: [Float], xNorm: [Float], labels: inout [Int], distances: inout [Float],
                              cancellation: CancellationToken?) throws {
        let n = X.shape[0], d = X.shape[1], k = C.shape[0]
        // Tiles of ≤ 512 codes × ≤ 512 rows (1 MB). Measured here: 100k codes, 50k queries 4.3 s
        // (2-thread GEMM into 8 MB tiles: 4.8–7.5 s); 128 or 4,096 codes per tile, or 256 KB tiles, were slower.
        let cb = min(k, 512)
        let block = max(32, min(1024, (256 << 10) / cb))
        let blocks = (n + block - 1) / block
        let stopped = Atomic<Bool>(false)
        BLAS.singleThreaded { X.withBuffer { px in C.withBuffer { pc in cNorm.withUnsafeBufferPointer { cn in xNorm.withUnsafeBufferPointer { xn in
            labels.withUnsafeMutableBufferPointer { lp in distances.withUnsafeMutableBufferPointer { dp in
                nonisolated(unsafe) let (px, pc, cn, xn, lp, dp) = (px, pc, cn, xn, lp, dp)
                Parallel.forEach(blocks, grain: 1) { range in
                    let tile = UnsafeMutablePointer<Float>.allocate(capacity: block * cb)
                    defer { tile.deallocate() }
                    for b in range {
                        if let c = cancellation, c.isCancelled { stopped.store(true, ordering: .relaxed); return }
                        let start = b * block, rows = min(block, n - start)
                        var c0 = 0
                        while c0 < k {
                            let cols = min(cb, k - c0)
                            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(cols), Int32(d), -2,
                                        px.baseAddress! + start * d, Int32(d), pc.baseAddress! + c0 * d, Int32(d), 0, tile, Int32(cols))
                            for r in 0..<rows {
                                let (best, value) = KMeans.argmin(tile + r * cols, cn.baseAddress! + c0, cols)
                                // A later code block wins only when strictly closer: ties keep the lower index.
                                if c0 == 0 || value < dp[start + r] { lp[start + r] = c0 + best; dp[start + r] = value }
                            }
                            c0 += cols
                        }
                        for r in 0..<rows { dp[start + r] = max(0, dp[start + r] + xn[start + r]) }
                    }
                }
            } }
        } } } } }
        if stopped.load(ordering: .relaxed) { throw CoreError.cancelled }
    }

    /// The first index of the smallest row[j] + shift[j] and that value, in one pass: sixteen lanes
    /// each keep their smallest value and the first index where it occurred (strictly-less updates,
    /// branch-free), then the lanes are reduced — the smallest value, and among lanes holding it the
    /// lowest index, which is the first occurrence overall: the same answer as a strict-less scan.
    @inline(__always)
    static func argmin(_ row: UnsafePointer<Float>, _ shift: UnsafePointer<Float>, _ k: Int) -> (Int, Float) {
        var best = Float.infinity, bestIndex = 0
        var j = 0
        if k >= 16 {
            let r = UnsafeRawPointer(row), s = UnsafeRawPointer(shift)
            var vmin = SIMD16<Float>(repeating: .infinity)
            // Indices as floats (exact below 2²⁴), so both selects use the same comparison mask.
            var vidx = SIMD16<Float>(repeating: 0)
            var jv = SIMD16<Float>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
            let step = SIMD16<Float>(repeating: 16)
            while j + 16 <= k {
                let v = r.loadUnaligned(fromByteOffset: j * 4, as: SIMD16<Float>.self) + s.loadUnaligned(fromByteOffset: j * 4, as: SIMD16<Float>.self)
                let less = v .< vmin
                vmin.replace(with: v, where: less)
                vidx.replace(with: jv, where: less)
                jv += step
                j += 16
            }
            best = vmin.min()
            vidx.replace(with: .infinity, where: vmin .!= best)
            bestIndex = Int(vidx.min())
        }
        while j < k {
            let v = row[j] + shift[j]
            if v < best { best = v; bestIndex = j }
            j += 1
        }
        if best == .infinity { return (0, row[0] + shift[0]) }
        return (bestIndex, best)
    }

    static func rowNorms(_ A: Tensor) -> [Float] {
        let n = A.shape[0], d = A.shape[1]
        return A.withBuffer { p in
            (0..<n).map { i in
                var s: Float = 0
                let row = p.baseAddress! + i * d
                for j in 0..<d { s += row[j] * row[j] }
                return s
            }
        }
    }

    /// Runs k-means `nInit` times (different seeds drawn from `rng`) and keeps the lowest inertia.
    public static func fit(_ X: Tensor, k: Int, initialization: Init = .kmeansPlusPlus, maxIter: Int = 300, tol: Double = 1e-4,
                           nInit: Int = 1, rng: inout RandomGenerator, cancellation: CancellationToken? = nil) throws -> Result {
        guard X.rank == 2 else { throw CoreError.invalidArgument("kmeans: expected a matrix of samples (n×d), got shape \(Shape.describe(X.shape))") }
        let n = X.shape[0]
        guard k >= 1 else { throw CoreError.invalidArgument("kmeans: k must be at least 1") }
        guard n >= k else { throw CoreError.invalidArgument("kmeans: k = \(k) clusters need at least \(k) samples, got \(n)") }
        try X.requireFinite("kmeans")
        if case .given(let c) = initialization, c.shape != [k, X.shape[1]] {
            throw CoreError.invalidArgument("kmeans: initial centroids must be \(k)×\(X.shape[1]), got \(Shape.describe(c.shape))")
        }
        var best: Result?
        for _ in 0..<max(1, nInit) {
            let r = try single(X, k: k, initialization: initialization, maxIter: maxIter, tol: tol, rng: &rng, cancellation: cancellation)
            if best == nil || r.inertia < best!.inertia { best = r }
            if case .given = initialization { break }   // a given start is deterministic: one run
        }
        return best!
    }

    /// sklearn's `_tolerance`: tol × mean over features of the variance of X.
    static func scaledTolerance(_ X: Tensor, _ tol: Double) -> Double {
        let n = X.shape[0], d = X.shape[1]
        guard n > 0, d > 0, tol > 0 else { return 0 }
        // Two passes over the rows (means, then squared deviations), each row read in order.
        var mean = [Double](repeating: 0, count: d), sq = [Double](repeating: 0, count: d)
        X.withBuffer { p in
            for i in 0..<n { for j in 0..<d { mean[j] += Double(p[i * d + j]) } }
            for j in 0..<d { mean[j] /= Double(n) }
            for i in 0..<n { for j in 0..<d { let e = Double(p[i * d + j]) - mean[j]; sq[j] += e * e } }
        }
        return tol * sq.reduce(0, +) / Double(n) / Double(d)
    }

    static func single(_ X: Tensor, k: Int, initialization: Init, maxIter: Int, tol: Double,
                       rng: inout RandomGenerator, cancellation: CancellationToken?) throws -> Result {
        let n = X.shape[0], d = X.shape[1]
        var C: Tensor
        switch initialization {
        case .given(let c): C = c
        case .random:
            let idx = rng.choice(n, count: k)
            C = Tensor(shape: [k, d]) { out in X.withBuffer { p in for (r, i) in idx.enumerated() { for j in 0..<d { out[r * d + j] = p[i * d + j] } } } }
        case .kmeansPlusPlus:
            C = try plusPlus(X, k: k, rng: &rng)
        }
        let tolerance = scaledTolerance(X, tol)
        let xNorm = rowNorms(X)   // the same every iteration
        var labels = [Int](repeating: -1, count: n)
        var iterations = 0
        for it in 0..<max(1, maxIter) {
            if let c = cancellation, c.isCancelled { throw CoreError.cancelled }
            let (newLabels, dist) = try assign(X, C, cancellation: cancellation, xNorms: xNorm)
            let newC = update(X, labels: newLabels, distances: dist, k: k, previous: C)
            iterations = it + 1
            let strict = newLabels == labels
            labels = newLabels
            var shift = 0.0
            C.withBuffer { a in newC.withBuffer { b in for i in 0..<(k * d) { let e = Double(a[i]) - Double(b[i]); shift += e * e } } }
            C = newC
            if strict || shift <= tolerance { break }
        }
        // Labels and inertia for the centroids returned.
        let (finalLabels, dist) = try assign(X, C, cancellation: cancellation, xNorms: xNorm)
        let inertia = dist.reduce(0.0) { $0 + Double($1) }
        return Result(centroids: C, labels: finalLabels, inertia: inertia, iterations: iterations)
    }

    /// Means of the assigned points (Float64 sums); an empty cluster takes the point farthest from
    /// its centre that is not already used, as scikit-learn relocates them.
    static func update(_ X: Tensor, labels: [Int], distances: [Float], k: Int, previous: Tensor) -> Tensor {
        let n = X.shape[0], d = X.shape[1]
        // Per-cluster sums in Float64, two halves of the rows on the two cores, merged in order (the
        // same result every run).
        let halves = Parallel.cores > 1 && n >= 4096 ? 2 : 1
        var partSums = [[Double]](repeating: [Double](repeating: 0, count: k * d), count: halves)
        var partCounts = [[Int]](repeating: [Int](repeating: 0, count: k), count: halves)
        X.withBuffer { p in
            partSums.withUnsafeMutableBufferPointer { ps in partCounts.withUnsafeMutableBufferPointer { pc in
                nonisolated(unsafe) let (ps, pc, p) = (ps, pc, p)
                DispatchQueue.concurrentPerform(iterations: halves) { h in
                    let lo = h * n / halves, hi = (h + 1) * n / halves
                    ps[h].withUnsafeMutableBufferPointer { sums in pc[h].withUnsafeMutableBufferPointer { counts in
                        for i in lo..<hi {
                            let c = labels[i]
                            counts[c] += 1
                            let row = p.baseAddress! + i * d
                            for j in 0..<d { sums[c * d + j] += Double(row[j]) }
                        }
                    } }
                }
            } }
        }
        var sums = partSums[0], counts = partCounts[0]
        for h in 1..<halves {
            for i in 0..<(k * d) { sums[i] += partSums[h][i] }
            for c in 0..<k { counts[c] += partCounts[h][c] }
        }
        let empty = (0..<k).filter { counts[$0] == 0 }
        var far: [Int] = []
        if !empty.isEmpty {
            far = Array((0..<n).sorted { distances[$0] > distances[$1] || (distances[$0] == distances[$1] && $0 < $1) }.prefix(empty.count))
        }
        return Tensor(shape: [k, d]) { out in
            X.withBuffer { p in
                for c in 0..<k where counts[c] > 0 {
                    for j in 0..<d { out[c * d + j] = Float(sums[c * d + j] / Double(counts[c])) }
                }
                for (e, c) in empty.enumerated() {
                    let i = far[min(e, far.count - 1)]
                    for j in 0..<d { out[c * d + j] = p[i * d + j] }
                }
            }
        }
    }

    /// Greedy k-means++: each step draws 2 + ⌊ln k⌋ candidates by D² sampling and keeps the one that
    /// lowers the potential Σ D² the most (scikit-learn's `_kmeans_plusplus`).
    static func plusPlus(_ X: Tensor, k: Int, rng: inout RandomGenerator) throws -> Tensor {
        let n = X.shape[0], d = X.shape[1]
        let trials = 2 + Int(log(Double(k)))
        var centers = [Int]()
        centers.append(rng.integer(below: n))
        // Short vectors: exact distances directly; longer ones: ‖x‖² + ‖c‖² − 2x·c by one GEMM.
        let direct = d <= 16
        let xNorm = direct ? [] : KMeans.rowNorms(X)
        func distancesTo(_ idx: [Int]) throws -> Tensor {
            // n × |idx| squared distances.
            let t = idx.count
            let cand = Tensor(shape: [t, d]) { out in X.withBuffer { p in for (r, i) in idx.enumerated() { for j in 0..<d { out[r * d + j] = p[i * d + j] } } } }
            let g = direct ? cand : try Tensor.gemm(X, cand, transB: true, alpha: -2)
            return Tensor(shape: [n, t]) { out in
                X.withBuffer { px in g.withBuffer { pg in
                    nonisolated(unsafe) let out = out
                    Parallel.forEach(n, grain: 8192) { range in
                        if direct {
                            for i in range { for r in 0..<t {
                                var s: Float = 0
                                for j in 0..<d { let e = px[i * d + j] - pg[r * d + j]; s += e * e }
                                out[i * t + r] = s
                            } }
                        } else {
                            for i in range { for r in 0..<t { out[i * t + r] = max(0, pg[i * t + r] + xNorm[i] + xNorm[idx[r]]) } }
                        }
                    }
                } }
            }
        }
        var closest = try distancesTo([centers[0]]).storage.map(Double.init)
        var potential = closest.reduce(0, +)
        for _ in 1..<k {
            // D² sampling by inverse CDF over the running sums (as numpy's searchsorted on the cumsum).
            var cumulative = [Double](repeating: 0, count: n)
            var acc = 0.0
            for i in 0..<n { acc += closest[i]; cumulative[i] = acc }
            var candidates: [Int] = []
            for _ in 0..<trials {
                let u = rng.uniform() * potential
                var lo = 0, hi = n - 1
                while lo < hi {
                    let mid = (lo + hi) / 2
                    if cumulative[mid] < u { lo = mid + 1 } else { hi = mid }
                }
                candidates.append(min(lo, n - 1))
            }
            let D = try distancesTo(candidates)
            // The potential each candidate would leave, Σ min(closest, D), in 64 fixed chunks summed in
            // order (the same sum on any number of cores); then `closest` is updated for the best only.
            let t = candidates.count, chunks = 64
            var partial = [Double](repeating: 0, count: chunks * t)
            D.withBuffer { pd in closest.withUnsafeBufferPointer { cp in partial.withUnsafeMutableBufferPointer { pp in
                nonisolated(unsafe) let (pd, cp, pp) = (pd, cp, pp)
                Parallel.forEach(chunks, grain: 1) { range in
                    for ch in range {
                        let lo = ch * n / chunks, hi = (ch + 1) * n / chunks
                        for r in 0..<t {
                            var pot = 0.0
                            for i in lo..<hi { pot += min(cp[i], Double(pd[i * t + r])) }
                            pp[ch * t + r] = pot
                        }
                    }
                }
            } } }
            var bestIndex = 0, bestPotential = Double.infinity
            for r in 0..<t {
                var pot = 0.0
                for ch in 0..<chunks { pot += partial[ch * t + r] }
                if pot < bestPotential { bestPotential = pot; bestIndex = r }
            }
            D.withBuffer { pd in for i in 0..<n { closest[i] = min(closest[i], Double(pd[i * t + bestIndex])) } }
            centers.append(candidates[bestIndex])
            potential = bestPotential
        }
        return Tensor(shape: [k, d]) { out in X.withBuffer { p in for (r, i) in centers.enumerated() { for j in 0..<d { out[r * d + j] = p[i * d + j] } } } }
    }
}
