import Datasets
import Foundation
import History
import Models
import SqueezeCore
import Testing

/// SmolLM2-135M against `Fixtures/make_smollm2_fixtures.py`: Hugging Face transformers loading the
/// same GGUF in float32 (token ids, logits, perplexity by preset, greedy continuations).
@Suite(.serialized) struct SmolLM2Tests {
    struct Reference: Decodable {
        struct Tokens: Decodable { let text: String; let ids: [Int]; let pieces: [String] }
        struct Text: Decodable { let name: String; let count: Int; let sha256: String; let first: [Int] }
        struct Logits: Decodable { let text: String; let ids: [Int]; let last: String }
        struct Score: Decodable { let ppl: Double; let nll: Double; let scored: Int; let stderr: Double }
        struct Perplexity: Decodable {
            let context: Int, windows: Int, text: String, limit: Int
            let gptq: Score, all: Score
            let llamaCpp: Score
            enum CodingKeys: String, CodingKey { case context, windows, text, limit, gptq, all, llamaCpp = "llama.cpp" }
        }
        struct Generate: Decodable { let prompt: String; let ids: [Int]; let text: String }
        let tokens: [Tokens]
        let texts: [Text]
        let logits: [Logits]
        let perplexity: Perplexity
        let generate: [Generate]
    }

    static let reference: Reference = {
        guard let url = Bundle.module.url(forResource: "smollm2_reference", withExtension: "json", subdirectory: "Fixtures"),
            let data = try? Data(contentsOf: url)
        else { fatalError("Fixtures/smollm2_reference.json is missing: run Fixtures/make_smollm2_fixtures.py") }
        do { return try JSONDecoder().decode(Reference.self, from: data) } catch { fatalError("smollm2_reference.json: \(error)") }
    }()

    static let model: LanguageModel = {
        do { return try LanguageModel.smolLM2() } catch { fatalError("\(error)") }
    }()

    static func text(_ name: String) throws -> String {
        let url = DataCatalog.cache.appendingPathComponent("canterbury/\(name).txt")
        return String(decoding: try Data(contentsOf: url), as: UTF8.self)
    }

