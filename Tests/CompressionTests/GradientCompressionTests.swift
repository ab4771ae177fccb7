import Foundation
import SqueezeCore
import TestSupport
import Testing

@testable import Compression

/// Each compressor's message and memory against a numpy port of its reference code
/// (Fixtures/make_gradient_compression_fixtures.py), within 1e-5 (float32 sums in another order);
/// bit counts by hand.
@Suite struct GradientCompressionTests {
    static let fixture = Fixture.load("gradient_compression", script: "make_gradient_compression_fixtures.py", bundle: .module)

    static func floats(_ f: Fixture) -> [Float] { f.tensor.storage }
    static func ints(_ f: Fixture) -> [Int] { f.doubles.map { Int($0) } }

    func close(_ a: [Float], _ b: [Float], tol: Float = 1e-5, _ what: String) {
        #expect(a.count == b.count, "\(what): \(a.count) vs \(b.count)")
        guard a.count == b.count else { return }
        let worst = zip(a, b).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? 0
        #expect(worst <= tol, "\(what): worst difference \(worst)")
    }

    @Test(arguments: ["topk", "randk", "threshold"])
    func sparsifiersWithMemory(_ kind: String) throws {
        let steps = Self.fixture[kind].items
        #expect(steps.count == 2)
        var e = [Float](repeating: 0, count: 300)
        for s in steps {
            var p = Self.floats(s["g"])
            axpy(1, e, &p)
            let idx: [Int]
            switch kind {
            case "topk": idx = Compressors.topK(p, 7)
            case "randk": idx = Self.ints(s["indices"])  // the draw is the fixture's
            default: idx = Compressors.threshold(p, 1.5)
            }
            let msg = Compressors.sparse(p, idx)
            #expect(msg.indices == Self.ints(s["indices"]), "\(kind) indices")
            close(msg.values, Self.floats(s["values"]), kind)
            axpy(-1, msg.decoded, &p)
            e = p
            close(e, Self.floats(s["memory"]), "\(kind) memory")
            // Hand count: 32-bit values and ⌈log₂ 300⌉ = 9-bit indices.
            #expect(msg.bits.total == idx.count * (32 + 9))
        }
    }

    @Test func topKEdgeCases() {
        #expect(Compressors.topK([], 3) == [])
        #expect(Compressors.topK([1, -5, 3], 0) == [])
        #expect(Compressors.topK([1, -5, 3], 5) == [0, 1, 2])
        #expect(Compressors.topK([2, 2, 2, 2], 2) == [0, 1])
        #expect(Compressors.topK([1, .nan, 3], 1) == [1])
        #expect(Compressors.topK([0.5], 1) == [0])
        #expect(Compressors.indexBits(1) == 1 && Compressors.indexBits(2) == 1 && Compressors.indexBits(3) == 2)
        #expect(Compressors.indexBits(1024) == 10 && Compressors.indexBits(1025) == 11)
    }

    @Test func scaledSign() {
        let f = Self.fixture["sign"]
        let msg = Compressors.sign(Self.floats(f["x"]), chunk: 64)
        close(msg.decoded, Self.floats(f["decoded"]), "sign")
        // 200 sign bits + 4 chunks × 32-bit scale.
        #expect(msg.bits.total == 200 + 4 * 32)
        #expect(Compressors.sign([0, 0], chunk: 0).decoded == [0, 0])
        #expect(Compressors.sign([0, -2], chunk: 0).decoded == [1, -1])
    }

    @Test func qsgd() {
        let f = Self.fixture["qsgd"]
        let msg = Compressors.qsgd(Self.floats(f["x"]), levels: 4, bucket: 128, uniforms: Self.floats(f["uniforms"]))
        close(msg.decoded, Self.floats(f["decoded"]), "qsgd")
        // 3 buckets × 32-bit norm + 300 × (1 sign + ⌈log₂ 5⌉ = 3 level bits).
        #expect(msg.bits.total == 3 * 32 + 300 * 4)
        #expect(msg.decoded[10] == 0)
    }

