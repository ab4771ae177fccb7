import Foundation
import SqueezeCore

/// Elementwise functions with their derivatives, and arithmetic with NumPy broadcasting.
public enum Elementwise: String, Sendable, CaseIterable {
    case neg, exp, log, sqrt, tanh, sigmoid, relu, abs, square, sin, cos, gelu
    /// Rounds half to even going forward; passes the gradient through unchanged (straight-through).
    case roundSTE = "round_ste"

    /// f(x).
    @inline(__always)
    public func apply(_ x: Float) -> Float {
        switch self {
        case .neg: return -x
        case .exp: return Foundation.exp(x)
        case .log: return Foundation.log(x)
        case .sqrt: return x.squareRoot()
        case .tanh: return Foundation.tanh(x)
        case .sigmoid: return 1 / (1 + Foundation.exp(-x))
        case .relu: return x > 0 ? x : (x.isNaN ? x : 0)
        case .abs: return Swift.abs(x)
        case .square: return x * x
        case .sin: return Foundation.sin(x)
        case .cos: return Foundation.cos(x)
        case .gelu: return Float(Elementwise.gelu(Double(x)))
        case .roundSTE: return x.rounded(.toNearestOrEven)
        }
    }

    /// f′ at x, given y = f(x).
    @inline(__always)
    public func derivative(_ x: Float, _ y: Float) -> Float {
        switch self {
        case .neg: return -1
        case .exp: return y
        case .log: return 1 / x
        case .sqrt: return 0.5 / y
        case .tanh: return 1 - y * y
        case .sigmoid: return y * (1 - y)
        case .relu: return x > 0 ? 1 : 0
        case .abs: return x > 0 ? 1 : (x < 0 ? -1 : 0)
        case .square: return 2 * x
        case .sin: return Foundation.cos(x)
        case .cos: return -Foundation.sin(x)
        case .gelu:
            let d = Double(x)
            return Float(0.5 * (1 + Foundation.erf(d / 2.0.squareRoot())) + d * Foundation.exp(-0.5 * d * d) / (2 * Double.pi).squareRoot())
        case .roundSTE: return 1
        }
    }

    /// GELU in its exact form x·Φ(x) (PyTorch's default, `approximate="none"`).
    public static func gelu(_ x: Double) -> Double { 0.5 * x * (1 + Foundation.erf(x / 2.0.squareRoot())) }
}

extension Tensor {
    /// f applied to every element (one specialised loop per function).
    public func applying(_ f: Elementwise) -> Tensor {
        switch f {
        case .relu: return mapped { Swift.max($0, 0) }  // a select, not a branch; NaN stays NaN
        case .neg: return mapped { -$0 }
        case .square: return mapped { $0 * $0 }
        case .abs: return mapped { Swift.abs($0) }
        default: return mapped { f.apply($0) }
        }
    }

    @inline(__always)
    func mapped(_ body: (Float) -> Float) -> Tensor {
        Tensor(shape: shape) { out in
            withBuffer { a in for i in 0..<a.count { out[i] = body(a[i]) } }
        }
    }

    /// The sum of `self` (a broadcast result) over the axes `shape` was broadcast along: the
    /// gradient of a broadcast operand.
    public func unbroadcast(to target: [Int]) -> Tensor {
        if shape == target { return self }
        let r = shape.count
        let ts = Shape.strides(target)
        var st = (0..<r).map { k -> Int in
            let j = k - (r - target.count)
            return (j < 0 || target[j] == 1) ? 0 : ts[j]
        }
        var dims = shape
        while dims.count < 4 { dims.insert(1, at: 0); st.insert(0, at: 0) }
        var acc = [Double](repeating: 0, count: Shape.count(target) ?? 0)
        withBuffer { g in
            var o = 0
            for i0 in 0..<dims[0] {
                for i1 in 0..<dims[1] {
                    for i2 in 0..<dims[2] {
                        let p = i0 * st[0] + i1 * st[1] + i2 * st[2], d = st[3]
                        for k in 0..<dims[3] { acc[p + k * d] += Double(g[o + k]) }
                        o += dims[3]
                    }
                }
            }
        }
        return Tensor(shape: target, storage: acc.map { Float($0) })
    }
}

extension Tape {
    /// f(x) elementwise.
    public func apply(_ f: Elementwise, _ x: Operand) -> Operand {
        let y = x.value.applying(f)
        return record(y, [x]) { g, _ in
            switch f {
            case .relu: return [Tape.zip3(x.value, y, g) { xv, _, gv in xv > 0 ? gv : 0 }]
            case .roundSTE: return [g]
            default: return [Tape.zip3(x.value, y, g) { xv, yv, gv in gv * f.derivative(xv, yv) }]
            }
        }
    }

