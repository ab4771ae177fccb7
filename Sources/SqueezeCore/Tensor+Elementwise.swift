import Foundation
import RealModule

/// Binary elementwise operations with NumPy broadcasting.
public enum BinaryOp: String, Sendable, CaseIterable {
    case add = "+", sub = "-", mul = "*", div = "/", pow = "**", mod = "%"
    case minimum = "minimum", maximum = "maximum"
    case eq = "==", ne = "!=", lt = "<", le = "<=", gt = ">", ge = ">="

    @inlinable
    public func apply(_ a: Float, _ b: Float) -> Float {
        switch self {
        case .add: return a + b
        case .sub: return a - b
        case .mul: return a * b
        case .div: return a / b
        case .pow: return Foundation.pow(a, b)
        case .mod:
            // Python/NumPy semantics: the result has the sign of the divisor.
            let r = fmodf(a, b)
            return (r != 0 && (r < 0) != (b < 0)) ? r + b : r
        case .minimum: return a.isNaN || b.isNaN ? .nan : Swift.min(a, b)
        case .maximum: return a.isNaN || b.isNaN ? .nan : Swift.max(a, b)
        case .eq: return a == b ? 1 : 0
        case .ne: return a != b ? 1 : 0
        case .lt: return a < b ? 1 : 0
        case .le: return a <= b ? 1 : 0
        case .gt: return a > b ? 1 : 0
        case .ge: return a >= b ? 1 : 0
        }
    }
}

/// Unary elementwise functions.
public enum UnaryOp: String, Sendable, CaseIterable {
    case neg, abs, sqrt, exp, log, sign, sin, cos, tanh, floor, ceil, round, square, sigmoid, relu

    /// The function on any real type (Float for tensors, Double for plain numbers).
    @inlinable
    public func apply<T: Real>(_ x: T) -> T {
        switch self {
        case .neg: return -x
        case .abs: return Swift.abs(x)
        case .sqrt: return x.squareRoot()
        case .exp: return T.exp(x)
        case .log: return T.log(x)
        case .sign: return x > 0 ? 1 : (x < 0 ? -1 : (x.isNaN ? .nan : 0))
        case .sin: return T.sin(x)
        case .cos: return T.cos(x)
        case .tanh: return T.tanh(x)
        case .floor: return x.rounded(.down)
        case .ceil: return x.rounded(.up)
        case .round: return x.rounded(.toNearestOrEven)  // NumPy rounds half to even
        case .square: return x * x
        case .sigmoid: return 1 / (1 + T.exp(-x))
        case .relu: return x > 0 ? x : (x.isNaN ? x : 0)
        }
    }
}

extension Tensor {
    /// `op` applied to every element.
    public func map(_ op: UnaryOp) -> Tensor {
        Tensor(shape: shape) { out in
            withBuffer { a in
                switch op {
                case .neg: for i in 0..<a.count { out[i] = -a[i] }
                case .abs: for i in 0..<a.count { out[i] = Swift.abs(a[i]) }
                case .square: for i in 0..<a.count { out[i] = a[i] * a[i] }
                case .sqrt: for i in 0..<a.count { out[i] = a[i].squareRoot() }
                // Selects, not branches (half of random inputs would mispredict); NaN stays NaN.
                case .relu: for i in 0..<a.count { out[i] = Swift.max(a[i], 0) }
                default: for i in 0..<a.count { out[i] = op.apply(a[i]) }
                }
            }
        }
    }

    /// Any function applied to every element.
    @inlinable
    public func map(_ f: (Float) -> Float) -> Tensor {
        Tensor(shape: shape) { out in withBuffer { a in for i in 0..<a.count { out[i] = f(a[i]) } } }
    }

    /// Values limited to `[lo, hi]` (NaN stays NaN).
    public func clipped(_ lo: Float, _ hi: Float) -> Tensor {
        map { $0.isNaN ? $0 : Swift.min(Swift.max($0, lo), hi) }
    }

    /// `self op other` with NumPy broadcasting.
    public func elementwise(_ op: BinaryOp, _ other: Tensor) throws -> Tensor {
        if shape == other.shape { return Tensor.sameShape(op, self, other) }
        if other.count == 1 && other.rank <= rank { return scalarRight(op, other.storage[0]) }
        if count == 1 && rank <= other.rank { return other.scalarLeft(op, storage[0]) }
        guard let outShape = Shape.broadcast(shape, other.shape) else {
            throw CoreError.shapeMismatch(op: "'\(op.rawValue)'", lhs: shape, rhs: other.shape)
        }
        try Memory.check(shape: outShape, "the broadcast result")
        return Tensor.broadcasting(op, self, other, outShape)
    }

