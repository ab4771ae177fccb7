import Foundation

/// Order-0 entropy and a real static rANS coder (ALGORITHMS.md §B10): 32-bit state, byte
/// renormalisation, L = 2^23, frequencies quantized to 2^12 with every used symbol ≥ 1 (ryg_rans).
/// The stream carries its own frequency table, and its cost counts it.
public enum Entropy {
    /// −Σ p log₂ p over the symbols' empirical frequencies, in bits per symbol.
    public static func empirical(_ symbols: [Int]) -> Double {
        guard !symbols.isEmpty else { return 0 }
        var counts: [Int: Int] = [:]
        for s in symbols { counts[s, default: 0] += 1 }
        let n = Double(symbols.count)
        return counts.values.reduce(0.0) { acc, c in let p = Double(c) / n; return acc - p * log2(p) }
    }

    static let precision = 12
    static let lowBound: UInt32 = 1 << 23

    /// Frequencies summing to 2^12, each used symbol ≥ 1, proportional to the counts (largest-remainder).
    static func quantize(_ counts: [Int]) -> [UInt32] {
        let total = 1 << precision
        let n = counts.reduce(0, +)
        guard n > 0 else { return counts.map { _ in 0 } }
        var f = counts.map { c -> Int in c == 0 ? 0 : max(1, Int(Double(c) * Double(total) / Double(n))) }
        var diff = total - f.reduce(0, +)
        // Hand the difference to (or take it from) the most frequent symbols, keeping each used ≥ 1.
        let order = counts.indices.sorted { counts[$0] > counts[$1] || (counts[$0] == counts[$1] && $0 < $1) }
        var k = 0
        while diff != 0 {
            let i = order[k % order.count]
            if diff > 0 { f[i] += 1; diff -= 1 } else if f[i] > 1 { f[i] -= 1; diff += 1 }
            k += 1
            if k > 10 * total { break }
        }
        return f.map(UInt32.init)
    }

    public struct Stream: Sendable {
        /// The coded bytes (state flush included).
        public let bytes: [UInt8]
        /// Alphabet: symbol values in order, with their quantized frequencies.
        public let alphabet: [Int]
        public let frequencies: [UInt32]
        public let count: Int

        /// Payload bits plus the table: per symbol value 32 bits and a 12-bit frequency, plus 64
        /// bits of header (symbol count, alphabet size).
        public var tableBits: Int { alphabet.count * (32 + Entropy.precision) + 64 }

        public init(bytes: [UInt8], alphabet: [Int], frequencies: [UInt32], count: Int) {
            self.bytes = bytes
            self.alphabet = alphabet
            self.frequencies = frequencies
            self.count = count
        }
        public var totalBits: Int { 8 * bytes.count + tableBits }
    }

    public static func encode(_ symbols: [Int]) -> Stream {
        let alphabet = Array(Set(symbols)).sorted()
        let index = Dictionary(uniqueKeysWithValues: alphabet.enumerated().map { ($0.element, $0.offset) })
        var counts = [Int](repeating: 0, count: alphabet.count)
        for s in symbols { counts[index[s] ?? 0] += 1 }
        let freq = quantize(counts)
        var cum = [UInt32](repeating: 0, count: freq.count + 1)
        for i in 0..<freq.count { cum[i + 1] = cum[i] + freq[i] }
        var state = lowBound
        var out: [UInt8] = []   // written backwards, reversed at the end
        out.reserveCapacity(symbols.count / 2 + 8)
        for s in symbols.reversed() {
            let i = index[s] ?? 0
            let f = freq[i]
            let xMax = ((lowBound >> UInt32(precision)) << 8) * f
            while state >= xMax {
                out.append(UInt8(state & 0xff))
                state >>= 8
            }
            state = ((state / f) << UInt32(precision)) + (state % f) + cum[i]
        }
        for _ in 0..<4 {
            out.append(UInt8(state & 0xff))
            state >>= 8
        }
        return Stream(bytes: out.reversed(), alphabet: alphabet, frequencies: freq, count: symbols.count)
    }

    public static func decode(_ stream: Stream) throws -> [Int] {
        let freq = stream.frequencies
        guard freq.reduce(0, +) == 1 << precision || stream.count == 0 else { throw CoreError.invalidArgument("the frequency table does not sum to 2^12") }
        var cum = [UInt32](repeating: 0, count: freq.count + 1)
        for i in 0..<freq.count { cum[i + 1] = cum[i] + freq[i] }
        var lookup = [Int](repeating: 0, count: 1 << precision)
        for i in 0..<freq.count { for v in cum[i]..<cum[i + 1] { lookup[Int(v)] = i } }
        let b = stream.bytes
        guard b.count >= 4 else { throw CoreError.invalidArgument("the stream is shorter than its state") }
        var p = 0
        var state: UInt32 = 0
        for _ in 0..<4 { state = (state << 8) | UInt32(b[p]); p += 1 }
        var out = [Int]()
        out.reserveCapacity(stream.count)
        let mask = UInt32((1 << precision) - 1)
        for _ in 0..<stream.count {
            let slot = state & mask
            let i = lookup[Int(slot)]
            out.append(stream.alphabet[i])
            state = freq[i] * (state >> UInt32(precision)) + slot - cum[i]
            while state < lowBound {
                guard p < b.count else { throw CoreError.invalidArgument("the stream ends early") }
                state = (state << 8) | UInt32(b[p])
                p += 1
            }
        }
        return out
    }
}

/// Reconstruction metrics.
public enum Metrics {
    static func diffs(_ a: Tensor, _ b: Tensor) throws -> (err2: Double, ref2: Double, n: Int) {
        guard a.shape == b.shape else { throw CoreError.shapeMismatch(op: "error", lhs: a.shape, rhs: b.shape) }
        var e = 0.0, r = 0.0
        for (x, y) in zip(a.storage, b.storage) { let d = Double(x) - Double(y); e += d * d; r += Double(x) * Double(x) }
        return (e, r, a.count)
    }

    /// ‖A − B‖_F / ‖A‖_F.
    public static func relativeError(_ a: Tensor, _ b: Tensor) throws -> Double {
        let d = try diffs(a, b)
        return d.ref2 == 0 ? (d.err2 == 0 ? 0 : .infinity) : (d.err2 / d.ref2).squareRoot()
    }

    public static func mse(_ a: Tensor, _ b: Tensor) throws -> Double {
        let d = try diffs(a, b)
        return d.n == 0 ? 0 : d.err2 / Double(d.n)
    }

    /// 10 log₁₀(peak² / MSE).
    public static func psnr(_ a: Tensor, _ b: Tensor, peak: Double) throws -> Double {
        let m = try mse(a, b)
        return m == 0 ? .infinity : 10 * log10(peak * peak / m)
    }

    /// 10 log₁₀(‖A‖² / ‖A − B‖²).
    public static func snr(_ a: Tensor, _ b: Tensor) throws -> Double {
        let d = try diffs(a, b)
        return d.err2 == 0 ? .infinity : 10 * log10(d.ref2 / d.err2)
    }

    /// ‖X Wᵀ − X Cᵀ‖ / ‖X Wᵀ‖ for calibration rows X.
    public static func outputError(_ W: Tensor, _ C: Tensor, _ X: Tensor) throws -> Double {
        let y = try Tensor.gemm(X, W, transB: true), z = try Tensor.gemm(X, C, transB: true)
        return try relativeError(y, z)
    }
}
