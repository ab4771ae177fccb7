import Datasets
import Foundation
import SqueezeCore

/// A Llama-architecture decoder language model read from a GGUF file (Touvron et al. 2023; the
/// `llama` architecture of llama.cpp) — SmolLM2-135M is one: pre-RMSNorm blocks of grouped-query
/// attention with rotary positions and a SwiGLU feed-forward, a final RMSNorm, and an output head
/// (the token embedding when the file has no `output.weight`).
///
/// Weights keep the GGUF's names and row order. llama.cpp's converter permutes the rows of each
/// head of Q and K so that rotary pairs are adjacent dimensions (2i, 2i+1) rather than Hugging
/// Face's (i, i + d/2); the forward pass here rotates adjacent pairs, which gives the same model.
public struct LanguageModel: Sendable, WeightedModel {
    public struct Config: Sendable {
        public var layers = 0, hidden = 0, heads = 0, kvHeads = 0, headDim = 0, intermediate = 0, vocab = 0, context = 0
        public var ropeDims = 0
        public var eps: Float = 1e-5
        public var ropeBase: Double = 10_000
        public var tiedEmbeddings = true
        public var kvDim: Int { kvHeads * headDim }
    }

    /// The linear layers of each block, in forward order.
    public static let roles = ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"]

    public let name: String
    public let source: String
    public internal(set) var config: Config
    public let tokenizer: BytePairEncoding
    /// Every tensor by its GGUF name (`blk.3.attn_k.weight`); linear weights are [out, in].
    public internal(set) var weights: [String: Tensor]
    public internal(set) var names: [String]
    /// The GGUF type each tensor was stored in (Q4_1, Q8_0, F32, …).
    public let fileTypes: [String: String]
    /// Storage of each linear layer's weight in bits, when it was replaced by a compressed value.
    public private(set) var compressedBits: [String: Double] = [:]
    /// Rᵀ of the online rotation of the feed-forward's inner activations before the down projection
    /// (QuaRot's online Hadamard), or none; `rotated(seed:)` sets it and folds R into ffn_down.
    public internal(set) var feedForwardRotation: Tensor? = nil
    /// Fake quantization of every linear layer's input in the forward pass (W8A8, W4A8 …), or none.
    public private(set) var activationQuantization: ActivationQuantization? = nil
    /// Blocks skipped in the forward pass (EvoPress's block dropping): the residual stream passes them
    /// unchanged and their linear layers store nothing.
    public private(set) var droppedBlocks: Set<Int> = []
    /// What produced this copy (the compressions applied, in order), for the model's description.
    public private(set) var history: [String] = []
    /// Identifies these exact weights: a fresh value for every loaded or modified copy, so results of
    /// a forward pass can be reused for the same weights and tokens (`finalStates`).
    public internal(set) var identity = UUID()

    public var linearLayers: [String] { (0..<config.layers).flatMap { i in Self.roles.map { "blk.\(i).\($0)" } } }

    /// The block and role of a linear layer name (`blk.3.ffn_down` → (3, "ffn_down")).
    public static func parse(layer: String) -> (block: Int, role: String)? {
        let parts = layer.split(separator: ".")
        guard parts.count == 3, parts[0] == "blk", let b = Int(parts[1]), roles.contains(String(parts[2])) else { return nil }
        return (b, String(parts[2]))
    }

    public init(path: String, name: String? = nil) throws {
        let file: GGUF.File
        do { file = try GGUF.read(path: path) } catch let e as DataError { throw ModelError(e.description) }
        try self.init(file: file, source: path, name: name)
    }

