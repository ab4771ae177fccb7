import Foundation

/// Pruning as the Wanda repository runs it (ALGORITHMS.md §B8): magnitude over the whole matrix,
/// N:M within each row, and Wanda's |W|·‖X_col‖ per output row. Ties go to the lower index (a
/// stable sort), so masks are reproducible.
public enum Pruning {
    /// A pruned matrix: the kept weights (removed ones are 0), the mask (1 kept, 0 removed) and the
    /// number kept.
    public struct Result: Sendable {
        public let recon: Tensor
        public let mask: Tensor
        public let kept: Int
    }

    /// Magnitude: threshold = sorted(|W|)[⌊sparsity · count⌋]; weights with |w| ≤ threshold are removed
    /// (the reference's rule, which removes ties with the threshold too).
    public static func magnitude(_ W: Tensor, sparsity: Double) -> Result {
        let n = W.count
        guard n > 0, sparsity > 0 else { return Result(recon: W, mask: Tensor(shape: W.shape, repeating: 1), kept: n) }
        var scores = W.storage.map { abs($0) }
        let k = min(n - 1, Int((sparsity * Double(n)).rounded(.down)))
        let threshold = select(&scores, k)
        return apply(W) { _, w in abs(w) > threshold }
    }

    /// The k-th smallest value (0-based), as sorted(v)[k] would give, by quickselect (Hoare
    /// partitioning, median-of-three pivots); `v` is reordered.
    static func select(_ v: inout [Float], _ k: Int) -> Float {
        var lo = 0, hi = v.count - 1
        return v.withUnsafeMutableBufferPointer { a in
            while lo < hi {
                let mid = lo + (hi - lo) / 2
                let x = a[lo], y = a[mid], z = a[hi]
                let pivot = max(min(x, y), min(max(x, y), z))
                var i = lo, j = hi
                while i <= j {
                    while a[i] < pivot { i += 1 }
                    while a[j] > pivot { j -= 1 }
                    if i <= j { a.swapAt(i, j); i += 1; j -= 1 }
                }
                if k <= j { hi = j } else if k >= i { lo = i } else { return a[k] }
            }
            return a[k]
        }
    }

    /// Removes the `count` lowest scores of each row (stable ascending order).
    static func perRow(_ W: Tensor, scores: [Float], remove count: Int) -> Result {
        let rows = W.shape[0], cols = W.shape[1]
        var removed = [Bool](repeating: false, count: rows * cols)
        for r in 0..<rows {
            let order = (0..<cols).sorted { a, b in
                let sa = scores[r * cols + a], sb = scores[r * cols + b]
                return sa < sb || (sa == sb && a < b)
            }
            for j in order.prefix(count) { removed[r * cols + j] = true }
        }
        return apply(W) { i, _ in !removed[i] }
    }

