import Foundation
import SqueezeCore
import Testing

@testable import Compression

/// The simulated data-parallel exchange, EControl, L-GreCo's budget, gradient coding and SR-SGC.
@Suite struct DataParallelTests {
    /// Heterogeneous least squares: W workers, each with its own A_i, b_i (its own optimum); full gradients.
    struct LeastSquares {
        let w = 10, m = 12, d = 16
        var a: [[Float]] = [], b: [[Float]] = []
        var optimum: [Double] = []
        var lipschitz: Double = 0

        init() {
            var rng = RandomGenerator(seed: 5)
            for _ in 0..<w {
                let ai = (0..<(m * d)).map { _ in Float(rng.normal() / Double(m).squareRoot()) }
                let xi = (0..<d).map { _ in Float(rng.normal() * 3) }
                let bi = (0..<m).map { r in (0..<d).reduce(Float(0)) { $0 + ai[r * d + $1] * xi[$1] } }
                a.append(ai)
                b.append(bi)
            }
            // x* solves (Σ AᵢᵀAᵢ) x = Σ Aᵢᵀbᵢ.
            var h = [Double](repeating: 0, count: d * d), c = [Double](repeating: 0, count: d)
            for i in 0..<w {
                for r in 0..<m {
                    for j in 0..<d {
                        c[j] += Double(a[i][r * d + j] * b[i][r])
                        for k in 0..<d { h[j * d + k] += Double(a[i][r * d + j] * a[i][r * d + k]) }
                    }
                }
                let t = try! Tensor(shape: [m, d], storage: a[i]).svd().S.storage[0]
                lipschitz = max(lipschitz, Double(t * t))
            }
            optimum = GradientCode.solve(h, c, d)!
        }

        func gradient(_ i: Int, _ x: [Float]) -> [Float] {
            var r = [Float](repeating: 0, count: m)
            for row in 0..<m { r[row] = (0..<d).reduce(Float(0)) { $0 + a[i][row * d + $1] * x[$1] } - b[i][row] }
            return (0..<d).map { j in (0..<m).reduce(Float(0)) { $0 + a[i][$1 * d + j] * r[$1] } }
        }

        /// ‖x − x*‖/‖x*‖ after `steps` steps of x ← x − γ·(exchanged average) with top-2 of 16.
        func run(_ feedback: CompressorSpec.Feedback, steps: Int = 1500) throws -> Double {
            var spec = CompressorSpec(.topk)
            spec.ratio = 0.125
            spec.feedback = feedback
            var ex = try GradientExchange(spec: spec, workers: w, shapes: [[d]])
            var rng = RandomGenerator(seed: 1)
            var x = [Float](repeating: 0, count: d)
            let gamma = Float(0.5 / lipschitz)
            let weights = [Float](repeating: 1 / Float(w), count: w)
            for _ in 0..<steps {
                let grads = (0..<w).map { [gradient($0, x)] }
                let out = try ex.exchange(grads, weights: weights, epoch: 0, rng: &rng)
                for j in 0..<d { x[j] -= gamma * out.average[0][j] }
            }
            let err = zip(x, optimum).reduce(0.0) { $0 + (Double($1.0) - $1.1) * (Double($1.0) - $1.1) }.squareRoot()
            return err / optimum.reduce(0.0) { $0 + $1 * $1 }.squareRoot()
        }
    }

    @Test func eControlReachesTheOptimumWhereOthersStall() throws {
        let problem = LeastSquares()
        let plain = try problem.run(.none), ef = try problem.run(.ef), econtrol = try problem.run(.econtrol(eta: 0.2))
        #expect(plain > 0.5, "compressed SGD without feedback stalls: \(plain)")
        #expect(ef > 0.01 && ef < plain, "error feedback converges to a heterogeneity floor: \(ef)")
        #expect(econtrol < 1e-3, "EControl reaches x*: \(econtrol)")
    }

