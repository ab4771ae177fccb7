/// A dense tensor of `Float` in contiguous row-major order, of rank 0 to 4.
///
/// Storage is a Swift array, so a `Tensor` is a value with copy-on-write: assigning or passing one
/// never copies until one side mutates. Slices (`rows`, `columns`, `slice`) are *copies* of just the
/// selected elements; there are no aliasing views, so nothing can change behind a user's back.
public struct Tensor: Sendable, Equatable {
    /// The highest rank squeeze supports.
    public static let maxRank = 4

    /// Elements in row-major order. `storage.count == shape.reduce(1, *)`.
    public var storage: [Float]
    /// Extent of each dimension; `[]` is a scalar.
    public private(set) var shape: [Int]

    /// Wraps `storage` with `shape`. The counts must agree (a programming error otherwise).
    public init(shape: [Int], storage: [Float]) {
        precondition(shape.count <= Tensor.maxRank, "rank \(shape.count) > \(Tensor.maxRank)")
        precondition(shape.allSatisfy { $0 >= 0 }, "negative extent in \(shape)")
        precondition(
            Shape.count(shape) == storage.count,
            "shape \(shape) does not hold \(storage.count) elements")
        self.shape = shape
        self.storage = storage
    }

    /// A tensor of `shape` filled with `value`.
    public init(shape: [Int], repeating value: Float) {
        self.init(shape: shape) { $0.initialize(repeating: value) }
    }

    /// A rank-0 tensor.
    public init(scalar: Float) { self.init(shape: [], storage: [scalar]) }

    /// A rank-1 tensor.
    public init(_ values: [Float]) { self.init(shape: [values.count], storage: values) }

    /// A rank-2 tensor from rows of equal length.
    public init(rows: [[Float]]) throws {
        let cols = rows.first?.count ?? 0
        guard rows.allSatisfy({ $0.count == cols }) else {
            throw CoreError.invalidArgument("rows have different lengths")
        }
        self.init(shape: [rows.count, cols], storage: rows.flatMap { $0 })
    }

    /// A tensor with uninitialised-then-filled storage: `body` writes all `count` elements.
    @inlinable
    public init(shape: [Int], filling body: (UnsafeMutableBufferPointer<Float>) throws -> Void) rethrows {
        let n = Shape.count(shape) ?? 0
        let s = try [Float](unsafeUninitializedCapacity: n) { buf, count in
            Memory.preferHugePages(UnsafeMutableRawPointer(buf.baseAddress), bytes: n * MemoryLayout<Float>.stride)
            try body(buf)
            count = n
        }
        self.init(shape: shape, storage: s)
    }

    public var rank: Int { shape.count }
    public var count: Int { storage.count }
    public var isEmpty: Bool { storage.isEmpty }
    /// Rows of a matrix (first extent; 1 for a scalar).
    public var rows: Int { shape.first ?? 1 }
    /// Columns of a matrix (last extent of a rank-2 tensor; 1 otherwise for rank < 2).
    public var cols: Int { shape.count >= 2 ? shape[shape.count - 1] : 1 }

    /// The single element of a one-element tensor.
    public var scalarValue: Float? { storage.count == 1 ? storage[0] : nil }

    /// Element by full multi-index (programming errors trap; the language checks first).
    public subscript(_ index: Int...) -> Float {
        get { storage[flatIndex(index)] }
        set { storage[flatIndex(index)] = newValue }
    }

    @inlinable
    func flatIndex(_ index: [Int]) -> Int {
        precondition(index.count == shape.count, "index rank")
        var flat = 0
        for (i, d) in zip(index, shape) {
            precondition(i >= 0 && i < d, "index out of range")
            flat = flat * d + i
        }
        return flat
    }

    /// Reads the storage without copying.
    @inlinable
    public func withBuffer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try storage.withUnsafeBufferPointer(body)
    }

    /// Mutates the storage in place (copying first if shared).
    @inlinable
    public mutating func withMutableBuffer<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        try storage.withUnsafeMutableBufferPointer { try body($0) }
    }
}

// MARK: - Construction

extension Tensor {
    public static func zeros(_ shape: [Int]) -> Tensor { Tensor(shape: shape, repeating: 0) }
    public static func ones(_ shape: [Int]) -> Tensor { Tensor(shape: shape, repeating: 1) }
    public static func full(_ shape: [Int], _ value: Float) -> Tensor { Tensor(shape: shape, repeating: value) }

    /// The n×m identity (m defaults to n).
    public static func eye(_ n: Int, _ m: Int? = nil) -> Tensor {
        let m = m ?? n
        var t = Tensor.zeros([n, m])
        for i in 0..<min(n, m) { t.storage[i * m + i] = 1 }
        return t
    }

    /// `count` evenly spaced values from `start` to `stop` inclusive (NumPy's `linspace`), computed
    /// in Float64 so the end point is exact.
    public static func linspace(_ start: Double, _ stop: Double, count: Int) -> Tensor {
        if count == 1 { return Tensor([Float(start)]) }
        let step = (stop - start) / Double(max(count - 1, 1))
        var v = (0..<count).map { Float(start + Double($0) * step) }
        if count > 1 { v[count - 1] = Float(stop) }
        return Tensor(v)
    }

    /// Values `start, start+step, …` below `stop` (NumPy's `arange`).
    public static func arange(_ start: Double, _ stop: Double, step: Double = 1) throws -> Tensor {
        guard step != 0, step.isFinite else { throw CoreError.invalidArgument("arange: step must be a non-zero finite number") }
        let n = max(0, Int(((stop - start) / step).rounded(.up)))
        return Tensor((0..<n).map { Float(start + Double($0) * step) })
    }
}
