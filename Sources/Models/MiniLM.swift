import CBLAS
import Datasets
import Foundation
import SqueezeCore

/// A BERT encoder with mean pooling — all-MiniLM-L6-v2 (Wang et al. 2020; sentence-transformers):
/// 6 layers, hidden 384, 12 heads of 32, feed-forward 1536, GELU (erf), post-LayerNorm with
/// eps 1e-12, absolute positions, sentence embedding = L2-normalised mean of the last hidden states
/// over the real tokens.
///
/// Sentences are batched ragged: the tokens of all sentences are stacked into one T × 384 matrix,
/// so every linear layer is a single GEMM over all tokens, and attention runs per sentence over its
/// own tokens — the same numbers as padding with an attention mask, without computing the padding.
public struct Transformer: Sendable, WeightedModel {
    public struct Config: Sendable {
        public var layers = 6, hidden = 384, heads = 12, intermediate = 1536, maxPositions = 512, maxLength = 256
        public var eps: Float = 1e-12
        public var headDim: Int { hidden / heads }
    }

    public let name: String
    public let config: Config
    public let tokenizer: WordPiece
    /// Every tensor by its PyTorch name; linear weights are [out, in].
    public private(set) var weights: [String: Tensor]
    /// Tensor names in the file's order.
    public let names: [String]
    /// Storage of each linear layer's weight in bits, when it was replaced by a compressed value.
    public private(set) var compressedBits: [String: Double] = [:]

    /// The 36 linear layers, in forward order.
    public var linearLayers: [String] {
        (0..<config.layers).flatMap { i in
            [
                "attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
                "intermediate.dense", "output.dense",
            ].map { "encoder.layer.\(i).\($0)" }
        }
    }

    /// Loads a BERT checkpoint: safetensors weights, `config.json` and `vocab.txt`.
    public init(name: String, weightsPath: String, configPath: String?, vocabPath: String) throws {
        let file = try Safetensors.read(path: weightsPath)
        var w: [String: Tensor] = [:]
        var names: [String] = []
        for t in file.tensors {
            // sentence-transformers checkpoints name them without the "bert." prefix; accept both.
            let key = t.name.hasPrefix("bert.") ? String(t.name.dropFirst(5)) : t.name
            w[key] = t.tensor
            names.append(key)
        }
        var c = Config()
        if let configPath, let data = FileManager.default.contents(atPath: configPath),
            let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        {
            c.layers = json["num_hidden_layers"] as? Int ?? c.layers
            c.hidden = json["hidden_size"] as? Int ?? c.hidden
            c.heads = json["num_attention_heads"] as? Int ?? c.heads
            c.intermediate = json["intermediate_size"] as? Int ?? c.intermediate
            c.maxPositions = json["max_position_embeddings"] as? Int ?? c.maxPositions
            c.eps = Float(json["layer_norm_eps"] as? Double ?? Double(c.eps))
            if let act = json["hidden_act"] as? String, act != "gelu" {
                throw ModelError("\(configPath): hidden_act \"\(act)\" is not supported (only \"gelu\")")
            }
        }
        c.maxLength = min(256, c.maxPositions)
        guard c.heads > 0, c.hidden % c.heads == 0 else {
            throw ModelError("\(weightsPath): hidden size \(c.hidden) is not a multiple of \(c.heads) heads")
        }
        self.name = name
        self.config = c
        self.weights = w
        self.names = names
        self.tokenizer = try WordPiece(vocabFile: vocabPath)
        try validate(source: weightsPath)
    }

