import CBLAS
import Foundation
import SqueezeCore
import Synchronization

/// k-means as scikit-learn runs it (ALGORITHMS.md §A5): greedy k-means++ seeding, Lloyd iterations
/// with squared distances from one GEMM per block (‖x‖² + ‖c‖² − 2 x·c), tolerance scaled by the mean
/// feature variance, empty clusters moved to the points farthest from their centres, and a final
/// assignment so labels match the returned centroids.
public enum KMeans {
    public struct Result: Sendable {
        public let centroids: Tensor
        public let labels: [Int]
        /// Σ‖x − c(x)‖² (Float64).
        public let inertia: Double
        public let iterations: Int
    }

    public enum Init: Sendable {
        case kmeansPlusPlus
        case random
        case given(Tensor)
    }

    /// Runs k-means `nInit` times (different seeds drawn from `rng`) and keeps the lowest inertia.
    public static func fit(
        _ X: Tensor, k: Int, initialization: Init = .kmeansPlusPlus, maxIter: Int = 300, tol: Double = 1e-4,
        nInit: Int = 1, rng: inout RandomGenerator, cancellation: CancellationToken? = nil
    ) throws -> Result {
        guard X.rank == 2 else {
            throw CoreError.invalidParameter("X", "kmeans: expected a matrix of samples (n×d), got shape \(Shape.describe(X.shape))")
        }
        let n = X.shape[0]
        guard k >= 1 else { throw CoreError.invalidParameter("k", "kmeans: k must be at least 1") }
        guard n >= k else { throw CoreError.invalidParameter("k", "kmeans: k = \(k) clusters need at least \(k) samples, got \(n)") }
        try X.requireFinite("kmeans")
        if case .given(let c) = initialization, c.shape != [k, X.shape[1]] {
            throw CoreError.invalidParameter("init", "kmeans: initial centroids must be \(k)×\(X.shape[1]), got \(Shape.describe(c.shape))")
        }
        var best: Result?
        var seeded = false
        if case .kmeansPlusPlus = initialization { seeded = true }
        let runs: Int
        if case .given = initialization { runs = 1 } else { runs = max(1, nInit) }
        let task = ProgressMeter.start("kmeans", total: runs * ((seeded ? k : 0) + max(1, maxIter)))
        defer { task.end() }
        for _ in 0..<runs {
            let r = try single(
                X, k: k, initialization: initialization, maxIter: maxIter, tol: tol, rng: &rng, cancellation: cancellation, task: task)
            if best == nil || r.inertia < best!.inertia { best = r }
            if case .given = initialization { break }  // a given start is deterministic: one run
        }
        return best!
    }

    /// sklearn's `_tolerance`: tol × mean over features of the variance of X.
    static func scaledTolerance(_ X: Tensor, _ tol: Double) -> Double {
        let n = X.shape[0], d = X.shape[1]
        guard n > 0, d > 0, tol > 0 else { return 0 }
        // Two passes over the rows (means, then squared deviations), each row read in order.
        var mean = [Double](repeating: 0, count: d), sq = [Double](repeating: 0, count: d)
        X.withBuffer { p in
            for i in 0..<n { for j in 0..<d { mean[j] += Double(p[i * d + j]) } }
            for j in 0..<d { mean[j] /= Double(n) }
            for i in 0..<n { for j in 0..<d { let e = Double(p[i * d + j]) - mean[j]; sq[j] += e * e } }
        }
        return tol * sq.reduce(0, +) / Double(n) / Double(d)
    }

