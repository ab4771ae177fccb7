import Foundation
import SqueezeCore

/// Products, shape changes, selections and determinants on the tape.
extension Tape {
    /// `a @ b` with NumPy's rules for vectors and matrices; gradients by GEMM with transpose flags.
    public func matmul(_ a: Operand, _ b: Operand) throws -> Operand {
        let y = try a.value.matmul(b.value)
        let ra = a.value.rank, rb = b.value.rank
        // As matrices: a vector on the left is a row, on the right a column.
        let a2 = ra == 1 ? try a.value.reshaped([1, a.value.count]) : a.value
        let b2 = rb == 1 ? try b.value.reshaped([b.value.count, 1]) : b.value
        let sa = a.shape, sb = b.shape
        return record(y, [a, b]) { g, need in
            let g2 = try g.reshaped([a2.shape[0], b2.shape[1]])
            return [
                need[0] ? try Tensor.gemm(g2, b2, transB: true).reshaped(sa) : nil,
                need[1] ? try Tensor.gemm(a2, g2, transA: true).reshaped(sb) : nil,
            ]
        }
    }

    public func reshape(_ x: Operand, _ shape: [Int]) throws -> Operand {
        let y = try x.value.reshaped(shape)
        let s = x.shape
        return record(y, [x]) { g, _ in [try g.reshaped(s)] }
    }

    /// Axes reordered (`axes` nil: the matrix transpose).
    public func permute(_ x: Operand, _ axes: [Int]?) throws -> Operand {
        let axes = axes ?? Array((0..<x.value.rank).reversed())
        let y = try x.value.permuted(axes)
        var inverse = [Int](repeating: 0, count: axes.count)
        for (k, a) in axes.enumerated() { inverse[a] = k }
        return record(y, [x]) { g, _ in [try g.permuted(inverse)] }
    }

    /// Basic indexing (integers and ranges); the gradient is scattered back.
    public func slice(_ x: Operand, _ components: [SliceComponent]) throws -> Operand {
        let layout = try x.value.sliceLayout(components)
        let y = try x.value.slice(components)
        let s = x.shape
        return record(y, [x]) { g, _ in [g.scattered(into: s, offset: layout.offset, strides: layout.strides)] }
    }

    /// Rows picked by index (repeats allowed); the gradient adds each row back where it came from.
    public func rows(_ x: Operand, _ indices: [Int]) throws -> Operand {
        let y = try x.value.rows(at: indices)
        let s = x.shape
        return record(y, [x]) { g, _ in
            var out = Tensor.zeros(s)
            let inner = s.dropFirst().reduce(1, *)
            out.withMutableBuffer { o in
                g.withBuffer { gs in
                    for (k, i) in indices.enumerated() { for j in 0..<inner { o[i * inner + j] += gs[k * inner + j] } }
                }
            }
            return [out]
        }
    }

    public func concat(_ parts: [Operand], axis: Int) throws -> Operand {
        let y = try Tensor.concat(parts.map(\.value), axis: axis)
        let ax = axis < 0 ? axis + y.rank : axis
        let extents = parts.map { $0.shape[ax] }
        return record(y, parts) { g, need in
            var start = 0
            return try extents.enumerated().map { k, e in
                defer { start += e }
                guard need[k] else { return nil }
                var comps = [SliceComponent](repeating: .all, count: ax)
                comps.append(.range(start: start, stop: start + e, step: 1))
                return try g.slice(comps)
            }
        }
    }

    public func stack(_ parts: [Operand], axis: Int) throws -> Operand {
        let y = try Tensor.stack(parts.map(\.value), axis: axis)
        let ax = axis < 0 ? axis + y.rank : axis
        return record(y, parts) { g, need in
            try (0..<parts.count).map { k in
                guard need[k] else { return nil }
                return try g.slice([SliceComponent](repeating: .all, count: ax) + [.index(k)])
            }
        }
    }

    /// The Frobenius (or vector 2-) norm; its gradient x/‖x‖ (0 at x = 0, PyTorch's subgradient).
    public func norm(_ x: Operand) throws -> Operand {
        let n = Float(try x.value.norm())
        return record(Tensor(scalar: n), [x]) { g, _ in
            let s = n > 0 ? g.storage[0] / n : 0
            return [x.value.elementwise(.mul, scalar: s)]
        }
    }

    /// log |det A|; its gradient A⁻ᵀ. `logdet` and `slogdet`'s logabsdet share it.
    public func logAbsDet(_ a: Operand) throws -> (sign: Double, value: Operand) {
        let (sign, l) = try a.value.slogdet()
        let y = record(Tensor(scalar: Float(l)), [a]) { g, _ in
            [try a.value.inverse().transposed.elementwise(.mul, scalar: g.storage[0])]
        }
        return (sign, y)
    }

    /// Mean squared difference of equal-shaped (or broadcastable) tensors.
    public func mse(_ a: Operand, _ b: Operand) throws -> Operand {
        let d = try binary(.sub, a, b)
        return try reduce(.mean, apply(.square, d), axis: nil)
    }
}
