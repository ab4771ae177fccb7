import CBLAS
import Foundation
import SqueezeCore

/// GPTQ (Frantar et al. 2023) as the reference `gptq.py` runs it (ALGORITHMS.md §B7): H = (2/N) XᵀX
/// from calibration rows X (N × in), dead inputs zeroed, 1% mean-diagonal damping, U = upper
/// Cholesky factor of H⁻¹, then column by column: quantize, err = (w − q)/U_ii, spread err over the
/// later columns of the 128-column block, and after each block update the rest with one GEMM.
/// Group grids are found at each group start from the lazily updated weights, as the reference does.
/// With `actOrder`, columns are processed in order of descending H_ii (the inputs with the most
/// activation energy first) and group grids are fixed beforehand from the weights in their
/// original groups (the reference's act_order with static_groups), so storage is unchanged.
/// Grids are returned row-major: grids[row · groupsPerLine + group], as RTN returns them.
public enum GPTQ {
    public static func quantize(
        _ W: Tensor, X: Tensor, bits: Int, group: Int?, symmetric: Bool,
        damp: Double = 0.01, blockSize: Int = 128, scaleBits: Int = 32, actOrder: Bool = false,
        cancellation: CancellationToken? = nil
    ) throws -> Quantizer.Result {
        guard W.rank == 2 else {
            throw CoreError.invalidParameter("W", "expected a weight matrix [out, in], got shape \(Shape.describe(W.shape))")
        }
        let rows = W.shape[0], cols = W.shape[1]
        var H = try Hessian.of(X, columns: cols)
        let g = group ?? cols
        guard g >= 1 else { throw CoreError.invalidParameter("group", "group must be at least 1, got \(g)") }
        var w = W.storage.map(Double.init)
        let maxq = Float((1 << bits) - 1)
        // Without groups, one grid per row from the original weights (before dead columns are zeroed).
        var rowGrids: [Quantizer.Grid] = []
        if group == nil {
            W.withBuffer { p in
                for r in 0..<rows {
                    rowGrids.append(
                        Quantizer.grid(
                            UnsafeBufferPointer(rebasing: p[(r * cols)..<((r + 1) * cols)]), bits: bits, symmetric: symmetric,
                            scaleBits: scaleBits))
                }
            }
        }
        Hessian.reviveDead(&H, &w, rows: rows, cols: cols)
        // The grid of row r's g weights from column `at` of the current (lazily updated) weights.
        func groupGrid(_ r: Int, at start: Int) -> Quantizer.Grid {
            let slice = (0..<min(g, cols - start)).map { Float(w[r * cols + start + $0]) }
            return slice.withUnsafeBufferPointer { Quantizer.grid($0, bits: bits, symmetric: symmetric, scaleBits: scaleBits) }
        }
        // act_order: static group grids from the (dead-zeroed) weights, then columns permuted.
        // A last group shorter than g when g does not divide the columns (the reference slices so).
        let perLine = (cols + g - 1) / g
        var staticGrids: [Quantizer.Grid] = []
        var perm = Array(0..<cols)
        if actOrder {
            if group != nil {
                for r in 0..<rows { for gi in 0..<perLine { staticGrids.append(groupGrid(r, at: gi * g)) } }
            }
            perm.sort { H[$0 * cols + $0] != H[$1 * cols + $1] ? H[$0 * cols + $0] > H[$1 * cols + $1] : $0 < $1 }
            let w0 = w, H0 = H
            for r in 0..<rows { for j in 0..<cols { w[r * cols + j] = w0[r * cols + perm[j]] } }
            for a in 0..<cols { for b in 0..<cols { H[a * cols + b] = H0[perm[a] * cols + perm[b]] } }
        }
        let U = try Hessian.inverseCholesky(H, columns: cols, damp: damp)
        var codes = [Float](repeating: 0, count: rows * cols)
        var out = [Float](repeating: 0, count: rows * cols)
        var grids = [Quantizer.Grid](repeating: Quantizer.Grid(scale: 1, zero: 0), count: group == nil ? 0 : rows * perLine)
        var current = rowGrids
        var start = 0
        let task = ProgressMeter.start("gptq", total: cols)
        defer { task.end() }
        while start < cols {
            try cancellation?.check()   // per 128-column block: a 4096-wide layer is 32 checks
            task.advance(min(blockSize, cols - start))
            let end = min(cols, start + blockSize), bw = end - start
            // The block's working copy; `w` keeps the lazily updated weights the grids are found from.
            var w1 = [Double](repeating: 0, count: rows * bw)
            for r in 0..<rows { for j in 0..<bw { w1[r * bw + j] = w[r * cols + start + j] } }
            var err = [Double](repeating: 0, count: rows * bw)
            // The grids each column uses, found first (from `w`, which the block's own updates do
            // not touch, as in the reference); then rows are independent within the block and
            // run on both cores.
            var columnGrids: [[Quantizer.Grid]] = []
            columnGrids.reserveCapacity(bw)
            for j in 0..<bw {
                let i = start + j, orig = perm[i]
                if actOrder && group != nil {
                    current = (0..<rows).map { staticGrids[$0 * perLine + orig / g] }
                } else if group != nil && i % g == 0 {
                    current = (0..<rows).map { groupGrid($0, at: i) }
                    for r in 0..<rows { grids[r * perLine + i / g] = current[r] }
                }
                columnGrids.append(current)
            }
            try cancellation?.check()
            w1.withUnsafeMutableBufferPointer { w1p in
                err.withUnsafeMutableBufferPointer { ep in
                    codes.withUnsafeMutableBufferPointer { cp in
                        out.withUnsafeMutableBufferPointer { op in
                            U.withUnsafeBufferPointer { up in
                                nonisolated(unsafe) let (w1p, ep, cp, op) = (w1p, ep, cp, op)
                                Parallel.forEach(rows, grain: 8) { rr in
                                    for r in rr {
                                        for j in 0..<bw {
                                            let i = start + j, orig = perm[i], grid = columnGrids[j][r]
                                            let d = up[i * cols + i]
                                            let v = w1p[r * bw + j]
                                            let q = Quantizer.quantize(Float(v), grid, maxq)
                                            let deq = Double(Quantizer.dequantize(q, grid))
                                            cp[r * cols + orig] = q
                                            op[r * cols + orig] = Float(deq)
                                            let e = (v - deq) / d
                                            ep[r * bw + j] = e
                                            if e != 0 {
                                                Hessian.spread(
                                                    e, into: w1p.baseAddress! + r * bw, from: up.baseAddress! + i * cols + start, j + 1, bw)
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
            start = end
        }
        if group == nil { grids = rowGrids } else if actOrder { grids = staticGrids }
        return Quantizer.Result(
            recon: Tensor(shape: W.shape, storage: out), codes: Tensor(shape: W.shape, storage: codes), grids: grids, groupsPerLine: perLine
        )
    }
}

extension Compressed {
    /// GPTQ with its storage account (the same grids and codes as RTN stores).
    public static func gptq(
        _ W: Tensor, X: Tensor, bits: Int, group: Int?, symmetric: Bool, scaleBits: Int,
        actOrder: Bool, cancellation: CancellationToken? = nil
    ) throws -> Compressed {
        try GPTQ.quantize(W, X: X, bits: bits, group: group, symmetric: symmetric, scaleBits: scaleBits, actOrder: actOrder,
                          cancellation: cancellation)
            .compressed(method: "gptq", bits: bits, symmetric: symmetric, scaleBits: scaleBits)
    }
}