    /// `self op s`.
    public func elementwise(_ op: BinaryOp, scalar s: Float) -> Tensor { scalarRight(op, s) }

    static func sameShape(_ op: BinaryOp, _ x: Tensor, _ y: Tensor) -> Tensor {
        Tensor(shape: x.shape) { out in
            x.withBuffer { a in
                y.withBuffer { b in
                    switch op {
                    case .add: for i in 0..<a.count { out[i] = a[i] + b[i] }
                    case .sub: for i in 0..<a.count { out[i] = a[i] - b[i] }
                    case .mul: for i in 0..<a.count { out[i] = a[i] * b[i] }
                    case .div: for i in 0..<a.count { out[i] = a[i] / b[i] }
                    default: for i in 0..<a.count { out[i] = op.apply(a[i], b[i]) }
                    }
                }
            }
        }
    }

    func scalarRight(_ op: BinaryOp, _ s: Float) -> Tensor {
        Tensor(shape: shape) { out in
            withBuffer { a in
                switch op {
                case .add: for i in 0..<a.count { out[i] = a[i] + s }
                case .sub: for i in 0..<a.count { out[i] = a[i] - s }
                case .mul: for i in 0..<a.count { out[i] = a[i] * s }
                case .div: for i in 0..<a.count { out[i] = a[i] / s }
                default: for i in 0..<a.count { out[i] = op.apply(a[i], s) }
                }
            }
        }
    }

    func scalarLeft(_ op: BinaryOp, _ s: Float) -> Tensor {
        Tensor(shape: shape) { out in
            withBuffer { b in
                switch op {
                case .add: for i in 0..<b.count { out[i] = s + b[i] }
                case .mul: for i in 0..<b.count { out[i] = s * b[i] }
                default: for i in 0..<b.count { out[i] = op.apply(s, b[i]) }
                }
            }
        }
    }

    static func broadcasting(_ op: BinaryOp, _ x: Tensor, _ y: Tensor, _ outShape: [Int]) -> Tensor {
        let r = outShape.count
        func paddedStrides(_ t: Tensor) -> [Int] {
            let s = Shape.strides(t.shape)
            return (0..<r).map { k in
                let j = k - (r - t.rank)
                return (j < 0 || t.shape[j] == 1) ? 0 : s[j]
            }
        }
        var dims = outShape, sa = paddedStrides(x), sb = paddedStrides(y)
        while dims.count < 4 { dims.insert(1, at: 0); sa.insert(0, at: 0); sb.insert(0, at: 0) }
        return Tensor(shape: outShape) { out in
            x.withBuffer { a in
                y.withBuffer { b in
                    var o = 0
                    for i0 in 0..<dims[0] {
                        for i1 in 0..<dims[1] {
                            for i2 in 0..<dims[2] {
                                let pa = i0 * sa[0] + i1 * sa[1] + i2 * sa[2]
                                let pb = i0 * sb[0] + i1 * sb[1] + i2 * sb[2]
                                let da = sa[3], db = sb[3]
                                if op == .add && da == 1 && db == 0 {
                                    let v = b[pb]; for k in 0..<dims[3] { out[o + k] = a[pa + k] + v }
                                } else if op == .sub && da == 1 && db == 0 {
                                    let v = b[pb]; for k in 0..<dims[3] { out[o + k] = a[pa + k] - v }
                                } else if op == .mul && da == 1 && db == 0 {
                                    let v = b[pb]; for k in 0..<dims[3] { out[o + k] = a[pa + k] * v }
                                } else if op == .add && da == 1 && db == 1 {
                                    for k in 0..<dims[3] { out[o + k] = a[pa + k] + b[pb + k] }
                                } else if op == .sub && da == 1 && db == 1 {
                                    for k in 0..<dims[3] { out[o + k] = a[pa + k] - b[pb + k] }
                                } else {
                                    for k in 0..<dims[3] { out[o + k] = op.apply(a[pa + k * da], b[pb + k * db]) }
                                }
                                o += dims[3]
                            }
                        }
                    }
                }
            }
        }
    }

    public static func + (a: Tensor, b: Tensor) throws -> Tensor { try a.elementwise(.add, b) }
    public static func - (a: Tensor, b: Tensor) throws -> Tensor { try a.elementwise(.sub, b) }
    public static func * (a: Tensor, b: Tensor) throws -> Tensor { try a.elementwise(.mul, b) }
    public static func / (a: Tensor, b: Tensor) throws -> Tensor { try a.elementwise(.div, b) }
}
