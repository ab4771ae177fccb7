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
}