    static func single(
        _ X: Tensor, k: Int, initialization: Init, maxIter: Int, tol: Double,
        rng: inout RandomGenerator, cancellation: CancellationToken?, task: ProgressMeter.Task? = nil
    ) throws -> Result {
        let n = X.shape[0], d = X.shape[1]
        var C: Tensor
        switch initialization {
        case .given(let c): C = c
        case .random:
            let idx = rng.choice(n, count: k)
            C = Tensor(shape: [k, d]) { out in
                X.withBuffer { p in for (r, i) in idx.enumerated() { for j in 0..<d { out[r * d + j] = p[i * d + j] } } }
            }
        case .kmeansPlusPlus:
            C = try plusPlus(X, k: k, rng: &rng, cancellation: cancellation, task: task)
        }
        let tolerance = scaledTolerance(X, tol)
        let xNorm = rowNorms(X)  // the same every iteration
        var labels = [Int](repeating: -1, count: n)
        var iterations = 0
        for it in 0..<max(1, maxIter) {
            if let c = cancellation, c.isCancelled { throw CoreError.cancelled }
            task?.advance()
            let (newLabels, dist) = try assign(X, C, cancellation: cancellation, xNorms: xNorm)
            let newC = update(X, labels: newLabels, distances: dist, k: k, previous: C)
            iterations = it + 1
            let strict = newLabels == labels
            labels = newLabels
            var shift = 0.0
            C.withBuffer { a in newC.withBuffer { b in for i in 0..<(k * d) { let e = Double(a[i]) - Double(b[i]); shift += e * e } } }
            C = newC
            if strict || shift <= tolerance { break }
        }
        // Labels and inertia for the centroids returned.
        let (finalLabels, dist) = try assign(X, C, cancellation: cancellation, xNorms: xNorm)
        let inertia = dist.reduce(0.0) { $0 + Double($1) }
        return Result(centroids: C, labels: finalLabels, inertia: inertia, iterations: iterations)
    }

    /// Means of the assigned points (Float64 sums); an empty cluster takes the point farthest from
    /// its centre that is not already used, as scikit-learn relocates them.
    static func update(_ X: Tensor, labels: [Int], distances: [Float], k: Int, previous: Tensor) -> Tensor {
        let n = X.shape[0], d = X.shape[1]
        // Per-cluster sums in Float64, two halves of the rows on the two cores, merged in order (the
        // same result every run).
        let halves = Parallel.cores > 1 && n >= 4096 ? 2 : 1
        var partSums = [[Double]](repeating: [Double](repeating: 0, count: k * d), count: halves)
        var partCounts = [[Int]](repeating: [Int](repeating: 0, count: k), count: halves)
        X.withBuffer { p in
            partSums.withUnsafeMutableBufferPointer { ps in
                partCounts.withUnsafeMutableBufferPointer { pc in
                    nonisolated(unsafe) let (ps, pc, p) = (ps, pc, p)
                    DispatchQueue.concurrentPerform(iterations: halves) { h in
                        let lo = h * n / halves, hi = (h + 1) * n / halves
                        ps[h].withUnsafeMutableBufferPointer { sums in
                            pc[h].withUnsafeMutableBufferPointer { counts in
                                for i in lo..<hi {
                                    let c = labels[i]
                                    counts[c] += 1
                                    let row = p.baseAddress! + i * d
                                    for j in 0..<d { sums[c * d + j] += Double(row[j]) }
                                }
                            }
                        }
                    }
                }
            }
        }
        var sums = partSums[0], counts = partCounts[0]
        for h in 1..<halves {
            for i in 0..<(k * d) { sums[i] += partSums[h][i] }
            for c in 0..<k { counts[c] += partCounts[h][c] }
        }
        let empty = (0..<k).filter { counts[$0] == 0 }
        var far: [Int] = []
        if !empty.isEmpty {
            far = Array((0..<n).sorted { distances[$0] > distances[$1] || (distances[$0] == distances[$1] && $0 < $1) }.prefix(empty.count))
        }
        return Tensor(shape: [k, d]) { out in
            X.withBuffer { p in
                for c in 0..<k where counts[c] > 0 {
                    for j in 0..<d { out[c * d + j] = Float(sums[c * d + j] / Double(counts[c])) }
                }
                for (e, c) in empty.enumerated() {
                    let i = far[min(e, far.count - 1)]
                    for j in 0..<d { out[c * d + j] = p[i * d + j] }
                }
            }
        }
    }

