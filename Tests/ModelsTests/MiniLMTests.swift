import Foundation
import Models
import SqueezeCore
import Testing

/// all-MiniLM-L6-v2 against `Fixtures/make_minilm_fixtures.py`: token ids from Hugging Face's
/// `tokenizers`, embeddings from an independent float64 numpy forward pass.
@Suite(.serialized) struct MiniLMTests {
    struct Reference: Decodable {
        struct Tokens: Decodable { let text: String; let ids: [Int]; let pieces: [String] }
        struct Embedding: Decodable { let text: String; let ids: [Int]; let embedding: [Double] }
        let tokens: [Tokens]
        let embeddings: [Embedding]
    }

    static let reference: Reference = {
        guard let url = Bundle.module.url(forResource: "minilm_reference", withExtension: "json", subdirectory: "Fixtures"),
              let data = try? Data(contentsOf: url), let r = try? JSONDecoder().decode(Reference.self, from: data) else {
            fatalError("Fixtures/minilm_reference.json is missing: run Fixtures/make_minilm_fixtures.py")
        }
        return r
    }()

    /// The model is installed by Scripts/setup; loading it is ~30 ms (the weights are memory-mapped).
    static let model: Transformer = {
        do { return try Transformer.miniLM() } catch { fatalError("\(error)") }
    }()

    @Test func tokenizerMatchesHuggingFaceOnTrickyInputs() {
        for t in Self.reference.tokens {
            let ids = Self.model.tokenizer.encode(t.text)
            #expect(ids == t.ids, "\(t.text.prefix(40)): \(ids.map { Self.model.tokenizer.vocabulary[$0] }) vs \(t.pieces)")
        }
    }

    @Test func tokenizerTruncatesTo256AndSplitsLongWordsIntoPieces() {
        let tok = Self.model.tokenizer
        let long = tok.encode(String(repeating: "word ", count: 300))
        #expect(long.count == 256 && long.first == tok.cls && long.last == tok.sep)
        #expect(tok.tokenize("hyperparameterization") == ["hyper", "##para", "##meter", "##ization"])
        // A word over 100 characters is one [UNK], as BERT's tokenizer does.
        #expect(tok.encode(String(repeating: "a", count: 101)) == [tok.cls, tok.unknown, tok.sep])
    }

    @Test func embeddingsEqualTheNumpyForwardPass() throws {
        let sentences = Self.reference.embeddings.map(\.text)
        let out = try Self.model.forward(sentences)
        #expect(out.lengths == Self.reference.embeddings.map { $0.ids.count })
        var worst = 0.0
        for (i, r) in Self.reference.embeddings.enumerated() {
            for (j, v) in r.embedding.enumerated() { worst = max(worst, abs(Double(out.embeddings[i, j]) - v)) }
        }
        #expect(worst < 1e-4, "max abs difference \(worst)")
        // One sentence alone gives the same embedding as inside a batch (no leakage across sentences).
        let alone = try Self.model.forward([sentences[2]])
        for j in 0..<384 { #expect(abs(alone.embeddings[0, j] - out.embeddings[2, j]) < 1e-6) }
    }

    @Test func paraphrasesScoreHigherThanUnrelatedPairs() throws {
        let pairs = [
            ("A man is playing a guitar.", "Someone is playing an instrument.", "The stock market fell sharply today."),
            ("The cat sleeps on the sofa.", "A kitten is napping on the couch.", "Interest rates were raised by the central bank."),
            ("How do I reset my password?", "I forgot my password and need to change it.", "The recipe needs two cups of flour."),
            ("The train was delayed by an hour.", "Our train arrived sixty minutes late.", "She planted tomatoes in the garden."),
            ("Children are playing football in the park.", "Kids kick a ball around on the grass.", "The laptop's battery died during the meeting."),
        ]
        let out = try Self.model.forward(pairs.flatMap { [$0.0, $0.1, $0.2] })
        func cos(_ a: Int, _ b: Int) -> Float { (0..<384).reduce(0) { $0 + out.embeddings[a, $1] * out.embeddings[b, $1] } }
        for k in 0..<pairs.count {
            let para = cos(3 * k, 3 * k + 1), unrelated = cos(3 * k, 3 * k + 2)
            #expect(para > 0.5 && para > unrelated + 0.3, "\(pairs[k].0): paraphrase \(para), unrelated \(unrelated)")
        }
    }

    @Test func hooksCaptureLayerInputsKeysValuesAndAttention() throws {
        var capture = Transformer.Capture()
        capture.inputs = ["encoder.layer.1.intermediate.dense", "encoder.layer.1.output.dense", "encoder.layer.0.attention.self.query"]
        capture.kv = [2]; capture.attention = [2]; capture.hidden = [5]
        let sentences = ["Short one.", "A somewhat longer sentence with more tokens in it."]
        let out = try Self.model.forward(sentences, capture: capture)
        let T = out.lengths.reduce(0, +)
        #expect(out.inputs["encoder.layer.1.intermediate.dense"]?.shape == [T, 384])
        #expect(out.inputs["encoder.layer.1.output.dense"]?.shape == [T, 1536])
        #expect(out.keys[2]?.shape == [T, 384] && out.values[2]?.shape == [T, 384])
        // Attention rows are probability distributions over the sentence's own tokens.
        let a = try #require(out.attention[2])
        #expect(a.count == 2 && a[1].shape == [12, out.lengths[1], out.lengths[1]])
        for h in 0..<12 { for i in 0..<out.lengths[1] {
            let s = (0..<out.lengths[1]).reduce(Float(0)) { $0 + a[1][h, i, $1] }
            #expect(abs(s - 1) < 1e-5)
        } }
        // Mean-pooling the last hidden states and normalising gives the embeddings.
        let H = try #require(out.hidden[5])
        var pooled = [Float](repeating: 0, count: 384)
        for t in 0..<out.lengths[0] { for j in 0..<384 { pooled[j] += H[t, j] / Float(out.lengths[0]) } }
        let n = pooled.reduce(0) { $0 + $1 * $1 }.squareRoot()
        for j in 0..<384 { #expect(abs(pooled[j] / n - out.embeddings[0, j]) < 1e-5) }
        // A linear layer's captured input times its weight reproduces the next stage: the query
        // layer's input is the embeddings' LayerNorm output, whose rows have mean ≈ bias mean.
        #expect(out.inputs["encoder.layer.0.attention.self.query"]?.shape == [T, 384])
    }

    @Test func replacingALayerChangesBitsAndOutputs() throws {
        let m = Self.model
        #expect(m.linearLayers.count == 36 && m.linearLayers[4] == "encoder.layer.0.intermediate.dense")
        let name = "encoder.layer.3.output.dense"
        let W = try #require(m.weights[name + ".weight"])
        let same = try m.replacing(name, with: W, bits: Double(16 * W.count))
        #expect(same.bits == m.bits - Double(16 * W.count))
        let zero = try m.replacing(name, with: Tensor.zeros(W.shape), bits: 0)
        let a = try m.forward(["The weather is nice today."]).embeddings, b = try zero.forward(["The weather is nice today."]).embeddings
        #expect(a != b)
        #expect(throws: ModelError.self) { try m.replacing(name, with: Tensor.zeros([2, 2]), bits: 0) }
        #expect(throws: ModelError.self) { try m.replacing("encoder.layer.9.output.dense", with: W, bits: 0) }
    }
}
