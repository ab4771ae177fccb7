import Foundation
import SqueezeCore

/// SparseGPT (Frantar & Alistarh 2023) as the reference `sparsegpt.py` (fasterprune) runs it: the
/// layer Hessian H = 2/N·XᵀX prepared as GPTQ's (dead inputs, 1% damping, U = upper Cholesky of
/// H⁻¹), then the columns in blocks of 128. Unstructured: at each block start the mask removes the
/// entries with w²/U_cc² at or below the ⌊s·count⌋-th smallest of the block (every row of it at
/// once, ties removed too, as the reference's `tmp <= thresh`). N:M: at each group of M columns the
/// M − N entries of each row with the smallest w²/U_cc², from the weights as updated so far. Each
/// column is then zeroed where masked (and, with `bits`, the survivors rounded to the row's grid),
/// and its error err = (w − q)/U_ii is spread over the later columns — the optimal-brain-surgeon
/// update of the kept weights.
public enum SparseGPT {
    public struct Result: Sendable {
        public let recon: Tensor
        /// 1 kept, 0 removed.
        public let mask: Tensor
        public let kept: Int
        /// With joint quantization: codes of every weight (0's code where removed) and the grids.
        public let quantized: Quantizer.Result?
    }

    /// `sparsity` (unstructured) or `pattern` (keep n of every m along rows); `bits` quantizes the
    /// kept weights jointly, with one grid per row from the original weights (the reference's
    /// quantizer) or, with `group`, per group found at its first column from the updated weights (GPTQ's rule).
    public static func prune(
        _ W: Tensor, X: Tensor, sparsity: Double?, pattern: (n: Int, m: Int)?, bits: Int? = nil, group: Int? = nil,
        symmetric: Bool = false, scaleBits: Int = 32, damp: Double = 0.01, blockSize: Int = 128,
        cancellation: CancellationToken? = nil
    ) throws -> Result {
        guard W.rank == 2 else {
            throw CoreError.invalidParameter("W", "expected a weight matrix [out, in], got shape \(Shape.describe(W.shape))")
        }
        let rows = W.shape[0], cols = W.shape[1]
        if let pattern {
            guard pattern.n >= 0, pattern.m >= 1, pattern.n <= pattern.m else {
                throw CoreError.invalidParameter("pattern", "pattern N:M needs 0 ≤ N ≤ M, got \(pattern.n):\(pattern.m)")
            }
            guard cols % pattern.m == 0, blockSize % pattern.m == 0 else {
                throw CoreError.invalidParameter(
                    "pattern", "M = \(pattern.m) must divide the \(cols) columns and the block of \(blockSize)")
            }
        } else {
            guard let sparsity, sparsity >= 0, sparsity <= 1 else {
                throw CoreError.invalidParameter("sparsity", "give sparsity in [0, 1] or pattern: \"N:M\"")
            }
        }
        if let group, group < 1 { throw CoreError.invalidParameter("group", "group must be at least 1, got \(group)") }
        var H = try Hessian.of(X, columns: cols)
        var w = W.storage.map(Double.init)
        let maxq = Float((1 << (bits ?? 1)) - 1)
        let perLine = group.map { (cols + $0 - 1) / $0 } ?? 1
        var grids = [Quantizer.Grid](repeating: Quantizer.Grid(scale: 1, zero: 0), count: bits == nil ? 0 : rows * perLine)
        if let bits, group == nil {
            W.withBuffer { p in
                for r in 0..<rows {
                    grids[r] = Quantizer.grid(
                        UnsafeBufferPointer(rebasing: p[(r * cols)..<((r + 1) * cols)]), bits: bits, symmetric: symmetric,
                        scaleBits: scaleBits)
                }
            }
        }
        Hessian.reviveDead(&H, &w, rows: rows, cols: cols)
        let U = try Hessian.inverseCholesky(H, columns: cols, damp: damp)
        var out = [Float](repeating: 0, count: rows * cols), codes = [Float](repeating: 0, count: bits == nil ? 0 : rows * cols)
        var removed = [Bool](repeating: false, count: rows * cols)
        let task = ProgressMeter.start("sparsegpt", total: cols)
        defer { task.end() }
        var start = 0
        while start < cols {
            try cancellation?.check()
            let end = min(cols, start + blockSize), bw = end - start
            var w1 = [Double](repeating: 0, count: rows * bw)
            for r in 0..<rows { for j in 0..<bw { w1[r * bw + j] = w[r * cols + start + j] } }
            if let group, let bits {
                for gi in stride(from: (start + group - 1) / group * group, to: end, by: group) {
                    for r in 0..<rows {
                        let slice = (gi..<min(gi + group, cols)).map { Float(w[r * cols + $0]) }
                        grids[r * perLine + gi / group] = slice.withUnsafeBufferPointer {
                            Quantizer.grid($0, bits: bits, symmetric: symmetric, scaleBits: scaleBits)
                        }
                    }
                }
            }
            if pattern == nil, let sparsity {
                // The block's mask: w²/U_cc² at or below the ⌊s·count⌋-th smallest.
                var score = [Double](repeating: 0, count: rows * bw)
                for r in 0..<rows {
                    for j in 0..<bw {
                        let d = U[(start + j) * cols + start + j], v = w1[r * bw + j]
                        score[r * bw + j] = v * v / (d * d)
                    }
                }
                var order = score
                let threshold = Pruning.select(&order, min(score.count - 1, Int(Double(score.count) * sparsity)))
                for r in 0..<rows { for j in 0..<bw where score[r * bw + j] <= threshold { removed[r * cols + start + j] = true } }
            }
            var err = [Double](repeating: 0, count: rows * bw)
            w1.withUnsafeMutableBufferPointer { w1p in
                err.withUnsafeMutableBufferPointer { ep in
                    out.withUnsafeMutableBufferPointer { op in
                        codes.withUnsafeMutableBufferPointer { cp in
                            removed.withUnsafeMutableBufferPointer { mp in
                                U.withUnsafeBufferPointer { up in
                                    nonisolated(unsafe) let (w1p, ep, op, cp, mp) = (w1p, ep, op, cp, mp)
                                    Parallel.forEach(rows, grain: 8) { rr in
                                        for r in rr {
                                            for j in 0..<bw {
                                                let i = start + j, d = up[i * cols + i]
                                                if let pattern, j % pattern.m == 0 {
                                                    // The M − N smallest w²/U_cc² of this group, lower index first on ties.
                                                    markSmallest(
                                                        pattern.m - pattern.n, of: pattern.m,
                                                        w: w1p.baseAddress! + r * bw + j, u: up.baseAddress! + i * cols + i,
                                                        stride: cols + 1, into: mp.baseAddress! + r * cols + i)
                                                }
                                                let v = w1p[r * bw + j]
                                                var q = mp[r * cols + i] ? 0 : v
                                                if bits != nil {
                                                    let grid = grids[r * perLine + (group.map { i / $0 } ?? 0)]
                                                    let code = Quantizer.quantize(Float(q), grid, maxq)
                                                    cp[r * cols + i] = code
                                                    q = Double(Quantizer.dequantize(code, grid))
                                                }
                                                op[r * cols + i] = Float(q)
                                                let e = (v - q) / d
                                                ep[r * bw + j] = e
                                                if e != 0 {
                                                    Hessian.spread(
                                                        e, into: w1p.baseAddress! + r * bw,
                                                        from: up.baseAddress! + i * cols + start, j + 1, bw)
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            Hessian.propagate(&w, err, U, rows: rows, cols: cols, start: start, end: end)
            task.advance(bw)
            start = end
        }
        let mask = removed.map { $0 ? Float(0) : 1 }
        let kept = removed.reduce(0) { $0 + ($1 ? 0 : 1) }
        let recon = Tensor(shape: W.shape, storage: out)
        let quantized = bits.map { _ in
            Quantizer.Result(recon: recon, codes: Tensor(shape: W.shape, storage: codes), grids: grids, groupsPerLine: perLine)
        }
        return Result(recon: recon, mask: Tensor(shape: W.shape, storage: mask), kept: kept, quantized: quantized)
    }

    /// Marks the `count` positions t < m with the smallest w[t]² / u[t·stride]², lower t first on
    /// ties: t is marked when fewer than `count` positions rank below it in (score, index) order.
    static func markSmallest(
        _ count: Int, of m: Int, w: UnsafeMutablePointer<Double>, u: UnsafePointer<Double>, stride: Int,
        into marked: UnsafeMutablePointer<Bool>
    ) {
        withUnsafeTemporaryAllocation(of: Double.self, capacity: m) { score in
            for t in 0..<m {
                let d = u[t * stride]
                score[t] = w[t] * w[t] / (d * d)
            }
            for t in 0..<m {
                var below = 0
                for v in 0..<t where score[v] <= score[t] { below += 1 }
                for v in (t + 1)..<m where score[v] < score[t] { below += 1 }
                if below < count { marked[t] = true }
            }
        }
    }
}

extension Compressed {
    /// SparseGPT with its storage account: the kept weights (at 32 bits, or their `bits` codes with
    /// the grids' scales and zeros) and the mask (one bit per weight, or log₂ C(M, N) per group of M).
    public static func sparseGPT(
        _ W: Tensor, X: Tensor, sparsity: Double?, pattern: (n: Int, m: Int)?, bits: Int?, group: Int?, symmetric: Bool,
        scaleBits: Int, cancellation: CancellationToken? = nil
    ) throws -> Compressed {
        let r = try SparseGPT.prune(
            W, X: X, sparsity: sparsity, pattern: pattern, bits: bits, group: group, symmetric: symmetric, scaleBits: scaleBits,
            cancellation: cancellation)
        let mask =
            pattern.map { Line("mask", "which N of every M weights are kept", count: W.count / $0.m, bits: choiceBits($0.n, of: $0.m)) }
            ?? Line("mask", "one bit per weight", count: W.count, bits: 1)
        var lines = [Line("values", "the kept weights", count: r.kept, bits: 32), mask]
        var parts: [(name: String, part: Part)] = [
            ("mask", .tensor(r.mask)), ("sparsity", .number(1 - Double(r.kept) / Double(max(1, W.count)))),
        ]
        if let bits, let q = r.quantized {
            lines[0] = Line("codes", "one integer code per kept weight", count: r.kept, bits: Double(bits))
            lines.append(Line("scales", "one scale per group", count: q.grids.count, bits: Double(scaleBits)))
            if !symmetric { lines.append(Line("zeros", "one zero point per group", count: q.grids.count, bits: Double(bits))) }
            parts += [
                ("codes", .tensor(q.codes)), ("scales", .tensor(Tensor(q.grids.map(\.scale)))),
                ("zeros", .tensor(Tensor(q.grids.map(\.zero)))),
            ]
        }
        return Compressed(method: "sparsegpt", recon: r.recon, parts: parts, storage: lines)
    }
}
