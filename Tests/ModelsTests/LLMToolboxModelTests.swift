import Compression
import Foundation
import Models
import SqueezeCore
import Testing

/// The toolbox's model-level transforms on SmolLM2: the function-preserving ones (AWQ's folded
/// scales, SmoothQuant) leave the logits equal, and activation quantization behaves as the papers say.
@Suite(.serialized) struct LLMToolboxModelTests {
    static let model = SmolLM2Tests.model
    static let prompt = "The capital of France is Paris, and the capital of Italy is Rome. Squeeze it: 3 bits."

    static func calibration(_ count: Int) throws -> [[Int]] {
        let ids = Array(model.tokenizer.encode(try SmolLM2Tests.text("alice29")).prefix(count))
        return stride(from: 0, to: ids.count, by: 64).map { Array(ids[$0..<min(ids.count, $0 + 64)]) }
    }

    static func maxLogitDifference(_ a: LanguageModel, _ b: LanguageModel) throws -> Float {
        let ids = a.tokenizer.encode(prompt)
        let la = try a.logits(try a.forward([ids]).final), lb = try b.logits(try b.forward([ids]).final)
        return zip(la.storage, lb.storage).reduce(0) { max($0, abs($1.0 - $1.1)) }
    }

    @Test func awqScalesFoldedIntoTheModelKeepItsFunction() throws {
        // Two ratios (α = 0 and 0.5) keep the test short; the folding is what is checked.
        let (scaled, report) = try Self.model.awq(sequences: try Self.calibration(128), bits: 3, group: 64, stage: .scaled, grid: 2)
        #expect(try Self.maxLogitDifference(Self.model, scaled) < 1e-3)
        // SmolLM2 uses grouped-query attention: no output-projection scale, three groups per block.
        #expect(report.ratios.count == 30 && report.ratios.allSatisfy { $0.count == 3 })
        #expect(report.ratios.joined().contains(0.5))
        #expect(scaled.weight("blk.0.attn_q")! != Self.model.weight("blk.0.attn_q")!)
        // Quantized, every linear layer is counted: 3-bit codes, 16-bit scales and 3-bit zeros per 64 weights.
        let (q, _) = try Self.model.awq(sequences: try Self.calibration(64), bits: 3, group: 64, grid: 1)
        let linear = Self.model.linearLayers.reduce(0.0) { $0 + Double(Self.model.weight($1)!.count) }
        let bits = q.compressedBits.values.reduce(0, +)
        #expect(q.compressedBits.count == 210 && abs(bits / linear - (3 + 19.0 / 64)) < 1e-9)
    }

    @Test func awqRefusesAGroupThatDoesNotDivideTheInputs() throws {
        #expect(throws: ModelError.self) { try Self.model.awq(sequences: try Self.calibration(16), bits: 4, group: 100) }
    }

    @Test func smoothQuantKeepsTheFunctionAndHelpsW8A8() throws {
        let (s, scales) = try Self.model.smoothed(sequences: try Self.calibration(256), alpha: 0.5)
        #expect(scales.count == 60 && scales.allSatisfy { $0.count == 576 && $0.allSatisfy { $0 > 0 && $0.isFinite } })
        #expect(try Self.maxLogitDifference(Self.model, s) < 1e-3)
        // W8A8 per tensor (symmetric 8-bit weights per row, one activation grid per pass): smoothing lowers perplexity.
        func w8a8(_ m: LanguageModel) throws -> LanguageModel {
            var out = m.quantizingActivations(ActivationQuantization(bits: 8, perToken: false))
            for layer in m.linearLayers {
                let q = try Quantizer.rtn(m.weight(layer)!, bits: 8, group: nil, symmetric: true, axis: .row, clip: .minmax)
                out = try out.replacing(layer, with: q.recon, bits: 8 * Double(q.recon.count))
            }
            return out
        }
        let ids = Array(Self.model.tokenizer.encode(try SmolLM2Tests.text("plrabn12")).prefix(512))
        let base = try Self.model.perplexity(tokens: ids, context: 128, preset: .gptq).ppl
        let naive = try w8a8(Self.model).perplexity(tokens: ids, context: 128, preset: .gptq).ppl
        let smooth = try w8a8(s).perplexity(tokens: ids, context: 128, preset: .gptq).ppl
        #expect(base < smooth && smooth < naive, "fp \(base), smoothed W8A8 \(smooth), naive W8A8 \(naive)")
    }

