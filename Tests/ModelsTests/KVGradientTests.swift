import Foundation
import SqueezeCore
import Testing

@testable import Models

/// The decoder's backward pass (KVQuant's Fisher weights) against torch autograd through
/// transformers (`Fixtures/make_kv_gradient_fixtures.py`), and the Fisher-weighted levels and
/// Q-Norm by hand.
@Suite(.serialized) struct KVGradientTests {
    struct Reference: Decodable {
        struct Layer: Decodable {
            let dk_head_sq: String
            let dv_token_sq: String
            let dv: String?
        }
        let ids: [Int]
        let loss: Double
        let kv_heads: Int
        let layers: [Layer]
    }

    static let reference: Reference = {
        guard let url = Bundle.module.url(forResource: "kv_gradients", withExtension: "json", subdirectory: "Fixtures"),
            let data = try? Data(contentsOf: url)
        else { fatalError("Fixtures/kv_gradients.json is missing: run Fixtures/make_kv_gradient_fixtures.py") }
        do { return try JSONDecoder().decode(Reference.self, from: data) } catch { fatalError("kv_gradients.json: \(error)") }
    }()

    /// ‖a − b‖ / ‖b‖.
    static func relative(_ a: [Float], _ b: [Float]) -> Double {
        var num = 0.0, den = 0.0
        for (x, y) in zip(a, b) { num += Double(x - y) * Double(x - y); den += Double(y) * Double(y) }
        return (num / max(den, 1e-300)).squareRoot()
    }

    /// Sums of squares of a T × (heads·d) matrix per (token, head).
    static func headSquares(_ t: Tensor, heads: Int) -> [Float] {
        let d = t.shape[1] / heads
        return (0..<(t.shape[0] * heads)).map { i in
            var s: Float = 0
            for j in 0..<d { let x = t.storage[i * d + j]; s += x * x }
            return s
        }
    }

    @Test func gradientsOfTheLossEqualTorchAutograd() throws {
        let m = SmolLM2Tests.model, ref = Self.reference
        let ids = Array(m.tokenizer.encode(try SmolLM2Tests.text("alice29")).prefix(ref.ids.count))
        #expect(ids == ref.ids)
        let g = try m.kvGradients(ref.ids)
        // float32 on both sides with different summation orders: 1e-5 relative on the loss (measured
        // 1.6e-6), 5e-4 on each layer's gradients (measured at most 3.5e-5).
        #expect(abs(g.loss - ref.loss) < 1e-5 * ref.loss, "loss \(g.loss) against \(ref.loss)")
        for (l, layer) in ref.layers.enumerated() {
            let dk = Self.headSquares(g.dKeysBeforeRoPE[l]!, heads: ref.kv_heads)
            let dvTokens = Self.headSquares(g.dValues[l]!, heads: 1)
            #expect(Self.relative(dk, SmolLM2Tests.floats(layer.dk_head_sq)) < 5e-4, "layer \(l) keys")
            #expect(Self.relative(dvTokens, SmolLM2Tests.floats(layer.dv_token_sq)) < 5e-4, "layer \(l) values")
            if let dv = layer.dv { #expect(Self.relative(g.dValues[l]!.storage, SmolLM2Tests.floats(dv)) < 5e-4, "layer \(l) dV") }
            // RoPE is a rotation per pair: the gradient after it has the same norm per (token, head).
            #expect(Self.relative(Self.headSquares(g.dKeys[l]!, heads: ref.kv_heads), dk) < 1e-5)
        }
        // The recomputed keys and values are the forward pass's.
        var capture = LanguageModel.Capture()
        capture.kv = [0, 29]
        let out = try m.forward([ref.ids], capture: capture)
        for l in [0, 29] {
            #expect(g.keysBeforeRoPE[l]!.storage == out.keysBeforeRoPE[l]!.storage && g.values[l]!.storage == out.values[l]!.storage)
        }
        #expect(throws: ModelError.self) { try m.kvGradients([ref.ids[0]]) }
    }

    @Test func fisherWeightsPullTheLevelsAndQNormKeepsMeanAndDeviation() {
        // Eight values, the two at 0.9 and 1.0 weighted 100×: two levels, one lands at their mean.
        var s = KVQuantCache.Sample()
        s.add([-1, -0.9, -0.8, -0.7, 0.5, 0.6, 0.9, 1.0], nil, -1, 1)
        let plain = s.levels(bits: 1)
        #expect(abs(plain[0] + 0.85) < 1e-6 && abs(plain[1] - 0.75) < 1e-6, "\(plain)")
        var w = KVQuantCache.Sample()
        w.add([-1, -0.9, -0.8, -0.7, 0.5, 0.6, 0.9, 1.0], [1, 1, 1, 1, 1, 1, 100, 100], -1, 1)
        let levels = w.levels(bits: 1)
        // Lloyd from the quantiles (−0.8, 0.9): {−1 … −0.7} and {0.5 … 1.0}, the second's weighted mean
        // (0.5 + 0.6 + 90 + 100)/202 instead of 0.75.
        #expect(abs(levels[0] + 0.85) < 1e-6 && abs(levels[1] - Float(191.1 / 202)) < 1e-6, "\(levels)")
        // Q-Norm: codes chosen by the levels, decoded by the moved ones, keep the sample's mean and deviation.
        let moved = s.normalised([-0.85, 0.75])
        let decoded = s.values.map { x in x < -0.05 ? moved[0] : moved[1] }
        func moments(_ v: [Float]) -> (Double, Double) {
            let m = v.reduce(0.0) { $0 + Double($1) } / Double(v.count)
            return (m, (v.reduce(0.0) { $0 + (Double($1) - m) * (Double($1) - m) } / Double(v.count)).squareRoot())
        }
        let (m1, sd1) = moments(s.values), (m2, sd2) = moments(decoded)
        #expect(abs(m1 - m2) < 1e-6 && abs(sd1 - sd2) < 1e-6)
        #expect(moved[1] - moved[0] > 0.75 + 0.85, "rounding shrinks the spread; Q-Norm widens the levels")
    }
}
