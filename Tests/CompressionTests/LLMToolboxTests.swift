import Compression
import Datasets
import Foundation
import SqueezeCore
import TestSupport
import Testing

/// The LLM compression toolbox's layer-level methods against numpy ports of their reference code
/// (Fixtures/make_llm_toolbox_fixtures.py): SparseGPT, AWQ's scale and clipping search, SmoothQuant.
@Suite struct LLMToolboxTests {
    static let dir = Bundle.module.resourceURL!.appendingPathComponent("Fixtures")
    nonisolated(unsafe) static let json: [String: Any] = {
        (try? JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("llm_toolbox.json")))) as? [String: Any] ?? [:]
    }()
    static let arrays: [String: Tensor] = {
        guard let d = try? Data(contentsOf: dir.appendingPathComponent("llm_toolbox.npz")),
            let a = try? Npz.read(d, name: "llm_toolbox.npz")
        else { return [:] }
        return Dictionary(uniqueKeysWithValues: a)
    }()

    func value(_ path: [String]) -> Any? {
        var v: Any? = LLMToolboxTests.json
        for p in path { v = (v as? [String: Any])?[p] }
        return v
    }
    func array(_ path: String...) -> Tensor { LLMToolboxTests.arrays[value(path) as? String ?? ""] ?? Tensor.zeros([0]) }
    func number(_ path: String...) -> Double { (value(path) as? NSNumber)?.doubleValue ?? .nan }

    func outputError(_ W: Tensor, _ Q: Tensor, _ X: Tensor) throws -> Double {
        let y = try Tensor.gemm(X, W, transB: true), z = try Tensor.gemm(X, Q, transB: true)
        var num = 0.0, den = 0.0
        for (a, b) in zip(y.storage, z.storage) { num += Double(a - b) * Double(a - b); den += Double(a) * Double(a) }
        return (num / den).squareRoot()
    }

    /// Entries further apart than `atol` (a handful may flip where the OBS order meets float rounding).
    func mismatches(_ a: Tensor, _ b: Tensor, atol: Float) -> Int {
        a.shape != b.shape ? Int.max : zip(a.storage, b.storage).filter { abs($0 - $1) > atol }.count
    }

    @Test(arguments: ["unstructured", "nm", "joint", "unstructured70"])
    func sparseGPTMatchesTheNumpyPort(setting: String) throws {
        let W = array("sparsegpt_W"), X = array("sparsegpt_X")
        let sparsity: Double? = setting == "unstructured" ? 0.5 : setting == "unstructured70" ? 0.7 : nil
        let pattern: (n: Int, m: Int)? = sparsity == nil ? (2, 4) : nil
        let r = try SparseGPT.prune(W, X: X, sparsity: sparsity, pattern: pattern, bits: setting == "joint" ? 4 : nil)
        // The mask matches entry for entry; weights to float rounding of the Float64 updates.
        #expect(mismatches(r.mask, array("sparsegpt_\(setting)", "mask"), atol: 0) == 0)
        #expect(mismatches(r.recon, array("sparsegpt_\(setting)", "recon"), atol: 1e-4) <= W.count / 1000)
        expectClose(try outputError(W, r.recon, X), number("sparsegpt_\(setting)", "output_error"), rtol: 1e-3)
        // The dead input's column is removed entirely.
        #expect((0..<W.shape[0]).allSatisfy { r.recon.storage[$0 * W.shape[1] + 3] == 0 })
    }

    @Test func sparseGPTBeatsWandaAndMagnitudeOnTheLayerOutput() throws {
        let W = array("sparsegpt_W"), X = array("sparsegpt_X")
        for (sparsity, pattern) in [(0.5, nil), (nil, (2, 4))] as [(Double?, (n: Int, m: Int)?)] {
            let s = try Compressed.sparseGPT(
                W, X: X, sparsity: sparsity, pattern: pattern, bits: nil, group: nil, symmetric: false, scaleBits: 16)
            let w = try Compressed.pruned(W, method: .wanda, sparsity: sparsity, pattern: pattern, X: X)
            let m = try Compressed.pruned(W, method: .magnitude, sparsity: sparsity, pattern: pattern, X: nil)
            let (es, ew, em) = (try outputError(W, s.recon, X), try outputError(W, w.recon, X), try outputError(W, m.recon, X))
            #expect(es < ew && ew < em, "sparsegpt \(es), wanda \(ew), magnitude \(em)")
        }
    }

    @Test func sparseGPTStorageIsCountedPartByPart() throws {
        let W = array("sparsegpt_W"), X = array("sparsegpt_X")
        let c = try Compressed.sparseGPT(W, X: X, sparsity: nil, pattern: (2, 4), bits: 4, group: 64, symmetric: false, scaleBits: 16)
        // 24 × 256 weights: 3,072 kept at 4 bits, log₂ C(4,2) per group of 4, 24 × 4 grids of 16 + 4 bits.
        let expected = 3072.0 * 4 + 1536 * log2(6) + 96 * 16 + 96 * 4
        #expect(abs(c.bits - expected) < 1e-6)
        // With a group the codes stay on their grids: every kept weight is a grid point.
        let codes = c.parts.first { $0.name == "codes" }!.part
        guard case .tensor(let q) = codes else { Issue.record("codes missing"); return }
        #expect(q.storage.allSatisfy { $0 >= 0 && $0 <= 15 && $0 == $0.rounded() })
    }

    @Test func sparseGPTRefusesBadInput() {
        let W = Tensor.zeros([4, 10]), X = Tensor.zeros([3, 10])
        #expect(throws: CoreError.self) { try SparseGPT.prune(W, X: X, sparsity: nil, pattern: (2, 4)) }  // 4 ∤ 10
        #expect(throws: CoreError.self) { try SparseGPT.prune(W, X: Tensor.zeros([3, 9]), sparsity: 0.5, pattern: nil) }
        #expect(throws: CoreError.self) { try SparseGPT.prune(W, X: Tensor.zeros([0, 10]), sparsity: 0.5, pattern: nil) }
    }

    @Test(arguments: [3, 4])
    func awqMatchesTheNumpyPortOfItsSearches(bits: Int) throws {
        let W = array("awq_W"), X = array("awq_X"), key = "awq_\(bits)"
        let search = try AWQ.searchScales(
            xMax: AWQ.activationScale(X), layers: [W], bits: bits, group: 64, loss: try AWQ.outputLoss(X, W))
        #expect(search.ratio == number(key, "ratio"))
        expectClose(Tensor(search.scales), array(key, "scales"), rtol: 1e-5, atol: 1e-6)
        let losses = (value([key, "losses"]) as? [NSNumber] ?? []).map(\.doubleValue)
        #expect(losses.count == 20)
        for (a, b) in zip(search.losses, losses) { expectClose(a, b, rtol: 1e-3) }
        // The clipping bounds on the layer scaled by the reference's scales (ours differ in the last
        // bit, which flips near ties of the clipping search), then the whole method.
        let s = array(key, "scales").storage
        let scaledW = AWQ.scaleColumns(W, s), scaledX = AWQ.scaleColumns(X, s, divide: true)
        let bounds = try AWQ.searchClip(scaledW, X: scaledX, bits: bits, group: 64)
        let reference = array(key, "bounds")
        #expect(zip(bounds, reference.storage).filter { abs($0 - $1) > 1e-6 * max(1, abs($1)) }.isEmpty)
        let c = try Compressed.awq(W, X: X, bits: bits, group: 64, clip: true, scaleBits: 32)
        #expect(mismatches(c.recon, array(key, "recon"), atol: 1e-4) <= W.count / 16)
        expectClose(try outputError(W, c.recon, X), number(key, "output_error"), rtol: 2e-2)
        #expect(try outputError(W, c.recon, X) < number(key, "rtn_output_error"))
        // 32 × 256 codes, 32 × 4 grids (scale + zero), 256 input scales at 16 bits.
        #expect(abs(c.bits - (8192.0 * Double(bits) + 128 * 32 + 128 * Double(bits) + 256 * 16)) < 1e-6)
    }

    @Test func awqAtRatioZeroIsItsRoundToNearest() throws {
        let W = array("awq_W")
        // α = 0 gives unit scales: the search's first candidate is plain RTN with AWQ's grids.
        #expect(AWQ.scales([0.5, 2, 8], ratio: 0) == [1, 1, 1])
        let q = try AWQ.pseudoQuantize(W, bits: 4, group: 64)
        let row = Array(W.storage[0..<64]), lo = row.min()!, hi = row.max()!
        let scale = (hi - lo) / 15, zero = (-lo / scale).rounded(.toNearestOrEven)
        #expect(q.grids[0].scale == scale && q.grids[0].zero == zero)
        #expect(throws: CoreError.self) { try AWQ.pseudoQuantize(W, bits: 4, group: 100) }  // 100 ∤ 256
    }

    @Test(arguments: ["smooth", "smooth_85"])
    func smoothQuantScalesMatchTheReference(key: String) throws {
        let X = array("awq_X"), W = array("awq_W"), W2 = array("smooth", "W2")
        let s = SmoothQuant.scales(activationMax: SmoothQuant.columnMaxima(X), weights: [W, W2], alpha: number(key, "alpha"))
        expectClose(Tensor(s), array(key, "scales"), rtol: 1e-5, atol: 1e-7)
        // The dead input channel (all zeros) is clamped, not zero: folding never divides by 0.
        #expect(s[3] == 1e-5)
    }

    @Test(arguments: [1, 2, 4, 12, 24, 48, 144, 576, 1536])
    func hadamardMatricesAreHadamard(n: Int) throws {
        let H = try Hadamard.matrix(n)
        #expect(H.allSatisfy { $0 == 1 || $0 == -1 })
        // H Hᵀ = n I, exactly (small integers in Float32).
        let P = try Tensor.gemm(Tensor(shape: [n, n], storage: H), Tensor(shape: [n, n], storage: H), transB: true)
        #expect((0..<n * n).allSatisfy { P.storage[$0] == ($0 / n == $0 % n ? Float(n) : 0) })
    }

    @Test func randomRotationsAreOrthogonalAndSeeded() throws {
        var a = RandomGenerator(seed: 7), b = RandomGenerator(seed: 7), c = RandomGenerator(seed: 8)
        let Q = try Hadamard.randomRotation(48, rng: &a)
        #expect(Q.storage == (try Hadamard.randomRotation(48, rng: &b)).storage)
        #expect(Q.storage != (try Hadamard.randomRotation(48, rng: &c)).storage)
        let P = try Tensor.gemm(Q, Q, transB: true)
        #expect((0..<48 * 48).allSatisfy { abs(P.storage[$0] - ($0 / 48 == $0 % 48 ? 1 : 0)) < 1e-5 })
        #expect(!Hadamard.canBuild(10) && !Hadamard.canBuild(0) && Hadamard.canBuild(576) && !Hadamard.canBuild(36))
        #expect(throws: CoreError.self) { try Hadamard.matrix(20) }
    }

    @Test func doubleRoundingByHand() throws {
        let W = Tensor(shape: [1, 4], storage: [1.0, -0.6, 0.26, 0.1])
        let d = try DoubleRounding.quantize(W, bits: 4, from: 8, group: nil, mode: .double)
        // s = 1/127: stored codes 127, −76, 33, 13; read at 4 bits by ÷16 and rounding (7.94 clamped to 7, −4.75, 2.06, 0.81).
        #expect(d.stored.storage == [127, -76, 33, 13] && d.codes.storage == [7, -5, 2, 1])
        expectClose(d.recon, Tensor(shape: [1, 4], storage: [7, -5, 2, 1].map { $0 * 16 / 127 }), rtol: 1e-6, atol: 1e-7)
        let t = try DoubleRounding.quantize(W, bits: 4, from: 8, group: nil, mode: .truncate)
        #expect(t.codes.storage == [7, -5, 2, 0])
        let r = try DoubleRounding.quantize(W, bits: 4, from: 8, group: nil, mode: .direct)
        #expect(r.codes.storage == [7, -4, 2, 1] && abs(r.scales[0] - 1 / 7) < 1e-7)  // −0.6·7 = −4.2
        // Centred: ⌊q/16 + ½⌋ = 8 → 7, −4.25 → −5, 2.56 → 2, 1.31 → 1, each read 1/32 of a step lower.
        let c = try DoubleRounding.quantize(W, bits: 4, from: 8, group: nil, mode: .centered)
        #expect(c.codes.storage == [7, -5, 2, 1])
        expectClose(c.recon, Tensor(shape: [1, 4], storage: [7, -5, 2, 1].map { ($0 - 1.0 / 32) * 16 / 127 }), rtol: 1e-6, atol: 1e-7)
        #expect(throws: CoreError.self) { try DoubleRounding.quantize(W, bits: 9, from: 8, group: nil, mode: .double) }
        #expect(throws: CoreError.self) { try DoubleRounding.quantize(W, bits: 1, from: 8, group: nil, mode: .double) }
    }

    @Test func doubleRoundingIsCloseToDirectRoundingAndFarBelowTruncation() throws {
        var rng = RandomGenerator(seed: 11)
        let W = Tensor.randn([128, 512], using: &rng)
        func mse(_ bits: Int, _ mode: DoubleRounding.Mode) throws -> Double {
            let q = try DoubleRounding.quantize(W, bits: bits, from: 8, group: 128, mode: mode)
            return zip(W.storage, q.recon.storage).reduce(0.0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) } / Double(W.count)
        }
        // MSE relative to direct rounding, measured: bits 2…7: double 0.32 0.61 0.82 0.97 1.16 1.73; centered 0.32 0.61 0.82 0.93
        // 1.00 1.01; truncation 1.16 2.21 2.87 2.99 2.58 1.73. (At 2–4 bits the tied scale's finer step, clipping the few
        // largest weights, even wins; from 5 bits half-to-even's cells of 2^(8−b) ± 1 integers cost 3/4^(8−b) more, so at 7
        // bits the paper's double rounding is as bad as truncation; half up read at the cell's centre never is.)
        for bits in [2, 3, 4, 5, 6, 7] {
            let (double, direct, truncate) = (try mse(bits, .double), try mse(bits, .direct), try mse(bits, .truncate))
            let centered = try mse(bits, .centered)
            #expect(centered < direct * 1.05, "\(bits) bits: centered \(centered), direct \(direct)")
            #expect(double < direct * [2: 1.05, 3: 1.05, 4: 1.05, 5: 1.05, 6: 1.2, 7: 1.8][bits]!, "\(bits) bits: double \(double)")
            if bits >= 3 { #expect(truncate > 1.7 * centered, "\(bits) bits: truncation \(truncate), centered \(centered)") }
            if (3...6).contains(bits) { #expect(truncate > 2 * direct && truncate > 2 * double, "\(bits) bits: truncation \(truncate)") }
        }
    }

    @Test(arguments: [1, 2, 3, 4, 5])
    func knapsackEqualsBruteForceOnSixLayers(seed: UInt64) throws {
        var rng = RandomGenerator(seed: seed)
        // Six layers of two shapes, four levels each (bits rising, degradation falling, noisy).
        let sizes = [1000.0, 1000, 1000, 250, 250, 250], levels = [2.0, 3, 4, 8]
        let bits = sizes.map { n in levels.map { n * $0 + 16 * n / 64 } }
        let cost = sizes.map { _ in levels.map { b in pow(2, -b) * (0.5 + rng.uniform()) } }
        let budget = bits.reduce(0.0) { $0 + $1[1] } * (0.9 + 0.3 * rng.uniform())
        var best = (cost: Double.infinity, choice: [Int]())
        for code in 0..<4096 {
            let choice = (0..<6).map { (code >> (2 * $0)) & 3 }
            let b = zip(bits, choice).reduce(0.0) { $0 + $1.0[$1.1] }, c = zip(cost, choice).reduce(0.0) { $0 + $1.0[$1.1] }
            if b <= budget && c < best.cost { best = (c, choice) }
        }
        let s = try #require(try Knapsack.minimize(cost: cost, bits: bits, budget: budget))
        #expect(abs(s.cost - best.cost) < 1e-12 && s.bits <= budget)
        #expect(zip(cost, s.choice).reduce(0.0) { $0 + $1.0[$1.1] } == s.cost)
        // A budget below the smallest levels has no solution; mismatched tables are refused.
        #expect(try Knapsack.minimize(cost: cost, bits: bits, budget: bits.reduce(0.0) { $0 + $1[0] } * 0.99) == nil)
        #expect(throws: CoreError.self) { try Knapsack.minimize(cost: cost, bits: Array(bits.dropLast()), budget: budget) }
    }

    @Test(arguments: ["plain", "full"])
    func vptqMatchesTheNumpyPortWithTheSameInitialCodebooks(setting: String) throws {
        let W = array("vptq_W"), X = array("vptq_X"), key = "vptq_\(setting)"
        var o = VPTQ.Options()
        (o.dim, o.codes, o.iterations) = (4, 16, 4)
        var initial = VPTQ.Initial(main: array("vptq_init", "main"))
        if setting == "full" {
            (o.residualCodes, o.outlierFraction) = (8, 0.1)
            initial.residual = array("vptq_init", "residual")
            initial.outlier = array("vptq_init", "outlier")
        }
        var rng = RandomGenerator(seed: 0)
        let r = try VPTQ.quantize(W, X: X, options: o, initial: initial, rng: &rng)
        expectClose(r.codebook, array(key, "codebook"), rtol: 1e-4, atol: 1e-6)
        let indices = array(key, "indices").storage
        #expect(zip(r.indices, indices).filter { Float($0) != $1 }.count <= r.indices.count / 100)
        if setting == "full" {
            #expect(r.outlierTiles == (value([key, "outlier_tiles"]) as? [NSNumber] ?? []).map(\.intValue))
            let residual = array(key, "residual_indices").storage
            #expect(zip(r.residualIndices, residual).filter { Float($0) != $1 }.count <= r.residualIndices.count / 100)
        }
        #expect(mismatches(r.recon, array(key, "recon"), atol: 1e-4) <= W.count / 100)
        expectClose(try outputError(W, r.recon, X), number(key, "output_error"), rtol: 1e-2)
    }

    @Test func vptqIsSeededAndCountsItsStorage() throws {
        let W = array("vptq_W"), X = array("vptq_X")
        var o = VPTQ.Options()
        (o.dim, o.codes, o.iterations, o.residualCodes) = (4, 16, 3, 4)
        var a = RandomGenerator(seed: 3), b = RandomGenerator(seed: 3)
        let c = try Compressed.vptq(W, X: X, options: o, rng: &a)
        #expect(c.recon.storage == (try Compressed.vptq(W, X: X, options: o, rng: &b)).recon.storage)
        // 16 × 64 vectors: 4-bit indices and 2-bit residual indices; 16 × 4 and 4 × 4 codebook values at 16 bits.
        #expect(abs(c.bits - (1024.0 * 4 + 64 * 16 + 1024 * 2 + 16 * 16)) < 1e-9)
        // k-means on a sample of 8 vectors per code (128 of the 1,024): seeded, and close to the full fit.
        var sampled = o
        sampled.pointsPerCode = 8
        var s1 = RandomGenerator(seed: 4), s2 = RandomGenerator(seed: 4), full = RandomGenerator(seed: 4)
        let q = try VPTQ.quantize(W, X: X, options: sampled, rng: &s1)
        #expect(q.recon.storage == (try VPTQ.quantize(W, X: X, options: sampled, rng: &s2)).recon.storage)
        let whole = try VPTQ.quantize(W, X: X, options: o, rng: &full)
        #expect(q.codebook.storage != whole.codebook.storage)
        #expect(try outputError(W, q.recon, X) < 1.5 * (try outputError(W, whole.recon, X)))
        o.dim = 3
        #expect(throws: CoreError.self) { try Compressed.vptq(W, X: X, options: o, rng: &a) }
    }
}
