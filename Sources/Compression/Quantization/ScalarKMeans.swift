import CBLAS
import Foundation
import SqueezeCore

extension Quantizer {
    /// Non-uniform scalar quantization with a k-means codebook of 2^bits levels per row
    /// (`axis: .row`, SqueezeLLM's per-channel lookup tables without the sensitivity weights) or per
    /// tensor. Lloyd's algorithm is exact and cheap in one dimension: the values are sorted once, each
    /// cluster is the run of values between midpoints of neighbouring levels, and its mean comes
    /// from prefix sums. Levels start at the quantiles (j + ½)/k, ties go to the lower level, and the
    /// levels are rounded to fp16 when `levelBits` is 16 (what is stored is what is used).
    public static func kmeans(
        _ W: Tensor, bits: Int, axis: Axis, iters: Int, levelBits: Int = 16, cancellation: CancellationToken? = nil
    ) throws
        -> (recon: Tensor, codes: Tensor, levels: [[Float]])
    {
        guard W.rank == 2 || W.rank == 1 else {
            throw CoreError.invalidArgument("quantize: expected a matrix, got shape \(Shape.describe(W.shape))")
        }
        let M = W.rank == 2 ? W : try W.reshaped([1, W.count])
        let work = axis == .col ? M.transposed : M
        let lines = axis == .tensor ? 1 : work.shape[0], len = work.count / max(1, lines)
        let k = 1 << bits
        var levels = [[Float]](repeating: [], count: lines)
        var codes = [Float](repeating: 0, count: work.count), out = [Float](repeating: 0, count: work.count)
        let task = ProgressMeter.start("kmeans levels", total: lines)
        defer { task.end() }
        work.withBuffer { p in
            codes.withUnsafeMutableBufferPointer { cp in
                out.withUnsafeMutableBufferPointer { op in
                    levels.withUnsafeMutableBufferPointer { lp in
                        nonisolated(unsafe) let (cp, op, lp) = (cp, op, lp)
                        Parallel.forEach(lines, grain: 1) { range in
                            for l in range {
                                if cancellation?.isCancelled == true { return }
                                task.advance()
                                let line = UnsafeBufferPointer(rebasing: p[(l * len)..<((l + 1) * len)])
                                let c = lloyd1D(line.sorted(), k: k, iters: iters, levelBits: levelBits, cancellation: cancellation)
                                lp[l] = c
                                let mids = (0..<(c.count - 1)).map { (c[$0] + c[$0 + 1]) / 2 }
                                for i in 0..<len {
                                    let v = line[i]
                                    var lo = 0, hi = mids.count  // first midpoint ≥ v … the level index
                                    while lo < hi { let m = (lo + hi) / 2; if mids[m] < v { lo = m + 1 } else { hi = m } }
                                    cp[l * len + i] = Float(lo)
                                    op[l * len + i] = c[lo]
                                }
                            }
                        }
                    }
                }
            }
        }
        var recon = Tensor(shape: work.shape, storage: out), codeT = Tensor(shape: work.shape, storage: codes)
        try cancellation?.check()
        if axis == .col { recon = recon.transposed; codeT = codeT.transposed }
        return (try recon.reshaped(W.shape), try codeT.reshaped(W.shape), levels)
    }

    /// Lloyd's algorithm on sorted values: at most k ascending levels (fewer when there are fewer
    /// distinct values).
    static func lloyd1D(_ v: [Float], k: Int, iters: Int, levelBits: Int, cancellation: CancellationToken? = nil) -> [Float] {
        let n = v.count
        guard n > 0 else { return [0] }
        var prefix = [Double](repeating: 0, count: n + 1)
        for i in 0..<n { prefix[i + 1] = prefix[i] + Double(v[i]) }
        var c: [Float] = []
        for j in 0..<k {
            let x = v[min(n - 1, Int((Double(j) + 0.5) * Double(n) / Double(k)))]
            if c.last != x { c.append(x) }
        }
        func upper(_ b: Float) -> Int {  // first index with v > b
            var lo = 0, hi = n
            while lo < hi { let m = (lo + hi) / 2; if v[m] <= b { lo = m + 1 } else { hi = m } }
            return lo
        }
        for _ in 0..<max(0, iters) {
            if cancellation?.isCancelled == true { break }   // the caller throws
            var next = c
            var start = 0
            for j in 0..<c.count {
                let end = j == c.count - 1 ? n : upper((c[j] + c[j + 1]) / 2)
                if end > start { next[j] = Float((prefix[end] - prefix[start]) / Double(end - start)) }
                start = max(start, end)
            }
            if next == c { break }
            c = next
        }
        if levelBits == 16 { c = c.map { Float(Float16($0)) } }
        return c
    }
}

extension Compressed {
    /// k-means scalar quantization with its storage account: a code per weight at `bits` and every
    /// line's levels at `levelBits`.
    public static func scalarKMeans(
        _ W: Tensor, bits: Int, axis: Quantizer.Axis, iters: Int, levelBits: Int, cancellation: CancellationToken? = nil
    ) throws -> Compressed {
        let r = try Quantizer.kmeans(W, bits: bits, axis: axis, iters: iters, levelBits: levelBits, cancellation: cancellation)
        let levelCount = r.levels.reduce(0) { $0 + $1.count }
        let levels: Part = r.levels.count == 1 ? .tensor(Tensor(r.levels[0])) : .tensors(r.levels.map { Tensor($0) })
        return Compressed(
            method: "kmeans", recon: r.recon, parts: [("codes", .tensor(r.codes)), ("levels", levels)],
            storage: [
                Line("codes", "one level index per weight", count: W.count, bits: Double(bits)),
                Line(
                    "levels", "the levels of every row, column or the tensor", count: levelCount,
                    bits: Double(levelBits)),
            ])
    }
}