    static func floats(_ base64: String) -> [Float] {
        let data = Data(base64Encoded: base64)!
        return data.withUnsafeBytes { b in (0..<(data.count / 4)).map { Float(bitPattern: UInt32(littleEndian: b.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) } }
    }

    @Test func configurationIsSmolLM2s() {
        let c = Self.model.config
        #expect(c.layers == 30 && c.hidden == 576 && c.heads == 9 && c.kvHeads == 3 && c.headDim == 64)
        #expect(c.intermediate == 1536 && c.vocab == 49152 && c.context == 8192 && c.ropeBase == 100_000 && c.ropeDims == 64)
        #expect(c.tiedEmbeddings && abs(c.eps - 1e-5) < 1e-9)
        #expect(Self.model.linearLayers.count == 210 && Self.model.linearLayers[1] == "blk.0.attn_k")
        #expect(!Self.model.tokenizer.addBOS && Self.model.tokenizer.isolateDigits)
    }

    @Test func tokenizerMatchesHuggingFaceOnTrickyText() {
        for t in Self.reference.tokens {
            let ids = Self.model.tokenizer.encode(t.text)
            #expect(ids == t.ids, "\(t.text.debugDescription): \(ids.map(Self.model.tokenizer.piece)) vs \(t.pieces)")
            #expect(Self.model.tokenizer.decode(ids) == t.text)
        }
    }

    @Test func tokenizerMatchesHuggingFaceOnTheWholeEvaluationTexts() throws {
        for r in Self.reference.texts {
            let ids = Self.model.tokenizer.encode(try Self.text(r.name))
            #expect(Array(ids.prefix(10_000)) == r.first, "\(r.name): the first 10,000 tokens differ")
            #expect(ids.count == r.count, "\(r.name): \(ids.count) tokens, reference \(r.count)")
            let digest = SHA256.hex(ids.map(String.init).joined(separator: ","))
            #expect(digest == r.sha256, "\(r.name): the whole token sequence differs")
        }
    }

    @Test func logitsEqualTransformers() throws {
        for r in Self.reference.logits {
            let ids = Self.model.tokenizer.encode(r.text)
            #expect(ids == r.ids)
            let out = try Self.model.forward([ids])
            let last = try Self.model.logits(Tensor(shape: [1, 576], storage: Array(out.final.storage.suffix(576))))
            let want = Self.floats(r.last)
            var worst: Float = 0
            for (a, b) in zip(last.storage, want) { worst = max(worst, abs(a - b)) }
            #expect(worst < 5e-3, "\(r.text): max |Δlogit| \(worst)")
        }
    }

    @Test func batchedSequencesEqualEachAlone() throws {
        let a = Self.model.tokenizer.encode("The capital of France is"), b = Self.model.tokenizer.encode("Once upon a time, there")
        let both = try Self.model.forward([a, b]).final
        let alone = try Self.model.forward([b]).final
        var worst: Float = 0
        for (x, y) in zip(both.storage.suffix(alone.count), alone.storage) { worst = max(worst, abs(x - y)) }
        #expect(worst < 1e-4, "max difference \(worst)")
    }

    @Test func incrementalCacheEqualsTheFullForward() throws {
        let ids = Self.model.tokenizer.encode("Alice was beginning to get very tired of sitting by her sister on the bank")
        let full = try Self.model.logits(try Self.model.forward([ids]).final)
        var caches: [LanguageModel.KVCache]? = [LanguageModel.KVCache(layers: 30)]
        // The prompt in two pieces, then one token at a time.
        var rows: [Float] = try Self.model.logits(try Self.model.forward([Array(ids[0..<5])], caches: &caches).final).storage
        for t in 5..<ids.count {
            rows += try Self.model.logits(try Self.model.forward([[ids[t]]], caches: &caches).final).storage
        }
        #expect(caches![0].count == ids.count)
        // Tolerance relative to the logits' scale (1e-4 × max |logit| ≈ 2.7e-3 here): OpenBLAS picks its
        // kernels by matrix size, so full forward passes of 5 and of 15 tokens already differ in the
        // same rows by 1.0e-4 absolute without any cache; the cache adds nothing beyond that.
        let scale = max(1, full.storage.map(abs).max()!)
        var worst: Float = 0
        for (x, y) in zip(rows, full.storage) { worst = max(worst, abs(x - y)) }
        #expect(rows.count == full.count && worst <= 1e-4 * scale, "max |Δlogit| \(worst) of max \(scale)")
        let five = try Self.model.logits(try Self.model.forward([Array(ids[0..<5])]).final).storage
        var noise: Float = 0
        for (x, y) in zip(five, full.storage) { noise = max(noise, abs(x - y)) }
        #expect(worst <= 2 * noise + 1e-6, "the cache's error \(worst) is above the size noise \(noise) of BLAS")
    }

    @Test func perplexityByPresetEqualsTransformers() throws {
        let r = Self.reference.perplexity
        let ids = Array(Self.model.tokenizer.encode(try Self.text(r.text)).prefix(r.limit))
        // ("all" equals "gptq" for this model, which adds no BOS: checked on two windows to save time.)
        let two = try Self.model.perplexity(tokens: Array(ids.prefix(2 * r.context)), context: r.context, preset: .all)
        let twoGPTQ = try Self.model.perplexity(tokens: Array(ids.prefix(2 * r.context)), context: r.context, preset: .gptq)
        #expect(two.nlls == twoGPTQ.nlls && two.scored == 2 * (r.context - 1))
        for (preset, want) in [(LanguageModel.Preset.gptq, r.gptq), (.llamaCpp, r.llamaCpp)] {
            let p = try Self.model.perplexity(tokens: ids, context: r.context, preset: preset)
            #expect(p.scored == want.scored && p.windows == r.windows)
            #expect(abs(p.ppl - want.ppl) / want.ppl < 1e-4, "\(preset): \(p.ppl) vs \(want.ppl)")
            #expect(abs(p.stderr - want.stderr) / want.stderr < 1e-3, "\(preset): ± \(p.stderr) vs \(want.stderr)")
        }
    }

    @Test func greedyContinuationsEqualTransformers() throws {
        var rng = RandomGenerator(seed: 0)
        for r in Self.reference.generate {
            let g = try Self.model.generate(
                prompt: Self.model.tokenizer.encode(r.prompt), tokens: 20, sampling: .init(), rng: &rng)
            #expect(g.ids == r.ids, "\(r.prompt): \(g.text.debugDescription) vs \(r.text.debugDescription)")
        }
    }

    @Test func klOfAModelWithItselfIsZero() throws {
        let ids = Array(Self.model.tokenizer.encode(try Self.text("alice29")).prefix(256))
        let d = try LanguageModel.divergence(base: Self.model, model: Self.model, tokens: ids, context: 128, preset: .llamaCpp)
        #expect(d.scored == 2 * 63 && d.meanKL < 1e-9 && d.sameTop == 1 && d.rmsDeltaP == 0 && d.lnPPLRatio == 0)
    }

    /// GPTQ's "true sequential" calibration: a layer's inputs come through the layers compressed
    /// before it — across blocks and inside a block — and through the original model when not sequential.
    @Test func sequentialCalibrationFeedsCompressedInputsForward() throws {
        let m = Self.model
        let ids = Array(m.tokenizer.encode(try Self.text("asyoulik")).prefix(192))
        let sequences = [Array(ids[0..<128]), Array(ids[128...])]
        // A crude 3-bit-like rounding, enough to move the next layers' inputs.
        func coarse(_ W: Tensor) -> Tensor {
            let step = (W.storage.map(abs).max() ?? 1) / 4
            return Tensor(shape: W.shape, storage: W.storage.map { ($0 / step).rounded() * step })
        }
        let watched = ["blk.0.attn_q", "blk.0.attn_output", "blk.1.attn_q"]
        let original = try m.forward(sequences, capture: { var c = LanguageModel.Capture(); c.inputs = Set(watched); return c }())
        func inputs(sequential: Bool) throws -> [String: Tensor] {
            var seen: [String: Tensor] = [:]
            let layers = Set(m.linearLayers.filter { $0.hasPrefix("blk.0.") || $0.hasPrefix("blk.1.") })
            _ = try m.calibrated(sequences: sequences, layers: layers, sequential: sequential) { name, W, X in
                if watched.contains(name) { seen[name] = X }
                return (coarse(W), Double(3 * W.count))
            }
            return seen
        }
        func distance(_ a: Tensor, _ b: Tensor) -> Float { zip(a.storage, b.storage).map { abs($0 - $1) }.max() ?? 0 }
        let seq = try inputs(sequential: true), ind = try inputs(sequential: false)
        for name in watched { #expect(seq[name]!.shape == [192, name.hasSuffix("attn_output") ? 576 : 576]) }
        #expect(distance(seq["blk.0.attn_q"]!, original.inputs["blk.0.attn_q"]!) == 0, "nothing is compressed before the first layer")
        #expect(distance(seq["blk.0.attn_output"]!, original.inputs["blk.0.attn_output"]!) > 1e-3, "q, k, v compressed first")
        #expect(distance(seq["blk.1.attn_q"]!, original.inputs["blk.1.attn_q"]!) > 1e-2, "block 0 compressed first")
        for name in watched { #expect(distance(ind[name]!, original.inputs[name]!) < 1e-5, "independent: the original inputs") }
        // The model returned uses the compressed weights and counts their bits.
        let q = try m.calibrated(sequences: sequences, layers: ["blk.1.ffn_down"]) { _, W, _ in (coarse(W), Double(3 * W.count)) }
        #expect(q.weight("blk.1.ffn_down")!.storage == coarse(m.weight("blk.1.ffn_down")!).storage)
        #expect(q.linearBits == m.linearBits - Double(29 * 576 * 1536))
    }

    @Test func badInputIsAClearError() throws {
        let m = Self.model
        #expect(throws: ModelError.self) { try m.perplexity(tokens: [1, 2, 3], context: 512, preset: .gptq) }
        #expect(throws: ModelError.self) { try m.perplexity(tokens: Array(repeating: 5, count: 9000), context: 9000, preset: .gptq) }
        var rng = RandomGenerator(seed: 1)
        #expect(throws: ModelError.self) { try m.generate(prompt: [], tokens: 4, sampling: .init(), rng: &rng) }
        #expect(throws: ModelError.self) { try m.forward([[49152]]) }
    }
}
