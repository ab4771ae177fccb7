import Foundation
import SqueezeCore
import Testing

@testable import Models

/// What KVQuant's levels, ZipCache and CSKV give back on a small cache, against numpy ports of the
/// papers' algorithms (`Fixtures/make_kv_policy_fixtures.py`).
@Suite struct KVPolicyReferenceTests {
    struct Array2: Decodable {
        let shape: [Int]
        let data: [Float]
    }
    struct Reference: Decodable {
        struct KVQuant: Decodable {
            struct Case: Decodable { let bits: Int; let plain, fisher, qnorm: Array2 }
            let values, weights: Array2
            let cases: [Case]
        }
        struct ZipCache: Decodable {
            let heads, kv_heads, head_dim, high, low, group: Int
            let salient: Double
            let Q, K, V, keys, values: Array2
            let bits: [Int]
        }
        struct CSKV: Decodable {
            struct Case: Decodable { let bits: Int; let recon: Array2 }
            let X, P: Array2
            let recent: Int
            let cases: [Case]
        }
        let kvquant: KVQuant
        let zipcache: ZipCache
        let cskv: CSKV
    }

    static let reference: Reference = {
        guard let url = Bundle.module.url(forResource: "kv_policies", withExtension: "json", subdirectory: "Fixtures"),
            let data = try? Data(contentsOf: url)
        else { fatalError("Fixtures/kv_policies.json is missing: run Fixtures/make_kv_policy_fixtures.py") }
        do { return try JSONDecoder().decode(Reference.self, from: data) } catch { fatalError("kv_policies.json: \(error)") }
    }()

    static func maxError(_ a: [Float], _ b: [Float]) -> Float {
        a.count == b.count ? zip(a, b).map { abs($0 - $1) }.max() ?? 0 : .infinity
    }

    /// A one-layer model shape for transforms on a small cache.
    static func config(heads: Int, kvHeads: Int, headDim: Int) -> LanguageModel.Config {
        var c = LanguageModel.Config()
        (c.layers, c.heads, c.kvHeads, c.headDim, c.hidden) = (1, heads, kvHeads, headDim, heads * headDim)
        return c
    }

    @Test func kvquantLevelsAreWeightedKMeansAndQNormMatchesTheFormula() {
        let r = Self.reference.kvquant
        var plain = KVQuantCache.Sample(), fisher = KVQuantCache.Sample()
        plain.add(r.values.data, nil, -1, 1)
        fisher.add(r.values.data, r.weights.data, -1, 1)
        for c in r.cases {
            // Lloyd's iterations in Float64 prefix sums on both sides: equal to float rounding.
            #expect(Self.maxError(plain.levels(bits: c.bits), c.plain.data) < 1e-6, "\(c.bits) bits, plain")
            #expect(Self.maxError(fisher.levels(bits: c.bits), c.fisher.data) < 1e-6, "\(c.bits) bits, Fisher")
            #expect(Self.maxError(plain.normalised(c.plain.data), c.qnorm.data) < 1e-6, "\(c.bits) bits, Q-Norm")
        }
    }

    @Test func zipcacheEqualsTheReference() throws {
        let r = Self.reference.zipcache
        let c = Self.config(heads: r.heads, kvHeads: r.kv_heads, headDim: r.head_dim)
        let t = ZipCacheTransform(high: r.high, low: r.low, salient: r.salient, group: r.group, score: .normalized, probes: 1, seed: 0)
        var K = r.K.data, V = r.V.data
        let n = r.K.shape[0]
        let a = try t.apply(layer: 0, keys: &K, values: &V, queries: r.Q.data, rows: n, past: 0, config: c)
        #expect(Self.maxError(K, r.keys.data) < 1e-5 && Self.maxError(V, r.values.data) < 1e-5)
        // The codes the reference chose: Σ bits × channels, for keys and for values alike.
        #expect(a.keys["codes"] == Double(r.bits.reduce(0, +) * c.kvDim) && a.values["codes"] == a.keys["codes"])
    }

    @Test func cskvEqualsTheReference() throws {
        let r = Self.reference.cskv
        let P = Tensor(shape: r.P.shape, storage: r.P.data), kvd = r.X.shape[1], n = r.X.shape[0]
        let c = Self.config(heads: 1, kvHeads: 1, headDim: kvd)
        for k in r.cases {
            let t = ChannelShrinkTransform(
                rank: P.shape[1], recent: r.recent, bits: k.bits, source: "activations", keyBasis: [P], valueBasis: [P])
            var K = r.X.data, V = r.X.data
            _ = try t.apply(layer: 0, keys: &K, values: &V, queries: [], rows: n, past: 0, config: c)
            #expect(Self.maxError(K, k.recon.data) < 1e-5 && V == K, "bits \(k.bits)")
        }
    }
}
