import CBLAS
import Foundation
import SqueezeCore

/// AWQ, activation-aware weight quantization (Lin et al. 2024), as mit-han-lab/llm-awq's
/// auto_scale.py and auto_clip.py run it. The inputs of a group of linear layers that share them are
/// scaled per input channel by s = mean_t|x_tj|^α / √(max s · min s), α searched on a grid of 20
/// (0, 0.05, …, 0.95) for the least mean squared error of an inspected output (the layers' own, or
/// the module's they feed) when every layer is quantized as Q(W·diag(s))·diag(s)⁻¹; α = 0 is plain
/// round-to-nearest, so the search never does worse on its calibration tokens. The scale is then
/// folded into the operation before (an RMSNorm's weight, the previous projection's rows), leaving
/// the model's function unchanged until quantization. Then for every layer but the query and key
/// projections, each row's groups are clipped to ±max|w|·(1 − i/20), i < 10, whichever gives the
/// least output error of the group's partial products on 512 strided tokens.
public enum AWQ {
    /// llm-awq's pseudo_quantize_tensor (zero_point: true): per group of `group` weights along each
    /// row (the whole row without one), scale = max(max − min, 1e-5)/(2^b − 1) over the group's own
    /// minimum and maximum, zero = clamp(−round(min/scale), 0, 2^b − 1), ŵ = (clamp(round(w/scale) +
    /// zero, 0, 2^b − 1) − zero)·scale, all in Float32; rounding half to even as torch.round.
    public static func pseudoQuantize(_ W: Tensor, bits: Int, group: Int?, scaleBits: Int = 32) throws -> Quantizer.Result {
        guard W.rank == 2 else {
            throw CoreError.invalidParameter("W", "expected a weight matrix [out, in], got \(Shape.describe(W.shape))")
        }
        let rows = W.shape[0], cols = W.shape[1], g = group ?? cols
        guard g >= 1, cols % g == 0 else {
            throw CoreError.invalidParameter("group", "AWQ's groups must divide the \(cols) inputs, got group \(g)")
        }
        let maxq = Float((1 << bits) - 1), perLine = cols / g
        var recon = [Float](repeating: 0, count: W.count), codes = [Float](repeating: 0, count: W.count)
        var grids = [Quantizer.Grid](repeating: Quantizer.Grid(scale: 1, zero: 0), count: rows * perLine)
        W.withBuffer { wp in
            for r in 0..<rows {
                for gi in 0..<perLine {
                    let base = r * cols + gi * g
                    var lo = Float.infinity, hi = -Float.infinity
                    for j in 0..<g { lo = min(lo, wp[base + j]); hi = max(hi, wp[base + j]) }
                    let grid = AWQ.grid(lo: lo, hi: hi, maxq: maxq, scaleBits: scaleBits)
                    grids[r * perLine + gi] = grid
                    for j in 0..<g {
                        let q = Quantizer.quantize(wp[base + j], grid, maxq)
                        codes[base + j] = q
                        recon[base + j] = Quantizer.dequantize(q, grid)
                    }
                }
            }
        }
        return Quantizer.Result(
            recon: Tensor(shape: W.shape, storage: recon), codes: Tensor(shape: W.shape, storage: codes), grids: grids,
            groupsPerLine: perLine)
    }

