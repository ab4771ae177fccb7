import Foundation
import SqueezeCore

/// A 2-D convolution's geometry over NCHW images and OIHW filters (cross-correlation, as PyTorch's
/// `conv2d`): output extent (H + 2p − k)/s + 1 per side.
public struct ConvGeometry: Sendable, Equatable {
    public let n: Int, c: Int, h: Int, w: Int
    public let o: Int, kh: Int, kw: Int
    public let stride: Int, padding: Int
    public var oh: Int { (h + 2 * padding - kh) / stride + 1 }
    public var ow: Int { (w + 2 * padding - kw) / stride + 1 }
    /// Rows of the column matrix: one per (channel, kernel row, kernel column).
    var patch: Int { c * kh * kw }
    /// Columns of the column matrix: one per (image, output row, output column).
    var positions: Int { n * oh * ow }

    public init(input: [Int], filters: [Int], stride: Int, padding: Int) throws {
        guard input.count == 4 else {
            throw CoreError.invalidArgument("conv2d: x must be images × channels × height × width, got \(Shape.describe(input))")
        }
        guard filters.count == 4 else {
            throw CoreError.invalidArgument("conv2d: w must be out × in channels × kh × kw, got \(Shape.describe(filters))")
        }
        guard filters[1] == input[1] else {
            throw CoreError.invalidArgument("conv2d: w has \(filters[1]) input channels, x has \(input[1])")
        }
        guard stride >= 1, padding >= 0 else { throw CoreError.invalidArgument("conv2d: stride must be ≥ 1 and padding ≥ 0") }
        (n, c, h, w) = (input[0], input[1], input[2], input[3])
        (o, kh, kw) = (filters[0], filters[2], filters[3])
        (self.stride, self.padding) = (stride, padding)
        guard kh >= 1, kw >= 1, h + 2 * padding >= kh, w + 2 * padding >= kw else {
            throw CoreError.invalidArgument("conv2d: a \(kh)×\(kw) kernel does not fit a padded \(h)×\(w) image")
        }
    }

    /// Output columns `x` whose input column x·s + j − p lies inside the image, for kernel column j.
    @inline(__always)
    func validColumns(_ j: Int) -> Range<Int> {
        let off = j - padding
        let lo = off >= 0 ? 0 : (-off + stride - 1) / stride
        let hi = w - 1 - off < 0 ? 0 : Swift.min(ow, (w - 1 - off) / stride + 1)
        return lo..<Swift.max(lo, hi)
    }

    /// The column matrix (patch × positions): entry (c·kh·kw + i·kw + j, (b·oh + y)·ow + x) is
    /// x[b, c, y·s + i − p, x·s + j − p], zero outside the image.
    func im2col(_ x: Tensor) -> Tensor {
        let (oh, ow, cols) = (self.oh, self.ow, positions)
        return Tensor(shape: [patch, cols]) { out in
            x.withBuffer { src in
                let o = out
                Parallel.forEach(patch * n, grain: 4) { tasks in
                    for task in tasks {
                        let r = task / n, b = task % n
                        let ch = r / (kh * kw), i = (r / kw) % kh, j = r % kw
                        let valid = validColumns(j), off = j - padding
                        let plane = (b * c + ch) * h * w
                        for y in 0..<oh {
                            let sy = y * stride + i - padding
                            let dst = r * cols + (b * oh + y) * ow
                            guard sy >= 0 && sy < h else {
                                for xx in 0..<ow { o[dst + xx] = 0 }
                                continue
                            }
                            for xx in 0..<valid.lowerBound { o[dst + xx] = 0 }
                            let row = plane + sy * w + off
                            if stride == 1 {
                                for xx in valid { o[dst + xx] = src[row + xx] }
                            } else {
                                for xx in valid { o[dst + xx] = src[row + xx * stride] }
                            }
                            for xx in valid.upperBound..<ow { o[dst + xx] = 0 }
                        }
                    }
                }
            }
        }
    }

