import Compression
import Foundation
import SqueezeCore
import TestSupport
import Testing

/// The one-layer CRATE toy of ALGORITHMS.md §A3 against `Fixtures/make_crate_fixtures.py` (numpy,
/// float64, tokens as columns).
@Suite struct CRATETests {
    struct Fixture: Decodable {
        let d: Int, K: Int, p: Int, N: Int, eps2: Double
        let Z_rows: [Double], bases: [Double], D: [Double]
        let rc_input: Double, rc_mssa_stack: [Double], rc_exact_step: Double, rc_shrink: Double
        let zeros_ista_identity: Double, zeros_ista_orthogonal: Double, lasso: [Double]
    }

    static let f: Fixture = {
        guard let url = Bundle.module.url(forResource: "crate", withExtension: "json", subdirectory: "Fixtures"),
              let data = try? Data(contentsOf: url), let f = try? JSONDecoder().decode(Fixture.self, from: data) else {
            fatalError("Fixtures/crate.json is missing: run Fixtures/make_crate_fixtures.py")
        }
        return f
    }()

    var Z: Tensor { Tensor(shape: [Self.f.N, Self.f.d], storage: Self.f.Z_rows.map { Float($0) }) }
    var bases: [Tensor] {
        let (d, p) = (Self.f.d, Self.f.p)
        return (0..<Self.f.K).map { k in Tensor(shape: [d, p], storage: Self.f.bases[(k * d * p)..<((k + 1) * d * p)].map { Float($0) }) }
    }
    var D: Tensor { Tensor(shape: [Self.f.d, Self.f.d], storage: Self.f.D.map { Float($0) }) }

    @Test func compressionRateMatchesNumpy() throws {
        #expect(abs(try CRATE.compressionRate(Z, bases: bases, eps2: 0.5) - Self.f.rc_input) < 1e-5)
    }