    @Test func perTokenGridsAreCausalAndPerTensorGridsAreNot() throws {
        // A row's per-token grid depends on that row alone, so a token quantizes the same in a full
        // pass and in incremental decoding; a per-tensor grid depends on every token of the pass.
        let x = Tensor(shape: [3, 5], storage: (0..<15).map { Float(sin(Double($0) * 1.7)) * Float($0 + 1) })
        let alone = Tensor(shape: [1, 5], storage: Array(x.storage[0..<5]))
        for perToken in [true, false] {
            let q = ActivationQuantization(bits: 4, perToken: perToken)
            let same = Array(q.applied(x).storage[0..<5]) == q.applied(alone).storage
            #expect(same == perToken)
        }
        // Through the model, 8-bit per-token activations change the logits (rounding flips between the
        // two modes' float orders make incremental decoding agree only approximately; not asserted).
        let m = Self.model.quantizingActivations(ActivationQuantization(bits: 8))
        #expect(try Self.maxLogitDifference(Self.model, m) > 1e-3)
    }

    @Test func activationGridsMatchTheirDefinition() {
        var x = Tensor(shape: [2, 4], storage: [-1, 0.3, 0.5, 2, 0, 0, 0, 0])
        ActivationQuantization(bits: 3).apply(&x)
        // Row 0: scale 2/3, round(x/scale)·scale; row 1 (all zeros) stays 0.
        let s: Float = 2 / 3
        #expect(x.storage == [-2 * s, 0, 1 * s, 3 * s, 0, 0, 0, 0].map { Float($0) })
        var y = Tensor(shape: [1, 3], storage: [-1, 0, 3])
        ActivationQuantization(bits: 2, perToken: false, symmetric: false).apply(&y)
        // scale 4/3, zero round(0.75) = 1: levels −4/3, 0, 4/3, 8/3.
        let t: Float = 4 / 3
        #expect(y.storage == [-t, 0, 2 * t])
    }

    static func kurtosis(_ x: Tensor) -> Double {
        let n = Double(x.count), mean = x.storage.reduce(0.0) { $0 + Double($1) } / n
        let m2 = x.storage.reduce(0.0) { $0 + pow(Double($1) - mean, 2) } / n
        return x.storage.reduce(0.0) { $0 + pow(Double($1) - mean, 4) } / n / (m2 * m2)
    }

    @Test func rotationKeepsTheFunctionAndRemovesOutliers() throws {
        let r = try Self.model.rotated(seed: 1)
        #expect(try Self.maxLogitDifference(Self.model, r) < 1e-3)
        #expect(!r.config.tiedEmbeddings && r.weight("blk.0.attn_q")! != Self.model.weight("blk.0.attn_q")!)
        // Activations entering the layers lose their outlier channels.
        var capture = LanguageModel.Capture()
        capture.inputs = ["blk.5.attn_q", "blk.5.ffn_down"]
        capture.blocks = 6
        let ids = [Self.model.tokenizer.encode(Self.prompt)]
        let before = try Self.model.forward(ids, capture: capture).inputs, after = try r.forward(ids, capture: capture).inputs
        for layer in capture.inputs {
            let (k0, k1) = (Self.kurtosis(before[layer]!), Self.kurtosis(after[layer]!))
            #expect(k1 < k0 / 4, "\(layer): kurtosis \(k0) → \(k1)")
        }
        // 4-bit activations: rotation turns a broken model into a usable one.
        let tokens = Array(Self.model.tokenizer.encode(try SmolLM2Tests.text("plrabn12")).prefix(512))
        let a4 = ActivationQuantization(bits: 4)
        let plain = try Self.model.quantizingActivations(a4).perplexity(tokens: tokens, context: 128, preset: .gptq).ppl
        let rotated = try r.quantizingActivations(a4).perplexity(tokens: tokens, context: 128, preset: .gptq).ppl
        #expect(rotated < plain / 4, "A4 perplexity \(plain) → \(rotated) rotated")
        // Seeded, and refused twice or after compression.
        #expect(try Self.model.rotated(seed: 1).weight("blk.3.ffn_up")! == r.weight("blk.3.ffn_up")!)
        #expect(throws: ModelError.self) { try r.rotated(seed: 2) }
        let compressed = try Self.model.replacing("blk.0.attn_q", with: Self.model.weight("blk.0.attn_q")!, bits: 1)
        #expect(throws: ModelError.self) { try compressed.rotated(seed: 1) }
    }

    /// Four feed-forward layers at 2 and 4 bits (RTN, group 64).
    static func database() throws -> LevelDatabase {
        let layers = (0..<4).map { "blk.\($0).ffn_up" }
        var weights: [[Tensor]] = [], bits: [[Double]] = []
        for l in layers {
            let W = model.weight(l)!
            let q = try [2, 4].map { try Compressed.rtn(W, bits: $0, group: 64, symmetric: false, axis: .row, clip: .minmax, scaleBits: 16) }
            weights.append(q.map(\.recon))
            bits.append(q.map(\.bits))
        }
        return try LevelDatabase(base: model, layers: layers, choices: ["2", "4"], weights: weights, bits: bits)
    }

