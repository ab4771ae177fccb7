/// One dimension of a slice: NumPy's `start:stop:step` after normalisation, or a single index
/// (which drops the dimension).
public enum SliceComponent: Sendable, Equatable {
    case index(Int)
    case range(start: Int?, stop: Int?, step: Int)
    /// The whole dimension, `:`.
    public static let all = SliceComponent.range(start: nil, stop: nil, step: 1)
}

extension Tensor {
    /// Same elements, new shape. One extent may be -1 (inferred).
    public func reshaped(_ newShape: [Int]) throws -> Tensor {
        guard newShape.count <= Tensor.maxRank else {
            throw CoreError.invalidArgument("reshape: rank \(newShape.count) exceeds the maximum \(Tensor.maxRank)")
        }
        var shape = newShape
        let unknown = shape.indices.filter { shape[$0] == -1 }
        guard unknown.count <= 1, shape.allSatisfy({ $0 >= -1 }) else {
            throw CoreError.invalidArgument("reshape: invalid shape \(newShape) (at most one -1, no other negatives)")
        }
        if let u = unknown.first {
            let known = shape.enumerated().filter { $0.offset != u }.reduce(1) { $0 * $1.element }
            guard known > 0, count % known == 0 else {
                throw CoreError.invalidArgument(
                    "reshape: cannot reshape \(Shape.describe(self.shape)) (\(count) elements) into \(Shape.describe(newShape))")
            }
            shape[u] = count / known
        }
        guard Shape.count(shape) == count else {
            throw CoreError.invalidArgument(
                "reshape: cannot reshape \(Shape.describe(self.shape)) (\(count) elements) into \(Shape.describe(newShape))")
        }
        return Tensor(shape: shape, storage: storage)
    }

    /// The matrix transpose (rank ≤ 1 is returned unchanged), cache-blocked.
    public var transposed: Tensor {
        guard rank == 2 else {
            if rank < 2 { return self }
            let s = Shape.strides(shape)
            return gather(shape: shape.reversed(), offset: 0, strides: s.reversed())
        }
        let m = shape[0], n = shape[1]
        return Tensor(shape: [n, m]) { out in
            withBuffer { a in
                let block = 32
                for i0 in stride(from: 0, to: m, by: block) {
                    for j0 in stride(from: 0, to: n, by: block) {
                        for i in i0..<min(i0 + block, m) {
                            for j in j0..<min(j0 + block, n) { out[j * m + i] = a[i * n + j] }
                        }
                    }
                }
            }
        }
    }

    /// Axes reordered: `result.shape[k] == shape[axes[k]]`.
    public func permuted(_ axes: [Int]) throws -> Tensor {
        guard axes.count == rank, Set(axes) == Set(0..<rank) else {
            throw CoreError.invalidArgument("permute: \(axes) is not a permutation of the \(rank) axes")
        }
        let newShape = axes.map { shape[$0] }
        let srcStrides = Shape.strides(shape)
        let strides = axes.map { srcStrides[$0] }
        return gather(shape: newShape, offset: 0, strides: strides)
    }

    /// Copies elements at `offset + Σ idx[k]·strides[k]` into a new contiguous tensor of `shape`.
    func gather(shape outShape: [Int], offset: Int, strides: [Int]) -> Tensor {
        let n = Shape.count(outShape) ?? 0
        if n == 0 { return Tensor(shape: outShape, storage: []) }
        // Collapse to at most 4 loops; the innermost runs contiguously when its stride is 1.
        var dims = outShape, st = strides
        while dims.count < 4 { dims.insert(1, at: 0); st.insert(0, at: 0) }
        return Tensor(shape: outShape) { out in
            withBuffer { src in
                var o = 0
                for a in 0..<dims[0] {
                    let pa = offset + a * st[0]
                    for b in 0..<dims[1] {
                        let pb = pa + b * st[1]
                        for c in 0..<dims[2] {
                            let pc = pb + c * st[2]
                            let sd = st[3]
                            if sd == 1 {
                                for d in 0..<dims[3] { out[o + d] = src[pc + d] }
                            } else {
                                for d in 0..<dims[3] { out[o + d] = src[pc + d * sd] }
                            }
                            o += dims[3]
                        }
                    }
                }
            }
        }
    }

