import Compression
import Foundation
import SqueezeCore
import Testing

@Suite struct CodebookTests {
    static func gaussian(_ n: Int, _ d: Int, seed: UInt64) -> Tensor {
        var g = RandomGenerator(seed: seed)
        return Tensor.randn([n, d], using: &g)
    }

    @Test func vanillaCollapsesWhileSimVQAndProjectorsKeepTheirCodes() throws {
        // The §A4 claim on isotropic data: 16,000 × 8 vectors, 256 codes, latent 4.
        let X = Self.gaussian(16_000, 8, seed: 1)
        var o = CodebookLearning.Options(size: 256)
        o.latent = 4; o.epochs = 3; o.batch = 64
        var r1 = RandomGenerator(seed: 2), r2 = RandomGenerator(seed: 2), r3 = RandomGenerator(seed: 2)
        let vanilla = try CodebookLearning.train(X, o, rng: &r1)
        o.method = .simvq
        let simvq = try CodebookLearning.train(X, o, rng: &r2)
        o.method = .lc
        o.features = try KMeans.fit(X.rows(at: Array(0..<2048)), k: 256, maxIter: 10, rng: &r3).centroids
        let lc = try CodebookLearning.train(X, o, rng: &r3)
        #expect(vanilla.utilization < 0.3, "vanilla \(vanilla.utilization)")
        #expect(simvq.utilization > 0.98, "simvq \(simvq.utilization)")
        #expect(lc.utilization > 0.95, "lc \(lc.utilization)")
        // Utilization and perplexity as §A4 defines them, from the returned codes.
        for r in [vanilla, simvq, lc] {
            var counts = [Int](repeating: 0, count: 256)
            for c in r.codes { counts[c] += 1 }
            #expect(r.utilization == Double(counts.filter { $0 > 0 }.count) / 256)
            let h = counts.reduce(0.0) { $0 - ($1 == 0 ? 0 : Double($1) / 16_000 * log(Double($1) / 16_000)) }
            #expect(abs(r.perplexity - exp(h)) < 1e-9 * exp(h))
            #expect(r.perplexity <= 256 + 1e-9)
        }
        // Better codebooks reconstruct better.
        #expect(simvq.reconstruction < vanilla.reconstruction)
    }

    @Test func trainingLowersTheLossAndIsReproducible() throws {
        let X = Self.gaussian(5_000, 6, seed: 3)
        var o = CodebookLearning.Options(size: 64)
        o.latent = 3; o.epochs = 4; o.method = .ema
        var a = RandomGenerator(seed: 9), b = RandomGenerator(seed: 9)
        let r = try CodebookLearning.train(X, o, rng: &a)
        let s = try CodebookLearning.train(X, o, rng: &b)
        #expect(r.loss.count == 4 && r.loss[3] < r.loss[0])
        #expect(r.codes == s.codes && r.codebook == s.codebook)
    }

    @Test func featuresWithoutAProjectorAreTheStartingCodes() throws {
        // Zero epochs: the codebook is exactly the features, and every vector takes its nearest code.
        let X = Self.gaussian(500, 4, seed: 4)
        var o = CodebookLearning.Options(size: 8)
        o.latent = 4; o.epochs = 0
        o.features = Self.gaussian(8, 4, seed: 5)
        var g = RandomGenerator(seed: 1)
        let r = try CodebookLearning.train(X, o, rng: &g)
        #expect(r.codebook == o.features)
        #expect(r.codes.count == 500)
    }

    @Test func badInputIsRefused() throws {
        var g = RandomGenerator(seed: 1)
        var o = CodebookLearning.Options(size: 8)
        o.latent = 9
        #expect(throws: CoreError.self) { try CodebookLearning.train(Self.gaussian(100, 4, seed: 1), o, rng: &g) }
        o.latent = 2; o.method = .lc
        #expect(throws: CoreError.self) { try CodebookLearning.train(Self.gaussian(100, 4, seed: 1), o, rng: &g) }
        var bad = Self.gaussian(100, 4, seed: 1); bad.storage[7] = .nan
        o.method = .vanilla
        #expect(throws: CoreError.self) { try CodebookLearning.train(bad, o, rng: &g) }
    }
}
