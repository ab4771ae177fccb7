import Foundation

/// What a reduction computes. Sums accumulate in Float64.
public enum Reduction: String, Sendable, CaseIterable {
    case sum, mean, variance = "var", std, min, max, argmin, argmax, prod
}

extension Tensor {
    /// Reduces all elements (`axis == nil`) or one axis (negative counts from the end).
    /// `ddof` is the delta degrees of freedom for `var`/`std` (NumPy's default 0).
    /// NaN propagates through min/max (and argmin/argmax point at the first NaN), as in NumPy.
    public func reduce(_ kind: Reduction, axis: Int? = nil, ddof: Int = 0) throws -> Tensor {
        let outer: Int, n: Int, inner: Int
        var outShape: [Int]
        if let axis {
            let ax = axis < 0 ? axis + rank : axis
            guard ax >= 0 && ax < rank else {
                throw CoreError.invalidArgument("\(kind.rawValue): axis \(axis) is out of range for a tensor of rank \(rank)")
            }
            outer = shape[..<ax].reduce(1, *)
            n = shape[ax]
            inner = shape[(ax + 1)...].reduce(1, *)
            outShape = shape; outShape.remove(at: ax)
        } else {
            outer = 1; n = count; inner = 1; outShape = []
        }
        try Tensor.requireElements(kind, n)
        var result = [Double](repeating: 0, count: outer * inner)
        withBuffer { a in
            for o in 0..<outer {
                for j in 0..<inner {
                    result[o * inner + j] = Tensor.reduceLine(kind, a, base: o * n * inner + j, count: n, stride: inner, ddof: ddof)
                }
            }
        }
        return Tensor(shape: outShape, storage: result.map { Float($0) })
    }

    /// min, max, argmin and argmax have no value over nothing.
    static func requireElements(_ kind: Reduction, _ n: Int, what: String = "tensor") throws {
        if n == 0 && [.min, .max, .argmin, .argmax].contains(kind) {
            throw CoreError.invalidArgument("\(kind.rawValue) of an empty \(what) is undefined")
        }
    }

    /// One reduction over `count` elements `a[base + k*stride]`.
    static func reduceLine(_ kind: Reduction, _ a: UnsafeBufferPointer<Float>, base: Int, count n: Int, stride st: Int, ddof: Int) -> Double
    {
        @inline(__always) func at(_ k: Int) -> Float { a[base + k * st] }
        switch kind {
        case .sum, .mean:
            var s = 0.0
            if st == 1 {
                // Four independent accumulators let the compiler pipeline the adds.
                var s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
                var k = 0
                while k + 4 <= n {
                    s0 += Double(a[base + k]); s1 += Double(a[base + k + 1])
                    s2 += Double(a[base + k + 2]); s3 += Double(a[base + k + 3]); k += 4
                }
                while k < n { s0 += Double(a[base + k]); k += 1 }
                s = (s0 + s1) + (s2 + s3)
            } else {
                for k in 0..<n { s += Double(at(k)) }
            }
            return kind == .sum ? s : (n == 0 ? .nan : s / Double(n))
        case .prod:
            var p = 1.0
            for k in 0..<n { p *= Double(at(k)) }
            return p
        case .variance, .std:
            let dof = n - ddof
            if dof <= 0 { return .nan }
            var s = 0.0
            for k in 0..<n { s += Double(at(k)) }
            let mu = s / Double(n)
            var q = 0.0
            for k in 0..<n { let d = Double(at(k)) - mu; q += d * d }
            let v = q / Double(dof)
            return kind == .variance ? v : v.squareRoot()
        case .min, .max, .argmin, .argmax:
            let wantMax = kind == .max || kind == .argmax
            var best = at(0), bi = 0
            if best.isNaN { return kind == .argmin || kind == .argmax ? 0 : .nan }
            for k in 1..<max(n, 1) {
                let v = at(k)
                if v.isNaN { return kind == .argmin || kind == .argmax ? Double(k) : .nan }
                if wantMax ? v > best : v < best { best = v; bi = k }
            }
            return kind == .argmin || kind == .argmax ? Double(bi) : Double(best)
        }
    }

    /// A reduction over all elements, returned in Float64 (no rounding to Float32).
    public func reduceAll(_ kind: Reduction, ddof: Int = 0) throws -> Double {
        try Tensor.requireElements(kind, count)
        return withBuffer { Tensor.reduceLine(kind, $0, base: 0, count: count, stride: 1, ddof: ddof) }
    }