    @Test func powerSGDTwoWorkers() throws {
        let f = Self.fixture["powersgd"]
        var spec = CompressorSpec(.powersgd)
        spec.rank = 2
        var ex = try GradientExchange(spec: spec, workers: 2, shapes: [[12, 8]])
        ex.p = [Self.floats(f["P"])]
        ex.q = [Self.floats(f["Q"])]
        var rng = RandomGenerator(seed: 1)
        let steps = f["steps"].items
        for (k, s) in steps.enumerated() {
            let grads = s["grads"].items.map { [Self.floats($0)] }
            let out = try ex.exchange(grads, weights: [0.5, 0.5], epoch: 0, rng: &rng)  // factors given: none drawn
            close(out.average[0], Self.floats(s["average"]), tol: 2e-5, "PowerSGD average, step \(k)")
            let mems = s["memories"].items.map { Self.floats($0) }
            for w in 0..<2 { close(ex.states[w].memory[0], mems[w], tol: 2e-5, "PowerSGD memory \(w), step \(k)") }
            // Each worker sends one factor: Q (8 × 2) on even steps, P (12 × 2) on odd ones.
            #expect(out.up.factors == 2 * 32 * 2 * (k % 2 == 0 ? 8 : 12))
        }
    }

    @Test(arguments: ["dgc", "dgc_nesterov"])
    func dgc(_ name: String) {
        let f = Self.fixture[name]
        let plan = Compressors.dgcPlan(count: 2000, ratio: 0.01)
        #expect([plan.selects, plan.samples, plan.topSamples, plan.stride] == Self.ints(f["plan"]))
        var mmt = [Float](repeating: 0, count: 2000), vec = mmt
        let steps = f["steps"].items
        for s in steps {
            let msg = Compressors.dgcStep(
                Self.floats(s["g"]), momentum: &mmt, velocity: &vec, mu: 0.9, nesterov: f["nesterov"].value as? Bool ?? false,
                ratio: 0.01, sampleStart: Int(s["start"].double))
            #expect(msg.indices == Self.ints(s["indices"]), "\(name) indices")
            close(msg.values, Self.floats(s["values"]), "\(name) values")
            close(mmt, Self.floats(s["momentum"]), "\(name) momentum")
            close(vec, Self.floats(s["velocity"]), "\(name) velocity")
        }
    }

    @Test func oneBitCompressedAllReduce() {
        let f = Self.fixture["onebit"]
        let padded = Int(f["padded"].double)
        #expect(OneBitAdam.padded(50, workers: 3) == padded)
        let momenta = f["momenta"].items.map { Self.floats($0) }
        var werr = f["worker_error"].items.map { [Self.floats($0)] }
        var serr = Self.floats(f["server_error"])
        let (avg, up, down) = OneBitAdam.compressedAllReduce(
            momenta, weights: [1.0 / 3, 1.0 / 3, 1.0 / 3], workerError: &werr, serverError: &serr, tensor: 0)
        close(avg, Self.floats(f["average"]), "1-bit average")
        let after = f["worker_error_after"].items.map { Self.floats($0) }
        for w in 0..<3 { close(werr[w][0], after[w], "1-bit worker error \(w)") }
        close(serr, Self.floats(f["server_error_after"]), "1-bit server error")
        // Up: each worker padded sign bits + one scale; down: each worker receives the signs and 3 scales.
        #expect(up.total == 3 * (padded + 32))
        #expect(down == 3 * (padded + 3 * 32))
    }

