/// Errors thrown by the numeric core. They describe what went wrong in the data, never where in a
/// recipe: the language layer adds the source span.
public enum CoreError: Error, Equatable, CustomStringConvertible, Sendable {
    /// Two shapes that must agree do not. `op` names the operation.
    case shapeMismatch(op: String, lhs: [Int], rhs: [Int])
    /// An argument is outside what the operation accepts.
    case invalidArgument(String)
    /// A parameter's value does not fit the data (a group that does not divide the row, a Hessian
    /// that is not positive definite): `name` is the parameter as the operation's specification
    /// calls it, so the language can point at the argument without reading the message.
    case invalidParameter(String, String)
    /// An index or slice bound falls outside the tensor.
    case indexOutOfRange(String)
    /// A LAPACK routine returned `info != 0`.
    case lapack(routine: String, info: Int, message: String)
    /// A long computation noticed the cancellation token (Ctrl-C).
    case cancelled

    public var description: String {
        switch self {
        case let .shapeMismatch(op, lhs, rhs):
            return "\(op): shapes \(Shape.describe(lhs)) and \(Shape.describe(rhs)) do not match"
        case let .invalidArgument(message):
            return message
        case let .invalidParameter(_, message):
            return message
        case let .indexOutOfRange(message):
            return message
        case let .lapack(routine, info, message):
            return "\(routine) failed (info = \(info)): \(message)"
        case .cancelled:
            return "interrupted"
        }
    }
}

/// Helpers for shapes given as `[Int]`.
public enum Shape {
    /// `[3, 4]` → `3×4`, `[]` → `scalar`.
    public static func describe(_ shape: [Int]) -> String {
        shape.isEmpty ? "scalar" : shape.map(String.init).joined(separator: "×")
    }

    /// Number of elements, or nil on overflow.
    public static func count(_ shape: [Int]) -> Int? {
        var n = 1
        for d in shape {
            let (r, o) = n.multipliedReportingOverflow(by: d)
            if o { return nil }
            n = r
        }
        return n
    }

    /// Row-major strides.
    public static func strides(_ shape: [Int]) -> [Int] {
        var s = [Int](repeating: 1, count: shape.count)
        var acc = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) {
            s[i] = acc
            acc *= shape[i]
        }
        return s
    }

    /// NumPy broadcasting of two shapes; nil when they are incompatible.
    public static func broadcast(_ a: [Int], _ b: [Int]) -> [Int]? {
        let n = max(a.count, b.count)
        var out = [Int](repeating: 1, count: n)
        for i in 0..<n {
            let da = i < n - a.count ? 1 : a[i - (n - a.count)]
            let db = i < n - b.count ? 1 : b[i - (n - b.count)]
            if da == db || db == 1 { out[i] = da } else if da == 1 { out[i] = db } else { return nil }
        }
        return out
    }
}