    @Test func sixMSSALayersLowerRcMonotonicallyAsNumpyDoes() throws {
        // No ISTA (η = 0, λ = 0): the MSSA steps alone, κ = 1, re-normalised each layer.
        let r = try CRATE.forward(Z, bases: bases, layers: 6, kappa: 1, eta: 0, lambda: 0, dictionary: nil, eps2: 0.5)
        for (got, want) in zip(r.layers.map(\.rc), Self.f.rc_mssa_stack) { #expect(abs(got - want) < 1e-4, "\(got) vs \(want)") }
        for i in 1..<6 { #expect(r.layers[i].rc < r.layers[i - 1].rc) }
        #expect(r.layers[0].rc < r.rcInput)
    }

    @Test func shrinkingAloneDoesNotChangeRcAtFixedScale() throws {
        // κβ = 1 would zero the tokens; a pure shrink (1 − κβ)Z re-normalised is Z again.
        let shrunk = CRATE.normalizeRows(Tensor(shape: Z.shape, storage: Z.storage.map { $0 * 0.75 }))
        #expect(abs(try CRATE.compressionRate(shrunk, bases: bases, eps2: 0.5) - Self.f.rc_shrink) < 1e-5)
    }

    @Test func istaSparsifiesAsNumpyDoes() throws {
        let a = try CRATE.ista(Z, dictionary: Tensor.eye(Self.f.d), eta: 0.1, lambda: 0.1)
        let b = try CRATE.ista(Z, dictionary: D, eta: 0.1, lambda: 0.1)
        let zeros = { (t: Tensor) in Double(t.storage.filter { $0 == 0 }.count) / Double(t.count) }
        #expect(abs(zeros(a) - Self.f.zeros_ista_identity) < 0.005)
        #expect(abs(zeros(b) - Self.f.zeros_ista_orthogonal) < 0.005)
        // Repeated steps on the LASSO min ½‖Z − A Dᵀ‖² + λ‖A‖₁ lower it as numpy's do.
        var A = Z
        for want in Self.f.lasso {
            let R = try Z - Tensor.gemm(A, D, transB: true)
            let value = 0.5 * R.storage.reduce(0.0) { $0 + Double($1 * $1) } + 0.1 * A.storage.reduce(0.0) { $0 + Double(abs($1)) }
            #expect(abs(value - want) < 1e-3 * want, "\(value) vs \(want)")
            // One ISTA step on A towards Z (the prox-gradient step the layer takes from A = Z).
            let step = try Tensor.gemm(R, D)
            A = Tensor(shape: A.shape, storage: zip(A.storage, step.storage).map { max(0, $0 + 0.1 * $1 - 0.01) })
        }
    }

    @Test func aFullStackLowersRcAndRaisesSparsity() throws {
        var g = RandomGenerator(seed: 3)
        let U = try CRATE.randomBases(d: 32, heads: 4, p: 8, rng: &g)
        // Orthonormal, mutually orthogonal bases.
        let G = try Tensor.gemm(U[0], U[1], transA: true)
        #expect(G.storage.allSatisfy { abs($0) < 1e-5 })
        // The dictionary D = [U_1 … U_K] (a token of one subspace is sparse in it): R^c falls at every
        // layer; the first ISTA step zeroes the signed input's negative half, later ones add zeros.
        let D = Tensor(shape: [Self.f.d, Self.f.d]) { o in
            for (k, B) in bases.enumerated() { for i in 0..<Self.f.d { for c in 0..<Self.f.p { o[i * Self.f.d + k * Self.f.p + c] = B.storage[i * Self.f.p + c] } } }
        }
        let r = try CRATE.forward(Z, bases: bases, layers: 6, kappa: 1, eta: 0.1, lambda: 0.1, dictionary: D, eps2: 0.5)
        #expect(r.layers[0].rc < r.rcInput)
        for i in 1..<6 { #expect(r.layers[i].rc < r.layers[i - 1].rc, "layer \(i)") }
        #expect(r.layers[0].sparsity > 0.4)
        #expect(r.layers[5].sparsity > r.layers[1].sparsity)
        // With D = I the ReLU's zeros refill: the identity dictionary is not a sparsifying one.
        let plain = try CRATE.forward(Z, bases: bases, layers: 3, kappa: 1, eta: 0.1, lambda: 0.1, dictionary: nil, eps2: 0.5)
        #expect(plain.layers[2].sparsity < plain.layers[0].sparsity)
        #expect(throws: CoreError.self) { try CRATE.forward(Z, bases: [Tensor.zeros([5, 8])], layers: 1, kappa: 1, eta: 0.1, lambda: 0.1, dictionary: nil, eps2: 0.5) }
    }

    @Test func learnedBasesRecoverIndependentSubspaces() throws {
        // 4 orthogonal 4-dimensional subspaces of R^32, 40 tokens each, noise 0.05: the groups are
        // the true ones (up to renaming) and each learned basis spans its subspace (overlap
        // ‖U_kᵀ B_j‖²/p > 0.98 for one j, < 0.3 for the others).
        var g = RandomGenerator(seed: 5)
        let truth = try CRATE.randomBases(d: 32, heads: 4, p: 4, rng: &g)
        var rows: [Float] = [], labels: [Int] = []
        for k in 0..<4 {
            for _ in 0..<40 {
                let c = try Tensor.randn([1, 4], using: &g)
                let z = try Tensor.gemm(c, truth[k], transB: true)
                rows += z.storage.map { $0 + Float(g.normal() * 0.05) }
                labels.append(k)
            }
        }
        let Z = Tensor(shape: [160, 32], storage: rows)
        let r = try CRATE.learnBases(Z, heads: 4, p: 4, rng: &g)
        for k in 0..<4 {
            let members = Set((0..<160).filter { labels[$0] == k }.map { r.labels[$0] })
            #expect(members.count == 1, "true group \(k) split into \(members)")
        }
        for U in r.bases {
            let overlaps = try truth.map { B in try Tensor.gemm(U, B, transA: true).storage.reduce(0) { $0 + $1 * $1 } / 4 }
            #expect(overlaps.filter { $0 > 0.98 }.count == 1 && overlaps.filter { $0 > 0.3 }.count == 1, "\(overlaps)")
            let G = try Tensor.gemm(U, U, transA: true)           // orthonormal columns
            for i in 0..<4 { for j in 0..<4 { #expect(abs(G.storage[i * 4 + j] - (i == j ? 1 : 0)) < 1e-4) } }
        }
        #expect(throws: CoreError.self) { try CRATE.learnBases(Tensor.zeros([2, 8]), heads: 3, p: 2, rng: &g) }
    }
}
