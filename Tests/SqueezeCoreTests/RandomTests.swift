import SqueezeCore
import TestSupport
import Testing

/// PCG64 against numpy's PCG64 given the same state; seeding recomputed in Python.
@Suite struct RandomTests {
    let fx = Fixture.core

    @Test(arguments: ["0", "7", "123456789"])
    func goldenValues(seed: String) {
        let f = fx["rng"][seed]
        var g = RandomGenerator(seed: UInt64(seed)!)
        let state = (UInt128(f["state_hi"].uint64) << 64) | UInt128(f["state_lo"].uint64)
        let inc = (UInt128(f["inc_hi"].uint64) << 64) | UInt128(f["inc_lo"].uint64)
        #expect(g.state == state && g.increment == inc)
        #expect((0..<8).map { _ in String(g.next()) } == f["raw"].strings)
        var h = RandomGenerator(seed: UInt64(seed)!)
        #expect((0..<6).map { _ in h.uniform() } == f["uniform"].doubles)
        var k = RandomGenerator(seed: UInt64(seed)!)
        for (a, b) in zip((0..<8).map { _ in k.normal() }, f["normal"].doubles) { expectClose(a, b, rtol: 1e-14, atol: 1e-14) }
    }

    @Test func integersPermutationsChoices() {
        var g = RandomGenerator(seed: 1)
        var counts = [Int](repeating: 0, count: 5)
        for _ in 0..<50_000 { counts[g.integer(below: 5)] += 1 }
        #expect(counts.allSatisfy { abs($0 - 10_000) < 400 })   // ±4σ
        let p = g.permutation(100)
        #expect(p.sorted() == Array(0..<100) && p != Array(0..<100))
        let c = g.choice(1000, count: 10)
        #expect(Set(c).count == 10 && c.allSatisfy { $0 < 1000 })
        #expect(g.permutation(0).isEmpty && g.choice(3, count: 0).isEmpty)
        var a = RandomGenerator(seed: 42), b = RandomGenerator(seed: 42)
        #expect(Tensor.randn([3, 3], using: &a) == Tensor.randn([3, 3], using: &b))
    }

    @Test func normalMoments() throws {
        var g = RandomGenerator(seed: 3)
        let x = Tensor.randn([200_000], using: &g)
        expectClose(try x.reduce(.mean).storage[0].magnitude < 0.01 ? 0 : 1, 0)
        expectClose(Double(try x.reduce(.std).storage[0]), 1, rtol: 0.01)
        let u = Tensor.rand([100_000], using: &g, low: -1, high: 1)
        #expect(u.storage.allSatisfy { $0 >= -1 && $0 < 1 })
    }
}
