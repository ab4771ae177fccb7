import Foundation
import SqueezeCore

/// Synthetic data with known structure: unions of subspaces, curved manifolds, Gaussian mixtures.
/// Every draw comes from the generator passed in, so a seed reproduces the data exactly.
public enum Synthetic {
    public struct Labelled {
        public let X: Tensor
        public let labels: [Int]
        public var extra: [(String, Tensor)] = []
    }

    /// Sizes of `count` groups sharing `n` points (the first groups take the remainder).
    static func split(_ n: Int, _ count: Int) -> [Int] {
        (0..<count).map { n / count + ($0 < n % count ? 1 : 0) }
    }

    /// A random orthonormal basis of a `dim`-dimensional subspace of R^ambient (QR of a Gaussian).
    static func basis(ambient: Int, dim: Int, rng: inout RandomGenerator) throws -> Tensor {
        let G = Tensor.randn([ambient, dim], using: &rng)
        return try G.qr().Q
    }

    /// `count` random `dim`-dimensional subspaces of R^ambient; each point is a unit vector of its
    /// subspace (a Gaussian draw in the subspace, normalised), plus isotropic noise of std `noise`.
    public static func subspaces(n: Int, ambient: Int, dim: Int, count: Int, noise: Double, rng: inout RandomGenerator) throws -> Labelled {
        guard count >= 1, dim >= 1, dim <= ambient, n >= count else {
            throw CoreError.invalidArgument(
                "subspaces: need 1 ≤ dim ≤ ambient and n ≥ count ≥ 1 (got n = \(n), ambient = \(ambient), dim = \(dim), count = \(count))")
        }
        var rows: [Float] = []
        rows.reserveCapacity(n * ambient)
        var labels: [Int] = []
        var bases: [Tensor] = []
        for (k, size) in split(n, count).enumerated() {
            let U = try basis(ambient: ambient, dim: dim, rng: &rng)
            bases.append(U)
            for _ in 0..<size {
                let z = (0..<dim).map { _ in rng.normal() }
                let norm = max(1e-12, z.reduce(0) { $0 + $1 * $1 }.squareRoot())
                for a in 0..<ambient {
                    var v = 0.0
                    for j in 0..<dim { v += Double(U.storage[a * dim + j]) * z[j] / norm }
                    rows.append(Float(v + noise * rng.normal()))
                }
                labels.append(k)
            }
        }
        return Labelled(
            X: Tensor(shape: [n, ambient], storage: rows), labels: labels,
            extra: [("bases", try Tensor.stack(bases))])
    }

    public static let manifoldKinds = ["circles", "moons", "spheres", "swissroll", "trefoil"]

    /// Curved manifolds in their own low dimension, padded with zeros to `ambient` dimensions and
    /// turned by a random rotation, plus noise: circles (two concentric, radii 1 and ½), moons
    /// (scikit-learn's make_moons), spheres (two concentric 2-spheres in 3-D), swissroll (one roll,
    /// labelled by four segments of its length), trefoil (two interlocked trefoil knots).
    public static func manifolds(kind: String, n: Int, ambient: Int, noise: Double, rng: inout RandomGenerator) throws -> Labelled {
        var points: [[Double]] = []
        var labels: [Int] = []
        let twoPi = 2 * Double.pi
        switch kind {
        case "circles":
            for (k, size) in split(n, 2).enumerated() {
                let r = k == 0 ? 1.0 : 0.5
                for _ in 0..<size { let t = twoPi * rng.uniform(); points.append([r * cos(t), r * sin(t)]); labels.append(k) }
            }
        case "moons":
            for (k, size) in split(n, 2).enumerated() {
                for _ in 0..<size {
                    let t = Double.pi * rng.uniform()
                    points.append(k == 0 ? [cos(t), sin(t)] : [1 - cos(t), 0.5 - sin(t)])
                    labels.append(k)
                }
            }
        case "spheres":
            for (k, size) in split(n, 2).enumerated() {
                let r = k == 0 ? 1.0 : 0.5
                for _ in 0..<size {
                    var v = [rng.normal(), rng.normal(), rng.normal()]
                    let s = max(1e-12, (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).squareRoot())
                    v = v.map { r * $0 / s }
                    points.append(v); labels.append(k)
                }
            }
        case "swissroll":
            for _ in 0..<n {
                let t = 1.5 * Double.pi * (1 + 2 * rng.uniform())
                let h = 21 * rng.uniform()
                points.append([t * cos(t), h, t * sin(t)])
                labels.append(min(3, Int((t - 1.5 * Double.pi) / (3 * Double.pi) * 4)))
            }
        case "trefoil":
            for (k, size) in split(n, 2).enumerated() {
                for _ in 0..<size {
                    let t = twoPi * rng.uniform()
                    var p = [sin(t) + 2 * sin(2 * t), cos(t) - 2 * cos(2 * t), -sin(3 * t)]
                    if k == 1 { p = [p[0] + 1.5, p[2], p[1]] }  // the second knot, turned and shifted so the two interlock
                    points.append(p); labels.append(k)
                }
            }
        default:
            throw CoreError.invalidArgument("manifolds: unknown kind '\(kind)'; one of \(manifoldKinds.joined(separator: ", "))")
        }
        let intrinsic = points.first?.count ?? 2
        guard ambient >= intrinsic else {
            throw CoreError.invalidArgument("manifolds: \(kind) needs ambient ≥ \(intrinsic), got \(ambient)")
        }
        let R = try basis(ambient: ambient, dim: ambient, rng: &rng)
        var rows = [Float](repeating: 0, count: n * ambient)
        for (i, p) in points.enumerated() {
            for a in 0..<ambient {
                var v = 0.0
                for j in 0..<intrinsic { v += Double(R.storage[a * ambient + j]) * p[j] }
                rows[i * ambient + a] = Float(v + noise * rng.normal())
            }
        }
        let Z = Tensor(shape: [n, intrinsic], storage: points.flatMap { $0.map(Float.init) })
        return Labelled(X: Tensor(shape: [n, ambient], storage: rows), labels: labels, extra: [("Z", Z)])
    }

    /// k Gaussian clusters in R^dim: centres ~ N(0, spread² I), points = centre + N(0, I).
    public static func mixture(n: Int, k: Int, dim: Int, spread: Double, rng: inout RandomGenerator) throws -> Labelled {
        guard k >= 1, dim >= 1, n >= k else { throw CoreError.invalidArgument("mixture: need dim ≥ 1 and n ≥ k ≥ 1") }
        let centers = (0..<(k * dim)).map { _ in spread * rng.normal() }
        var rows: [Float] = []
        rows.reserveCapacity(n * dim)
        var labels: [Int] = []
        for (c, size) in split(n, k).enumerated() {
            for _ in 0..<size {
                for j in 0..<dim { rows.append(Float(centers[c * dim + j] + rng.normal())) }
                labels.append(c)
            }
        }
        return Labelled(
            X: Tensor(shape: [n, dim], storage: rows), labels: labels,
            extra: [("centers", Tensor(shape: [k, dim], storage: centers.map(Float.init)))])
    }
}
