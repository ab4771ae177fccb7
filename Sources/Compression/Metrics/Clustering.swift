import CBLAS
import Foundation
import SqueezeCore

/// Clustering scores as scikit-learn 1.9.1 defines them, plus Hungarian-matched accuracy
/// (ALGORITHMS.md §B11).
public enum ClusterMetrics {
    /// Contingency table N_ij = #{true class i, predicted cluster j}, with the class and cluster counts.
    static func contingency(_ truth: [Int], _ pred: [Int]) -> (N: [[Int]], a: [Int], b: [Int], n: Int) {
        let classes = Array(Set(truth)).sorted(), clusters = Array(Set(pred)).sorted()
        let ci = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($0.element, $0.offset) })
        let cj = Dictionary(uniqueKeysWithValues: clusters.enumerated().map { ($0.element, $0.offset) })
        var N = [[Int]](repeating: [Int](repeating: 0, count: clusters.count), count: classes.count)
        for (t, p) in zip(truth, pred) { N[ci[t]!][cj[p]!] += 1 }
        return (N, N.map { $0.reduce(0, +) }, (0..<clusters.count).map { j in N.reduce(0) { $0 + $1[j] } }, truth.count)
    }

    /// Fraction of samples matched under the best one-to-one map of clusters to classes
    /// (Hungarian algorithm on the contingency table; unmatched items count as errors).
    public static func accuracy(_ pred: [Int], _ truth: [Int]) throws -> Double {
        guard pred.count == truth.count else {
            throw CoreError.invalidArgument("accuracy: \(pred.count) predictions for \(truth.count) labels")
        }
        guard !truth.isEmpty else { return 1 }
        let c = contingency(truth, pred)
        let size = max(c.N.count, c.N.first?.count ?? 0)
        var cost = [[Double]](repeating: [Double](repeating: 0, count: size), count: size)
        for i in 0..<c.N.count { for j in 0..<c.N[i].count { cost[i][j] = -Double(c.N[i][j]) } }
        let assignment = hungarian(cost)
        var matched = 0
        for (i, j) in assignment.enumerated() where i < c.N.count && j < c.N[i].count { matched += c.N[i][j] }
        return Double(matched) / Double(c.n)
    }

    /// Minimum-cost perfect matching of a square cost matrix (Kuhn–Munkres with potentials, O(n³)):
    /// result[row] = column.
    static func hungarian(_ a: [[Double]]) -> [Int] {
        let n = a.count
        guard n > 0 else { return [] }
        var u = [Double](repeating: 0, count: n + 1), v = [Double](repeating: 0, count: n + 1)
        var p = [Int](repeating: 0, count: n + 1), way = [Int](repeating: 0, count: n + 1)
        for i in 1...n {
            p[0] = i
            var j0 = 0
            var minv = [Double](repeating: .infinity, count: n + 1)
            var used = [Bool](repeating: false, count: n + 1)
            repeat {
                used[j0] = true
                let i0 = p[j0]
                var delta = Double.infinity, j1 = 0
                for j in 1...n where !used[j] {
                    let cur = a[i0 - 1][j - 1] - u[i0] - v[j]
                    if cur < minv[j] { minv[j] = cur; way[j] = j0 }
                    if minv[j] < delta { delta = minv[j]; j1 = j }
                }
                for j in 0...n {
                    if used[j] { u[p[j]] += delta; v[j] -= delta } else { minv[j] -= delta }
                }
                j0 = j1
            } while p[j0] != 0
            repeat {
                let j1 = way[j0]
                p[j0] = p[j1]
                j0 = j1
            } while j0 != 0
        }
        var result = [Int](repeating: 0, count: n)
        for j in 1...n where p[j] > 0 { result[p[j] - 1] = j - 1 }
        return result
    }

    public enum Average: String, Sendable { case arithmetic, geometric, min, max }

    /// Normalized mutual information (scikit-learn's normalized_mutual_info_score).
    public static func nmi(_ pred: [Int], _ truth: [Int], average: Average = .arithmetic) throws -> Double {
        guard pred.count == truth.count else { throw CoreError.invalidArgument("nmi: \(pred.count) predictions for \(truth.count) labels") }
        let c = contingency(truth, pred)
        if (c.a.count <= 1 && c.b.count <= 1) { return 1 }
        let n = Double(c.n)
        var mi = 0.0
        for i in 0..<c.N.count {
            for j in 0..<c.N[i].count where c.N[i][j] > 0 {
                let nij = Double(c.N[i][j])
                mi += nij / n * log(n * nij / (Double(c.a[i]) * Double(c.b[j])))
            }
        }
        if mi <= 1e-15 { return 0 }
        func h(_ counts: [Int]) -> Double { counts.reduce(0.0) { $1 == 0 ? $0 : $0 - Double($1) / n * log(Double($1) / n) } }
        let hu = h(c.a), hv = h(c.b)
        let norm: Double
        switch average {
        case .arithmetic: norm = (hu + hv) / 2
        case .geometric: norm = (hu * hv).squareRoot()
        case .min: norm = min(hu, hv)
        case .max: norm = max(hu, hv)
        }
        return mi / max(norm, .ulpOfOne)
    }

    /// Adjusted Rand index (scikit-learn's adjusted_rand_score, from the pair confusion matrix).
    public static func ari(_ pred: [Int], _ truth: [Int]) throws -> Double {
        guard pred.count == truth.count else { throw CoreError.invalidArgument("ari: \(pred.count) predictions for \(truth.count) labels") }
        let c = contingency(truth, pred)
        let n = Double(c.n)
        let sumSquares = c.N.reduce(0.0) { $0 + $1.reduce(0.0) { $0 + Double($1) * Double($1) } }
        let a2 = c.a.reduce(0.0) { $0 + Double($1) * Double($1) }, b2 = c.b.reduce(0.0) { $0 + Double($1) * Double($1) }
        let tp = sumSquares - n
        let fp = b2 - sumSquares
        let fn = a2 - sumSquares
        let tn = n * n - fp - fn - sumSquares
        if fn == 0 && fp == 0 { return 1 }
        return 2 * (tp * tn - fn * fp) / ((tp + fn) * (fn + tn) + (tp + fp) * (fp + tn))
    }
}
