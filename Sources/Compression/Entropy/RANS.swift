import Foundation
import SqueezeCore

/// A real static rANS coder (ALGORITHMS.md §B10): 32-bit state, byte
/// renormalisation, L = 2^23, frequencies quantized to 2^12 with every used symbol ≥ 1 (ryg_rans).
/// The stream carries its own frequency table, and its cost counts it.
extension Entropy {
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
        return encode(symbols, alphabet: alphabet, frequencies: quantize(counts))
    }

    /// Codes `symbols` with a table fixed beforehand (counts of each alphabet value, e.g. profiled
    /// offline): every alphabet value gets a frequency ≥ 1, so any of them can be coded. The
    /// stream's `bytes` are its real length; the table is the caller's to count or not.
    public static func encode(_ symbols: [Int], alphabet: [Int], counts: [Int]) throws -> Stream {
        let known = Set(alphabet)
        if let bad = symbols.first(where: { !known.contains($0) }) {
            throw CoreError.invalidParameter("symbols", "symbol \(bad) is not in the table's alphabet")
        }
        return encode(symbols, alphabet: alphabet, frequencies: quantize(counts.map { $0 + 1 }))
    }

    static func encode(_ symbols: [Int], alphabet: [Int], frequencies freq: [UInt32]) -> Stream {
        let index = Dictionary(uniqueKeysWithValues: alphabet.enumerated().map { ($0.element, $0.offset) })
        var cum = [UInt32](repeating: 0, count: freq.count + 1)
        for i in 0..<freq.count { cum[i + 1] = cum[i] + freq[i] }
        var state = lowBound
        var out: [UInt8] = []  // written backwards, reversed at the end
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
        guard freq.reduce(0, +) == 1 << precision || stream.count == 0 else {
            throw CoreError.invalidParameter("stream", "the frequency table does not sum to 2^12")
        }
        var cum = [UInt32](repeating: 0, count: freq.count + 1)
        for i in 0..<freq.count { cum[i + 1] = cum[i] + freq[i] }
        var lookup = [Int](repeating: 0, count: 1 << precision)
        for i in 0..<freq.count { for v in cum[i]..<cum[i + 1] { lookup[Int(v)] = i } }
        let b = stream.bytes
        guard b.count >= 4 else { throw CoreError.invalidParameter("stream", "the stream is shorter than its state") }
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
                guard p < b.count else { throw CoreError.invalidParameter("stream", "the stream ends early") }
                state = (state << 8) | UInt32(b[p])
                p += 1
            }
        }
        return out
    }
}