    @Test func bitsAreCountedPerWorkerAndReceiver() throws {
        var spec = CompressorSpec(.topk)
        spec.ratio = 0.1
        var ex = try GradientExchange(spec: spec, workers: 3, shapes: [[100], [7]])
        var rng = RandomGenerator(seed: 2)
        var grads = [[[Float]]]()
        for w in 0..<3 {
            let big: [Float] = (0..<100).map { i in Float((i * 7 + w * 13) % 101) - 50 }
            let small: [Float] = (0..<7).map { i in Float(i + w) }
            grads.append([big, small])
        }
        let out = try ex.exchange(grads, weights: [1.0 / 3, 1.0 / 3, 1.0 / 3], epoch: 0, rng: &rng)
        // Up: 3 workers × (10 × (32 + 7) + 1 × (32 + 3)).
        let upExpected = 3 * (10 * 39 + 35)
        #expect(out.up.total == upExpected)
        // Down: each of 3 receives the union of the indices sent, as (index, value) pairs, or dense if smaller.
        let union0 = Set(grads.flatMap { Compressors.topK($0[0], 10) }).count
        let union1 = Set(grads.flatMap { Compressors.topK($0[1], 1) }).count
        let downExpected: Int = 3 * (min(union0 * 39, 3200) + min(union1 * 35, 224))
        #expect(out.down == downExpected)
        // The average of the decoded messages.
        var expected = [Float](repeating: 0, count: 100)
        for g in grads { for i in Compressors.topK(g[0], 10) { expected[i] += g[0][i] / 3 } }
        for i in 0..<100 { #expect(abs(out.average[0][i] - expected[i]) < 1e-5) }
    }

    @Test func lGreCoStaysWithinTheUniformErrorBudget() throws {
        var spec = CompressorSpec(.topk)
        spec.ratio = 0.05
        spec.choices = [0.01, 0.02, 0.05, 0.1, 0.2]
        spec.every = 5
        let shapes = [[40, 30], [30], [30, 10], [10]]
        var ex = try GradientExchange(spec: spec, workers: 2, shapes: shapes)
        var rng = RandomGenerator(seed: 3)
        for step in 0..<20 {
            // Layers of very different spread, so a uniform ratio is not optimal.
            var grads = [[[Float]]]()
            for _ in 0..<2 {
                var worker = [[Float]]()
                for (l, s) in shapes.enumerated() {
                    let scale: Double = Double(l + 1) * (l == 0 ? Double(step % 3 + 1) : 1)
                    worker.append((0..<s.reduce(1, *)).map { _ in Float(rng.normal() * scale) })
                }
                grads.append(worker)
            }
            if (step + 1) % 5 == 0 {
                let table = ex.levelTableAfterAccumulating(grads, weights: [0.5, 0.5])
                let uniform: Double = zip(table.errors, table.uniform).map { $0[$1] }.reduce(0, +)
                _ = try ex.exchange(grads, weights: [0.5, 0.5], epoch: 0, rng: &rng)
                let chosen: [Int] = zip(table.levels, ex.levels).map { $0.firstIndex(of: $1)! }
                let error: Double = zip(table.errors, chosen).map { $0[$1] }.reduce(0, +)
                let bits: Double = zip(table.bits, chosen).map { $0[$1] }.reduce(0, +)
                let uniformBits: Double = zip(table.bits, table.uniform).map { $0[$1] }.reduce(0, +)
                #expect(error <= uniform * (1 + 1e-9), "step \(step): error \(error) over the budget \(uniform)")
                #expect(bits <= uniformBits)
            } else {
                _ = try ex.exchange(grads, weights: [0.5, 0.5], epoch: 0, rng: &rng)
            }
        }
        #expect(ex.solves.count == 4)
    }

    @Test func gradientCodeDecodesTheFullGradientFromAnyNMinusS() throws {
        var rng = RandomGenerator(seed: 9)
        for (n, s) in [(5, 1), (8, 3), (12, 2), (4, 0)] {
            let code = try GradientCode(workers: n, stragglers: s, rng: &rng)
            let parts = (0..<n).map { _ in (0..<6).map { _ in rng.normal() } }
            let full = (0..<6).map { j in parts.reduce(0.0) { $0 + $1[j] } }
            for _ in 0..<20 {
                let received = Array(rng.permutation(n).prefix(n - s)).sorted()
                let (a, residual) = try #require(code.decoder(received))
                #expect(residual < 1e-8)
                // Worker i sends Σⱼ Bᵢⱼ gⱼ; the master forms Σᵢ aᵢ·(that).
                var decoded = [Double](repeating: 0, count: 6)
                for (x, i) in received.enumerated() {
                    for j in 0..<n where code.matrix[i * n + j] != 0 {
                        for k in 0..<6 { decoded[k] += a[x] * code.matrix[i * n + j] * parts[j][k] }
                    }
                }
                for k in 0..<6 { #expect(abs(decoded[k] - full[k]) < 1e-7 * max(1, abs(full[k]))) }
            }
            // Each worker computes s + 1 parts.
            for i in 0..<n { #expect((0..<n).filter { code.matrix[i * n + $0] != 0 }.count <= s + 1) }
        }
    }

    @Test func selectiveRepeatDecodesEveryJobExactlyBRoundsLate() throws {
        for (n, b, w, lambda) in [(10, 1, 3, 2), (12, 2, 5, 3), (8, 3, 4, 2)] {
            let sim = try StragglerSimulation(scheme: .srsgc, workers: n, jobs: 60, burst: b, window: w, lambda: lambda, mu: 0.05)
            let gc = try StragglerSimulation(scheme: .gc, workers: n, jobs: 60, s: lambda, mu: 0.05)
            #expect(sim.load < gc.load, "SR-SGC's load \(sim.load) vs GC's \(gc.load) at the same tolerance")
            for trial in 0..<10 {
                var rng = RandomGenerator(seed: UInt64(100 * n + trial))
                let delays = StragglerSimulation.burstyDelays(
                    workers: n, rounds: sim.rounds, burst: b, window: w, lambda: lambda, p: 0.15, slowdown: 4, mu: 0.05, rng: &rng)
                let code = try GradientCode(workers: n, stragglers: sim.s, rng: &rng)
                let r = try sim.run(delays: delays, code: code)
                // The generated pattern is admissible, so the master never waits for a straggler…
                let marked = r.stragglers.flatMap { $0 }.filter { $0 }.count
                let generated = delays.flatMap { $0 }.filter { $0 > 2 }.count
                #expect(marked == generated, "(\(n), \(b), \(w), \(lambda)) trial \(trial)")
                // …and every job t is decoded in round t + B, exactly.
                #expect(r.decodedAt == (0..<60).map { $0 + b }, "(\(n), \(b), \(w), \(lambda)) trial \(trial)")
                #expect(r.residuals.max()! < 1e-8)
            }
        }
    }

    @Test func stragglerInputsAreChecked() {
        #expect(throws: CoreError.self) { try StragglerSimulation(scheme: .srsgc, workers: 5, jobs: 3, burst: 2, window: 4, lambda: 1) }
        #expect(throws: CoreError.self) { try StragglerSimulation(scheme: .gc, workers: 5, jobs: 3, s: 5) }
        let sim = try! StragglerSimulation(scheme: .gc, workers: 3, jobs: 4, s: 1)
        #expect(throws: CoreError.self) { try sim.run(delays: [[1, 1, 1]], code: nil) }
    }
}

extension GradientExchange {
    /// The level table L-GreCo will see at the next exchange if it is given `grads`.
    func levelTableAfterAccumulating(
        _ grads: [[[Float]]], weights: [Float]
    ) -> (errors: [[Double]], bits: [[Double]], levels: [[Double]], uniform: [Int]) {
        var copy = self
        for l in 0..<shapes.count { for w in 0..<workers { axpy(weights[w], grads[w][l], &copy.accumulated[l]) } }
        return copy.levelTable(spec!)
    }
}