    /// Sum of all elements in Float64.
    public func sum() -> Double {
        withBuffer { Tensor.reduceLine(.sum, $0, base: 0, count: count, stride: 1, ddof: 0) }
    }

    /// Sum of squares in Float64.
    public func sumOfSquares() -> Double {
        withBuffer { a in
            var s0 = 0.0, s1 = 0.0
            var k = 0
            while k + 2 <= a.count {
                let x = Double(a[k]), y = Double(a[k + 1]); s0 += x * x; s1 += y * y; k += 2
            }
            if k < a.count { let x = Double(a[k]); s0 += x * x }
            return s0 + s1
        }
    }

    /// Norms as NumPy's `linalg.norm` defines them. For vectors `ord` is p (2, 1, inf, -inf, 0 or
    /// any p > 0); for matrices `"fro"` (default), `"nuc"`, 1, 2 (spectral), inf.
    public func norm(_ ord: NormOrder = .frobenius) throws -> Double {
        switch ord {
        case .frobenius:
            return sumOfSquares().squareRoot()
        case .nuclear:
            guard rank == 2 else { throw CoreError.invalidArgument("norm: 'nuc' needs a matrix, got shape \(Shape.describe(shape))") }
            return try singularValues().storage.reduce(0.0) { $0 + Double($1) }
        case .p(let p):
            if rank == 2 {
                let m = shape[0], n = shape[1]
                if p == 2 { return Double(try singularValues().storage.first ?? 0) }
                if p == 1 {
                    return (0..<n).map { j in (0..<m).reduce(0.0) { $0 + Double(Swift.abs(storage[$1 * n + j])) } }.max() ?? 0
                }
                if p == .infinity {
                    return (0..<m).map { i in (0..<n).reduce(0.0) { $0 + Double(Swift.abs(storage[i * n + $1])) } }.max() ?? 0
                }
                throw CoreError.invalidArgument("norm: matrix norm order \(p) is not supported (use 'fro', 'nuc', 1, 2 or inf)")
            }
            let v = storage.map { Double(Swift.abs($0)) }
            if p == .infinity { return v.max() ?? 0 }
            if p == -.infinity { return v.min() ?? 0 }
            if p == 0 { return Double(v.filter { $0 != 0 }.count) }
            if p == 2 { return sumOfSquares().squareRoot() }
            if p == 1 { return v.reduce(0, +) }
            guard p > 0 else { throw CoreError.invalidArgument("norm: order must be positive, inf, -inf or 0") }
            return Foundation.pow(v.reduce(0) { $0 + Foundation.pow($1, p) }, 1 / p)
        }
    }

    /// Sorted copy along the last axis (ascending; NaN last, as NumPy).
    public func sorted(descending: Bool = false) -> Tensor {
        let idx = argsort(descending: descending)
        return Tensor(shape: shape, storage: lineGather(idx))
    }

    /// Stable argsort along the last axis (ascending, NaN last). Indices are returned as Float.
    public func argsort(descending: Bool = false) -> Tensor {
        let n = shape.last ?? 1
        let lines = n == 0 ? 0 : count / n
        var out = [Float](repeating: 0, count: count)
        withBuffer { a in
            var perm = [Int](repeating: 0, count: n)
            for l in 0..<lines {
                let base = l * n
                for k in 0..<n { perm[k] = k }
                perm.sort { i, j in
                    let x = a[base + i], y = a[base + j]
                    switch (x.isNaN, y.isNaN) {
                    case (true, true): return i < j
                    case (true, false): return false
                    case (false, true): return true
                    case (false, false): if x == y { return i < j }
                    }
                    return descending ? x > y : x < y
                }
                for k in 0..<n { out[base + k] = Float(perm[k]) }
            }
        }
        return Tensor(shape: shape, storage: out)
    }

    /// The `k` largest (or smallest) values along the last axis and their indices, in order.
    /// Ties keep the lower index first.
    public func topk(_ k: Int, largest: Bool = true) throws -> (values: Tensor, indices: Tensor) {
        let n = shape.last ?? 1
        guard k >= 0 && k <= n else {
            throw CoreError.invalidArgument("topk: k = \(k) must be between 0 and \(n) (the last extent)")
        }
        let order = argsort(descending: largest)
        let lines = n == 0 ? 0 : count / n
        var vals = [Float](), idx = [Float]()
        vals.reserveCapacity(lines * k); idx.reserveCapacity(lines * k)
        for l in 0..<lines {
            for j in 0..<k {
                let i = Int(order.storage[l * n + j])
                idx.append(Float(i)); vals.append(storage[l * n + i])
            }
        }
        var s = shape.isEmpty ? [1] : shape; s[s.count - 1] = k
        return (Tensor(shape: s, storage: vals), Tensor(shape: s, storage: idx))
    }

