import Foundation
@testable import Compression
import SqueezeCore
import Testing

@Suite struct MLCTests {
    /// §A1's toy: d = 4, n = 8, class 0 = {±e1, ±e2}, class 1 = {±e3, ±e4}.
    static let toy: [Float] = {
        var z = [Float](repeating: 0, count: 32)
        for (i, (axis, sign)) in [(0, 1), (0, -1), (1, 1), (1, -1), (2, 1), (2, -1), (3, 1), (3, -1)].enumerated() { z[i * 4 + axis] = Float(sign) }
        return z
    }()

    @Test func clusterRateCheckValuesOfSectionA2() throws {
        let n = 8
        var block = [Double](repeating: 0, count: 64)
        for i in 0..<8 { for j in 0..<8 where (i < 4) == (j < 4) { block[i * 8 + j] = 0.25 } }
        #expect(abs(try MLC.clusterRate(Self.toy, block, n, 4, 0.5).0 - 1.609438) < 1e-6)
        let uniform = [Double](repeating: 1.0 / 8, count: 64)
        #expect(abs(try MLC.clusterRate(Self.toy, uniform, n, 4, 0.5).0 - 2.197225) < 1e-6)
        var eye = [Double](repeating: 0, count: 64)
        for i in 0..<8 { eye[i * 8 + i] = 1 }
        #expect(abs(try MLC.clusterRate(Self.toy, eye, n, 4, 0.5).0 - 1.098612) < 1e-6)
        #expect(abs(try MLC.totalRate(Self.toy, n, 4, 0.5).0 - 2.197225) < 1e-6)
    }

    @Test func gradientsMatchFiniteDifferences() throws {
        var g = RandomGenerator(seed: 1)
        let n = 7, d = 3
        var Z = Tensor.randn([n, d], using: &g).storage
        for i in 0..<n { let s = (0..<d).reduce(Float(0)) { $0 + Z[i * d + $1] * Z[i * d + $1] }.squareRoot(); for j in 0..<d { Z[i * d + j] /= s } }
        var G = (0..<(n * n)).map { _ in g.uniform() }
        G = MLC.sinkhorn(G, n, iters: 20).Gamma
        let (_, dZ, dG) = try MLC.clusterRate(Z, G, n, d, 0.5)
        let (_, gR) = try MLC.totalRate(Z, n, d, 0.5)
        let h: Float = 1e-2
        for t in [0, 4, 11, 20] {
            var zp = Z, zm = Z
            zp[t] += h; zm[t] -= h
            let num = (try MLC.clusterRate(zp, G, n, d, 0.5).0 - MLC.clusterRate(zm, G, n, d, 0.5).0) / Double(2 * h)
            #expect(abs(num - Double(dZ[t])) < 2e-3 * max(1, abs(num)), "∂Rc/∂z[\(t)] \(num) vs \(dZ[t])")
            let numR = (try MLC.totalRate(zp, n, d, 0.5).0 - MLC.totalRate(zm, n, d, 0.5).0) / Double(2 * h)
            #expect(abs(numR - Double(gR[t])) < 2e-3 * max(1, abs(numR)), "∂R/∂z[\(t)] \(numR) vs \(gR[t])")
        }
        for t in [0, 9, 30, 48] {
            var gp = G, gm = G
            gp[t] += 1e-5; gm[t] -= 1e-5
            let num = (try MLC.clusterRate(Z, gp, n, d, 0.5).0 - MLC.clusterRate(Z, gm, n, d, 0.5).0) / 2e-5
            #expect(abs(num - dG[t]) < 1e-6 * max(1, abs(num)), "∂Rc/∂Γ[\(t)] \(num) vs \(dG[t])")
        }
    }

    @Test func sinkhornIsDoublyStochasticAndItsBackwardIsExact() throws {
        var g = RandomGenerator(seed: 2)
        let n = 6
        let K = (0..<(n * n)).map { _ in g.uniform() / 0.175 }
        let converged = MLC.sinkhorn(K, n, iters: 200).Gamma
        for i in 0..<n {
            #expect(abs((0..<n).reduce(0.0) { $0 + converged[i * n + $1] } - 1) < 1e-6)
            #expect(abs((0..<n).reduce(0.0) { $0 + converged[$1 * n + i] } - 1) < 1e-6)
        }
        // d/dK of Σ W ⊙ Γ(K) for fixed weights W, five iterations, against central differences.
        let W = (0..<(n * n)).map { _ in g.normal() }
        func f(_ K: [Double]) -> Double { let G = MLC.sinkhorn(K, n, iters: 5).Gamma; return zip(W, G).reduce(0) { $0 + $1.0 * $1.1 } }
        let s = MLC.sinkhorn(K, n, iters: 5)
        let dK = MLC.sinkhornBackward(s.steps, s.Gamma, W, n)
        for t in [0, 7, 20, 35] {
            var kp = K, km = K
            kp[t] += 1e-6; km[t] -= 1e-6
            let num = (f(kp) - f(km)) / 2e-6
            #expect(abs(num - dK[t]) < 1e-6 * max(1, abs(num)), "∂/∂K[\(t)] \(num) vs \(dK[t])")
        }
    }

    @Test func mlcSeparatesTwoCirclesThatKMeansCannot() throws {
        // Two concentric circles in the plane (radii 1 and 3), 60 points each.
        var g = RandomGenerator(seed: 3)
        var x: [Float] = [], truth: [Int] = []
        for c in 0..<2 { for _ in 0..<60 {
            let t = g.uniform() * 2 * .pi, r = c == 0 ? 1.0 : 3.0
            x += [Float(r * cos(t) + 0.05 * g.normal()), Float(r * sin(t) + 0.05 * g.normal())]
            truth.append(c)
        } }
        let X = Tensor(shape: [120, 2], storage: x)
        var o = MLC.Options(k: 2)
        o.dim = 8; o.hidden = 64; o.warmup = 100; o.epochs = 100; o.eta = 0.05
        var r1 = RandomGenerator(seed: 4)
        let r = try MLC.fit(X, o, rng: &r1)
        var r2 = RandomGenerator(seed: 4)
        let km = try KMeans.fit(X, k: 2, nInit: 10, rng: &r2).labels
        let accMLC = try ClusterMetrics.accuracy(r.labels, truth), accKM = try ClusterMetrics.accuracy(km, truth)
        #expect(accMLC > accKM, "MLC \(accMLC) vs k-means \(accKM)")
        #expect(r.marginalError < 0.05)
        #expect(r.objective.count == 101 && r.objective[100] > r.objective[0])
    }
}
