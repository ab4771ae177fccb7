import Foundation
import SqueezeCore

/// Hadamard matrices (entries ±1, H Hᵀ = n I) and the randomized Hadamard rotations QuaRot and
/// QuIP# fold into a model: Q = diag(s) H / √n with random signs s, an orthogonal matrix that spreads
/// every coordinate's mass over all of them, so an outlier channel becomes many moderate ones.
/// Orders: Sylvester's 2^k, Paley's construction I for q = 11 (order 12), and Kronecker products of
/// them — 576 = 12·12·4 and 1536 = 12·128 for SmolLM2's widths, as QuaRot builds non-power-of-two
/// sizes from its had12 table.
public enum Hadamard {
    /// Whether an order can be built: 2^k · 12^j.
    public static func canBuild(_ n: Int) -> Bool {
        guard n >= 1 else { return false }
        var m = n
        while m % 12 == 0 { m /= 12 }
        return m & (m - 1) == 0
    }

    /// The ±1 Hadamard matrix of order n (row-major), or an error naming the orders that can be built.
    public static func matrix(_ n: Int) throws -> [Float] {
        guard canBuild(n) else {
            throw CoreError.invalidParameter("size", "no Hadamard construction of order \(n) here: orders 2^k · 12^j can be built")
        }
        var H: [Float] = [1], size = 1
        var m = n
        while m % 12 == 0 {
            H = kronecker(paley12, 12, H, size)
            size *= 12
            m /= 12
        }
        while m > 1 {
            H = kronecker([1, 1, 1, -1], 2, H, size)
            size *= 2
            m /= 2
        }
        return H
    }

    /// A ⊗ B for square A (a × a) and B (b × b).
    static func kronecker(_ A: [Float], _ a: Int, _ B: [Float], _ b: Int) -> [Float] {
        let n = a * b
        var out = [Float](repeating: 0, count: n * n)
        for i in 0..<a {
            for j in 0..<a {
                for k in 0..<b { for l in 0..<b { out[(i * b + k) * n + j * b + l] = A[i * a + j] * B[k * b + l] } }
            }
        }
        return out
    }

    /// Paley's construction I for q = 11 ≡ 3 (mod 4): H = I + S, S = [[0, 1ᵀ], [−1, J]] with the
    /// Jacobsthal matrix J_ij = χ(j − i) of the quadratic character mod 11 (skew-symmetric).
    static let paley12: [Float] = {
        let q = 11
        let residues = Set((1..<q).map { $0 * $0 % q })
        func chi(_ x: Int) -> Float {
            let r = ((x % q) + q) % q
            return r == 0 ? 0 : (residues.contains(r) ? 1 : -1)
        }
        var H = [Float](repeating: 0, count: 144)
        for i in 0..<12 {
            for j in 0..<12 {
                let s: Float
                if i == 0 && j == 0 {
                    s = 0
                } else if i == 0 {
                    s = 1
                } else if j == 0 {
                    s = -1
                } else {
                    s = chi(j - i)
                }
                H[i * 12 + j] = s + (i == j ? 1 : 0)
            }
        }
        return H
    }()

    /// The orthogonal rotation diag(s) H / √n with signs s drawn from `rng`.
    public static func randomRotation(_ n: Int, rng: inout RandomGenerator) throws -> Tensor {
        let H = try matrix(n), norm = 1 / Float(n).squareRoot()
        let signs = (0..<n).map { _ in rng.next() & 1 == 0 ? Float(1) : -1 }
        return Tensor(shape: [n, n]) { o in for i in 0..<n { for j in 0..<n { o[i * n + j] = signs[i] * H[i * n + j] * norm } } }
    }
}
