@testable import Compression
import Datasets
import Foundation
import SqueezeCore
import TestSupport
import Testing

/// Quantization, pruning, low rank, entropy coding and metrics against independent numpy
/// implementations (Fixtures/make_compression_fixtures.py), the check values of ALGORITHMS.md and
/// properties that must hold.
@Suite struct CompressionTests {
    static let dir = Bundle.module.resourceURL!.appendingPathComponent("Fixtures")
    nonisolated(unsafe) static let json: [String: Any] = {
        (try? JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("compression.json")))) as? [String: Any] ?? [:]
    }()
    static let arrays: [String: Tensor] = {
        guard let d = try? Data(contentsOf: dir.appendingPathComponent("compression.npz")), let a = try? Npz.read(d, name: "compression.npz") else { return [:] }
        return Dictionary(uniqueKeysWithValues: a)
    }()

    /// The array a JSON path names.
    func array(_ path: String...) -> Tensor {
        var v: Any? = CompressionTests.json
        for p in path { v = (v as? [String: Any])?[p] }
        return CompressionTests.arrays[v as? String ?? ""] ?? Tensor.zeros([0])
    }
    func number(_ path: String...) -> Double {
        var v: Any? = CompressionTests.json
        for p in path { v = (v as? [String: Any])?[p] }
        return (v as? NSNumber)?.doubleValue ?? .nan
    }

    @Test func rtnCheckValuesFromTheSpec() throws {
        let w = Tensor(shape: [1, 4], storage: [-1.0, -0.2, 0.3, 0.9])
        let a = try Quantizer.rtn(w, bits: 2, group: nil, symmetric: false, axis: .row, clip: .minmax)
        #expect(abs(a.grids[0].scale - 0.633333) < 1e-5 && a.grids[0].zero == 2)
        expectClose(a.recon, Tensor(shape: [1, 4], storage: [-1.266667, 0, 0, 0.633333]), rtol: 1e-5, atol: 1e-5)
        let s = try Quantizer.rtn(w, bits: 2, group: nil, symmetric: true, axis: .row, clip: .minmax)
        #expect(abs(s.grids[0].scale - 0.666667) < 1e-5 && s.grids[0].zero == 2)
        expectClose(s.recon, Tensor(shape: [1, 4], storage: [-1.333333, 0, 0, 0.666667]), rtol: 1e-5, atol: 1e-5)
    }

    @Test(arguments: [(4, 64, false), (3, 128, true), (2, 256, false)])
    func rtnMatchesNumpyBitForBit(bits: Int, group: Int, symmetric: Bool) throws {
        let W = array("W")
        let r = try Quantizer.rtn(W, bits: bits, group: group, symmetric: symmetric, axis: .row, clip: .minmax)
        let key = "rtn_\(bits)_\(group)_\(symmetric ? 1 : 0)"
        #expect(r.recon == array(key, "recon"))
        #expect(r.codes.storage == array(key, "codes").storage)
    }

    @Test func mseClippingMatchesNumpy() throws {
        let W = array("W")
        let row = Tensor(shape: [1, 256], storage: Array(W.storage[0..<256]))
        let r = try Quantizer.rtn(row, bits: 3, group: nil, symmetric: false, axis: .row, clip: .mse)
        #expect(r.recon.storage == array("rtn_mse_3").storage)
        let plain = try Quantizer.rtn(row, bits: 3, group: nil, symmetric: false, axis: .row, clip: .minmax)
        #expect(try Metrics.mse(row, r.recon) <= Metrics.mse(row, plain.recon))
    }

    @Test func axesAndGroupsAreValidated() throws {
        let W = array("W")
        let col = try Quantizer.rtn(W, bits: 4, group: nil, symmetric: false, axis: .col, clip: .minmax)
        let viaT = try Quantizer.rtn(W.transposed, bits: 4, group: nil, symmetric: false, axis: .row, clip: .minmax)
        #expect(col.recon == viaT.recon.transposed)
        #expect(try Quantizer.rtn(W, bits: 4, group: nil, symmetric: false, axis: .tensor, clip: .minmax).grids.count == 1)
        #expect(throws: CoreError.self) { try Quantizer.rtn(W, bits: 4, group: 0, symmetric: false, axis: .row, clip: .minmax) }
        // A group that does not divide the row (256 columns in groups of 100): 100, 100 and a last 56,
        // each quantized exactly as that slice alone.
        let ragged = try Quantizer.rtn(W, bits: 4, group: 100, symmetric: false, axis: .row, clip: .minmax)
        #expect(ragged.groupsPerLine == 3 && ragged.grids.count == 3 * W.shape[0])
        let cols = W.shape[1]
        let tail = Tensor(shape: [W.shape[0], cols - 200]) { o in
            for r in 0..<W.shape[0] { for j in 200..<cols { o[r * (cols - 200) + j - 200] = W.storage[r * cols + j] } }
        }
        let alone = try Quantizer.rtn(tail, bits: 4, group: nil, symmetric: false, axis: .row, clip: .minmax)
        for r in 0..<W.shape[0] {
            for j in 200..<cols { #expect(ragged.recon.storage[r * cols + j] == alone.recon.storage[r * (cols - 200) + j - 200]) }
        }
        // An all-zero group uses [−1, 1] and reconstructs zeros exactly.
        let z = try Quantizer.rtn(Tensor.zeros([2, 8]), bits: 3, group: 4, symmetric: false, axis: .row, clip: .minmax)
        #expect(z.recon.storage.allSatisfy { $0 == 0 })
    }

    @Test(arguments: [2, 3, 4])
    func gptqMatchesTheNumpyPortAndBeatsRTN(bits: Int) throws {
        let W = array("gptq_W"), X = array("gptq_X")
        let g = try GPTQ.quantize(W, X: X, bits: bits, group: 128, symmetric: false)
        let ours = try Metrics.outputError(W, g.recon, X)
        // Float64 error propagation on both sides; a rounding tie may flip a rare code.
        expectClose(ours, number("gptq_\(bits)", "output_error"), rtol: 1e-3)
        let mismatched = zip(g.recon.storage, array("gptq_\(bits)", "recon").storage).filter { abs($0 - $1) > 1e-5 }.count
        #expect(mismatched <= W.count / 1000)
        #expect(ours < number("gptq_\(bits)", "rtn_output_error"))
    }

    @Test func gptqWithADiagonalHessianIsRTN() throws {
        let W = array("W")
        // X = a scaled identity block: H = 2/N·XᵀX is diagonal, so no error is propagated.
        var diag = [Float](repeating: 0, count: 256 * 256)
        for i in 0..<256 { diag[i * 256 + i] = Float(1 + i % 5) }
        let X = Tensor(shape: [256, 256], storage: diag)
        let g = try GPTQ.quantize(W, X: X, bits: 3, group: 64, symmetric: false)
        let r = try Quantizer.rtn(W, bits: 3, group: 64, symmetric: false, axis: .row, clip: .minmax)
        #expect(g.recon == r.recon)
        #expect(g.codes.storage == r.codes.storage)
    }

    @Test(arguments: [2, 3])
    func gptqActOrderMatchesTheNumpyPort(bits: Int) throws {
        let W = array("gptq_W"), X = array("gptq_act_X")
        let g = try GPTQ.quantize(W, X: X, bits: bits, group: 128, symmetric: false, actOrder: true)
        let ours = try Metrics.outputError(W, g.recon, X)
        expectClose(ours, number("gptq_act_\(bits)", "output_error"), rtol: 1e-3)
        let mismatched = zip(g.recon.storage, array("gptq_act_\(bits)", "recon").storage).filter { abs($0 - $1) > 1e-5 }.count
        #expect(mismatched <= W.count / 1000)
        // On inputs of very different scales the order matters: better than the plain order.
        let plain = try Metrics.outputError(W, try GPTQ.quantize(W, X: X, bits: bits, group: 128, symmetric: false).recon, X)
        expectClose(plain, number("gptq_act_\(bits)", "plain_output_error"), rtol: 1e-3)
        #expect(ours < plain)
        // Static groups: the same number of grids, row-major like RTN's.
        #expect(g.grids.count == W.shape[0] * 2)
    }

    @Test func gptqActOrderWithADiagonalHessianIsRTN() throws {
        let W = array("W")
        var diag = [Float](repeating: 0, count: 256 * 256)
        for i in 0..<256 { diag[i * 256 + i] = Float(1 + i % 7) }
        let g = try GPTQ.quantize(W, X: Tensor(shape: [256, 256], storage: diag), bits: 3, group: 64, symmetric: false, actOrder: true)
        let r = try Quantizer.rtn(W, bits: 3, group: 64, symmetric: false, axis: .row, clip: .minmax)
        #expect(g.recon == r.recon)
        #expect(g.codes.storage == r.codes.storage)
        #expect(g.grids.map(\.scale) == r.grids.map(\.scale))
    }

    @Test func nf4MatchesNumpy() throws {
        let r = try Quantizer.nf4(array("W"), block: 64)
        expectClose(r.recon, array("nf4"), rtol: 1e-6, atol: 1e-7)
        #expect(r.absmax.count == 16 * 256 / 64)
    }

    @Test func pruningMatchesNumpy() throws {
        let W = array("W")
        #expect(Pruning.magnitude(W, sparsity: 0.3).recon == array("magnitude_0.3"))
        let nm = try Pruning.nm(W, n: 2, m: 4)
        #expect(nm.recon == array("nm_2_4"))
        // Exactly N non-zeros in every group of M.
        for g in stride(from: 0, to: W.count, by: 4) { #expect(nm.mask.storage[g..<(g + 4)].filter { $0 == 1 }.count == 2) }
        #expect(nm.kept == W.count / 2)
        let X = array("wanda_X")
        #expect(try Pruning.wanda(W, X: X, sparsity: 0.5).recon == array("wanda_0.5"))
        #expect(try Pruning.nm(W, n: 2, m: 4, scores: Pruning.wandaScores(W, X: X)).recon == array("wanda_2_4"))
        #expect(throws: CoreError.self) { try Pruning.nm(W, n: 5, m: 4) }
        #expect(throws: CoreError.self) { try Pruning.nm(W, n: 2, m: 3) }
    }

    @Test func perRowRemovalBreaksTiesByIndex() {
        // A stable ascending sort removes the zeros, then the first of the tied ones.
        let W = Tensor(shape: [2, 6], storage: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
        let scores: [Float] = [1, 0, 1, 0, 1, 2, 5, 5, 5, 5, 5, 5]
        let r = Pruning.perRow(W, scores: scores, remove: 3)
        #expect(r.mask.storage == [0, 0, 1, 0, 1, 1, 0, 0, 0, 1, 1, 1] && r.kept == 6)
        #expect(Pruning.perRow(W, scores: scores, remove: 0).kept == 12 && Pruning.perRow(W, scores: scores, remove: 6).kept == 0)
    }

    @Test(arguments: [1, 4, 8, 15])
    func lowRankErrorIsTheTailOfTheSpectrum(rank: Int) throws {
        let W = array("W")
        let f = try LowRank.truncated(W, rank: rank, energy: nil)
        let err = try Metrics.relativeError(W, try Tensor.gemm(f.B, f.A))
        expectClose(err, number("lowrank_error", String(rank)), rtol: 1e-4)
    }

    @Test func energyPicksTheSmallestSufficientRank() throws {
        let W = Tensor(shape: [3, 3], storage: [3, 0, 0, 0, 2, 0, 0, 0, 1])   // σ² = 9, 4, 1 of 14
        #expect(try LowRank.truncated(W, rank: nil, energy: 0.6).rank == 1)
        #expect(try LowRank.truncated(W, rank: nil, energy: 0.65).rank == 2)
        #expect(try LowRank.truncated(W, rank: nil, energy: 1).rank == 3)
        #expect(throws: CoreError.self) { try LowRank.truncated(W, rank: 4, energy: nil) }
    }

    @Test func randomizedSVDIsNearOptimal() throws {
        // A matrix with a decaying spectrum: σᵢ = 0.8^i.
        var g = RandomGenerator(seed: 3)
        let U = try Tensor.randn([120, 60], using: &g).qr().Q, V = try Tensor.randn([80, 60], using: &g).qr().Q
        let S = (0..<60).map { Float(pow(0.8, Double($0))) }
        let W = try Tensor.gemm(Tensor(shape: [120, 60]) { o in for i in 0..<120 { for j in 0..<60 { o[i * 60 + j] = U.storage[i * 60 + j] * S[j] } } }, V, transB: true)
        var rng = RandomGenerator(seed: 1)
        let r = try LowRank.randomized(W, rank: 10, oversample: 10, iters: 4, rng: &rng)
        let opt = try LowRank.truncated(W, rank: 10, energy: nil)
        let eR = try Metrics.relativeError(W, try Tensor.gemm(r.B, r.A)), eO = try Metrics.relativeError(W, try Tensor.gemm(opt.B, opt.A))
        #expect(eR <= eO * 1.01)
    }

    @Test func entropyCheckValues() {
        #expect(Entropy.empirical([0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 3, 2, 3]) == 1.75)
        #expect(Entropy.empirical([]) == 0 && Entropy.empirical([5, 5, 5]) == 0)
    }

    @Test func ransIsWithinOnePercentOfTheEntropyBoundAndRoundTrips() throws {
        // 10⁵ i.i.d. draws from (½, ¼, ⅛, ⅛).
        var g = RandomGenerator(seed: 0)
        let symbols = (0..<100_000).map { _ -> Int in
            let u = g.uniform()
            return u < 0.5 ? 0 : u < 0.75 ? 1 : u < 0.875 ? 2 : 3
        }
        let s = Entropy.encode(symbols)
        let bound = Entropy.empirical(symbols) * Double(symbols.count)
        #expect(Double(8 * s.bytes.count) >= bound)
        #expect(Double(s.totalBits) <= bound * 1.01)
        #expect(try Entropy.decode(s) == symbols)
        // Edge cases: one symbol, empty, large alphabets.
        #expect(try Entropy.decode(Entropy.encode([7, 7, 7])) == [7, 7, 7])
        #expect(try Entropy.decode(Entropy.encode([])) == [])
        let wide = (0..<5000).map { ($0 * 7919) % 3000 - 1500 }
        #expect(try Entropy.decode(Entropy.encode(wide)) == wide)
    }

    @Test func metricsMatchNumpy() throws {
        let A = array("W"), B = array("metrics", "B")
        expectClose(try Metrics.relativeError(A, B), number("metrics", "error"), rtol: 1e-6)
        expectClose(try Metrics.mse(A, B), number("metrics", "mse"), rtol: 1e-6)
        expectClose(try Metrics.snr(A, B), number("metrics", "snr"), rtol: 1e-6)
        expectClose(try Metrics.psnr(A, B, peak: 2), number("metrics", "psnr_peak2"), rtol: 1e-6)
        #expect(try Metrics.psnr(A, A, peak: 1) == .infinity)
        #expect(throws: CoreError.self) { try Metrics.mse(A, Tensor.zeros([2])) }
    }

    @Test func eoraIsNeverWorseThanPlainSVDCompensation() throws {
        var g = RandomGenerator(seed: 0)
        let W = Tensor.randn([64, 96], using: &g)
        let mix = Tensor.randn([96, 96], using: &g)
        let X = try Tensor.gemm(Tensor.randn([2048, 96], using: &g), mix)   // correlated activations
        let q = try Quantizer.rtn(W, bits: 2, group: nil, symmetric: false, axis: .row, clip: .minmax).recon
        let dW = Tensor(shape: W.shape, storage: zip(W.storage, q.storage).map { $0 - $1 })
        for r in [1, 4, 8] {
            let e = try LowRank.eora(W, q, X: X, rank: r)
            let plain = try LowRank.truncated(dW, rank: r, energy: nil)
            let withE = Tensor(shape: W.shape, storage: zip(q.storage, try Tensor.gemm(e.B, e.A).storage).map { $0 + $1 })
            let withS = Tensor(shape: W.shape, storage: zip(q.storage, try Tensor.gemm(plain.B, plain.A).storage).map { $0 + $1 })
            #expect(try Metrics.outputError(W, withE, X) <= Metrics.outputError(W, withS, X) * (1 + 1e-3))
        }
    }

    @Test func eoraEqualsPlainSVDWhenTheCovarianceIsIsotropic() throws {
        var g = RandomGenerator(seed: 1)
        let W = Tensor.randn([20, 16], using: &g), C = Tensor.randn([20, 16], using: &g)
        var xs = [Float](repeating: 0, count: 16 * 16)
        for i in 0..<16 { xs[i * 16 + i] = 2 }
        let e = try LowRank.eora(W, C, X: Tensor(shape: [16, 16], storage: xs), rank: 3)
        let dW = Tensor(shape: W.shape, storage: zip(W.storage, C.storage).map { $0 - $1 })
        let p = try LowRank.truncated(dW, rank: 3, energy: nil)
        expectClose(try Tensor.gemm(e.B, e.A), try Tensor.gemm(p.B, p.A), rtol: 2e-3, atol: 2e-3)
    }

    @Test func bitstackResidualsNeverGrow() throws {
        var g = RandomGenerator(seed: 0)
        let W = Tensor.randn([64, 96], using: &g)
        let b = try LowRank.bitstack(W, blocks: 8, rank: 4)
        #expect(b.residualNorms.count == 9)
        for (a, c) in zip(b.residualNorms, b.residualNorms.dropFirst()) { #expect(c <= a) }
        // The spec's check, same shape and rank (different draw): the first block roughly halves ‖R‖.
        #expect(b.residualNorms[1] / b.residualNorms[0] < 0.6)
    }

    @Test func vectorQuantizersImproveWithStagesAndCodes() throws {
        var g = RandomGenerator(seed: 2)
        let W = Tensor.randn([64, 32], using: &g)
        var r1 = RandomGenerator(seed: 1), r2 = RandomGenerator(seed: 1), r3 = RandomGenerator(seed: 1)
        let one = try VectorQuantization.residual(W, dim: 4, codes: 16, stages: 1, iters: 25, rng: &r1)
        let three = try VectorQuantization.residual(W, dim: 4, codes: 16, stages: 3, iters: 25, rng: &r2)
        #expect(try Metrics.relativeError(W, three.recon) < Metrics.relativeError(W, one.recon))
        #expect(one.codes.count == 1 && one.codes[0].count == 64 * 32 / 4 && three.codebooks.count == 3)
        // PQ with one centroid per row reproduces W exactly.
        let exact = try VectorQuantization.product(W, dim: 8, codes: 64, iters: 25, rng: &r3)
        expectClose(exact.recon, W, rtol: 1e-6, atol: 1e-6)
        #expect(throws: CoreError.self) { try VectorQuantization.product(W, dim: 5, codes: 4, iters: 5, rng: &r3) }
    }

    @Test func scalarKMeansReachesTheLloydMaxLevelsOfAGaussian() throws {
        // Lloyd–Max quantizers of N(0, 1) (Max 1960): 2 levels ±0.7979, 4 levels ±0.4528, ±1.510.
        var g = RandomGenerator(seed: 4)
        let W = Tensor.randn([1, 200_000], using: &g)
        let one = try Quantizer.kmeans(W, bits: 1, axis: .tensor, iters: 100, levelBits: 32)
        #expect(one.levels[0].count == 2 && abs(one.levels[0][1] - 0.7979) < 0.01 && abs(one.levels[0][0] + 0.7979) < 0.01)
        let two = try Quantizer.kmeans(W, bits: 2, axis: .tensor, iters: 100, levelBits: 32)
        for (l, want) in zip(two.levels[0], [-1.510, -0.4528, 0.4528, 1.510] as [Float]) { #expect(abs(l - want) < 0.02) }
        // Lloyd–Max distortion of 2 bits is 0.1175.
        #expect(abs(try Metrics.mse(W, two.recon) - 0.1175) < 0.003)
    }

    @Test func scalarKMeansIsAFixedPointOfLloyd() throws {
        var g = RandomGenerator(seed: 5)
        let W = Tensor.randn([6, 40], using: &g)
        let r = try Quantizer.kmeans(W, bits: 2, axis: .row, iters: 300, levelBits: 32)
        #expect(r.levels.count == 6)
        for row in 0..<6 {
            let c = r.levels[row]
            for k in 0..<c.count {
                // Every value sits at its nearest level, and every level is the mean of its values.
                let members = (0..<40).filter { Int(r.codes[row, $0]) == k }.map { W[row, $0] }
                #expect(!members.isEmpty)
                let mean = members.reduce(0, +) / Float(members.count)
                #expect(abs(mean - c[k]) < 1e-5)
                for v in members { #expect(c.allSatisfy { abs(v - c[k]) <= abs(v - $0) }) }
            }
        }
        // Fewer distinct values than levels: one level per value, reproduced exactly.
        let few = try Quantizer.kmeans(Tensor(shape: [1, 5], storage: [3, 1, 3, 1, 2]), bits: 3, axis: .tensor, iters: 10)
        #expect(few.levels[0] == [1, 2, 3] && few.recon.storage == [3, 1, 3, 1, 2])
    }

    @Test func codebooksTrainedOnASampleStayCloseToTheFullFit() throws {
        // 40,000 two-value vectors and 16 codes: trained on 256·16 = 4,096 of them.
        var g = RandomGenerator(seed: 6)
        let W = Tensor.randn([400, 200], using: &g)
        var r = RandomGenerator(seed: 1)
        let v = try VectorQuantization.residual(W, dim: 2, codes: 16, stages: 1, iters: 50, rng: &r)
        // A 16-code VQ of 2-D Gaussian vectors is near 2 bits per dimension: MSE ≈ 0.11–0.12 (Lloyd–Max 0.1175).
        let e = try Metrics.relativeError(W, v.recon)
        #expect(e > 0.3 && e < 0.37, "relative error \(e)")
        #expect(v.codes[0].count == 40_000)
    }
}
