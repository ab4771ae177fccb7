import Foundation
import SqueezeCore

/// CRATE's white-box layer (Yu et al., NeurIPS 2023; ALGORITHMS.md §A3) with given subspace bases:
/// tokens are rows of Z (N × d); U_k (d × p) are the K heads' bases; β = p/(N ε²).
///
/// - R^c(Z; U) = Σ_k ½ logdet(I + β (Z U_k)ᵀ(Z U_k)) — the compression term.
/// - MSSA: SSA_k = softmax_rows(W_k W_kᵀ) W_k with W_k = Z U_k (the column-softmax of the paper
///   in row form); MSSA(Z) = β Σ_k SSA_k U_kᵀ; the compression step is
///   Z ← (1 − κβ) Z + κ MSSA(Z) — β once, so the step is the convex mix (1 − κβ)Z + κβ·U·SSA that
///   ALGORITHMS.md §A3's check values are computed with (6.2321, 6.2224, …, 5.9512). Eq. 11 as
///   printed (κβ in front of an MSSA that already carries β) makes the step β times smaller
///   (β = 0.25 in the toy: 6.259 → 6.226 over 8 layers instead of 6.24 → 3.5).
/// - ISTA: Z ← ReLU(Z + η (Z − Z Dᵀ) D − ηλ), one non-negative ISTA step on
///   min_A ½‖Z − A Dᵀ‖² + λ‖A‖₁ warm-started at A = Z (row form of Dᵀ(Z − DZ)).
///
/// Each layer re-normalises the tokens to unit length before measuring R^c, so R^c is compared at
/// a fixed scale (shrinking tokens lowers it trivially).
public enum CRATE {
    public struct Layer: Sendable {
        /// R^c after the compression step (tokens normalised).
        public let rc: Double
        /// Fraction of exact zeros after the ISTA step.
        public let sparsity: Double
        /// R^c of the normalised ISTA output.
        public let rcAfterISTA: Double
    }

    static func check(_ Z: Tensor, _ bases: [Tensor]) throws {
        guard Z.rank == 2, Z.shape[0] >= 1 else {
            throw CoreError.invalidParameter("Z", "expected tokens as rows of a matrix (N × d), got shape \(Shape.describe(Z.shape))")
        }
        guard !bases.isEmpty else { throw CoreError.invalidParameter("Z", "no subspace bases") }
        for (k, U) in bases.enumerated() {
            guard U.rank == 2, U.shape[0] == Z.shape[1], U.shape[1] == bases[0].shape[1] else {
                throw CoreError.invalidParameter(
                    "bases", "basis \(k) must be d × p = \(Z.shape[1]) × \(bases[0].shape.last ?? 0), got \(Shape.describe(U.shape))")
            }
        }
        try Z.requireFinite("crate")
    }

    /// Σ_k ½ logdet(I + p/(N ε²) (Z U_k)ᵀ(Z U_k)).
    public static func compressionRate(_ Z: Tensor, bases: [Tensor], eps2: Double) throws -> Double {
        try check(Z, bases)
        return try rate(Z, bases, eps2)
    }

    /// R^c for inputs already checked (the layers' tokens stay finite).
    static func rate(_ Z: Tensor, _ bases: [Tensor], _ eps2: Double) throws -> Double {
        try bases.reduce(0.0) { $0 + (try RateReduction.codingRate(try Tensor.gemm(Z, $1), eps2: eps2)) }
    }

    /// β Σ_k softmax_rows(W_k W_kᵀ) W_k U_kᵀ.
    public static func mssa(_ Z: Tensor, bases: [Tensor], beta: Double) throws -> Tensor {
        let N = Z.shape[0], d = Z.shape[1]
        var out = Tensor.zeros([N, d])
        for U in bases {
            let W = try Tensor.gemm(Z, U)  // N × p
            var G = try Tensor.gemm(W, W, transB: true)  // N × N
            G.withMutableBuffer { g in
                for i in 0..<N {
                    var m = -Float.infinity
                    for j in 0..<N { m = max(m, g[i * N + j]) }
                    var s: Float = 0
                    for j in 0..<N { g[i * N + j] = expf(g[i * N + j] - m); s += g[i * N + j] }
                    for j in 0..<N { g[i * N + j] /= s }
                }
            }
            let ssa = try Tensor.gemm(G, W)  // N × p
            out = try out + Tensor.gemm(ssa, U, transB: true)
        }
        return scaled(out, Float(beta))
    }

