import Compression
import Foundation
import SqueezeCore
import Testing

/// Every compressor's storage account against a count made by hand from the method's definition
/// (shapes small enough to count on paper), so the bits papers argue about are checked at the source.
@Suite struct StorageAccountTests {
    static func randn(_ shape: [Int], seed: UInt64) -> Tensor {
        var g = RandomGenerator(seed: seed)
        return Tensor.randn(shape, using: &g)
    }

    /// A hand count, as the account's Double.
    func count(_ n: Int) -> Double { Double(n) }

    func lines(_ c: Compressed) -> [String] { c.storage.map { "\($0.part) \($0.count)×\(Int($0.bits))" } }

    @Test func uniformGrids() throws {
        let W = Self.randn([4, 8], seed: 1)
        // 32 codes at 3 bits, 8 groups of 4 with a 16-bit scale and a 3-bit zero point each.
        let asym = try Compressed.rtn(W, bits: 3, group: 4, symmetric: false, axis: .row, clip: .minmax, scaleBits: 16)
        #expect(lines(asym) == ["codes 32×3", "scales 8×16", "zeros 8×3"])
        #expect(asym.bits == count(32 * 3 + 8 * 16 + 8 * 3))
        #expect(asym.bitsPerParam == count(248) / 32)
        #expect(asym.ratio == count(32 * 32) / 248 && asym.ratio16 == count(16 * 32) / 248)
        // A symmetric grid's zero point is fixed, so it is not stored.
        let sym = try Compressed.rtn(W, bits: 3, group: 4, symmetric: true, axis: .row, clip: .minmax, scaleBits: 16)
        #expect(sym.bits == count(32 * 3 + 8 * 16))
        let X = Self.randn([16, 8], seed: 2)
        let gptq = try Compressed.gptq(W, X: X, bits: 4, group: 4, symmetric: false, scaleBits: 32, actOrder: false)
        #expect(gptq.bits == count(32 * 4 + 8 * 32 + 8 * 4))
        #expect(gptq.method == "gptq" && asym.method == "rtn")
    }

    @Test func nonUniformScalars() throws {
        let W = Self.randn([4, 16], seed: 3)
        // NF4: 64 four-bit codes and one 32-bit absmax per block of 16.
        #expect(try Compressed.nf4(W, block: 16).bits == count(64 * 4 + 4 * 32))
        // k-means levels: 2 bits per weight and 4 fp16 levels for each of the 4 rows.
        let k = try Compressed.scalarKMeans(W, bits: 2, axis: .row, iters: 10, levelBits: 16)
        #expect(lines(k) == ["codes 64×2", "levels 16×16"])
    }

    @Test func vectorQuantizers() throws {
        let W = Self.randn([8, 8], seed: 4)
        func vq(_ m: Compressed.VectorMethod, dim: Int = 4, stages: Int = 2, groups: Int = 2) throws -> Compressed {
            var g = RandomGenerator(seed: 5)
            return try Compressed.vectorQuantized(W, method: m, dim: dim, codes: 4, stages: stages, groups: groups, iters: 5, rng: &g)
        }
        // VQ: 16 vectors of 4 values, a 2-bit index each, one codebook of 4 × 4 floats.
        #expect(try vq(.vq).bits == count(16 * 2 + 16 * 32))
        // PQ: 2 subspaces of 4 columns, 8 row indices each, a 4 × 4 codebook each.
        #expect(try vq(.pq).bits == count(2 * 8 * 2 + 2 * 16 * 32))
        // RVQ: two stages of VQ.
        #expect(try vq(.rvq).bits == count(2 * 16 * 2 + 2 * 16 * 32))
        // Group RVQ: 2 column groups × 2 stages, 16 vectors of 2 per group, 4 × 2 codebooks.
        #expect(try vq(.grvq, dim: 2).bits == count(2 * 2 * 16 * 2 + 2 * 2 * 8 * 32))
    }

