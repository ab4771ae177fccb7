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
        return counts.values.reduce(0.0) { acc, c in let p = Double(c) / n; return acc - p * log2(p) }
    }
}