    @Test func powerSGDConvergesToTheBestRankRApproximation() throws {
        // A fixed matrix fed every step: warm-started alternating half-iterations approach its top-2 SVD.
        var rng = RandomGenerator(seed: 7)
        let a = Tensor.randn([30, 20], using: &rng)
        let svd = try a.svd()
        let s = svd.S.storage.map(Double.init)
        let best = s.dropFirst(2).reduce(0) { $0 + $1 * $1 }.squareRoot()
        var spec = CompressorSpec(.powersgd)
        spec.rank = 2
        spec.feedback = .none
        var ex = try GradientExchange(spec: spec, workers: 1, shapes: [[30, 20]])
        var last = 0.0
        for _ in 0..<60 {
            let out = try ex.exchange([[a.storage]], weights: [1], epoch: 0, rng: &rng)
            last = zip(out.average[0], a.storage).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }.squareRoot()
        }
        #expect(abs(last - best) / best < 1e-3, "‖A − PQᵀ‖ = \(last), best rank-2 error \(best)")
    }

    @Test func eControlStepByHand() throws {
        // η = 0.5, top-1 of 3: Δ = C(η e + g − h), e ← e + g − h − Δ, h ← h + Δ, direction = mean h.
        var spec = CompressorSpec(.topk)
        spec.ratio = 1.0 / 3
        spec.feedback = .econtrol(eta: 0.5)
        var ex = try GradientExchange(spec: spec, workers: 1, shapes: [[3]])
        var rng = RandomGenerator(seed: 1)
        let g: [Float] = [1, -3, 2]
        let o1 = try ex.exchange([[g]], weights: [1], epoch: 0, rng: &rng)
        #expect(o1.average[0] == [0, -3, 0])  // Δ = top1([1, -3, 2])
        #expect(ex.states[0].memory[0] == [1, 0, 2])  // e = g − 0 − Δ
        let o2 = try ex.exchange([[g]], weights: [1], epoch: 0, rng: &rng)
        // x = 0.5·[1, 0, 2] + g − [0, −3, 0] = [1.5, 0, 3] → Δ = [0, 0, 3]; h = [0, −3, 3]
        #expect(o2.average[0] == [0, -3, 3])
        #expect(ex.states[0].memory[0] == [2, 0, 1])  // e + g − h − Δ = [1,0,2] + [1,0,2] − [0,0,3]
    }

    @Test func layerAllocationEqualsBruteForce() {
        var rng = RandomGenerator(seed: 11)
        for trial in 0..<200 {
            let errors = (0..<3).map { _ in (0..<5).map { _ in rng.uniform() * 10 } }
            let bits = (0..<3).map { _ in (0..<5).map { _ in Double(rng.integer(below: 1000)) } }
            let budget = rng.uniform() * 20
            let dp = LayerAllocation.solve(errors: errors, bits: bits, budget: budget)
            let bf = LayerAllocation.bruteForce(errors: errors, bits: bits, budget: budget)
            #expect((dp == nil) == (bf == nil), "trial \(trial)")
            if let dp, let bf {
                let dpBits = dp.enumerated().reduce(0.0) { $0 + bits[$1.offset][$1.element] }
                let dpError = dp.enumerated().reduce(0.0) { $0 + errors[$1.offset][$1.element] }
                #expect(dpBits == bf.bits, "trial \(trial)")
                #expect(dpError <= budget * (1 + 1e-9) + 1e-12)
            }
        }
    }

    @Test func badSpecs() {
        var s = CompressorSpec(.topk)
        s.ratio = 0
        #expect(throws: CoreError.self) { try s.validate() }
        s.ratio = 1.5
        #expect(throws: CoreError.self) { try s.validate() }
        var p = CompressorSpec(.powersgd)
        p.rank = 0
        #expect(throws: CoreError.self) { try p.validate() }
        var e = CompressorSpec(.powersgd)
        e.feedback = .econtrol(eta: 0.5)
        #expect(throws: CoreError.self) { try e.validate() }
    }
}

extension GradientCompressionTests {
    @Test func randomSubsetsAreDistinctSortedAndUniform() {
        var rng = RandomGenerator(seed: 4)
        var hits = [Int](repeating: 0, count: 20)
        for _ in 0..<2000 {
            let s = Compressors.randomSubset(20, 5, &rng)
            #expect(s.count == 5 && s == s.sorted() && Set(s).count == 5 && s.allSatisfy { $0 >= 0 && $0 < 20 })
            for i in s { hits[i] += 1 }
        }
        // Each index is drawn with probability 5/20: 500 of 2000 expected; 4σ ≈ 77.
        #expect(hits.allSatisfy { abs($0 - 500) < 80 }, "\(hits)")
        #expect(Compressors.randomSubset(10, 8, &rng).count == 8)
        #expect(Compressors.randomSubset(0, 0, &rng).isEmpty)
    }
}
