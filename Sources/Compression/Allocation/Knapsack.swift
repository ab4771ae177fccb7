import Foundation
import SqueezeCore

/// The exact per-layer allocation under a storage budget (Hubara et al. 2021's integer program,
/// solved exactly): choose one level c_l per layer minimising Σ_l cost[l][c_l] subject to
/// Σ_l bits[l][c_l] ≤ budget. Solved by dynamic programming over layers on the Pareto frontier of
/// (bits, cost) pairs of the layers seen so far — a partial choice is kept only when no other uses
/// at most its bits for at most its cost — which is exact for real-valued bits (no bucketing), and
/// small here because layers of one shape share their bit counts.
public enum Knapsack {
    public struct Solution: Sendable, Equatable {
        public let choice: [Int]
        public let cost: Double
        public let bits: Double
    }

    public static func minimize(cost: [[Double]], bits: [[Double]], budget: Double) throws -> Solution? {
        guard cost.count == bits.count, zip(cost, bits).allSatisfy({ $0.count == $1.count && !$0.isEmpty }) else {
            throw CoreError.invalidParameter("levels", "every layer needs a cost and a bit count for each of its levels")
        }
        struct Entry { var bits: Double; var cost: Double; var parent: Int; var level: Int }
        var frontiers: [[Entry]] = []
        var current = [Entry(bits: 0, cost: 0, parent: -1, level: -1)]
        for l in 0..<cost.count {
            var next: [Entry] = []
            next.reserveCapacity(current.count * cost[l].count)
            for (p, e) in current.enumerated() {
                for c in 0..<cost[l].count {
                    let b = e.bits + bits[l][c]
                    if b <= budget * (1 + 1e-12) { next.append(Entry(bits: b, cost: e.cost + cost[l][c], parent: p, level: c)) }
                }
            }
            // Pareto: by bits ascending (then cost), keep strictly decreasing cost.
            next.sort { $0.bits != $1.bits ? $0.bits < $1.bits : $0.cost < $1.cost }
            var kept: [Entry] = []
            for e in next where kept.isEmpty || e.cost < kept[kept.count - 1].cost { kept.append(e) }
            frontiers.append(kept)
            current = kept
            if current.isEmpty { return nil }
        }
        // The frontier's last entry has the least cost within the budget.
        var index = current.count - 1
        let best = current[index]
        var choice = [Int](repeating: 0, count: cost.count)
        for l in stride(from: cost.count - 1, through: 0, by: -1) {
            let e = frontiers[l][index]
            choice[l] = e.level
            index = e.parent
        }
        return Solution(choice: choice, cost: best.cost, bits: best.bits)
    }
}
