import CBLAS
import Foundation
import SqueezeCore

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
        /// One code per weight (an integer in 0 ..< 2^bits), in W's shape.
        public let codes: Tensor
        /// One grid per group: groups run along each row (or column, or the whole tensor).
        public let grids: [Grid]
        public let groupsPerLine: Int
    }

    /// The grid for a set of values (`quant.py`'s find_params), optionally shrunk by the MSE search
    /// (p = 1 − i/100 for i < 80, keeping the p that minimises Σ|ŵ − w|^2.4).
    public static func grid(_ w: UnsafeBufferPointer<Float>, bits: Int, symmetric: Bool, clip: Clip = .minmax, scaleBits: Int = 32) -> Grid
    {
        let maxq = Float((1 << bits) - 1)
        let (lo, hi) = range(w)
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

    /// min(0, min w) and max(0, max w) in four independent lanes (the input has no NaN).
    @inline(__always)
    static func range(_ w: UnsafeBufferPointer<Float>) -> (Float, Float) {
        guard let p = w.baseAddress else { return (0, 0) }
        var l0: Float = 0, l1: Float = 0, l2: Float = 0, l3: Float = 0
        var h0: Float = 0, h1: Float = 0, h2: Float = 0, h3: Float = 0
        let n = w.count, wide = n & ~3
        var i = 0
        while i < wide {
            let a = p[i], b = p[i + 1], c = p[i + 2], d = p[i + 3]
            l0 = a < l0 ? a : l0; l1 = b < l1 ? b : l1; l2 = c < l2 ? c : l2; l3 = d < l3 ? d : l3
            h0 = a > h0 ? a : h0; h1 = b > h1 ? b : h1; h2 = c > h2 ? c : h2; h3 = d > h3 ? d : h3
            i += 4
        }
        while i < n { l0 = p[i] < l0 ? p[i] : l0; h0 = p[i] > h0 ? p[i] : h0; i += 1 }
        let lo = l0 < l1 ? l0 : l1, lo2 = l2 < l3 ? l2 : l3, hi = h0 > h1 ? h0 : h1, hi2 = h2 > h3 ? h2 : h3
        return (lo < lo2 ? lo : lo2, hi > hi2 ? hi : hi2)
    }

    /// Round half to even for |x| < 2²² by the 1.5·2²³ trick (exact in the default rounding mode, and
    /// unlike `rounded(.toNearestOrEven)` it vectorises on baseline x86-64). Larger |x| are off by
    /// at most one ulp of a number ≥ 2²¹, which the clamp to [0, 2^16 − 1] removes.
    @inline(__always)
    static func roundEven(_ x: Float) -> Float { (x + 12_582_912) - 12_582_912 }

    @inline(__always)
    static func quantize(_ v: Float, _ g: Grid, _ maxq: Float) -> Float {
        let q = roundEven(v / g.scale) + g.zero
        return q > maxq ? maxq : (q < 0 ? 0 : q)
    }

    @inline(__always)
    static func dequantize(_ q: Float, _ g: Grid) -> Float { g.scale * (q - g.zero) }

    /// Round-to-nearest of a matrix: one grid per `group` consecutive weights along each row
    /// (`axis: .row`, nil group = the whole row), per column, or for the whole tensor.
    public static func rtn(
        _ W: Tensor, bits: Int, group: Int?, symmetric: Bool, axis: Axis, clip: Clip, scaleBits: Int = 32
    ) throws -> Result {
        guard W.rank == 2 || W.rank == 1 else {
            throw CoreError.invalidParameter("W", "expected a matrix, got shape \(Shape.describe(W.shape))")
        }
        let M = W.rank == 2 ? W : try W.reshaped([1, W.count])
        let work = axis == .col ? M.transposed : M
        let rows = axis == .tensor ? 1 : work.shape[0], cols = axis == .tensor ? work.count : work.shape[1]
        let g = group ?? cols
        guard g >= 1 else { throw CoreError.invalidParameter("group", "group must be at least 1, got \(g)") }
        let maxq = Float((1 << bits) - 1)
        // A group that does not divide the line leaves a shorter last group (576 columns in groups
        // of 128: four of 128 and one of 64), as GPTQ's reference slices them.
        let perLine = (cols + g - 1) / g
        var grids = [Grid](repeating: Grid(scale: 1, zero: 0), count: rows * perLine)
        // Groups are independent: both cores, each writing only its groups' codes, values and grids.
        // Every element of both outputs is written, so they start uninitialised.
        var codes = Tensor.zeros([0])
        var out = Tensor(shape: work.shape) { op in
            codes = Tensor(shape: work.shape) { cp in
                work.withBuffer { p in
                    grids.withUnsafeMutableBufferPointer { gp in
                        nonisolated(unsafe) let (cp, op, gp) = (cp, op, gp)
                        Parallel.forEach(rows * perLine, grain: max(1, 65_536 / g)) { range in
                            for k in range {
                                let base = (k / perLine) * cols + (k % perLine) * g
                                let end = (k / perLine) * cols + min(cols, (k % perLine + 1) * g)
                                let gr = grid(
                                    UnsafeBufferPointer(rebasing: p[base..<end]), bits: bits, symmetric: symmetric, clip: clip,
                                    scaleBits: scaleBits)
                                gp[k] = gr
                                for j in base..<end {
                                    let q = quantize(p[j], gr, maxq)
                                    cp[j] = q
                                    op[j] = dequantize(q, gr)
                                }
                            }
                        }
                    }
                }
            }
        }
        if axis == .col { out = out.transposed; codes = codes.transposed }
        return Result(recon: try out.reshaped(W.shape), codes: try codes.reshaped(W.shape), grids: grids, groupsPerLine: perLine)
    }
}

extension Quantizer.Result {
    /// The storage of a uniform grid quantization (RTN or GPTQ): one code per weight at `bits`,
    /// one scale per group at `scaleBits` (the reconstruction used the scale rounded to that
    /// precision) and, for asymmetric grids, one zero point per group at `bits`; a symmetric
    /// grid's zero is fixed at 2^(bits−1) and not stored.
    public func compressed(method: String, bits: Int, symmetric: Bool, scaleBits: Int) -> Compressed {
        var lines = [
            Compressed.Line("codes", "one integer code per weight", count: recon.count, bits: Double(bits)),
            Compressed.Line("scales", "one scale per group", count: grids.count, bits: Double(scaleBits)),
        ]
        if !symmetric {
            lines.append(Compressed.Line("zeros", "one zero point per group", count: grids.count, bits: Double(bits)))
        }
        return Compressed(
            method: method, recon: recon,
            parts: [
                ("codes", .tensor(codes)), ("scales", .tensor(Tensor(grids.map(\.scale)))),
                ("zeros", .tensor(Tensor(grids.map(\.zero)))),
            ],
            storage: lines)
    }
}

extension Compressed {
    /// Round-to-nearest quantization with its storage account.
    public static func rtn(
        _ W: Tensor, bits: Int, group: Int?, symmetric: Bool, axis: Quantizer.Axis,
        clip: Quantizer.Clip, scaleBits: Int
    ) throws -> Compressed {
        try Quantizer.rtn(W, bits: bits, group: group, symmetric: symmetric, axis: axis, clip: clip, scaleBits: scaleBits)
            .compressed(method: "rtn", bits: bits, symmetric: symmetric, scaleBits: scaleBits)
    }
}