    /// NumPy basic indexing: one component per leading dimension (missing trailing ones are `:`).
    /// Negative indices count from the end; ranges are clamped like Python's. The result is a copy.
    public func slice(_ components: [SliceComponent]) throws -> Tensor {
        let layout = try sliceLayout(components)
        return gather(shape: layout.shape, offset: layout.offset, strides: layout.strides)
    }

    /// Where `slice(components)` reads: element `idx` of the result is `storage[offset + Σ idx[k]·strides[k]]`.
    public func sliceLayout(_ components: [SliceComponent]) throws -> (shape: [Int], offset: Int, strides: [Int]) {
        guard components.count <= rank else {
            throw CoreError.indexOutOfRange(
                "too many indices: \(components.count) for a tensor of rank \(rank) (shape \(Shape.describe(shape)))")
        }
        let srcStrides = Shape.strides(shape)
        var offset = 0
        var outShape: [Int] = []
        var outStrides: [Int] = []
        for axis in 0..<rank {
            let c = axis < components.count ? components[axis] : .all
            let d = shape[axis]
            switch c {
            case .index(let i0):
                let i = i0 < 0 ? i0 + d : i0
                guard i >= 0 && i < d else {
                    throw CoreError.indexOutOfRange("index \(i0) is out of range for axis \(axis) with size \(d)")
                }
                offset += i * srcStrides[axis]
            case let .range(start, stop, step):
                guard step != 0 else { throw CoreError.invalidArgument("slice step cannot be zero") }
                let (s, len) = Tensor.normalize(start: start, stop: stop, step: step, extent: d)
                offset += len > 0 ? s * srcStrides[axis] : 0
                outShape.append(len)
                outStrides.append(step * srcStrides[axis])
            }
        }
        return (outShape, offset, outStrides)
    }

    /// The adjoint of a gather: a zero tensor of `shape` with `self`'s elements added at
    /// `offset + Σ idx[k]·strides[k]` (the gradient of a slice).
    public func scattered(into shape: [Int], offset: Int, strides: [Int]) -> Tensor {
        var out = Tensor.zeros(shape)
        var dims = self.shape, st = strides
        while dims.count < 4 { dims.insert(1, at: 0); st.insert(0, at: 0) }
        out.withMutableBuffer { dst in
            withBuffer { src in
                var o = 0
                for a in 0..<dims[0] {
                    for b in 0..<dims[1] {
                        for c in 0..<dims[2] {
                            let p = offset + a * st[0] + b * st[1] + c * st[2]
                            for d in 0..<dims[3] { dst[p + d * st[3]] += src[o + d] }
                            o += dims[3]
                        }
                    }
                }
            }
        }
        return out
    }

    /// Python's slice semantics: first index and length.
    static func normalize(start: Int?, stop: Int?, step: Int, extent d: Int) -> (Int, Int) {
        func clamp(_ v: Int, _ lo: Int, _ hi: Int) -> Int { min(max(v, lo), hi) }
        if step > 0 {
            var s = start ?? 0; if s < 0 { s += d }; s = clamp(s, 0, d)
            var e = stop ?? d; if e < 0 { e += d }; e = clamp(e, 0, d)
            return (s, e > s ? (e - s + step - 1) / step : 0)
        } else {
            var s = start ?? d - 1; if s < 0 { s += d }; s = clamp(s, -1, d - 1)
            var e: Int
            if let st = stop { e = st < 0 ? st + d : st; e = clamp(e, -1, d - 1) } else { e = -1 }
            return (s, s > e ? (s - e - step - 1) / (-step) : 0)
        }
    }

    /// Rows `range` of a matrix (a contiguous copy).
    public func rows(_ range: Range<Int>) -> Tensor {
        precondition(rank >= 1 && range.lowerBound >= 0 && range.upperBound <= shape[0])
        let inner = shape.dropFirst().reduce(1, *)
        var s = shape; s[0] = range.count
        return Tensor(shape: s, storage: Array(storage[(range.lowerBound * inner)..<(range.upperBound * inner)]))
    }