    public init(file: GGUF.File, source: String, name: String? = nil) throws {
        var meta: [String: GGUF.MetaValue] = [:]
        for (k, v) in file.metadata { meta[k] = v }
        func int(_ key: String) -> Int? {
            switch meta[key] {
            case .int(let i): return Int(i)
            case .uint(let u): return u <= UInt64(Int.max) ? Int(u) : nil
            default: return nil
            }
        }
        func string(_ key: String) -> String? { if case .string(let s) = meta[key] { return s } else { return nil } }
        func strings(_ key: String) -> [String]? {
            guard case .array(let a) = meta[key] else { return nil }
            return a.compactMap { if case .string(let s) = $0 { return s } else { return nil } }
        }
        guard let arch = string("general.architecture") else {
            throw ModelError("\(source): the GGUF has no general.architecture; a llama model is expected")
        }
        guard arch == "llama" else {
            throw ModelError("\(source): the GGUF's architecture is \"\(arch)\"; squeeze runs the \"llama\" architecture only")
        }
        var c = Config()
        func need(_ key: String) throws -> Int {
            guard let v = int(key), v > 0 else { throw ModelError("\(source): the GGUF has no positive \(key)") }
            return v
        }
        c.layers = try need("llama.block_count")
        c.hidden = try need("llama.embedding_length")
        c.heads = try need("llama.attention.head_count")
        c.kvHeads = int("llama.attention.head_count_kv") ?? c.heads
        c.intermediate = try need("llama.feed_forward_length")
        c.context = int("llama.context_length") ?? 2048
        guard c.hidden % c.heads == 0, c.kvHeads > 0, c.heads % c.kvHeads == 0 else {
            throw ModelError("\(source): \(c.heads) heads and \(c.kvHeads) key/value heads do not divide hidden size \(c.hidden)")
        }
        c.headDim = c.hidden / c.heads
        c.ropeDims = int("llama.rope.dimension_count") ?? c.headDim
        guard c.ropeDims % 2 == 0, c.ropeDims <= c.headDim else {
            throw ModelError("\(source): llama.rope.dimension_count \(c.ropeDims) must be even and at most the head size \(c.headDim)")
        }
        if case .float(let e) = meta["llama.attention.layer_norm_rms_epsilon"] { c.eps = Float(e) }
        if case .float(let b) = meta["llama.rope.freq_base"] { c.ropeBase = b }
        if meta["llama.rope.scaling.type"] != nil, string("llama.rope.scaling.type") != "none" {
            throw ModelError("\(source): rope scaling \"\(string("llama.rope.scaling.type") ?? "?")\" is not supported")
        }
        guard let tokens = strings("tokenizer.ggml.tokens"), !tokens.isEmpty else {
            throw ModelError("\(source): the GGUF has no tokenizer.ggml.tokens (its vocabulary)")
        }
        guard string("tokenizer.ggml.model") == "gpt2" else {
            throw ModelError(
                "\(source): tokenizer.ggml.model is \"\(string("tokenizer.ggml.model") ?? "missing")\"; "
                    + "the byte-level BPE (\"gpt2\") is supported")
        }
        var types: [Int] = []
        if case .array(let a) = meta["tokenizer.ggml.token_type"] {
            types = a.map { v in
                switch v {
                case .int(let i): return Int(i)
                case .uint(let u): return Int(u)
                default: return 1
                }
            }
        }
        let pre = string("tokenizer.ggml.pre") ?? "default"
        var addBOS = false
        if case .bool(let b) = meta["tokenizer.ggml.add_bos_token"] { addBOS = b }
        self.tokenizer = try BytePairEncoding(
            tokens: tokens, types: types, merges: strings("tokenizer.ggml.merges") ?? [],
            // llama.cpp's pre-tokenizers that isolate digits before GPT-2's split (llama-vocab.cpp).
            isolateDigits: ["smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva"].contains(pre),
            bos: int("tokenizer.ggml.bos_token_id"), eos: int("tokenizer.ggml.eos_token_id"), addBOS: addBOS)
        c.vocab = tokens.count
        var w: [String: Tensor] = [:], fileTypes: [String: String] = [:]
        for t in file.tensors {
            w[t.name] = t.tensor
            fileTypes[t.name] = t.type
        }
        c.tiedEmbeddings = w["output.weight"] == nil
        self.name = name ?? string("general.name") ?? URL(fileURLWithPath: source).deletingPathExtension().lastPathComponent
        self.source = source
        self.config = c
        self.weights = w
        self.names = file.tensors.map(\.name)
        self.fileTypes = fileTypes
        try validate()
    }

