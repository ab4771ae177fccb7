import Compression
import Foundation
import SqueezeCore
import TestSupport
import Testing

/// k-means against scikit-learn 1.9 (Fixtures/kmeans.json) and brute-force numpy assignments.
@Suite struct KMeansTests {
    let f = Fixture.kmeans

    @Test func lloydFromGivenCentroidsMatchesScikitLearn() throws {
        let l = f["lloyd"]
        var g = RandomGenerator(seed: 0)
        let r = try KMeans.fit(l["X"].tensor, k: 6, initialization: .given(l["C0"].tensor), rng: &g)
        // Same start, same algorithm: same partition, centroids to float32 rounding, inertia to 1e-5.
        #expect(r.labels == l["labels"].doubles.map { Int($0) })
        expectClose(r.centroids, l["centroids"].tensor, rtol: 1e-4, atol: 1e-4)
        expectClose(r.inertia, l["inertia"].double, rtol: 1e-5)
        #expect(r.iterations == Int(l["n_iter"].double))
    }

    @Test func kmeansPlusPlusReachesScikitLearnsInertia() throws {
        var g = RandomGenerator(seed: 1)
        let r = try KMeans.fit(f["lloyd"]["X"].tensor, k: 6, nInit: 10, rng: &g)
        // Different random streams; the best of 10 seedings must be within 1% of scikit-learn's.
        #expect(r.inertia <= f["plusplus"]["inertia"].double * 1.01)
    }

    @Test func emptyClustersAreRelocated() throws {
        var g = RandomGenerator(seed: 0)
        let r = try KMeans.fit(f["lloyd"]["X"].tensor, k: 6, initialization: .given(f["empty"]["C0"].tensor), rng: &g)
        #expect(Set(r.labels).count == 6)
        expectClose(r.inertia, f["empty"]["inertia"].double, rtol: 0.01)
    }

    @Test func assignMatchesBruteForce() throws {
        let a = f["assign"]
        let (labels, dist) = try KMeans.assign(a["Q"].tensor, f["lloyd"]["C0"].tensor)
        #expect(labels == a["labels"].doubles.map { Int($0) })
        for (x, y) in zip(dist, a["distances"].doubles) { expectClose(Double(x), y, rtol: 1e-4, atol: 1e-3) }
    }

    @Test func assignBlocksLargeCodebooksWithoutChangingTheAnswer() throws {
        // 3,000 codes forces blocks of 2,796 rows; compare with a one-row-at-a-time computation.
        var g = RandomGenerator(seed: 5)
        let C = Tensor.randn([3000, 8], using: &g)
        let X = Tensor.randn([3000, 8], using: &g)
        let (labels, _) = try KMeans.assign(X, C)
        for i in Swift.stride(from: 0, to: 3000, by: 377) { #expect(labels[i] == Self.nearest(X, row: i, C).code) }
    }

    /// The nearest code of one row by a plain scan (the first of equals) and its squared distance.
    static func nearest(_ X: Tensor, row i: Int, _ C: Tensor) -> (code: Int, distance: Float) {
        let d = X.shape[1]
        var best = 0, bestD = Float.infinity
        for j in 0..<C.shape[0] {
            var s: Float = 0
            for t in 0..<d { let e = X.storage[i * d + t] - C.storage[j * d + t]; s += e * e }
            if s < bestD { bestD = s; best = j }
        }
        return (best, bestD)
    }

    @Test func assignOnBothCoresMatchesBruteForceAndKeepsTheFirstOfEqualCodes() throws {
        // 5,000 rows (the per-core path) against 1,300 codes (three code tiles of ≤ 512); code 1,000
        // repeats code 10 in another tile, so rows nearest to it must get 10, the first.
        var g = RandomGenerator(seed: 7)
        var C = Tensor.randn([1300, 16], using: &g)
        for t in 0..<16 { C.storage[1000 * 16 + t] = C.storage[10 * 16 + t] }
        var X = Tensor.randn([5000, 16], using: &g)
        for i in 0..<50 { for t in 0..<16 { X.storage[i * 16 + t] = C.storage[10 * 16 + t] + Float(i) * 1e-3 } }
        let (labels, dist) = try KMeans.assign(X, C)
        for i in 0..<50 { #expect(labels[i] == 10, "row \(i)") }
        #expect(!labels.contains(1000))
        for i in Swift.stride(from: 0, to: 5000, by: 97) {
            let (best, bestD) = Self.nearest(X, row: i, C)
            #expect(labels[i] == best, "row \(i)")
            expectClose(Double(dist[i]), Double(bestD), rtol: 1e-4, atol: 1e-3)
        }
    }

    @Test func edgeCases() throws {
        var g = RandomGenerator(seed: 0)
        // k = 1: the centroid is the mean.
        let X = Tensor(shape: [4, 1], storage: [1, 2, 3, 6])
        let one = try KMeans.fit(X, k: 1, rng: &g)
        #expect(one.centroids.storage == [3])
        #expect(one.inertia == 14)
        // k = n: every point its own cluster, zero inertia.
        let all = try KMeans.fit(X, k: 4, rng: &g)
        #expect(all.inertia == 0 && Set(all.labels).count == 4)
        #expect(throws: CoreError.self) { try KMeans.fit(X, k: 5, rng: &g) }
        #expect(throws: CoreError.self) { try KMeans.fit(Tensor(shape: [2, 1], storage: [1, .nan]), k: 1, rng: &g) }
        #expect(throws: CoreError.self) { try KMeans.assign(X, Tensor.zeros([0, 1])) }
        // Reproducible: the same seed gives the same result.
        var g1 = RandomGenerator(seed: 9), g2 = RandomGenerator(seed: 9)
        let X2 = Tensor.randn([200, 3], using: &g)
        #expect(try KMeans.fit(X2, k: 5, rng: &g1).labels == KMeans.fit(X2, k: 5, rng: &g2).labels)
    }
}