    /// N:M: in each row, every group of M consecutive weights keeps its N largest scores. A weight
    /// is removed when fewer than M − N of its group rank below it in (score, index) order, so ties
    /// go to the lower index.
    public static func nm(_ W: Tensor, n: Int, m: Int, scores: [Float]? = nil) throws -> Result {
        guard W.rank == 2 else { throw CoreError.invalidArgument("prune: N:M needs a matrix, got shape \(Shape.describe(W.shape))") }
        guard n >= 0, m >= 1, n <= m else { throw CoreError.invalidArgument("prune: pattern N:M needs 0 ≤ N ≤ M, got \(n):\(m)") }
        let cols = W.shape[1]
        guard cols % m == 0 else { throw CoreError.invalidArgument("prune: M = \(m) does not divide the \(cols) columns") }
        let drop = m - n
        var mask = Tensor.zeros([0])
        let recon = Tensor(shape: W.shape) { rp in
            mask = Tensor(shape: W.shape) { mp in
                W.withBuffer { wp in
                    nonisolated(unsafe) let (rp, mp) = (rp, mp)
                    let body = { (sp: UnsafeBufferPointer<Float>, magnitude: Bool) in
                        Parallel.forEach(W.count / m, grain: 16_384) { range in
                            let (mp, rp, wp) = (mp, rp, wp)   // locals: stores through them cannot alias the closure's context
                            // Branch-free: the outcome of a comparison of random weights is not predictable.
                            @inline(__always) func keep(_ below: Int, _ i: Int) {
                                let k = ((drop &- 1 &- below) >> 63) & 1                 // 1 when below ≥ drop
                                mp[i] = Float(k)
                                rp[i] = Float(bitPattern: wp[i].bitPattern & UInt32(truncatingIfNeeded: 0 &- k))
                            }
                            withUnsafeTemporaryAllocation(of: Float.self, capacity: m) { local in
                                for group in range {
                                    let base = group * m
                                    for t in 0..<m { local[t] = magnitude ? abs(wp[base + t]) : sp[base + t] }
                                    if m == 4 {
                                        // Unrolled: earlier indices win ties (≤), later ones must be strictly lower.
                                        let (s0, s1, s2, s3) = (local[0], local[1], local[2], local[3])
                                        let b0 = (s1 < s0 ? 1 : 0) + (s2 < s0 ? 1 : 0) + (s3 < s0 ? 1 : 0)
                                        let b1 = (s0 <= s1 ? 1 : 0) + (s2 < s1 ? 1 : 0) + (s3 < s1 ? 1 : 0)
                                        let b2 = (s0 <= s2 ? 1 : 0) + (s1 <= s2 ? 1 : 0) + (s3 < s2 ? 1 : 0)
                                        let b3 = (s0 <= s3 ? 1 : 0) + (s1 <= s3 ? 1 : 0) + (s2 <= s3 ? 1 : 0)
                                        keep(b0, base); keep(b1, base + 1); keep(b2, base + 2); keep(b3, base + 3)
                                        continue
                                    }
                                    for t in 0..<m {
                                        let st = local[t]
                                        var below = 0
                                        for u in 0..<t { below &+= local[u] <= st ? 1 : 0 }
                                        for u in (t + 1)..<m { below &+= local[u] < st ? 1 : 0 }
                                        keep(below, base + t)
                                    }
                                }
                            }
                        }
                    }
                    if let scores { scores.withUnsafeBufferPointer { body($0, false) } } else { body(wp, true) }
                }
            }
        }
        return Result(recon: recon, mask: mask, kept: W.count / m * n)
    }

    /// Wanda's score |W_ij| · ‖X_j‖₂ (X: calibration rows × inputs).
    public static func wandaScores(_ W: Tensor, X: Tensor) throws -> [Float] {
        guard W.rank == 2, X.rank == 2, X.shape[1] == W.shape[1] else {
            throw CoreError.invalidArgument("prune: wanda needs W [out, in] and X [tokens, in] with the same in, got \(Shape.describe(W.shape)) and \(Shape.describe(X.shape))")
        }
        let cols = W.shape[1], n = X.shape[0]
        var norms = [Double](repeating: 0, count: cols)
        X.withBuffer { p in for t in 0..<n { for j in 0..<cols { let v = Double(p[t * cols + j]); norms[j] += v * v } } }
        let root = norms.map { Float($0.squareRoot()) }
        return W.storage.enumerated().map { abs($0.element) * root[$0.offset % cols] }
    }

    /// Wanda: remove the lowest ⌊sparsity · in⌋ scores of each output row.
    public static func wanda(_ W: Tensor, X: Tensor, sparsity: Double) throws -> Result {
        wanda(W, scores: try wandaScores(W, X: X), sparsity: sparsity)
    }

    /// Wanda from scores already computed by `wandaScores` (W a matrix).
    public static func wanda(_ W: Tensor, scores: [Float], sparsity: Double) -> Result {
        perRow(W, scores: scores, remove: Int((sparsity * Double(W.shape[1])).rounded(.down)))
    }