    /// Greedy k-means++: each step draws 2 + ⌊ln k⌋ candidates by D² sampling and keeps the one that
    /// lowers the potential Σ D² the most (scikit-learn's `_kmeans_plusplus`).
    static func plusPlus(
        _ X: Tensor, k: Int, rng: inout RandomGenerator, cancellation: CancellationToken? = nil, task: ProgressMeter.Task? = nil
    ) throws -> Tensor {
        let n = X.shape[0], d = X.shape[1]
        let trials = 2 + Int(log(Double(k)))
        var centers = [Int]()
        centers.append(rng.integer(below: n))
        // Short vectors: exact distances directly; longer ones: ‖x‖² + ‖c‖² − 2x·c by one GEMM.
        let direct = d <= 16
        let xNorm = direct ? [] : KMeans.rowNorms(X)
        func distancesTo(_ idx: [Int]) throws -> Tensor {
            // n × |idx| squared distances.
            let t = idx.count
            let cand = Tensor(shape: [t, d]) { out in
                X.withBuffer { p in for (r, i) in idx.enumerated() { for j in 0..<d { out[r * d + j] = p[i * d + j] } } }
            }
            let g = direct ? cand : try Tensor.gemm(X, cand, transB: true, alpha: -2)
            return Tensor(shape: [n, t]) { out in
                X.withBuffer { px in
                    g.withBuffer { pg in
                        nonisolated(unsafe) let out = out
                        Parallel.forEach(n, grain: 8192) { range in
                            if direct {
                                for i in range {
                                    for r in 0..<t {
                                        var s: Float = 0
                                        for j in 0..<d { let e = px[i * d + j] - pg[r * d + j]; s += e * e }
                                        out[i * t + r] = s
                                    }
                                }
                            } else {
                                for i in range { for r in 0..<t { out[i * t + r] = max(0, pg[i * t + r] + xNorm[i] + xNorm[idx[r]]) } }
                            }
                        }
                    }
                }
            }
        }
        var closest = try distancesTo([centers[0]]).storage.map(Double.init)
        var potential = closest.reduce(0, +)
        for _ in 1..<k {
            // One new centre costs a pass over X: seeding 1,024 centres on 200,000 rows took 26 s
            // unpolled, so Ctrl-C waited for all of it.
            try cancellation?.check()
            task?.advance()
            // D² sampling by inverse CDF over the running sums (as numpy's searchsorted on the cumsum).
            var cumulative = [Double](repeating: 0, count: n)
            var acc = 0.0
            for i in 0..<n { acc += closest[i]; cumulative[i] = acc }
            var candidates: [Int] = []
            for _ in 0..<trials {
                let u = rng.uniform() * potential
                var lo = 0, hi = n - 1
                while lo < hi {
                    let mid = (lo + hi) / 2
                    if cumulative[mid] < u { lo = mid + 1 } else { hi = mid }
                }
                candidates.append(min(lo, n - 1))
            }
            let D = try distancesTo(candidates)
            // The potential each candidate would leave, Σ min(closest, D), in 64 fixed chunks summed in
            // order (the same sum on any number of cores); then `closest` is updated for the best only.
            let t = candidates.count, chunks = 64
            var partial = [Double](repeating: 0, count: chunks * t)
            D.withBuffer { pd in
                closest.withUnsafeBufferPointer { cp in
                    partial.withUnsafeMutableBufferPointer { pp in
                        nonisolated(unsafe) let (pd, cp, pp) = (pd, cp, pp)
                        Parallel.forEach(chunks, grain: 1) { range in
                            for ch in range {
                                let lo = ch * n / chunks, hi = (ch + 1) * n / chunks
                                for r in 0..<t {
                                    var pot = 0.0
                                    for i in lo..<hi { pot += min(cp[i], Double(pd[i * t + r])) }
                                    pp[ch * t + r] = pot
                                }
                            }
                        }
                    }
                }
            }
            var bestIndex = 0, bestPotential = Double.infinity
            for r in 0..<t {
                var pot = 0.0
                for ch in 0..<chunks { pot += partial[ch * t + r] }
                if pot < bestPotential { bestPotential = pot; bestIndex = r }
            }
            D.withBuffer { pd in for i in 0..<n { closest[i] = min(closest[i], Double(pd[i * t + bestIndex])) } }
            centers.append(candidates[bestIndex])
            potential = bestPotential
        }
        return Tensor(shape: [k, d]) { out in
            X.withBuffer { p in for (r, i) in centers.enumerated() { for j in 0..<d { out[r * d + j] = p[i * d + j] } } }
        }
    }
}