    /// The adjoint of `im2col`: each column entry added back to the pixel it was read from.
    func col2im(_ cols: Tensor) -> Tensor {
        let (oh, np) = (self.oh, positions)
        return Tensor(shape: [n, c, h, w]) { out in
            for k in 0..<out.count { out[k] = 0 }
            cols.withBuffer { src in
                let o = out
                // One (image, channel) plane per task: its rows write only that plane.
                Parallel.forEach(n * c, grain: 4) { planes in
                    for pl in planes {
                        let b = pl / c, ch = pl % c
                        let plane = pl * h * w
                        for i in 0..<kh {
                            for j in 0..<kw {
                                let r = (ch * kh + i) * kw + j
                                let valid = validColumns(j), off = j - padding
                                for y in 0..<oh {
                                    let sy = y * stride + i - padding
                                    guard sy >= 0 && sy < h else { continue }
                                    let base = r * np + (b * oh + y) * ow
                                    let row = plane + sy * w + off
                                    for xx in valid { o[row + xx * stride] += src[base + xx] }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// O × (n·oh·ow) → n × O × oh × ow, adding the bias on the way (one pass, both cores: each output
    /// channel's rows are disjoint in both layouts).
    func imagesFromRows(_ m: Tensor, bias: Tensor?) -> Tensor {
        let (o, n, per) = (self.o, self.n, oh * ow)
        return Tensor(shape: [n, o, oh, ow]) { out in
            m.withBuffer { src in
                let dst = out
                let bias = bias?.storage
                Parallel.forEach(o, grain: 1) { channels in
                    for oc in channels {
                        let add = bias?[oc] ?? 0
                        for b in 0..<n {
                            let from = (oc * n + b) * per, to = (b * o + oc) * per
                            for k in 0..<per { dst[to + k] = src[from + k] + add }
                        }
                    }
                }
            }
        }
    }

    /// n × O × oh × ow → O × (n·oh·ow), and the bias gradient (each channel's sum) from the same pass.
    func rowsFromImages(_ g: Tensor) -> (rows: Tensor, bias: Tensor) {
        let (o, n, per) = (self.o, self.n, oh * ow)
        var sums = [Double](repeating: 0, count: o)
        let rows = Tensor(shape: [o, positions]) { out in
            g.withBuffer { src in
                sums.withUnsafeMutableBufferPointer { sums in
                    let dst = out
                    Parallel.forEach(o, grain: 1) { channels in
                        for oc in channels {
                            var s = 0.0
                            for b in 0..<n {
                                let from = (b * o + oc) * per, to = (oc * n + b) * per
                                var line: Float = 0
                                for k in 0..<per {
                                    dst[to + k] = src[from + k]
                                    line += src[from + k]
                                }
                                s += Double(line)
                            }
                            sums[oc] = s
                        }
                    }
                }
            }
        }
        return (rows, Tensor(sums.map { Float($0) }))
    }
}

extension Tape {
    /// 2-D convolution of NCHW images `x` with OIHW filters `w` and an optional bias per output
    /// channel: im2col, then one GEMM for the whole batch; the backward pass is two GEMMs and col2im.
    public func conv2d(_ x: Operand, _ w: Operand, _ b: Operand?, stride: Int, padding: Int) throws -> Operand {
        let geo = try ConvGeometry(input: x.shape, filters: w.shape, stride: stride, padding: padding)
        if let b, b.shape != [geo.o] {
            throw CoreError.invalidArgument("conv2d: b must have one value per output channel (\(geo.o)), got \(Shape.describe(b.shape))")
        }
        try Memory.check(elements: geo.patch * geo.positions, "conv2d's column matrix")
        let cols = geo.im2col(x.value)
        let wm = try w.value.reshaped([geo.o, geo.patch])
        let y = geo.imagesFromRows(try Tensor.gemm(wm, cols), bias: b?.value)
        let inputs = b.map { [x, w, $0] } ?? [x, w]
        let ws = w.shape
        return record(y, inputs) { g, need in
            let (gm, gb) = geo.rowsFromImages(g)
            var out: [Tensor?] = [nil, nil, nil]
            if need[0] { out[0] = geo.col2im(try Tensor.gemm(wm, gm, transA: true)) }
            if need[1] { out[1] = try Tensor.gemm(gm, cols, transB: true).reshaped(ws) }
            if need.count > 2 && need[2] { out[2] = gb }
            return Array(out.prefix(need.count))
        }
    }

    /// Max or average pooling over `size`×`size` windows moved by `stride` (no padding) of NCHW
    /// images. Max sends the gradient to the first largest element of each window.
    public func pool(_ x: Operand, size: Int, stride: Int, max isMax: Bool) throws -> Operand {
        guard x.value.rank == 4 else {
            throw CoreError.invalidArgument("pooling: x must be images × channels × height × width, got \(Shape.describe(x.shape))")
        }
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        guard size >= 1, stride >= 1, size <= h, size <= w else {
            throw CoreError.invalidArgument("pooling: a \(size)×\(size) window with stride \(stride) does not fit \(h)×\(w)")
        }
        let oh = (h - size) / stride + 1, ow = (w - size) / stride + 1
        var arg = [Int32](repeating: 0, count: n * c * oh * ow)
        let inverse = 1 / Float(size * size)
        let y = Tensor(shape: [n, c, oh, ow]) { out in
            x.value.withBuffer { src in
                arg.withUnsafeMutableBufferPointer { arg in
                    guard let sp = src.baseAddress, let op = out.baseAddress, let ap = arg.baseAddress else { return }
                    Parallel.forEach(n * c, grain: 16) { planes in
                        for p in planes {
                            let plane = sp + p * h * w
                            if isMax && size == 2 && stride == 2 {
                                Tape.maxPool2x2(plane, op + p * oh * ow, ap + p * oh * ow, w: w, oh: oh, ow: ow, base: p * h * w)
                                continue
                            }
                            for i in 0..<oh {
                                for j in 0..<ow {
                                    let o = (p * oh + i) * ow + j
                                    let first = i * stride * w + j * stride
                                    if isMax {
                                        // The first largest element; a NaN wins (and the first NaN stays).
                                        var best = plane[first], at = first
                                        for di in 0..<size {
                                            let row = first + di * w
                                            for dj in 0..<size {
                                                // Branch-free (selects, not jumps): random data mispredicts half the comparisons.
                                                let v = plane[row + dj]
                                                let better = (v > best) || (v != v && best == best)
                                                best = better ? v : best
                                                at = better ? row + dj : at
                                            }
                                        }
                                        op[o] = best
                                        ap[o] = Int32(p * h * w + at)
                                    } else {
                                        var sum: Float = 0
                                        for di in 0..<size {
                                            let row = first + di * w
                                            for dj in 0..<size { sum += plane[row + dj] }
                                        }
                                        op[o] = sum * inverse
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        let shape = x.shape, argmax = arg
        return record(y, [x]) { g, _ in
            var dx = Tensor.zeros(shape)
            dx.withMutableBuffer { d in
                g.withBuffer { gs in
                    if isMax {
                        for o in 0..<gs.count { d[Int(argmax[o])] += gs[o] }
                        return
                    }
                    let scale = inverse
                    for p in 0..<(n * c) {
                        for i in 0..<oh {
                            for j in 0..<ow {
                                let gv = gs[(p * oh + i) * ow + j] * scale
                                for di in 0..<size { for dj in 0..<size { d[(p * h + i * stride + di) * w + j * stride + dj] += gv } }
                            }
                        }
                    }
                }
            }
            return [dx]
        }
    }

    /// The common case, 2×2 windows moved by 2: the maximum by `max`, its first position by equality
    /// selects (no data-dependent branches: random data mispredicts half of them). A window whose sum
    /// is NaN (a NaN, or ±inf together) takes the general comparison, where the first NaN wins.
    static func maxPool2x2(
        _ src: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ arg: UnsafeMutablePointer<Int32>,
        w: Int, oh: Int, ow: Int, base: Int
    ) {
        for i in 0..<oh {
            let r0 = 2 * i * w, r1 = r0 + w
            for j in 0..<ow {
                let k0 = r0 + 2 * j, k1 = k0 + 1, k2 = r1 + 2 * j, k3 = k2 + 1
                let a0 = src[k0], a1 = src[k1], a2 = src[k2], a3 = src[k3]
                var m: Float, at: Int
                if (a0 + a1 + a2 + a3).isNaN {
                    (m, at) = (a0, k0)
                    for (v, k) in [(a1, k1), (a2, k2), (a3, k3)] where v > m || (v.isNaN && !m.isNaN) { (m, at) = (v, k) }
                } else {
                    m = Swift.max(Swift.max(a0, a1), Swift.max(a2, a3))
                    at = a2 == m ? k2 : k3
                    at = a1 == m ? k1 : at
                    at = a0 == m ? k0 : at
                }
                out[i * ow + j] = m
                arg[i * ow + j] = Int32(base + at)
            }
        }
    }
}