    @Test func levelSearchesKeepTheBudget() throws {
        let db = try Self.database()
        let tokens = Array(Self.model.tokenizer.encode(try SmolLM2Tests.text("alice29")).prefix(128))
        // Every layer alone: 4 bits degrade less than 2, and the database assembles what it stores.
        let delta = try db.degradations(tokens: tokens, context: 64)
        #expect(delta.allSatisfy { $0[1] < $0[0] })
        #expect(try db.assemble([0, 1, 1, 0]).weight("blk.1.ffn_up")! == db.weights[1][1])
        #expect(throws: ModelError.self) { try db.assemble([0, 2, 1, 0]) }
        // Half the layers at each width: the knapsack picks the two whose 2-bit cost is least.
        let budget = db.bits.reduce(0.0) { $0 + ($1[0] + $1[1]) / 2 }
        let s = try #require(try Knapsack.minimize(cost: delta, bits: db.bits, budget: budget))
        let order = (0..<4).sorted { delta[$0][0] - delta[$0][1] < delta[$1][0] - delta[$1][1] }
        #expect(Set((0..<4).filter { s.choice[$0] == 0 }) == Set(order.prefix(2)))
        // EvoPress from the same budget: never over it, and elitism never lets the parent's fitness rise.
        var settings = LevelDatabase.Evolution()
        (settings.generations, settings.offspring, settings.survivors, settings.stageTokens, settings.context) = (3, 3, [2], [64, 128], 64)
        var rng = RandomGenerator(seed: 5)
        let e = try db.evoPress(budget: budget, tokens: tokens, settings: settings, rng: &rng)
        #expect(e.bits <= budget && e.history.count == 3)
        #expect(zip(e.history, e.history.dropFirst()).allSatisfy { $1 <= $0 })
        var again = RandomGenerator(seed: 5)
        #expect(try db.evoPress(budget: budget, tokens: tokens, settings: settings, rng: &again).levels == e.levels)
        // The parent's fitness (offspring run on their parent's states) is the whole model's KL on the last stage's tokens.
        let last = try DivergenceScorer(base: Self.model, tokens: Array(tokens.prefix(128)), context: 64)
        #expect(try last.meanKL(db.assemble(e.levels)) == e.history.last!)
        // A budget below every layer's smallest level is refused.
        #expect(throws: ModelError.self) {
            var r = RandomGenerator(seed: 1)
            _ = try db.evoPress(budget: budget / 4, tokens: tokens, settings: settings, rng: &r)
        }
    }

    @Test func aDroppedBlockIsTheIdentityAndStoresNothing() throws {
        // Closed form: a block whose output projections are zero adds nothing to the residual stream.
        var zeroed = Self.model
        for role in ["attn_output", "ffn_down"] {
            zeroed = try zeroed.replacing("blk.4.\(role)", with: Tensor.zeros(Self.model.weight("blk.4.\(role)")!.shape), bits: 0)
        }
        let dropped = try Self.model.dropping(block: 4)
        #expect(try Self.maxLogitDifference(dropped, zeroed) < 1e-4)
        #expect(try Self.maxLogitDifference(dropped, Self.model) > 0.1)
        let perBlock = Double(LanguageModel.roles.reduce(0) { $0 + Self.model.weight("blk.4.\($1)")!.count })
        #expect(abs((Self.model.linearBits - dropped.linearBits) - 32 * perBlock) < 1e-6)
        // Compressing a layer of a dropped block keeps its storage at 0.
        let W = Self.model.weight("blk.4.ffn_up")!
        #expect(try dropped.replacing("blk.4.ffn_up", with: W, bits: 99).linearBits == dropped.linearBits)
        #expect(throws: ModelError.self) { try Self.model.dropping(block: 30) }
    }

    /// Two whole blocks at 2 and 4 bits, and the level that drops a block.
    static func blockDatabase() throws -> LevelDatabase {
        let layers = [1, 2].flatMap { b in LanguageModel.roles.map { "blk.\(b).\($0)" } }
        var weights: [[Tensor]] = [], bits: [[Double]] = []
        for l in layers {
            let W = model.weight(l)!
            let q = try [2, 4].map { try Compressed.rtn(W, bits: $0, group: 64, symmetric: false, axis: .row, clip: .minmax, scaleBits: 16) }
            weights.append(q.map(\.recon) + [W])
            bits.append(q.map(\.bits) + [0])
        }
        return try LevelDatabase(
            base: model, layers: layers, choices: ["2", "4", "drop"], weights: weights, bits: bits, granularity: .block, drop: 2)
    }

    @Test func perBlockLevelsAndBlockDropping() throws {
        let db = try Self.blockDatabase()
        #expect(db.units.map(\.name) == ["blk.1", "blk.2"] && db.units.allSatisfy { $0.layers.count == 7 })
        #expect(db.unitBits[0][2] == 0 && abs(db.unitBits[0][0] - db.bits.prefix(7).reduce(0.0) { $0 + $1[0] }) < 1e-9)
        #expect(db.shapeClasses == [[0, 1]])
        // A unit's level sets every layer of its block; the drop level skips the block.
        let m = try db.assemble([0, 2])
        #expect(m.weight("blk.1.ffn_down")! == db.weights[6][0] && m.droppedBlocks == [2])
        #expect(abs(m.linearBits - (Self.model.linearBits - 32 * Double(db.parameters.reduce(0, +)) + db.unitBits[0][0])) < 1e-6)
        let tokens = Array(Self.model.tokenizer.encode(try SmolLM2Tests.text("alice29")).prefix(128))
        let delta = try db.degradations(tokens: tokens, context: 64)
        #expect(delta.allSatisfy { $0[1] < $0[0] && $0[0] < $0[2] }, "\(delta)")
        // At the storage of one block at 4 bits and one dropped, the knapsack drops the cheaper block.
        let budget = db.unitBits[0][1]
        let s = try #require(try Knapsack.minimize(cost: delta, bits: db.unitBits, budget: budget))
        let cheaper = delta[0][2] + delta[1][1] < delta[1][2] + delta[0][1] ? [2, 1] : [1, 2]
        #expect(s.choice == cheaper)
        // EvoPress from a random start under that budget: one block dropped, never over budget.
        var settings = LevelDatabase.Evolution()
        (settings.generations, settings.offspring, settings.survivors, settings.stageTokens, settings.context) = (2, 2, [1], [64, 128], 64)
        var rng = RandomGenerator(seed: 3)
        let e = try db.evoPress(budget: budget, tokens: tokens, settings: settings, rng: &rng)
        #expect(e.bits <= budget && e.levels.filter { $0 == 2 }.count == 1)
        // Dropping needs whole blocks and per-block units.
        #expect(throws: ModelError.self) {
            try LevelDatabase(
                base: Self.model, layers: Array(db.layers.prefix(8)), choices: db.choices, weights: Array(db.weights.prefix(8)),
                bits: Array(db.bits.prefix(8)), granularity: .block, drop: 2)
        }
        #expect(throws: ModelError.self) {
            try LevelDatabase(base: Self.model, layers: db.layers, choices: db.choices, weights: db.weights, bits: db.bits, drop: 2)
        }
    }

    @Test func theScorerAgreesWithKLDAndResumesFromABlock() throws {
        let tokens = Array(Self.model.tokenizer.encode(try SmolLM2Tests.text("alice29")).prefix(128))
        let W = Self.model.weight("blk.7.ffn_down")!
        let q = try Self.model.replacing(
            "blk.7.ffn_down", with: try Quantizer.rtn(W, bits: 2, group: 64, symmetric: false, axis: .row, clip: .minmax).recon, bits: 0)
        let reference = try LanguageModel.divergence(base: Self.model, model: q, tokens: tokens, context: 64, preset: .gptq).meanKL
        // A second kld against the same base reads the base's logits from the cache: the same numbers.
        let again = try LanguageModel.divergence(base: Self.model, model: q, tokens: tokens, context: 64, preset: .gptq)
        #expect(again.meanKL == reference && again.scored == 2 * 63)
        let scorer = try DivergenceScorer(base: Self.model, tokens: tokens, context: 64)
        let whole = try scorer.meanKL(q), resumed = try scorer.meanKL(q, from: 7)
        #expect(reference > 1e-3)
        #expect(abs(whole - reference) < 1e-3 * reference && abs(resumed - whole) < 1e-4 * whole, "\(reference) \(whole) \(resumed)")
        #expect(try scorer.meanKL(Self.model) < 1e-9)
        // A variant agreeing with q up to block 12 runs from q's recorded states: the numbers of a whole run.
        let states = try #require(try scorer.run(q, from: 7, record: true).states)
        #expect(states.count == 2 && states.allSatisfy { $0.count == Self.model.config.layers })
        let V = Self.model.weight("blk.12.attn_v")!
        let q2 = try q.replacing(
            "blk.12.attn_v", with: try Quantizer.rtn(V, bits: 2, group: 64, symmetric: false, axis: .row, clip: .minmax).recon, bits: 0)
        let fromStates = try scorer.run(q2, from: 12, start: states).kl
        #expect(fromStates == (try scorer.meanKL(q2)) && fromStates > whole)
        #expect(throws: ModelError.self) { try scorer.run(q2, from: 12, start: [states[0]]) }
    }
}
