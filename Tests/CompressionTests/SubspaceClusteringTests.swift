import Datasets
@testable import Compression
import SqueezeCore
import Testing

@Suite struct SubspaceClusteringTests {
    @Test func ompIsSubspacePreservingOnIndependentSubspaces() throws {
        // 4 subspaces of dimension 3 in R^20 (independent: 12 ≤ 20), no noise: every point must be
        // expressed by points of its own subspace only, and exactly (residual 0).
        var g = RandomGenerator(seed: 1)
        let s = try Synthetic.subspaces(n: 200, ambient: 20, dim: 3, count: 4, noise: 0, rng: &g)
        let n = 200
        let C = try SubspaceClustering.ompCoefficients(s.X, maxNonzeros: 8)
        for j in 0..<n {
            #expect(C[j * n + j] == 0)
            let used = (0..<n).filter { C[j * n + $0] != 0 }
            #expect(!used.isEmpty && used.count <= 3, "point \(j) uses \(used.count) points")
            #expect(used.allSatisfy { s.labels[$0] == s.labels[j] }, "point \(j) leaves its subspace")
        }
        var r = RandomGenerator(seed: 2)
        let labels = try SubspaceClustering.cluster(s.X, k: 4, maxNonzeros: 8, rng: &r).labels
        #expect(try ClusterMetrics.accuracy(labels, s.labels) == 1)
    }

    @Test func leastSquaresOnTheSupportIsExact() {
        // 2×2 system with a known solution; a singular system is refused.
        let x = SubspaceClustering.solveSymmetric([2, 1, 1, 3], [3, 5], 2)
        #expect(x != nil && abs(x![0] - 0.8) < 1e-12 && abs(x![1] - 1.4) < 1e-12)
        #expect(SubspaceClustering.solveSymmetric([1, 1, 1, 1], [1, 1], 2) == nil)
    }

    @Test func givenAffinityIsClusteredByItsBlocks() throws {
        // Two cliques joined by one weak edge.
        let n = 8
        var A = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for j in 0..<n where i != j && (i < 4) == (j < 4) { A[i * n + j] = 1 } }
        A[3 * n + 4] = 0.01; A[4 * n + 3] = 0.01
        var r = RandomGenerator(seed: 0)
        let labels = try Spectral.cluster(affinity: A, n: n, k: 2, rng: &r)
        #expect(try ClusterMetrics.accuracy(labels, [0, 0, 0, 0, 1, 1, 1, 1]) == 1)
    }
}