    /// Every tensor the forward pass reads exists with the shape the configuration implies.
    func validate() throws {
        let c = config, h = c.hidden
        var expected: [(String, [Int])] = [("token_embd.weight", [c.vocab, h]), ("output_norm.weight", [h])]
        if !c.tiedEmbeddings { expected.append(("output.weight", [c.vocab, h])) }
        for i in 0..<c.layers {
            let p = "blk.\(i)."
            expected += [
                (p + "attn_norm.weight", [h]), (p + "ffn_norm.weight", [h]),
                (p + "attn_q.weight", [h, h]), (p + "attn_k.weight", [c.kvDim, h]), (p + "attn_v.weight", [c.kvDim, h]),
                (p + "attn_output.weight", [h, h]), (p + "ffn_gate.weight", [c.intermediate, h]),
                (p + "ffn_up.weight", [c.intermediate, h]), (p + "ffn_down.weight", [h, c.intermediate]),
            ]
        }
        for (n, shape) in expected {
            guard let t = weights[n] else { throw ModelError("\(source): the GGUF has no tensor \(n)") }
            guard t.shape == shape else {
                throw ModelError("\(source): \(n) has shape \(Shape.describe(t.shape)), expected \(Shape.describe(shape))")
            }
        }
    }

    public func weight(_ layer: String) -> Tensor? { weights[layer + ".weight"] }

    /// A copy whose linear layer `layer` has the weight `W` (same shape), stored in `bits`.
    public func replacing(_ layer: String, with W: Tensor, bits: Double) throws -> LanguageModel {
        if let e = replacementError(layer, W) { throw e }
        var m = self
        m.weights[layer + ".weight"] = W
        let dropped = Self.parse(layer: layer).map { droppedBlocks.contains($0.block) } ?? false
        m.compressedBits[layer] = dropped ? 0 : bits
        m.identity = UUID()
        return m
    }

    /// A copy without block `i`: its attention and feed-forward are skipped, its linear layers store 0 bits.
    public func dropping(block i: Int) throws -> LanguageModel {
        guard (0..<config.layers).contains(i) else { throw ModelError("\(name) has blocks 0…\(config.layers - 1), not \(i)") }
        var m = self
        m.droppedBlocks.insert(i)
        for role in Self.roles { m.compressedBits["blk.\(i).\(role)"] = 0 }
        m.identity = UUID()
        return m
    }

    /// A copy with tensor `name` (a norm's weight, an embedding, a linear weight kept in float)
    /// replaced by `t` of the same shape; a linear layer's storage account is left as it was.
    public func replacing(tensor name: String, with t: Tensor) throws -> LanguageModel {
        guard let old = weights[name] else { throw ModelError("the model has no tensor \(name)") }
        guard old.shape == t.shape else {
            throw ModelError("\(name) has shape \(Shape.describe(old.shape)); the replacement has \(Shape.describe(t.shape))")
        }
        var m = self
        m.weights[name] = t
        m.identity = UUID()
        return m
    }

    /// A copy whose linear layers read fake-quantized inputs (nil: full-precision inputs).
    public func quantizingActivations(_ q: ActivationQuantization?) -> LanguageModel {
        var m = self
        m.activationQuantization = q
        m.identity = UUID()
        return m
    }

    public func noting(_ step: String) -> LanguageModel {
        var m = self
        m.history.append(step)
        return m
    }
}

extension LanguageModel {
    /// SmolLM2-135M-Instruct (Q4_1 GGUF, dequantized to float32) from the data cache (Scripts/setup installs it).
    public static let smolLM2File = "smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"

    public static func smolLM2(cache: URL = DataCatalog.cache) throws -> LanguageModel {
        let path = cache.appendingPathComponent(smolLM2File).path
        guard FileManager.default.fileExists(atPath: path) else {
            throw ModelError("\(path): the smollm2 model is not installed here: run Scripts/setup (it fetches the data sets once)")
        }
        return try LanguageModel(path: path, name: "SmolLM2-135M-Instruct")
    }
}