    /// `body(a[i], b[i], c[i])` for equal-shaped tensors.
    @inline(__always)
    static func zip3(_ a: Tensor, _ b: Tensor, _ c: Tensor, _ body: (Float, Float, Float) -> Float) -> Tensor {
        Tensor(shape: a.shape) { out in
            a.withBuffer { pa in b.withBuffer { pb in c.withBuffer { pc in for i in 0..<out.count { out[i] = body(pa[i], pb[i], pc[i]) } } }
            }
        }
    }

    /// `a op b` with broadcasting for + − × ÷ and **; comparisons give constants (their gradient is zero).
    public func binary(_ op: BinaryOp, _ a: Operand, _ b: Operand) throws -> Operand {
        let y = try a.value.elementwise(op, b.value)
        let sa = a.shape, sb = b.shape
        switch op {
        case .add:
            return record(y, [a, b]) { g, need in [need[0] ? g.unbroadcast(to: sa) : nil, need[1] ? g.unbroadcast(to: sb) : nil] }
        case .sub:
            return record(y, [a, b]) { g, need in
                [need[0] ? g.unbroadcast(to: sa) : nil, need[1] ? g.unbroadcast(to: sb).map(UnaryOp.neg) : nil]
            }
        case .mul:
            return record(y, [a, b]) { g, need in
                [
                    need[0] ? try g.elementwise(.mul, b.value).unbroadcast(to: sa) : nil,
                    need[1] ? try g.elementwise(.mul, a.value).unbroadcast(to: sb) : nil,
                ]
            }
        case .div:
            return record(y, [a, b]) { g, need in
                // d(a/b)/db = −(a/b)/b = −y/b.
                [
                    need[0] ? try g.elementwise(.div, b.value).unbroadcast(to: sa) : nil,
                    need[1] ? try g.elementwise(.mul, y).elementwise(.div, b.value).map(UnaryOp.neg).unbroadcast(to: sb) : nil,
                ]
            }
        case .pow:
            return record(y, [a, b]) { g, need in
                // d(aᵇ)/da = b·aᵇ⁻¹; d(aᵇ)/db = aᵇ·ln a (0 where a = 0, as PyTorch).
                var ga: Tensor?, gb: Tensor?
                if need[0] {
                    let bm1 = b.value.elementwise(.sub, scalar: 1)
                    ga = try g.elementwise(.mul, b.value).elementwise(.mul, a.value.elementwise(.pow, bm1)).unbroadcast(to: sa)
                }
                if need[1] {
                    let lnA = a.value.map { $0 == 0 ? 0 : Foundation.log($0) }
                    gb = try g.elementwise(.mul, y).elementwise(.mul, lnA).unbroadcast(to: sb)
                }
                return [ga, gb]
            }
        case .eq, .ne, .lt, .le, .gt, .ge:
            return Operand(constant: y)
        case .mod, .minimum, .maximum:
            throw CoreError.invalidArgument("'\(op.rawValue)' has no gradient")
        }
    }

    /// Clips to [lo, hi]; the gradient passes where lo ≤ x ≤ hi (PyTorch's `clamp`).
    public func clip(_ x: Operand, _ lo: Float, _ hi: Float) -> Operand {
        let y = x.value.clipped(lo, hi)
        return record(y, [x]) { g, _ in
            [
                Tensor(shape: g.shape) { out in
                    x.value.withBuffer { xs in
                        g.withBuffer { gs in for i in 0..<out.count { out[i] = xs[i] >= lo && xs[i] <= hi ? gs[i] : 0 } }
                    }
                }
            ]
        }
    }

    /// `cond ? a : b` elementwise (cond non-zero picks a), with broadcasting; cond is a constant.
    public func select(_ cond: Tensor, _ a: Operand, _ b: Operand) throws -> Operand {
        guard let s1 = Shape.broadcast(cond.shape, a.shape), let shape = Shape.broadcast(s1, b.shape) else {
            throw CoreError.shapeMismatch(op: "where", lhs: a.shape, rhs: b.shape)
        }
        let zeros = Tensor.zeros(shape)
        let c = try zeros.elementwise(.add, cond).map { $0 != 0 ? 1 : 0 }
        let notC = c.map { 1 - $0 }
        // Picked elementwise, not as c·a + (1−c)·b, which would turn inf·0 into NaN.
        let av = try zeros.elementwise(.add, a.value), bv = try zeros.elementwise(.add, b.value)
        let picked = Tensor(shape: shape) { out in
            c.withBuffer { cs in
                av.withBuffer { xa in bv.withBuffer { xb in for i in 0..<out.count { out[i] = cs[i] != 0 ? xa[i] : xb[i] } } }
            }
        }
        let sa = a.shape, sb = b.shape
        return record(picked, [a, b]) { g, need in
            [
                need[0] ? try g.elementwise(.mul, c).unbroadcast(to: sa) : nil,
                need[1] ? try g.elementwise(.mul, notC).unbroadcast(to: sb) : nil,
            ]
        }
    }
}