    static func scaled(_ t: Tensor, _ s: Float) -> Tensor {
        Tensor(shape: t.shape) { o in t.withBuffer { x in for i in 0..<o.count { o[i] = x[i] * s } } }
    }

    /// Tokens scaled to unit length (zero tokens stay zero).
    public static func normalizeRows(_ Z: Tensor) -> Tensor {
        let N = Z.shape[0], d = Z.shape[1]
        return Tensor(shape: Z.shape) { o in
            Z.withBuffer { z in
                for i in 0..<N {
                    var s: Float = 0
                    for j in 0..<d { s += z[i * d + j] * z[i * d + j] }
                    let inv = s > 0 ? 1 / s.squareRoot() : 0
                    for j in 0..<d { o[i * d + j] = z[i * d + j] * inv }
                }
            }
        }
    }

    /// One ISTA step towards a sparse non-negative code of Z in the dictionary D (d × d).
    public static func ista(_ Z: Tensor, dictionary D: Tensor, eta: Double, lambda: Double) throws -> Tensor {
        let residual = try Z - Tensor.gemm(Z, D, transB: true)  // Z − Z Dᵀ
        let step = try Tensor.gemm(residual, D)  // (Z − Z Dᵀ) D
        let shift = Float(eta * lambda), e = Float(eta)
        return Tensor(shape: Z.shape) { o in
            Z.withBuffer { z in
                step.withBuffer { s in
                    for i in 0..<o.count { o[i] = max(0, z[i] + e * s[i] - shift) }
                }
            }
        }
    }

    /// `layers` CRATE layers with fixed bases: normalise, compress (MSSA step κ), normalise,
    /// sparsify (ISTA with η, λ and D, identity by default; η = 0 skips it, ReLU included).
    public static func forward(
        _ Z0: Tensor, bases: [Tensor], layers: Int, kappa: Double, eta: Double, lambda: Double,
        dictionary: Tensor?, eps2: Double
    ) throws -> (tokens: Tensor, layers: [Layer], rcInput: Double) {
        try check(Z0, bases)
        let N = Z0.shape[0], d = Z0.shape[1], p = bases[0].shape[1]
        if let D = dictionary, D.shape != [d, d] {
            throw CoreError.invalidParameter("dictionary", "the dictionary must be d × d = \(d) × \(d), got \(Shape.describe(D.shape))")
        }
        let D = dictionary ?? Tensor.eye(d)
        let beta = Double(p) / (Double(N) * eps2)
        var Z = normalizeRows(Z0)
        let rc0 = try rate(Z, bases, eps2)
        var out: [Layer] = []
        for _ in 0..<layers {
            Z = normalizeRows(Z)
            let M = try mssa(Z, bases: bases, beta: beta)
            let step = try scaled(Z, Float(1 - kappa * beta)) + scaled(M, Float(kappa))
            Z = normalizeRows(step)
            let rc = try rate(Z, bases, eps2)
            if eta > 0 { Z = try ista(Z, dictionary: D, eta: eta, lambda: lambda) }  // η = 0: compression steps only
            let zeros = Double(Z.storage.filter { $0 == 0 }.count) / Double(N * d)
            out.append(Layer(rc: rc, sparsity: zeros, rcAfterISTA: try rate(normalizeRows(Z), bases, eps2)))
        }
        return (Z, out, rc0)
    }

    /// `heads` subspaces of dimension p fit in R^d.
    static func checkHeads(d: Int, heads: Int, p: Int) throws {
        guard heads >= 1, p >= 1, p <= d else { throw CoreError.invalidParameter("heads", "need 1 ≤ dim_head ≤ d and heads ≥ 1") }
    }

