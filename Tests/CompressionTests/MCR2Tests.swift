import Foundation
@testable import Compression
import SqueezeCore
import Testing

/// MCR²: closed-form gradients checked by central finite differences, and training raises ΔR.
@Suite struct MCR2Tests {
    func problem() -> ([Double], [Int], Int, Int) {
        var g = RandomGenerator(seed: 3)
        let n = 24, p = 5
        return ((0..<(n * p)).map { _ in g.normal() }, (0..<n).map { $0 % 3 }, n, p)
    }

    func numeric(_ f: ([Double]) throws -> Double, at w: [Double], _ i: Int) rethrows -> Double {
        var a = w, b = w
        let h = 1e-6
        a[i] += h; b[i] -= h
        return (try f(a) - (try f(b))) / (2 * h)
    }

    @Test func linearGradientMatchesFiniteDifferences() throws {
        let (x, labels, n, p) = problem()
        var g = RandomGenerator(seed: 4)
        let model = MCR2.Model(W1: (0..<(p * 3)).map { _ in g.normal() }, b1: [], W2: [], input: p, hidden: 0, dim: 3)
        let (_, gW, _, _) = try MCR2.gradients(model, x, n, labels: labels, eps2: 0.5)
        for i in [0, 4, 9, 14] {
            let num = try numeric({ w in var m = model; m.W1 = w; return try MCR2.gradients(m, x, n, labels: labels, eps2: 0.5).0 }, at: model.W1, i)
            #expect(abs(num - gW[i]) <= 1e-5 * max(1, abs(num)), "W[\(i)]: \(num) vs \(gW[i])")
        }
    }

    @Test func mlpGradientMatchesFiniteDifferences() throws {
        let (x, labels, n, p) = problem()
        var g = RandomGenerator(seed: 5)
        let model = MCR2.Model(W1: (0..<(p * 6)).map { _ in g.normal() }, b1: (0..<6).map { _ in 0.1 * g.normal() },
                               W2: (0..<(6 * 3)).map { _ in g.normal() }, input: p, hidden: 6, dim: 3)
        let (_, g1, gb, g2) = try MCR2.gradients(model, x, n, labels: labels, eps2: 0.5)
        for i in [1, 7, 20] {
            let num = try numeric({ w in var m = model; m.W1 = w; return try MCR2.gradients(m, x, n, labels: labels, eps2: 0.5).0 }, at: model.W1, i)
            #expect(abs(num - g1[i]) <= 1e-5 * max(1, abs(num)), "W1[\(i)]")
        }
        for i in [0, 3] {
            let num = try numeric({ w in var m = model; m.b1 = w; return try MCR2.gradients(m, x, n, labels: labels, eps2: 0.5).0 }, at: model.b1, i)
            #expect(abs(num - gb[i]) <= 1e-5 * max(1, abs(num)), "b1[\(i)]")
        }
        for i in [2, 11] {
            let num = try numeric({ w in var m = model; m.W2 = w; return try MCR2.gradients(m, x, n, labels: labels, eps2: 0.5).0 }, at: model.W2, i)
            #expect(abs(num - g2[i]) <= 1e-5 * max(1, abs(num)), "W2[\(i)]")
        }
    }

    @Test func trainingRaisesTheRateReduction() throws {
        var g = RandomGenerator(seed: 6)
        let mix = try Synthetic_mixture(&g)
        var rng = RandomGenerator(seed: 1)
        let r = try MCR2.train(mix.X, labels: mix.labels, dim: 8, hidden: 32, epochs: 100, lr: 0.01, eps2: 0.5, rng: &rng)
        #expect(r.deltas.count == 101)
        #expect(r.deltas.last! > r.deltas.first! + 0.5, "\(r.deltas.first!) → \(r.deltas.last!)")
        // A linear map cannot separate overlapping clusters much, but never loses ΔR over training.
        var rng2 = RandomGenerator(seed: 1)
        let lin = try MCR2.train(mix.X, labels: mix.labels, dim: 8, hidden: nil, epochs: 60, lr: 0.01, eps2: 0.5, rng: &rng2)
        #expect(lin.deltas.last! > lin.deltas.first!)
        // The features are unit vectors and ΔR of them matches the rate-reduction function.
        let check = try RateReduction.rateReduction(r.features, labels: mix.labels, eps2: 0.5)
        #expect(abs(check.delta - r.deltas.last!) < 1e-3)
    }

    /// Four overlapping Gaussian clusters in 10-D (built here to keep this test inside SqueezeCore).
    func Synthetic_mixture(_ g: inout RandomGenerator) throws -> (X: Tensor, labels: [Int]) {
        let centers = (0..<40).map { _ in Float(g.normal()) }
        var rows: [Float] = [], labels: [Int] = []
        for i in 0..<200 {
            let c = i % 4
            for j in 0..<10 { rows.append(centers[c * 10 + j] + Float(g.normal())) }
            labels.append(c)
        }
        return (Tensor(shape: [200, 10], storage: rows), labels)
    }
}
