import Foundation
import SqueezeCore

/// Order-0 (empirical) entropy of integer codes.
public enum Entropy {
    /// −Σ p log₂ p over the symbols' empirical frequencies, in bits per symbol.
    public static func empirical(_ symbols: [Int]) -> Double {
        guard !symbols.isEmpty else { return 0 }
        var counts: [Int: Int] = [:]
        for s in symbols { counts[s, default: 0] += 1 }
        let n = Double(symbols.count)
        // Summed in symbol order: a dictionary's order changes from process to process (its hash is
        // seeded per run), and with it the last bits of the sum.
        return counts.sorted { $0.key < $1.key }.reduce(0.0) { acc, kv in
            let p = Double(kv.value) / n; return acc - p * log2(p)
        }
    }
}
