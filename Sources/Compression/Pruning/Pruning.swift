import Foundation
import SqueezeCore

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
    static func select<T: Comparable>(_ v: inout [T], _ k: Int) -> T {
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

    /// Removes the `count` lowest scores of each row (stable ascending order: of the scores equal to
    /// the count-th lowest, the lower indices), the threshold found by selection.
    static func perRow(_ W: Tensor, scores: [Float], remove count: Int) -> Result {
        let rows = W.shape[0], cols = W.shape[1]
        var removed = [Bool](repeating: false, count: rows * cols)
        guard count > 0, cols > 0 else { return apply(W) { _, _ in true } }
        let k = min(count, cols)
        var row = [Float](repeating: 0, count: cols)
        for r in 0..<rows {
            for j in 0..<cols { row[j] = scores[r * cols + j] }
            let threshold = select(&row, k - 1)
            var taken = 0
            for j in 0..<cols where scores[r * cols + j] < threshold { removed[r * cols + j] = true; taken += 1 }
            for j in 0..<cols where taken < k && scores[r * cols + j] == threshold { removed[r * cols + j] = true; taken += 1 }
        }
        return apply(W) { i, _ in !removed[i] }
    }

    /// Keeps the weights `keep(flat index, value)` selects.
    static func apply(_ W: Tensor, _ keep: (Int, Float) -> Bool) -> Result {
        var kept = 0
        var mask = [Float](repeating: 0, count: W.count), recon = [Float](repeating: 0, count: W.count)
        for (i, w) in W.storage.enumerated() where keep(i, w) { mask[i] = 1; recon[i] = w; kept += 1 }
        return Result(recon: Tensor(shape: W.shape, storage: recon), mask: Tensor(shape: W.shape, storage: mask), kept: kept)
    }
}

extension Compressed {
    /// How weights are scored for removal.
    public enum PruneMethod: String, Sendable { case magnitude, wanda }

    /// Magnitude or Wanda pruning, unstructured (`sparsity`) or N:M (`pattern`), with its storage
    /// account: the kept weights at 32 bits plus the mask — one bit per weight, or log₂ C(M, N)
    /// bits per group of M for an N:M pattern. Wanda needs calibration activations X.
    public static func pruned(
        _ W: Tensor, method: PruneMethod, sparsity: Double?, pattern: (n: Int, m: Int)?,
        X: Tensor?
    ) throws -> Compressed {
        var scores: [Float]?
        if method == .wanda {
            guard let X else { throw CoreError.invalidParameter("X", "method: \"wanda\" needs calibration activations X (tokens × in)") }
            scores = try Pruning.wandaScores(W, X: X)
        }
        let r: Pruning.Result, mask: Line
        if let pattern {
            r = try Pruning.nm(W, n: pattern.n, m: pattern.m, scores: scores)
            mask = Line(
                "mask", "which N of every M weights are kept", count: W.count / pattern.m,
                bits: choiceBits(pattern.n, of: pattern.m))
        } else {
            guard let sparsity else { throw CoreError.invalidArgument("give sparsity: s or pattern: \"N:M\"") }
            if let scores {
                guard W.rank == 2 else { throw CoreError.invalidParameter("W", "wanda prunes a weight matrix [out, in]") }
                r = Pruning.wanda(W, scores: scores, sparsity: sparsity)
            } else {
                r = Pruning.magnitude(W, sparsity: sparsity)
            }
            mask = Line("mask", "one bit per weight", count: W.count, bits: 1)
        }
        let name = method == .wanda ? "wanda" : (pattern == nil ? "magnitude" : "nm")
        return Compressed(
            method: name, recon: r.recon,
            parts: [("mask", .tensor(r.mask)), ("sparsity", .number(1 - Double(r.kept) / Double(max(1, W.count))))],
            storage: [Line("values", "the kept weights", count: r.kept, bits: 32), mask])
    }
}