    /// Every tensor the forward pass reads exists with the shape the configuration implies.
    func validate(source: String) throws {
        let h = config.hidden, f = config.intermediate
        var expected: [(String, [Int])] = [
            ("embeddings.word_embeddings.weight", [tokenizer.vocabulary.count, h]),
            ("embeddings.position_embeddings.weight", [config.maxPositions, h]),
            ("embeddings.token_type_embeddings.weight", [-1, h]),
            ("embeddings.LayerNorm.weight", [h]), ("embeddings.LayerNorm.bias", [h]),
        ]
        for i in 0..<config.layers {
            let p = "encoder.layer.\(i)."
            for n in ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"] {
                expected += [(p + n + ".weight", [h, h]), (p + n + ".bias", [h])]
            }
            expected += [
                (p + "intermediate.dense.weight", [f, h]), (p + "intermediate.dense.bias", [f]),
                (p + "output.dense.weight", [h, f]), (p + "output.dense.bias", [h]),
            ]
            for n in ["attention.output.LayerNorm", "output.LayerNorm"] { expected += [(p + n + ".weight", [h]), (p + n + ".bias", [h])] }
        }
        for (n, shape) in expected {
            guard let t = weights[n] else { throw ModelError("\(source): the checkpoint has no tensor \(n)") }
            guard t.shape.count == shape.count, zip(t.shape, shape).allSatisfy({ $1 < 0 || $0 == $1 }) else {
                throw ModelError(
                    "\(source): \(n) has shape \(Shape.describe(t.shape)), expected \(Shape.describe(shape.map { max($0, 1) }))")
            }
        }
    }


    /// A copy whose linear layer `layer` has the weight `W` (same shape), stored in `bits`.
    public func replacing(_ layer: String, with W: Tensor, bits: Double) throws -> Transformer {
        if let e = replacementError(layer, W) { throw e }
        var m = self
        m.weights[layer + ".weight"] = W
        m.compressedBits[layer] = bits
        return m
    }

    // MARK: - Forward pass

    /// What a forward pass records besides the embeddings.
    public struct Capture: Sendable {
        /// Linear layers whose inputs to keep (T × in).
        public var inputs: Set<String> = []
        /// Encoder layers whose keys and values (T × hidden, before the split into heads) to keep.
        public var kv: Set<Int> = []
        /// Encoder layers whose attention probabilities to keep, per sentence [heads, L, L].
        public var attention: Set<Int> = []
        /// Encoder layers whose output hidden states (T × hidden) to keep.
        public var hidden: Set<Int> = []
        public init() {}
    }

    public struct Output: Sendable {
        /// n × hidden, L2-normalised mean-pooled sentence embeddings.
        public var embeddings: Tensor
        /// Tokens per sentence (with [CLS] and [SEP]).
        public var lengths: [Int]
        public var inputs: [String: Tensor] = [:]
        public var keys: [Int: Tensor] = [:], values: [Int: Tensor] = [:]
        public var attention: [Int: [Tensor]] = [:]
        public var hidden: [Int: Tensor] = [:]
    }

    public func tokenize(_ sentences: [String]) -> [[Int]] {
        sentences.map { tokenizer.encode($0, maxLength: config.maxLength) }
    }

    public func forward(_ sentences: [String], capture: Capture = Capture(), cancellation: CancellationToken? = nil) throws -> Output {
        try forward(tokens: tokenize(sentences), capture: capture, cancellation: cancellation)
    }

    public func forward(tokens: [[Int]], capture: Capture = Capture(), cancellation: CancellationToken? = nil) throws -> Output {
        let h = config.hidden
        let lengths = tokens.map(\.count)
        let offsets = lengths.reduce(into: [0]) { $0.append($0.last! + $1) }
        let T = offsets.last!
        try Memory.check(elements: T * max(config.intermediate, 3 * h), copies: 3, "a forward pass over \(T) tokens")
        var out = Output(embeddings: Tensor.zeros([tokens.count, h]), lengths: lengths)
        guard T > 0 else { return out }
        // Embeddings: word + position + token type 0, then LayerNorm.
        let word = weights["embeddings.word_embeddings.weight"]!, pos = weights["embeddings.position_embeddings.weight"]!
        let type0 = weights["embeddings.token_type_embeddings.weight"]!
        let vocab = word.shape[0]
        var x = Tensor(shape: [T, h]) { o in
            word.withBuffer { wp in
                pos.withBuffer { pp in
                    type0.withBuffer { tp in
                        for (s, ids) in tokens.enumerated() {
                            for (p, id) in ids.enumerated() {
                                let row = (offsets[s] + p) * h, wr = (id >= 0 && id < vocab ? id : tokenizer.unknown) * h, pr = p * h
                                for j in 0..<h { o[row + j] = wp[wr + j] + pp[pr + j] + tp[j] }
                            }
                        }
                    }
                }
            }
        }
        layerNorm(&x, "embeddings.LayerNorm")
        let task = ProgressMeter.start("\(name) forward", total: config.layers)
        defer { task.end() }
        for i in 0..<config.layers {
            try cancellation?.check()
            task.advance()
            let p = "encoder.layer.\(i)."
            if capture.inputs.contains(p + "attention.self.query") { out.inputs[p + "attention.self.query"] = x }
            if capture.inputs.contains(p + "attention.self.key") { out.inputs[p + "attention.self.key"] = x }
            if capture.inputs.contains(p + "attention.self.value") { out.inputs[p + "attention.self.value"] = x }
            let q = try linear(x, p + "attention.self.query"), k = try linear(x, p + "attention.self.key"),
                v = try linear(x, p + "attention.self.value")
            if capture.kv.contains(i) { out.keys[i] = k; out.values[i] = v }
            let (ctx, probs) = attend(q, k, v, offsets: offsets, keep: capture.attention.contains(i))
            if capture.attention.contains(i) { out.attention[i] = probs }
            if capture.inputs.contains(p + "attention.output.dense") { out.inputs[p + "attention.output.dense"] = ctx }
            var a = try linear(ctx, p + "attention.output.dense")
            add(&a, x)
            layerNorm(&a, p + "attention.output.LayerNorm")
            if capture.inputs.contains(p + "intermediate.dense") { out.inputs[p + "intermediate.dense"] = a }
            var f = try linear(a, p + "intermediate.dense")
            gelu(&f)
            if capture.inputs.contains(p + "output.dense") { out.inputs[p + "output.dense"] = f }
            var o = try linear(f, p + "output.dense")
            add(&o, a)
            layerNorm(&o, p + "output.LayerNorm")
            x = o
            if capture.hidden.contains(i) { out.hidden[i] = x }
        }
        out.embeddings = Tensor(shape: [tokens.count, h]) { e in
            x.withBuffer { xp in
                for s in 0..<tokens.count {
                    var acc = [Double](repeating: 0, count: h)
                    for t in offsets[s]..<offsets[s + 1] { for j in 0..<h { acc[j] += Double(xp[t * h + j]) } }
                    let n = Double(max(1, lengths[s]))
                    let norm = max(acc.reduce(0) { $0 + ($1 / n) * ($1 / n) }.squareRoot(), 1e-12)
                    for j in 0..<h { e[s * h + j] = Float(acc[j] / n / norm) }
                }
            }
        }
        return out
    }

    /// x Wᵀ + b for the linear layer `name`.
    func linear(_ x: Tensor, _ name: String) throws -> Tensor {
        var y = try Tensor.gemm(x, weights[name + ".weight"]!, transB: true)
        let b = weights[name + ".bias"]!
        let n = b.count
        y.withMutableBuffer { yp in
            b.withBuffer { bp in
                for r in 0..<(yp.count / n) { for j in 0..<n { yp[r * n + j] += bp[j] } }
            }
        }
        return y
    }

    func add(_ a: inout Tensor, _ b: Tensor) {
        a.withMutableBuffer { ap in b.withBuffer { bp in for i in 0..<ap.count { ap[i] += bp[i] } } }
    }

    /// LayerNorm over each row with the named weight and bias (statistics in Float64).
    func layerNorm(_ x: inout Tensor, _ name: String) {
        let g = weights[name + ".weight"]!, b = weights[name + ".bias"]!
        let h = g.count, eps = Double(config.eps)
        x.withMutableBuffer { xp in
            g.withBuffer { gp in
                b.withBuffer { bp in
                    nonisolated(unsafe) let xp = xp
                    Parallel.forEach(xp.count / h, grain: 64) { rows in
                        for r in rows {
                            let row = r * h
                            var mean = 0.0
                            for j in 0..<h { mean += Double(xp[row + j]) }
                            mean /= Double(h)
                            var variance = 0.0
                            for j in 0..<h { let d = Double(xp[row + j]) - mean; variance += d * d }
                            let inv = 1 / (variance / Double(h) + eps).squareRoot()
                            for j in 0..<h { xp[row + j] = Float((Double(xp[row + j]) - mean) * inv) * gp[j] + bp[j] }
                        }
                    }
                }
            }
        }
    }

    /// GELU with the exact erf form, x·Φ(x).
    func gelu(_ x: inout Tensor) {
        x.withMutableBuffer { xp in
            nonisolated(unsafe) let xp = xp
            Parallel.forEach(xp.count, grain: 65_536) { range in
                for i in range { let v = xp[i]; xp[i] = 0.5 * v * (1 + erff(v * 0.70710678118654752)) }
            }
        }
    }

    /// Scaled dot-product attention per sentence and head: softmax(Q Kᵀ/√d) V over the sentence's
    /// own tokens. Returns the context (T × hidden) and, when asked, each sentence's probabilities.
    func attend(_ q: Tensor, _ k: Tensor, _ v: Tensor, offsets: [Int], keep: Bool) -> (Tensor, [Tensor]) {
        let h = config.hidden, heads = config.heads, d = config.headDim
        let scale = 1 / Float(d).squareRoot()
        let sentences = offsets.count - 1
        let lengths = (0..<sentences).map { offsets[$0 + 1] - offsets[$0] }
        let maxLen = lengths.max() ?? 0
        // Every probability is written below, so the buffers start uninitialised.
        let probBuffers = keep ? lengths.map { UnsafeMutableBufferPointer<Float>.allocate(capacity: heads * $0 * $0) } : []
        defer { for b in probBuffers { b.deallocate() } }
        let ctx = Tensor(shape: [offsets.last!, h]) { cp in
            q.withBuffer { qp in
                k.withBuffer { kp in
                    v.withBuffer { vp in
                        nonisolated(unsafe) let (cp, pb) = (cp, probBuffers)
                        Parallel.forEach(sentences * heads, grain: max(1, 4096 / max(1, maxLen * maxLen))) { range in
                            var row = [Float](repeating: 0, count: maxLen)
                            for job in range {
                                let s = job / heads, head = job % heads
                                let start = offsets[s], L = offsets[s + 1] - start, col = head * d
                                for i in 0..<L {
                                    let qi = (start + i) * h + col
                                    var mx = -Float.infinity
                                    for j in 0..<L {
                                        let kj = (start + j) * h + col
                                        var dot: Float = 0
                                        for c in 0..<d { dot += qp[qi + c] * kp[kj + c] }
                                        row[j] = dot * scale
                                        mx = max(mx, row[j])
                                    }
                                    var sum: Float = 0
                                    for j in 0..<L { row[j] = expf(row[j] - mx); sum += row[j] }
                                    let inv = 1 / sum
                                    let ci = (start + i) * h + col
                                    for c in 0..<d { cp[ci + c] = 0 }
                                    for j in 0..<L {
                                        let pj = row[j] * inv
                                        if keep { pb[s][(head * L + i) * L + j] = pj }
                                        let vj = (start + j) * h + col
                                        for c in 0..<d { cp[ci + c] += pj * vp[vj + c] }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        let probs = zip(lengths, probBuffers).map { L, b in Tensor(shape: [heads, L, L], storage: Array(b)) }
        return (ctx, probs)
    }
}

extension Transformer {
    /// all-MiniLM-L6-v2 from the data cache (Scripts/setup installs it).
    public static func miniLM(cache: URL = DataCatalog.cache) throws -> Transformer {
        let dir = cache.appendingPathComponent("minilm")
        let weights = dir.appendingPathComponent("model.safetensors").path
        guard FileManager.default.fileExists(atPath: weights) else {
            throw ModelError("\(weights): the minilm model is not installed here: run Scripts/setup (it fetches the data sets once)")
        }
        return try Transformer(
            name: "all-MiniLM-L6-v2", weightsPath: weights, configPath: dir.appendingPathComponent("config.json").path,
            vocabPath: dir.appendingPathComponent("vocab.txt").path)
    }
}
