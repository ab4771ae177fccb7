import CBLAS
import Foundation

/// Uniform quantization as GPTQ's reference (`quant.py`) defines it (ALGORITHMS.md §B7), computed in
/// Float32 like torch: the range always contains zero; asymmetric grids have
/// scale = (xmax − xmin)/(2^b − 1), zero = round(−xmin/scale); symmetric grids have xmin = −xmax,
/// scale = 2·xmax/(2^b − 1), zero = 2^(b−1); q = clamp(round(w/scale) + zero, 0, 2^b − 1),
/// ŵ = scale·(q − zero); rounding half to even. An all-zero group uses the range [−1, 1].
public enum Quantizer {
    public enum Axis: String, Sendable { case row, col, tensor }
    public enum Clip: String, Sendable { case minmax, mse }

    public struct Grid: Sendable, Equatable {
        public var scale: Float
        public var zero: Float
    }

    public struct Result: Sendable {
        public let recon: Tensor
        /// One code per weight, in W's layout.
        public let codes: [UInt16]
        /// One grid per group: groups run along each row (or column, or the whole tensor).
        public let grids: [Grid]
        public let groupsPerLine: Int
    }

    /// The grid for a set of values (`quant.py`'s find_params), optionally shrunk by the MSE search
    /// (p = 1 − i/100 for i < 80, keeping the p that minimises Σ|ŵ − w|^2.4).
    public static func grid(_ w: UnsafeBufferPointer<Float>, bits: Int, symmetric: Bool, clip: Clip = .minmax, scaleBits: Int = 32) -> Grid {
        let maxq = Float((1 << bits) - 1)
        var lo: Float = 0, hi: Float = 0
        for v in w { lo = min(lo, v); hi = max(hi, v) }
        func make(_ lo0: Float, _ hi0: Float) -> Grid {
            var lo = lo0, hi = hi0
            if symmetric {
                hi = max(abs(lo), hi)
                if lo < 0 { lo = -hi }
            }
            if lo == 0 && hi == 0 { lo = -1; hi = 1 }
            var scale = (hi - lo) / maxq
            if scaleBits == 16 { scale = Float(Float16(scale)) }
            let zero = symmetric ? (maxq + 1) / 2 : (-lo / scale).rounded(.toNearestOrEven)
            return Grid(scale: scale, zero: zero)
        }
        var best = make(lo, hi)
        guard clip == .mse else { return best }
        var bestErr = Float.infinity
        for i in 0..<80 {
            let p = 1 - Float(i) / 100
            let g = make(p * lo, p * hi)
            var err: Float = 0
            for v in w {
                let e = abs(dequantize(quantize(v, g, maxq), g) - v)
                err += pow(e, 2.4)
            }
            if err < bestErr { bestErr = err; best = g }
        }
        return best
    }

    @inline(__always)
    static func quantize(_ v: Float, _ g: Grid, _ maxq: Float) -> Float {
        min(maxq, max(0, (v / g.scale).rounded(.toNearestOrEven) + g.zero))
    }

    @inline(__always)
    static func dequantize(_ q: Float, _ g: Grid) -> Float { g.scale * (q - g.zero) }

    /// Round-to-nearest of a matrix: one grid per `group` consecutive weights along each row
    /// (`axis: .row`, nil group = the whole row), per column, or for the whole tensor.
    public static func rtn(_ W: Tensor, bits: Int, group: Int?, symmetric: Bool, axis: Axis, clip: Clip, scaleBits: Int = 32) throws -> Result {
        guard W.rank == 2 || (W.rank == 1 && axis == .tensor) || W.rank == 1 else {
            throw CoreError.invalidArgument("quantize: expected a matrix, got shape \(Shape.describe(W.shape))")
        }
        let M = W.rank == 2 ? W : try W.reshaped([1, W.count])
        let work = axis == .col ? M.transposed : M
        let rows = axis == .tensor ? 1 : work.shape[0], cols = axis == .tensor ? work.count : work.shape[1]
        let g = group ?? cols
        guard g >= 1, cols % g == 0 else {
            throw CoreError.invalidArgument("quantize: group \(g) does not divide the \(cols) weights of a \(axis == .tensor ? "tensor" : axis.rawValue)")
        }
        let maxq = Float((1 << bits) - 1)
        let perLine = cols / g
        var grids = [Grid](repeating: Grid(scale: 1, zero: 0), count: rows * perLine)
        var codes = [UInt16](repeating: 0, count: rows * cols)
        var out = [Float](repeating: 0, count: rows * cols)
        // Rows are independent: both cores, each writing only its rows' codes, values and grids.
        work.withBuffer { p in
            codes.withUnsafeMutableBufferPointer { cp in out.withUnsafeMutableBufferPointer { op in grids.withUnsafeMutableBufferPointer { gp in
                nonisolated(unsafe) let (cp, op, gp) = (cp, op, gp)
                Parallel.forEach(rows, grain: max(1, 65_536 / max(1, cols))) { range in
                    for r in range {
                        for (k, s) in stride(from: 0, to: cols, by: g).enumerated() {
                            let slice = UnsafeBufferPointer(rebasing: p[(r * cols + s)..<(r * cols + s + g)])
                            let gr = grid(slice, bits: bits, symmetric: symmetric, clip: clip, scaleBits: scaleBits)
                            gp[r * perLine + k] = gr
                            for j in 0..<g {
                                let q = quantize(slice[j], gr, maxq)
                                cp[r * cols + s + j] = UInt16(q)
                                op[r * cols + s + j] = dequantize(q, gr)
                            }
                        }
                    }
                }
            } } }
        }
        var recon = Tensor(shape: work.shape, storage: out)
        var finalCodes = codes
        if axis == .col {
            recon = recon.transposed
            let (m, n) = (M.shape[0], M.shape[1])
            finalCodes = [UInt16](repeating: 0, count: m * n)
            for i in 0..<m { for j in 0..<n { finalCodes[i * n + j] = codes[j * m + i] } }
        }
        return Result(recon: try recon.reshaped(W.shape), codes: finalCodes, grids: grids, groupsPerLine: cols / g)
    }

    /// NormalFloat-4 (QLoRA): the 16 quantiles of N(0, 1) scaled to [−1, 1], applied to blocks of
    /// `block` weights scaled by their absolute maximum (bitsandbytes' levels and block size 64).
    public static let nf4Levels: [Float] = [
        -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
        -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
        0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
        0.7229568362236023, 1.0,
    ]

    public static func nf4(_ W: Tensor, block: Int) throws -> (recon: Tensor, codes: [UInt16], absmax: [Float]) {
        guard block >= 1, W.count % block == 0 else {
            throw CoreError.invalidArgument("quantize: NF4 block \(block) does not divide the \(W.count) weights")
        }
        var codes = [UInt16](repeating: 0, count: W.count)
        var out = [Float](repeating: 0, count: W.count)
        var absmax: [Float] = []
        W.withBuffer { p in
            for s in stride(from: 0, to: W.count, by: block) {
                var m: Float = 0
                for j in s..<(s + block) { m = max(m, abs(p[j])) }
                absmax.append(m)
                for j in s..<(s + block) {
                    let x = m > 0 ? p[j] / m : 0
                    var best = 0
                    var bestD = Float.infinity
                    for (k, l) in nf4Levels.enumerated() where abs(x - l) < bestD { bestD = abs(x - l); best = k }
                    codes[j] = UInt16(best)
                    out[j] = nf4Levels[best] * m
                }
            }
        }
        return (Tensor(shape: W.shape, storage: out), codes, absmax)
    }
}