    /// Selected rows (fancy indexing along axis 0), in the given order.
    public func rows(at indices: [Int]) throws -> Tensor {
        guard rank >= 1 else { throw CoreError.invalidArgument("cannot select rows of a scalar") }
        let inner = shape.dropFirst().reduce(1, *)
        for i in indices where i < 0 || i >= shape[0] {
            throw CoreError.indexOutOfRange("row index \(i) is out of range for \(shape[0]) rows")
        }
        var s = shape; s[0] = indices.count
        return Tensor(shape: s) { out in
            withBuffer { src in
                for (k, i) in indices.enumerated() {
                    for j in 0..<inner { out[k * inner + j] = src[i * inner + j] }
                }
            }
        }
    }

    /// Joins tensors along `axis`; all other extents must agree.
    public static func concat(_ parts: [Tensor], axis: Int = 0) throws -> Tensor {
        guard let first = parts.first else { throw CoreError.invalidArgument("concat: nothing to concatenate") }
        guard first.rank > 0 else { throw CoreError.invalidArgument("concat: cannot concatenate scalars (use stack)") }
        let ax = axis < 0 ? axis + first.rank : axis
        guard ax >= 0 && ax < first.rank else {
            throw CoreError.invalidArgument("concat: axis \(axis) is out of range for rank \(first.rank)")
        }
        for p in parts.dropFirst() {
            var a = p.shape, b = first.shape
            guard a.count == b.count else { throw CoreError.shapeMismatch(op: "concat", lhs: first.shape, rhs: p.shape) }
            a[ax] = 0; b[ax] = 0
            guard a == b else { throw CoreError.shapeMismatch(op: "concat", lhs: first.shape, rhs: p.shape) }
        }
        let outer = first.shape[..<ax].reduce(1, *)
        let inner = first.shape[(ax + 1)...].reduce(1, *)
        var outShape = first.shape
        outShape[ax] = parts.reduce(0) { $0 + $1.shape[ax] }
        try Memory.check(shape: outShape, "concat's result")
        var out = [Float](); out.reserveCapacity(Shape.count(outShape) ?? 0)
        for o in 0..<outer {
            for p in parts {
                let chunk = p.shape[ax] * inner
                out.append(contentsOf: p.storage[(o * chunk)..<((o + 1) * chunk)])
            }
        }
        return Tensor(shape: outShape, storage: out)
    }

    /// Stacks equal-shaped tensors along a new leading axis (or `axis`).
    public static func stack(_ parts: [Tensor], axis: Int = 0) throws -> Tensor {
        guard let first = parts.first else { throw CoreError.invalidArgument("stack: nothing to stack") }
        guard first.rank < Tensor.maxRank else {
            throw CoreError.invalidArgument("stack: result would exceed rank \(Tensor.maxRank)")
        }
        let ax = axis < 0 ? axis + first.rank + 1 : axis
        guard ax >= 0 && ax <= first.rank else {
            throw CoreError.invalidArgument("stack: axis \(axis) is out of range")
        }
        for p in parts where p.shape != first.shape {
            throw CoreError.shapeMismatch(op: "stack", lhs: first.shape, rhs: p.shape)
        }
        var s = first.shape; s.insert(1, at: ax)
        return try concat(parts.map { Tensor(shape: s, storage: $0.storage) }, axis: ax)
    }

    /// The diagonal of a matrix, or the square matrix with `self` (a vector) on its diagonal.
    public func diag() throws -> Tensor {
        switch rank {
        case 1:
            let n = count
            try Memory.check(shape: [n, n], "the diagonal matrix")
            var t = Tensor.zeros([n, n])
            for i in 0..<n { t.storage[i * n + i] = storage[i] }
            return t
        case 2:
            let n = min(shape[0], shape[1])
            return Tensor((0..<n).map { storage[$0 * shape[1] + $0] })
        default:
            throw CoreError.invalidArgument("diag: expected a vector or a matrix, got shape \(Shape.describe(shape))")
        }
    }
}
