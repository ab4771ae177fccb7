import Foundation
import SqueezeCore

/// An axis split of a tensor: `outer` blocks of `n` lines of `inner` contiguous elements, so the
/// element (o, k, j) is at `(o·n + k)·inner + j`.
struct AxisSplit {
    let outer: Int, n: Int, inner: Int
    let reducedShape: [Int]

    init(_ shape: [Int], axis: Int?) throws {
        guard let axis else {
            outer = 1; n = Shape.count(shape) ?? 0; inner = 1; reducedShape = []
            return
        }
        let ax = axis < 0 ? axis + shape.count : axis
        guard ax >= 0 && ax < shape.count else {
            throw CoreError.invalidArgument("axis \(axis) is out of range for a tensor of rank \(shape.count)")
        }
        outer = shape[..<ax].reduce(1, *)
        n = shape[ax]
        inner = shape[(ax + 1)...].reduce(1, *)
        var s = shape
        s.remove(at: ax)
        reducedShape = s
    }

    /// `out[o, k, j] = f(o, k, j, g[o, j])` over the full shape.
    func expand(_ g: Tensor, shape: [Int], _ f: (Int, Float) -> Float) -> Tensor {
        Tensor(shape: shape) { out in
            g.withBuffer { gs in
                for o in 0..<outer {
                    for k in 0..<n {
                        let base = (o * n + k) * inner
                        for j in 0..<inner { out[base + j] = f(base + j, gs[o * inner + j]) }
                    }
                }
            }
        }
    }
}

extension Tape {
    /// sum, mean, max or min over all elements (`axis` nil) or along one axis (removed).
    public func reduce(_ kind: Reduction, _ x: Operand, axis: Int?) throws -> Operand {
        let split = try AxisSplit(x.shape, axis: axis)
        let y = axis == nil ? Tensor(scalar: Float(try x.value.reduceAll(kind))) : try x.value.reduce(kind, axis: axis)
        let shape = x.shape
        switch kind {
        case .sum:
            return record(y, [x]) { g, _ in [split.expand(g, shape: shape) { _, gv in gv }] }
        case .mean:
            let scale = 1 / Float(max(split.n, 1))
            return record(y, [x]) { g, _ in [split.expand(g, shape: shape) { _, gv in gv * scale }] }
        case .max, .min:
            // The gradient goes to the first extreme element of each line (PyTorch's max(dim) does the same).
            let arg =
                try axis == nil
                ? Tensor(scalar: Float(try x.value.reduceAll(kind == .max ? .argmax : .argmin)))
                : x.value.reduce(kind == .max ? .argmax : .argmin, axis: axis)
            return record(y, [x]) { g, _ in
                var out = Tensor.zeros(shape)
                out.withMutableBuffer { o in
                    g.withBuffer { gs in
                        arg.withBuffer { a in
                            for b in 0..<split.outer {
                                for j in 0..<split.inner {
                                    let line = b * split.inner + j
                                    o[(b * split.n + Int(a[line])) * split.inner + j] += gs[line]
                                }
                            }
                        }
                    }
                }
                return [out]
            }
        default:
            throw CoreError.invalidArgument("\(kind.rawValue) has no gradient")
        }
    }

    /// Softmax along `axis` (max-subtracted, so large logits do not overflow).
    public func softmax(_ x: Operand, axis: Int = -1) throws -> Operand {
        let split = try AxisSplit(x.shape, axis: axis)
        let y = Tape.softmaxForward(x.value, split, log: false)
        return record(y, [x]) { g, _ in
            // dx = y ⊙ (g − Σ_k g_k y_k)
            [
                Tape.alongAxis(split, y.shape, y, g) { ys, gs, out, idx in
                    var dot = 0.0
                    for i in idx { dot += Double(gs[i]) * Double(ys[i]) }
                    for i in idx { out[i] = ys[i] * (gs[i] - Float(dot)) }
                }
            ]
        }
    }

    /// log softmax along `axis`: x − log Σ exp x.
    public func logSoftmax(_ x: Operand, axis: Int = -1) throws -> Operand {
        let split = try AxisSplit(x.shape, axis: axis)
        let y = Tape.softmaxForward(x.value, split, log: true)
        return record(y, [x]) { g, _ in
            // dx = g − softmax ⊙ Σ_k g_k
            [
                Tape.alongAxis(split, y.shape, y, g) { ys, gs, out, idx in
                    var s = 0.0
                    for i in idx { s += Double(gs[i]) }
                    for i in idx { out[i] = gs[i] - Foundation.exp(ys[i]) * Float(s) }
                }
            ]
        }
    }

    /// Mean over rows of −log softmax(logits)[label]: logits n×c, labels n whole numbers in 0..<c.
    public func crossEntropy(_ logits: Operand, labels: [Int]) throws -> Operand {
        guard logits.value.rank == 2 else {
            throw CoreError.invalidArgument(
                "cross_entropy: logits must be a matrix (samples × classes), got \(Shape.describe(logits.shape))")
        }
        let n = logits.shape[0], c = logits.shape[1]
        guard labels.count == n else {
            throw CoreError.invalidArgument("cross_entropy: \(n) rows of logits but \(labels.count) labels")
        }
        if let bad = labels.first(where: { $0 < 0 || $0 >= c }) {
            throw CoreError.invalidArgument("cross_entropy: label \(bad) is out of range for \(c) classes")
        }
        guard n > 0 else { throw CoreError.invalidArgument("cross_entropy: no samples") }
        let logp = Tape.softmaxForward(logits.value, try AxisSplit(logits.shape, axis: 1), log: true)
        var loss = 0.0
        logp.withBuffer { lp in for i in 0..<n { loss -= Double(lp[i * c + labels[i]]) } }
        let y = Tensor(scalar: Float(loss / Double(n)))
        return record(y, [logits]) { g, _ in
            let scale = g.storage[0] / Float(n)
            let d = Tensor(shape: [n, c]) { out in
                logp.withBuffer { lp in
                    for i in 0..<n {
                        for j in 0..<c { out[i * c + j] = Foundation.exp(lp[i * c + j]) * scale }
                        out[i * c + labels[i]] -= scale
                    }
                }
            }
            return [d]
        }
    }

    static func softmaxForward(_ x: Tensor, _ split: AxisSplit, log: Bool) -> Tensor {
        alongAxis(split, x.shape, x, x) { xs, _, out, idx in
            var m = -Float.infinity
            for i in idx where xs[i] > m || xs[i].isNaN { m = xs[i] }
            if m == -.infinity { m = 0 }
            var s = 0.0
            for i in idx { s += Foundation.exp(Double(xs[i] - m)) }
            if log {
                let lse = Float(Foundation.log(s))
                for i in idx { out[i] = xs[i] - m - lse }
            } else {
                for i in idx { out[i] = Float(Foundation.exp(Double(xs[i] - m)) / s) }
            }
        }
    }

    /// Runs `body` on each line along the split's axis, with the element indices of that line.
    static func alongAxis(
        _ split: AxisSplit, _ shape: [Int], _ a: Tensor, _ b: Tensor,
        _ body: (UnsafeBufferPointer<Float>, UnsafeBufferPointer<Float>, UnsafeMutableBufferPointer<Float>, StrideTo<Int>) -> Void
    ) -> Tensor {
        Tensor(shape: shape) { out in
            a.withBuffer { pa in
                b.withBuffer { pb in
                    for o in 0..<split.outer {
                        for j in 0..<split.inner {
                            let start = o * split.n * split.inner + j
                            body(pa, pb, out, stride(from: start, to: start + split.n * split.inner, by: split.inner))
                        }
                    }
                }
            }
        }
    }
}
