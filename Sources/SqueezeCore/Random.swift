import Foundation

/// The one random generator of squeeze: PCG64 (O'Neill's PCG XSL RR 128/64, the same bit
/// generator as NumPy's `PCG64`), so raw output can be checked against NumPy given the same state.
///
/// Seeding: a 64-bit seed is expanded by SplitMix64 into four words `w0…w3`; then, as in PCG's
/// reference `srandom`, `inc = ((w2 << 64 | w3) << 1) | 1`, `state = 0`, step, `state += (w0 << 64 | w1)`,
/// step. Every draw is sequential, so results never depend on the thread count.
public struct RandomGenerator: Sendable {
    static let multiplier: UInt128 = (UInt128(0x2360_ED05_1FC6_5DA4) << 64) | UInt128(0x4385_DF64_9FCC_F645)

    public private(set) var state: UInt128
    public let increment: UInt128
    private var spareNormal: Double?

    /// A generator seeded as described above.
    public init(seed: UInt64) {
        var sm = seed
        func splitmix() -> UInt64 {
            sm &+= 0x9E37_79B9_7F4A_7C15
            var z = sm
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        let w0 = splitmix(), w1 = splitmix(), w2 = splitmix(), w3 = splitmix()
        increment = (((UInt128(w2) << 64) | UInt128(w3)) << 1) | 1
        state = 0
        step()
        state &+= (UInt128(w0) << 64) | UInt128(w1)
        step()
    }

    /// A generator from an explicit PCG state (for checking against NumPy).
    public init(state: UInt128, increment: UInt128) {
        self.state = state
        self.increment = increment | 1
    }

    @inline(__always) mutating func step() { state = state &* RandomGenerator.multiplier &+ increment }

    /// The next raw 64-bit output (advance, then XSL RR of the new state, as NumPy).
    @inline(__always)
    public mutating func next() -> UInt64 {
        step()
        let hi = UInt64(truncatingIfNeeded: state >> 64), lo = UInt64(truncatingIfNeeded: state)
        let rot = UInt64(truncatingIfNeeded: state >> 122)
        let x = hi ^ lo
        return (x >> rot) | (x << ((64 &- rot) & 63))
    }

    /// Uniform in [0, 1) with 53 random bits (NumPy's `random()`).
    @inline(__always)
    public mutating func uniform() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// Uniform Float in [0, 1) with 24 random bits.
    @inline(__always)
    public mutating func uniformFloat() -> Float { Float(next() >> 40) * 0x1.0p-24 }

    /// Standard normal by the Box–Muller transform; draws come in pairs, the second is kept.
    public mutating func normal() -> Double {
        if let z = spareNormal { spareNormal = nil; return z }
        let u1 = 1 - uniform()  // (0, 1]: log is finite
        let u2 = uniform()
        let r = (-2 * Foundation.log(u1)).squareRoot()
        let t = 2 * Double.pi * u2
        spareNormal = r * Foundation.sin(t)
        return r * Foundation.cos(t)
    }

    /// Uniform integer in `0..<bound` without modulo bias (rejection of the short last block).
    public mutating func integer(below bound: Int) -> Int {
        precondition(bound > 0)
        let n = UInt64(bound)
        let threshold = (0 &- n) % n
        while true {
            let r = next()
            if r >= threshold { return Int(r % n) }
        }
    }

    /// A uniformly random permutation of `0..<n` (Fisher–Yates).
    public mutating func permutation(_ n: Int) -> [Int] {
        var p = Array(0..<n)
        if n < 2 { return p }
        for i in stride(from: n - 1, to: 0, by: -1) { p.swapAt(i, integer(below: i + 1)) }
        return p
    }

    /// `k` distinct indices of `0..<n`, in random order (partial Fisher–Yates).
    public mutating func choice(_ n: Int, count k: Int) -> [Int] {
        precondition(k >= 0 && k <= n)
        var p = Array(0..<n)
        for i in 0..<k { p.swapAt(i, i + integer(below: n - i)) }
        return Array(p[0..<k])
    }
}

extension Tensor {
    /// Standard normal samples (scaled by `std`, shifted by `mean`), drawn in row-major order.
    public static func randn(_ shape: [Int], using rng: inout RandomGenerator, mean: Float = 0, std: Float = 1) -> Tensor {
        Tensor(shape: shape) { out in for i in 0..<out.count { out[i] = mean + std * Float(rng.normal()) } }
    }

    /// Uniform samples in `[low, high)`, drawn in row-major order.
    public static func rand(_ shape: [Int], using rng: inout RandomGenerator, low: Float = 0, high: Float = 1) -> Tensor {
        Tensor(shape: shape) { out in
            for i in 0..<out.count { out[i] = Float(Double(low) + Double(high - low) * rng.uniform()) }
        }
    }
}