    /// Keeps the weights `keep(flat index, value)` selects.
    static func apply(_ W: Tensor, _ keep: (Int, Float) -> Bool) -> Result {
        var kept = 0
        var mask = [Float](repeating: 0, count: W.count), recon = [Float](repeating: 0, count: W.count)
        for (i, w) in W.storage.enumerated() where keep(i, w) { mask[i] = 1; recon[i] = w; kept += 1 }
        return Result(recon: Tensor(shape: W.shape, storage: recon), mask: Tensor(shape: W.shape, storage: mask), kept: kept)
    }
}

/// Low-rank approximations (ALGORITHMS.md §B6).
public enum LowRank {
    /// Truncated SVD (Eckart–Young optimal): factors B = U_r Σ_r (m × r) and A = V_rᵀ (r × n).
    public static func truncated(_ W: Tensor, rank: Int?, energy: Double?) throws -> (B: Tensor, A: Tensor, rank: Int, S: Tensor) {
        guard W.rank == 2 else { throw CoreError.invalidArgument("lowrank: expected a matrix, got shape \(Shape.describe(W.shape))") }
        let (m, n) = (W.shape[0], W.shape[1])
        guard m > 0, n > 0 else { throw CoreError.invalidArgument("lowrank: the matrix is empty") }
        let f = try W.svd()
        var r: Int
        if let rank {
            guard rank >= 1, rank <= min(m, n) else { throw CoreError.invalidArgument("lowrank: rank \(rank) must be between 1 and min(m, n) = \(min(m, n))") }
            r = rank
        } else {
            let e = energy ?? 0.9
            guard e > 0, e <= 1 else { throw CoreError.invalidArgument("lowrank: energy must be in (0, 1], got \(e)") }
            let sq = f.S.storage.map { Double($0) * Double($0) }
            let total = sq.reduce(0, +)
            var acc = 0.0
            r = sq.count
            for (i, v) in sq.enumerated() {
                acc += v
                if total == 0 || acc >= e * total - 1e-12 * total { r = i + 1; break }
            }
        }
        let B = Tensor(shape: [m, r]) { out in for i in 0..<m { for j in 0..<r { out[i * r + j] = f.U.storage[i * f.U.shape[1] + j] * f.S.storage[j] } } }
        let A = Tensor(shape: [r, n]) { out in for i in 0..<r { for j in 0..<n { out[i * n + j] = f.Vt.storage[i * n + j] } } }
        return (B, A, r, f.S)
    }

    /// Randomized SVD (Halko, Martinsson & Tropp 2011): a Gaussian sketch of rank + oversample
    /// columns, `iters` power iterations re-orthonormalised by QR, then the SVD of the small QᵀW.
    public static func randomized(_ W: Tensor, rank: Int, oversample: Int, iters: Int, rng: inout RandomGenerator) throws -> (B: Tensor, A: Tensor) {
        guard W.rank == 2 else { throw CoreError.invalidArgument("rsvd: expected a matrix, got shape \(Shape.describe(W.shape))") }
        let (m, n) = (W.shape[0], W.shape[1])
        guard rank >= 1, rank <= min(m, n) else { throw CoreError.invalidArgument("rsvd: rank \(rank) must be between 1 and min(m, n) = \(min(m, n))") }
        let l = min(n, min(m, rank + max(0, oversample)))
        let omega = Tensor.randn([n, l], using: &rng)
        var Q = try Tensor.gemm(W, omega).qr().Q
        for _ in 0..<max(0, iters) {
            let Z = try Tensor.gemm(W, Q, transA: true).qr().Q
            Q = try Tensor.gemm(W, Z).qr().Q
        }
        let small = try Tensor.gemm(Q, W, transA: true)          // l × n
        let f = try small.svd()
        let Ur = try Tensor.gemm(Q, f.U)                         // m × l
        let B = Tensor(shape: [m, rank]) { out in for i in 0..<m { for j in 0..<rank { out[i * rank + j] = Ur.storage[i * Ur.shape[1] + j] * f.S.storage[j] } } }
        let A = Tensor(shape: [rank, n]) { out in for i in 0..<rank { for j in 0..<n { out[i * n + j] = f.Vt.storage[i * n + j] } } }
        return (B, A)
    }
}