    @Test func pruning() throws {
        let W = Self.randn([4, 8], seed: 6), X = Self.randn([10, 8], seed: 7)
        // The reference removes |w| ≤ the ⌊0.5 · 32⌋ = 16th smallest (0-based): 17 go, 15 stay at 32
        // bits, plus one mask bit per weight.
        let mag = try Compressed.pruned(W, method: .magnitude, sparsity: 0.5, pattern: nil, X: nil)
        #expect(mag.bits == count(15 * 32 + 32) && mag.method == "magnitude")
        // 2:4: 8 groups, each naming which 2 of 4 are kept: log₂ 6 bits.
        let nm = try Compressed.pruned(W, method: .magnitude, sparsity: nil, pattern: (2, 4), X: nil)
        let nmBits = count(16 * 32) + 8 * log2(6.0)
        #expect(abs(nm.bits - nmBits) < 1e-9 && nm.method == "nm")
        let wanda = try Compressed.pruned(W, method: .wanda, sparsity: 0.5, pattern: nil, X: X)
        #expect(wanda.bits == count(16 * 32 + 32) && wanda.method == "wanda")
        #expect(throws: CoreError.self) { try Compressed.pruned(W, method: .wanda, sparsity: 0.5, pattern: nil, X: nil) }
    }

    @Test func lowRank() throws {
        let W = Self.randn([6, 8], seed: 8), X = Self.randn([20, 8], seed: 9)
        // Rank 2: B is 6 × 2 and A is 2 × 8, at 32 bits.
        #expect(try Compressed.lowRank(W, rank: 2, energy: nil).bits == count(2 * (6 + 8) * 32))
        var g = RandomGenerator(seed: 1)
        #expect(try Compressed.randomizedLowRank(W, rank: 2, oversample: 2, iters: 1, rng: &g).bits == count(2 * (6 + 8) * 32))
        // EoRA: the base's own account, then fp16 factors of rank 2.
        let base = try Compressed.rtn(W, bits: 2, group: nil, symmetric: false, axis: .row, clip: .minmax, scaleBits: 16)
        let e = try Compressed.eora(W, base: base.recon, baseAccount: base, X: X, rank: 2)
        #expect(e.bits == base.bits + count(2 * (6 + 8) * 16))
        #expect(e.storage.first?.part == "base.codes")
        let plain = try Compressed.eora(W, base: base.recon, baseAccount: nil, X: X, rank: 2)
        #expect(plain.bits == count(48 * 32 + 2 * (6 + 8) * 16))
        // BitStack: per block a sign bit per weight and rank-2 fp16 factors.
        #expect(try Compressed.bitStack(W, blocks: 3, rank: 2).bits == count(3 * 48 + 3 * 2 * (6 + 8) * 16))
        // Tensor train of a 4 × 4 matrix as 2 × 2 × 2 × 2 with ranks 2: cores 1·2·2, 2·2·2, 2·2·2, 2·2·1.
        let t = try Compressed.tensorTrain(Self.randn([4, 4], seed: 10), shape: [2, 2, 2, 2], ranks: [2, 2, 2])
        #expect(t.bits == count((4 + 8 + 8 + 4) * 32))
    }

    @Test func kvCache() throws {
        let D = Self.randn([8, 16], seed: 11)
        // GEAR: 2-bit codes, 16 groups of 8 with an fp16 scale and offset, 2 + 2 outliers per row
        // (value at 32 bits and a log₂ 16 = 4-bit column index), a rank-1 fp16 residual.
        let g = try Compressed.gear(D, bits: 2, group: 8, rank: 1, outliers: 0.25)
        #expect(lines(g) == ["codes 128×2", "groups 16×32", "outliers 32×36", "factors 24×16"])
        #expect(g.bits == count(128 * 2 + 16 * 32 + 32 * 36 + 24 * 16))
        // KVQuant per channel without outliers: codes, a 32-bit zero point and range per channel, 4 fp16 levels.
        var rng = RandomGenerator(seed: 1)
        let k = try Compressed.kvQuant(Self.randn([16, 8], seed: 12), bits: 2, perChannel: true, outliers: 0, rng: &rng)
        #expect(k.bits == count(128 * 2 + 8 * 32 + 4 * 16))
    }
}