    /// Q(W·diag(s))·diag(s)⁻¹ with pseudoQuantize's grids, rows on both cores: a candidate of the scale search.
    public static func scaledQuantized(_ W: Tensor, _ s: [Float], bits: Int, group: Int?) throws -> Tensor {
        let rows = W.shape[0], cols = W.shape[1], g = group ?? cols
        guard g >= 1, cols % g == 0 else {
            throw CoreError.invalidParameter("group", "AWQ's groups must divide the \(cols) inputs, got group \(g)")
        }
        let maxq = Float((1 << bits) - 1)
        return Tensor(shape: W.shape) { o in
            W.withBuffer { wp in
                nonisolated(unsafe) let o = o
                Parallel.forEach(rows, grain: 16) { rr in
                    var v = [Float](repeating: 0, count: g)
                    for r in rr {
                        for start in stride(from: r * cols, to: (r + 1) * cols, by: g) {
                            var lo = Float.infinity, hi = -Float.infinity
                            for j in 0..<g { let x = wp[start + j] * s[(start + j) % cols]; v[j] = x; lo = min(lo, x); hi = max(hi, x) }
                            let grid = AWQ.grid(lo: lo, hi: hi, maxq: maxq)
                            for j in 0..<g {
                                o[start + j] = Quantizer.dequantize(Quantizer.quantize(v[j], grid, maxq), grid) / s[(start + j) % cols]
                            }
                        }
                    }
                }
            }
        }
    }

    /// pseudo_quantize_tensor's grid over a group's own [lo, hi]: scale = max(hi − lo, 1e-5)/maxq
    /// (rounded to Float16 when stored at 16 bits), zero = clamp(−round(lo/scale), 0, maxq).
    static func grid(lo: Float, hi: Float, maxq: Float, scaleBits: Int = 32) -> Quantizer.Grid {
        var scale = max(hi - lo, 1e-5) / maxq
        if scaleBits == 16 { scale = Float(Float16(scale)) }
        return Quantizer.Grid(scale: scale, zero: min(max(-(lo / scale).rounded(.toNearestOrEven), 0), maxq))
    }

    /// mean_t |x_tj| per input channel j (llm-awq's get_act_scale).
    public static func activationScale(_ X: Tensor) -> [Float] {
        let n = X.shape[0], cols = X.shape[1]
        var sums = [Double](repeating: 0, count: cols)
        X.withBuffer { xp in for t in 0..<n { for j in 0..<cols { sums[j] += Double(abs(xp[t * cols + j])) } } }
        return sums.map { Float($0 / Double(max(n, 1))) }
    }

    /// The scales of ratio α: x_max^α clamped at 1e-4, divided by √(max · min).
    public static func scales(_ xMax: [Float], ratio: Double) -> [Float] {
        let s = xMax.map { max(powf($0, Float(ratio)), 1e-4) }
        let norm = (s.max()! * s.min()!).squareRoot()
        return s.map { $0 / norm }
    }

    /// W·diag(s) (each column j times s_j), or W·diag(s)⁻¹ with `divide`.
    public static func scaleColumns(_ W: Tensor, _ s: [Float], divide: Bool = false) -> Tensor {
        let cols = W.shape[1]
        return Tensor(shape: W.shape) { o in
            W.withBuffer { wp in for i in 0..<W.count { o[i] = divide ? wp[i] / s[i % cols] : wp[i] * s[i % cols] } }
        }
    }

    /// The search's outcome: the chosen ratio and scales, and the loss of every ratio tried.
    public struct Search: Sendable {
        public let ratio: Double
        public let scales: [Float]
        public let losses: [Double]
    }

    /// Tries α = i/grid for i < grid: every layer becomes Q(W·diag(s))·diag(s)⁻¹ and `loss` scores
    /// the candidate weights; the least loss wins (the first on ties).
    public static func searchScales(
        xMax: [Float], layers: [Tensor], bits: Int, group: Int?, grid: Int = 20, cancellation: CancellationToken? = nil,
        loss: ([Tensor]) throws -> Double
    ) throws -> Search {
        var best = (loss: Double.infinity, ratio: -1.0, scales: [Float]())
        var losses: [Double] = []
        for step in 0..<grid {
            try cancellation?.check()
            let ratio = Double(step) / Double(grid), s = scales(xMax, ratio: ratio)
            let candidates = try layers.map { try scaledQuantized($0, s, bits: bits, group: group) }
            let l = try loss(candidates)
            losses.append(l)
            if l < best.loss { best = (l, ratio, s) }
        }
        guard best.ratio >= 0 else {
            throw CoreError.invalidParameter("X", "every AWQ scale gave a non-finite loss (the inputs or weights hold NaN or ∞)")
        }
        return Search(ratio: best.ratio, scales: best.scales, losses: losses)
    }

