import Compression
import Foundation
import SqueezeCore
import TestSupport
import Testing

/// Coding rate, rate reduction and clustering scores against the check values of ALGORITHMS.md
/// §A1 and §B11 (computed there with numpy and scikit-learn 1.9.1).
@Suite struct RateReductionTests {
    /// d = 4, m = 8: class 0 = {±e1, ±e2}, class 1 = {±e3, ±e4}.
    static let Z: Tensor = {
        var rows: [Float] = []
        for k in 0..<4 { for s: Float in [1, -1] { var r = [Float](repeating: 0, count: 4); r[k] = s; rows += r } }
        return Tensor(shape: [8, 4], storage: rows)
    }()
    static let labels = [0, 0, 0, 0, 1, 1, 1, 1]

    @Test func checkValuesAtTwoScales() throws {
        let r = try RateReduction.rateReduction(RateReductionTests.Z, labels: RateReductionTests.labels, eps2: 0.5)
        expectClose(r.R, 2 * log(3), rtol: 1e-9)
        expectClose(r.Rc, log(5), rtol: 1e-7)
        expectClose(r.delta, log(9.0 / 5), rtol: 1e-6)
        expectClose(try RateReduction.codingRate(RateReductionTests.Z, eps2: 0.5), 2.197225, rtol: 1e-6)
        let s = try RateReduction.rateReduction(RateReductionTests.Z, labels: RateReductionTests.labels, eps2: 0.01)
        expectClose(s.R, 9.230241, rtol: 1e-6)
        expectClose(s.Rc, 5.303305, rtol: 1e-6)
        expectClose(s.delta, 3.926936, rtol: 1e-6)
    }

    @Test func oneClassHasNoReductionAndSoftMembershipAgreesWithHard() throws {
        let one = try RateReduction.rateReduction(RateReductionTests.Z, labels: [Int](repeating: 0, count: 8), eps2: 0.5)
        #expect(abs(one.delta) < 1e-7)
        var pi = [Float](repeating: 0, count: 16)
        for (i, l) in RateReductionTests.labels.enumerated() { pi[i * 2 + l] = 1 }
        let soft = try RateReduction.rateReduction(RateReductionTests.Z, membership: Tensor(shape: [8, 2], storage: pi), eps2: 0.5)
        expectClose(soft.Rc, log(5), rtol: 1e-7)
    }

    @Test func invariantUnderRotationAndUsesEitherGramSide() throws {
        var g = RandomGenerator(seed: 0)
        let Z = Tensor.randn([50, 12], using: &g)
        let Q = try Tensor.randn([12, 12], using: &g).qr().Q
        let a = try RateReduction.codingRate(Z, eps2: 0.5), b = try RateReduction.codingRate(try Tensor.gemm(Z, Q), eps2: 0.5)
        expectClose(a, b, rtol: 1e-5)
        // Few samples in many dimensions: the n × n side; the value is the same formula.
        let wide = Tensor.randn([5, 40], using: &g)
        let direct = try RateReduction.codingRate(wide, eps2: 0.5)
        #expect(direct > 0)
        let labels = (0..<50).map { $0 % 5 }
        #expect(try RateReduction.rateReduction(Z, labels: labels, eps2: 0.5).delta >= 0)
        #expect(throws: CoreError.self) { try RateReduction.codingRate(Tensor(shape: [1, 2], storage: [.nan, 1]), eps2: 0.5) }
    }

    @Test(arguments: [
        ([1, 1, 0, 0, 0, 0, 2, 2, 2, 2], [0, 0, 0, 1, 1, 1, 2, 2, 2, 2], 0.9, 0.806006, 0.723247),
        ([1, 1, 0, 0, 0, 0, 2, 2, 2, 1], [0, 0, 0, 1, 1, 1, 2, 2, 2, 2], 0.8, 0.618066, 0.431818),
        ([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 2, 2], 0.666667, 0.515804, 0.242424),
    ])
    func clusteringScoresMatchScikitLearn(pred: [Int], truth: [Int], acc: Double, nmi: Double, ari: Double) throws {
        expectClose(try ClusterMetrics.accuracy(pred, truth), acc, rtol: 1e-5)
        expectClose(try ClusterMetrics.nmi(pred, truth), nmi, rtol: 1e-5)
        expectClose(try ClusterMetrics.ari(pred, truth), ari, rtol: 1e-5)
    }

    @Test func nmiAveragesAndARIDocExamples() throws {
        let y = [0, 0, 0, 1, 1, 1, 2, 2, 2, 2], p = [1, 1, 0, 0, 0, 0, 2, 2, 2, 2]
        expectClose(try ClusterMetrics.nmi(p, y, average: .geometric), 0.806107, rtol: 1e-5)
        expectClose(try ClusterMetrics.nmi(p, y, average: .min), 0.818987, rtol: 1e-5)
        expectClose(try ClusterMetrics.nmi(p, y, average: .max), 0.793430, rtol: 1e-5)
        expectClose(try ClusterMetrics.ari([0, 0, 1, 1], [0, 0, 1, 2]), 0.571429, rtol: 1e-5)
        expectClose(try ClusterMetrics.ari([0, 1, 0, 1], [0, 0, 1, 1]), -0.5, rtol: 1e-9)
        // Renaming clusters changes nothing; one cluster each gives 1.
        #expect(try ClusterMetrics.accuracy([5, 5, 9, 9], [0, 0, 1, 1]) == 1)
        #expect(try ClusterMetrics.nmi([3, 3, 3], [1, 1, 1]) == 1)
        #expect(try ClusterMetrics.accuracy([0, 1, 2, 3], [0, 0, 0, 0]) == 0.25)   // more clusters than classes
    }
}