    /// Bases learned from the tokens (`learn: true`), for tokens that lie near a union of `heads`
    /// subspaces of dimension p: SSC-OMP (self-expression with at most p non-zeros, subspace-
    /// preserving for independent subspaces) groups the normalised tokens, each group's top p right
    /// singular vectors start its basis, and K-subspaces rounds (each token to the basis that keeps
    /// most of its energy ‖U_kᵀz‖², each basis to its tokens' top p directions) refine them until
    /// no token changes group (at most 50 rounds). A group with fewer than p tokens is completed by
    /// random orthonormal directions from `rng`.
    public static func learnBases(
        _ Z0: Tensor, heads: Int, p: Int, rng: inout RandomGenerator,
        cancellation: CancellationToken? = nil
    ) throws -> (bases: [Tensor], labels: [Int]) {
        guard Z0.rank == 2, Z0.shape[0] >= 1 else {
            throw CoreError.invalidParameter("Z", "learning bases needs tokens as rows of a matrix")
        }
        let N = Z0.shape[0], d = Z0.shape[1]
        try checkHeads(d: d, heads: heads, p: p)
        guard N >= heads else { throw CoreError.invalidParameter("Z", "learning \(heads) bases needs at least \(heads) tokens, got \(N)") }
        try Z0.requireFinite("crate")
        let Z = normalizeRows(Z0)
        var labels =
            heads == 1
            ? [Int](repeating: 0, count: N)
            : try SubspaceClustering.cluster(Z, k: heads, maxNonzeros: min(p, N - 1), rng: &rng, cancellation: cancellation).labels
        func basis(of group: [Int]) throws -> Tensor {
            var directions: [[Float]] = []
            if !group.isEmpty {
                let Vt = try Z.rows(at: group).svd().Vt
                for r in 0..<min(p, Vt.shape[0], group.count) { directions.append(Array(Vt.storage[(r * d)..<((r + 1) * d)])) }
            }
            if directions.count == p {
                return Tensor(shape: [d, p]) { o in for j in 0..<d { for c in 0..<p { o[j * p + c] = directions[c][j] } } }
            }
            // Complete with random directions: QR of [found, random] keeps the found span first.
            let G = try Tensor.randn([d, p], using: &rng)
            let M = Tensor(shape: [d, p]) { o in
                for j in 0..<d { for c in 0..<p { o[j * p + c] = c < directions.count ? directions[c][j] : G.storage[j * p + c] } }
            }
            return try M.qr().Q
        }
        var bases = try (0..<heads).map { k in try basis(of: (0..<N).filter { labels[$0] == k }) }
        for _ in 0..<50 {
            try cancellation?.check()
            let energies = try bases.map { U -> Tensor in try Tensor.gemm(Z, U) }
            let next = (0..<N).map { i -> Int in
                var best = 0, bestEnergy = -Float.infinity
                for (k, W) in energies.enumerated() {
                    var e: Float = 0
                    for c in 0..<p { let v = W.storage[i * p + c]; e += v * v }
                    if e > bestEnergy { bestEnergy = e; best = k }
                }
                return best
            }
            if next == labels { break }
            labels = next
            bases = try (0..<heads).map { k in try basis(of: (0..<N).filter { labels[$0] == k }) }
        }
        return (bases, labels)
    }

    /// Random orthonormal bases for `heads` subspaces of dimension p in R^d: one QR of a Gaussian
    /// d × (heads·p) matrix when heads·p ≤ d (mutually orthogonal subspaces), else one QR per head.
    public static func randomBases(d: Int, heads: Int, p: Int, rng: inout RandomGenerator) throws -> [Tensor] {
        try checkHeads(d: d, heads: heads, p: p)
        func columns(_ Q: Tensor, _ from: Int, _ count: Int) -> Tensor {
            Tensor(shape: [d, count]) { o in
                for i in 0..<d { for c in 0..<count { o[i * count + c] = Q.storage[i * Q.shape[1] + from + c] } }
            }
        }
        if heads * p <= d {
            let Q = try Tensor.randn([d, heads * p], using: &rng).qr().Q
            return (0..<heads).map { columns(Q, $0 * p, p) }
        }
        return try (0..<heads).map { _ in columns(try Tensor.randn([d, p], using: &rng).qr().Q, 0, p) }
    }
}