    /// A layer inspecting itself: the loss of a candidate Ŵ (the search's only layer) is
    /// mean((X Wᵀ − X Ŵᵀ)²) over all outputs, with X Wᵀ computed once for the whole grid.
    public static func outputLoss(_ X: Tensor, _ W: Tensor) throws -> ([Tensor]) throws -> Double {
        let original = try Tensor.gemm(X, W, transB: true)
        return { c in meanSquaredDifference(original, try Tensor.gemm(X, c[0], transB: true)) }
    }

    public static func meanSquaredDifference(_ a: Tensor, _ b: Tensor) -> Double {
        var s = 0.0
        a.withBuffer { ap in b.withBuffer { bp in for i in 0..<ap.count { let d = Double(ap[i] - bp[i]); s += d * d } } }
        return s / Double(max(a.count, 1))
    }

    /// auto_clip_layer: for each row and group, the clipping bound max|w|·(1 − i/grid), i < maxShrink·grid,
    /// with the least mean over the sampled tokens (every ⌊n/512⌋-th) of the squared error of the
    /// group's partial product Σ_j x_tj ŵ_j. Returns the bounds, rows × groups. The mean is taken as
    /// dᵀ G d / tokens with d = ŵ − w and the group's Gram matrix G = X_gᵀ X_g of the sampled tokens —
    /// the same quantity as the reference's mean of (X_g ŵ − X_g w)², at g × g instead of tokens × g
    /// operations per row and candidate (D·G as one product per candidate over all rows).
    public static func searchClip(
        _ W: Tensor, X: Tensor, bits: Int, group: Int?, grid: Int = 20, maxShrink: Double = 0.5, sampleTokens: Int = 512,
        cancellation: CancellationToken? = nil
    ) throws -> [Float] {
        let rows = W.shape[0], cols = W.shape[1], g = group ?? cols
        guard cols % g == 0 else { throw CoreError.invalidParameter("group", "AWQ's groups must divide the \(cols) inputs") }
        let n = X.shape[0], step = max(1, n / sampleTokens)
        let tokens = Array(stride(from: 0, to: n, by: step))
        let perLine = cols / g, maxq = Float((1 << bits) - 1), ts = tokens.count, steps = Int(maxShrink * Double(grid))
        var best = [Float](repeating: 0, count: rows * perLine)
        var Xg = [Double](repeating: 0, count: ts * g), G = [Double](repeating: 0, count: g * g)
        var D = [Double](repeating: 0, count: rows * g), DG = D
        for gi in 0..<perLine {
            try cancellation?.check()
            X.withBuffer { xp in for (k, t) in tokens.enumerated() { for j in 0..<g { Xg[k * g + j] = Double(xp[t * cols + gi * g + j]) } }
            }
            cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, Int32(g), Int32(ts), 1, Xg, Int32(g), 0, &G, Int32(g))
            var orgMax = [Float](repeating: 0, count: rows), minErr = [Double](repeating: 1e9, count: rows)
            W.withBuffer { wp in
                for r in 0..<rows {
                    orgMax[r] = (0..<g).reduce(Float(0)) { max($0, abs(wp[r * cols + gi * g + $1])) }
                    best[r * perLine + gi] = orgMax[r]
                }
            }
            for i in 0..<steps {
                let shrink = Float(1 - Double(i) / Double(grid))
                // D = Ŵ_g − W_g for every row (both cores), then DG = D·G and each row's dᵀGd.
                W.withBuffer { wp in
                    D.withUnsafeMutableBufferPointer { dp in
                        nonisolated(unsafe) let dp = dp
                        Parallel.forEach(rows, grain: 32) { rr in
                            var q = [Float](repeating: 0, count: g)
                            for r in rr {
                                let w = wp.baseAddress! + r * cols + gi * g, mx = orgMax[r] * shrink
                                var lo = Float.infinity, hi = -Float.infinity
                                for j in 0..<g { let v = min(max(w[j], -mx), mx); q[j] = v; lo = min(lo, v); hi = max(hi, v) }
                                let grid = AWQ.grid(lo: lo, hi: hi, maxq: maxq)
                                for j in 0..<g {
                                    dp[r * g + j] = Double(Quantizer.dequantize(Quantizer.quantize(q[j], grid, maxq), grid) - w[j])
                                }
                            }
                        }
                    }
                }
                cblas_dsymm(CblasRowMajor, CblasRight, CblasUpper, Int32(rows), Int32(g), 1, G, Int32(g), D, Int32(g), 0, &DG, Int32(g))
                for r in 0..<rows {
                    var err = 0.0
                    for j in 0..<g { err += D[r * g + j] * DG[r * g + j] }
                    if err / Double(ts) < minErr[r] {
                        minErr[r] = err / Double(ts)
                        best[r * perLine + gi] = orgMax[r] * shrink
                    }
                }
            }
        }
        return best
    }

    /// Each row's groups clamped to ±bound.
    public static func clip(_ W: Tensor, bounds: [Float], group: Int?) -> Tensor {
        let cols = W.shape[1], g = group ?? cols, perLine = cols / g
        return Tensor(shape: W.shape) { o in
            W.withBuffer { wp in
                for i in 0..<W.count {
                    let b = bounds[(i / cols) * perLine + (i % cols) / g]
                    o[i] = min(max(wp[i], -b), b)
                }
            }
        }
    }
}