    private func lineGather(_ idx: Tensor) -> [Float] {
        let n = shape.last ?? 1
        return (0..<count).map { p in storage[(p / Swift.max(n, 1)) * n + Int(idx.storage[p])] }
    }
}

/// The order of a norm.
public enum NormOrder: Sendable, Equatable {
    case frobenius, nuclear
    case p(Double)
}

extension Reduction {
    /// The same reduction over Float64 values (for plain lists of numbers).
    public static func over(_ values: [Double], _ kind: Reduction, ddof: Int = 0) throws -> Double {
        let n = values.count
        try Tensor.requireElements(kind, n, what: "list")
        switch kind {
        case .sum: return values.reduce(0, +)
        case .mean: return n == 0 ? .nan : values.reduce(0, +) / Double(n)
        case .prod: return values.reduce(1, *)
        case .variance, .std:
            guard n - ddof > 0 else { return .nan }
            let mu = values.reduce(0, +) / Double(n)
            let v = values.reduce(0) { $0 + ($1 - mu) * ($1 - mu) } / Double(n - ddof)
            return kind == .variance ? v : v.squareRoot()
        case .min, .max, .argmin, .argmax:
            var best = 0
            for i in 0..<n {
                if values[i].isNaN { return kind == .min || kind == .max ? .nan : Double(i) }
                let better = (kind == .min || kind == .argmin) ? values[i] < values[best] : values[i] > values[best]
                if better { best = i }
            }
            return kind == .min || kind == .max ? values[best] : Double(best)
        }
    }
}

extension Tensor {
    /// How many elements are NaN or ±∞ (exponent bits all ones), on both cores for large tensors.
    public var nonFiniteCount: Int {
        withBuffer { p in
            p.withMemoryRebound(to: UInt32.self) { bits in
                let chunks = max(1, min(Parallel.cores, count / 1_000_000))
                let per = (count + chunks - 1) / max(chunks, 1)
                var counts = [Int](repeating: 0, count: chunks)
                counts.withUnsafeMutableBufferPointer { cp in
                    nonisolated(unsafe) let cp = cp
                    Parallel.forEach(chunks, grain: 1) { range in
                        for c in range {
                            let lo = c * per, hi = min(count, (c + 1) * per)
                            cp[c] = hi > lo ? Tensor.countNonFinite(UnsafeBufferPointer(rebasing: bits[lo..<hi])) : 0
                        }
                    }
                }
                return counts.reduce(0, +)
            }
        }
    }

    /// Counts words whose exponent bits are all ones, eight lanes at a time: for such a word
    /// (w & 0x7fffffff) + 2²³ reaches bit 31, for every other it stays below.
    static func countNonFinite(_ bits: UnsafeBufferPointer<UInt32>) -> Int {
        guard let base = bits.baseAddress else { return 0 }
        let n = bits.count, wide = n / 8
        var total = 0
        var block = 0
        while block < wide {
            let end = min(wide, block + (1 << 28))  // lanes cannot overflow within a block
            var acc = SIMD8<UInt32>(repeating: 0)
            UnsafeRawPointer(base).withMemoryRebound(to: SIMD8<UInt32>.self, capacity: wide) { v in
                for i in block..<end { acc &+= ((v[i] & 0x7fff_ffff) &+ 0x0080_0000) &>> 31 }
            }
            total += Int(acc.wrappedSum())
            block = end
        }
        for i in (wide * 8)..<n { total += ((base[i] & 0x7fff_ffff) &+ 0x0080_0000) >> 31 == 1 ? 1 : 0 }
        return total
    }

    /// nil when every element is finite, else "3 NaN or infinite values (first at flat index 7)".
    public var nonFiniteDescription: String? {
        let bad = nonFiniteCount
        guard bad > 0 else { return nil }
        let first = storage.firstIndex { !$0.isFinite } ?? 0
        return "\(bad) NaN or infinite value\(bad == 1 ? "" : "s") (first at flat index \(first))"
    }

    /// Throws when the tensor holds NaN or ±∞, naming the operation, the count and the first index.
    public func requireFinite(_ op: String) throws {
        if let bad = nonFiniteDescription { throw CoreError.invalidArgument("\(op): the input contains \(bad)") }
    }
}