extension Compressed {
    /// AWQ on one layer with its own inputs X: the scale search inspecting the layer's output, the
    /// clipping search (unless `clip` is false) on W·diag(s) with inputs X·diag(s)⁻¹, then
    /// Q(W·diag(s))·diag(s)⁻¹. Stored: codes, scales and zeros per group, and the input scales at 16
    /// bits (a layer on its own has nothing to fold them into; `awq(m, …)` folds them away).
    public static func awq(
        _ W: Tensor, X: Tensor, bits: Int, group: Int?, clip: Bool, scaleBits: Int, cancellation: CancellationToken? = nil
    ) throws -> Compressed {
        guard W.rank == 2, X.rank == 2, X.shape[1] == W.shape[1], X.shape[0] > 0 else {
            throw CoreError.invalidParameter(
                "X",
                "awq needs W [out, in] and X [tokens, in] with the same in, got \(Shape.describe(W.shape)) and \(Shape.describe(X.shape))")
        }
        let search = try AWQ.searchScales(
            xMax: AWQ.activationScale(X), layers: [W], bits: bits, group: group, cancellation: cancellation,
            loss: try AWQ.outputLoss(X, W))
        var scaled = AWQ.scaleColumns(W, search.scales)
        if clip {
            let bounds = try AWQ.searchClip(
                scaled, X: AWQ.scaleColumns(X, search.scales, divide: true), bits: bits, group: group, cancellation: cancellation)
            scaled = AWQ.clip(scaled, bounds: bounds, group: group)
        }
        let q = try AWQ.pseudoQuantize(scaled, bits: bits, group: group, scaleBits: scaleBits)
        let recon = AWQ.scaleColumns(q.recon, search.scales, divide: true)
        let base = q.compressed(method: "awq", bits: bits, symmetric: false, scaleBits: scaleBits)
        return Compressed(
            method: "awq", recon: recon,
            parts: base.parts + [
                ("input_scales", .tensor(Tensor(search.scales))), ("ratio", .number(search.ratio)),
                ("losses", .numbers(search.losses)),
            ],
            storage: base.storage + [Line("input_scales", "one scale per input channel", count: W.shape[1], bits: 16)])
    }
}
