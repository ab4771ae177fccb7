import Compression
import Foundation
import Models
import OrderedCollections
import SqueezeCore

/// A real network in the loop: MiniLM's forward pass, its hooks (layer inputs, keys and values,
/// attention, hidden states), compressed copies of it and how faithful they are.
extension Builtins {
    static func model(_ args: Arguments, _ name: String = "model") throws -> Transformer {
        guard case .model(let m) = args.value(name) else {
            if case .decoder(let d) = args.value(name) {
                throw args.error(name, "this needs a sentence encoder (load(\"minilm\")); \(d.name) is a decoder language model")
            }
            throw args.error(name, "'\(name)' must be a model (load(\"minilm\")), got \(args.value(name).typeDescription)")
        }
        return m
    }

    /// A string or a list of strings; `single` tells which it was.
    static func sentences(_ args: Arguments, _ name: String = "sentences") throws -> (texts: [String], single: Bool) {
        switch args.value(name) {
        case .string(let s): return ([s], true)
        case .list(let l):
            let texts = try l.enumerated().map { i, v -> String in
                guard case .string(let s) = v else {
                    throw args.error(name, "item \(i) of '\(name)' is \(v.typeDescription), expected a string")
                }
                return s
            }
            guard !texts.isEmpty else { throw args.error(name, "'\(name)' is an empty list") }
            return (texts, false)
        default:
            throw args.error(name, "'\(name)' must be a string or a list of strings, got \(args.value(name).typeDescription)")
        }
    }

    static func encoderLayer(_ args: Arguments, _ m: Transformer) throws -> Int? {
        guard let i = try args.optionalInt("layer") else { return nil }
        guard i >= 0, i < m.config.layers else {
            throw args.error("layer", "layer must be an encoder layer 0…\(m.config.layers - 1), got \(i)")
        }
        return i
    }

    static func run(
        _ m: Transformer, _ texts: [String], _ capture: Transformer.Capture, _ interp: Interpreter, _ args: Arguments
    ) throws -> Transformer.Output {
        try m.forward(texts, capture: capture, cancellation: interp.cancellation)
    }

    /// The hooks' common part: the model, its sentences, encoder layer i (or `defaultLayer`), and one
    /// forward pass capturing what `ask` sets for that layer.
    static func hookPass(
        _ args: Arguments, _ interp: Interpreter, defaultLayer: (Transformer) -> Int,
        _ ask: (inout Transformer.Capture, Int) -> Void
    ) throws -> (m: Transformer, out: Transformer.Output, layer: Int, single: Bool) {
        let m = try model(args)
        let (texts, single) = try sentences(args)
        let i = try encoderLayer(args, m) ?? defaultLayer(m)
        var capture = Transformer.Capture()
        ask(&capture, i)
        return (m, try run(m, texts, capture, interp, args), i, single)
    }

    /// Tokens × (heads·d) as [heads, tokens, d]: head h's channels are columns h·d ..< (h+1)·d.
    static func perHead(_ X: Tensor, _ heads: Int, _ d: Int) -> Tensor {
        let T = X.shape[0], w = heads * d
        return Tensor(shape: [heads, T, d]) { o in
            X.withBuffer { x in
                for hd in 0..<heads { for t in 0..<T { for c in 0..<d { o[(hd * T + t) * d + c] = x[t * w + hd * d + c] } } }
            }
        }
    }

    /// Cosine similarities of row i of A and B (both L2-normalised already).
    static func rowCosines(_ A: Tensor, _ B: Tensor) -> [Double] {
        let n = A.shape[0], d = A.shape[1]
        return (0..<n).map { i in (0..<d).reduce(0.0) { $0 + Double(A.storage[i * d + $1]) * Double(B.storage[i * d + $1]) } }
    }

    /// Index of each row's nearest other row by cosine similarity.
    static func nearest(_ E: Tensor) throws -> [Int] {
        let S = try Tensor.gemm(E, E, transB: true)
        let n = E.shape[0]
        return (0..<n).map { i in
            var best = -1, score = -Float.infinity
            for j in 0..<n where j != i && S.storage[i * n + j] > score { score = S.storage[i * n + j]; best = j }
            return best
        }
    }

    static let models: [Operation] = [
        Operation(
            "sentences", family: "models",
            summary: "The sentence set shipped with squeeze: 240 English sentences, calibration and evaluation halves.",
            doc:
                """
                    24 topics of 10 sentences written for squeeze (CC0), including paraphrase pairs. split: \"calibration\" (even \
                    positions, 120), \"evaluation\" (odd positions, 120) or \"all\".
                    """,
            example: "s = sentences(\"evaluation\")\nprint(len(s), s[0])",
            params: [ParamSpec("split", .choice(["all", "calibration", "evaluation"]), .value(.string("all")))]
        ) { args, _ in
            let texts: [String]
            switch try args.string("split") {
            case "calibration": texts = Sentences.calibration
            case "evaluation": texts = Sentences.evaluation
            default: texts = Sentences.all
            }
            return .list(texts.map { .string($0) })
        },

        Operation(
            "tokenize", family: "models", summary: "BERT WordPiece tokens of a text: {ids, pieces} with [CLS] and [SEP].",
            doc:
                """
                    Lower-case, accents stripped (NFD), split on whitespace and punctuation, CJK characters separated, then greedy \
                    longest-match WordPiece with ## continuations; a word with no match or over 100 characters is [UNK]; at most 256 \
                    tokens. A list of texts gives a list of records.
                    """,
            example: "m = load(\"minilm\")\nt = tokenize(m, \"Unbelievable!\")\nprint(t.pieces)",
            params: [ParamSpec("model", .any), ParamSpec("text", .any)]
        ) { args, _ in
            if case .decoder(let d) = args.value("model") { return try LM.tokenize(d, args) }
            let m = try model(args)
            let (texts, single) = try sentences(args, "text")
            let records: [Value] = texts.map { t in
                let ids = m.tokenizer.encode(t, maxLength: m.config.maxLength)
                return .record(
                    Record(pairs: [
                        ("ids", .tensor(Tensor(ids.map { Float($0) }))),
                        ("pieces", .list(ids.map { .string(m.tokenizer.vocabulary[$0]) })),
                    ]))
            }
            return single ? records[0] : .list(records)
        },

        Operation(
            "embed", family: "models", summary: "Sentence embeddings: n × 384, mean-pooled over the tokens and L2-normalised.",
            doc:
                """
                    Token + position + type embeddings, LayerNorm, 6 encoder layers (12-head self-attention over each sentence's own \
                    tokens, GELU feed-forward, post-LayerNorm residuals), mean pooling over the real tokens, L2 normalisation — \
                    all-MiniLM-L6-v2 as sentence-transformers runs it. Sentences are batched ragged: every linear layer is one GEMM over \
                    all tokens of all sentences.
                    """,
            example:
                """
                    m = load(\"minilm\")\nE = embed(m, [\"A cat sleeps.\", \"A kitten naps.\", \"Stocks fell.\"])\nprint(round(E @ E.T, \
                    digits: 2))
                    """,
            params: [ParamSpec("model", .any), ParamSpec("sentences", .any)]
        ) { args, interp in
            let m = try model(args)
            let (texts, _) = try sentences(args)
            return .tensor(try run(m, texts, Transformer.Capture(), interp, args).embeddings)
        },

        Operation(
            "activations", family: "models",
            summary: "Inputs of a linear layer over a set of sentences (tokens × in): calibration data for GPTQ, Wanda, EoRA.",
            doc:
                """
                    layer: a name from m.layers, e.g. \"encoder.layer.2.intermediate.dense\"; the result has one row per token of every \
                    sentence ([CLS] and [SEP] included) and the layer's input width. Without layer, a record of all linear layers' inputs \
                    from one forward pass.
                    """,
            example:
                """
                    m = load(\"minilm\")\nX = activations(m, sentences(\"calibration\"), layer: \
                    \"encoder.layer.0.output.dense\")\nprint(shape(X))
                    """,
            params: [ParamSpec("model", .any), ParamSpec("sentences", .any), ParamSpec("layer", .string, .none, namedOnly: true)]
        ) { args, interp in
            if case .decoder(let d) = args.value("model") { return try LM.activations(d, args, interp) }
            let m = try model(args)
            let (texts, _) = try sentences(args)
            var capture = Transformer.Capture()
            if args.isNone("layer") {
                capture.inputs = Set(m.linearLayers)
            } else {
                let name = try args.string("layer")
                guard m.linearLayers.contains(name) else {
                    throw args.error(
                        "layer",
                        "no linear layer named \(Format.quoted(name))"
                            + (Suggest.didYouMean(name, in: m.linearLayers).map { "; \($0)" } ?? "; see m.layers"))
                }
                capture.inputs = [name]
            }
            let out = try run(m, texts, capture, interp, args)
            if args.isNone("layer") { return .record(Record(pairs: m.linearLayers.map { ($0, .tensor(out.inputs[$0]!)) })) }
            return .tensor(out.inputs[try args.string("layer")]!)
        },

        Operation(
            "kv", family: "models",
            summary: "Keys and values of an encoder layer: {K, V} (tokens × hidden), {Kh, Vh} per head, and the sentence lengths.",
            doc:
                """
                    K = X W_kᵀ + b_k and V = X W_vᵀ + b_v for every token of every sentence (the KV cache a decoder would keep). Channel \
                    c of head h is column h·head_dim + c of K; Kh and Vh are the same numbers as [heads, tokens, head_dim]. For KV-cache \
                    quantization: kvquant(kv.K, per: \"channel\"), kvquant(kv.V, per: \"token\").
                    """,
            example: "m = load(\"minilm\")\nc = kv(m, [\"Keys are quantized per channel.\"], layer: 0)\nprint(shape(c.K), shape(c.Kh))",
            params: [
                ParamSpec("model", .any), ParamSpec("sentences", .any), ParamSpec("layer", .integer, .value(.number(0)), namedOnly: true),
                ParamSpec(
                    "rope", .bool, .none, namedOnly: true,
                    doc: "decoders: keys after RoPE (true, the default: what the cache holds) or before it (false)"),
            ]
        ) { args, interp in
            if case .decoder(let d) = args.value("model") { return try LM.kv(d, args, interp) }
            guard args.isNone("rope") else { throw args.error("rope", "rope: applies to decoder models; MiniLM has absolute positions") }
            let (m, out, i, _) = try hookPass(args, interp, defaultLayer: { _ in 0 }) { $0.kv = [$1] }
            let K = out.keys[i]!, V = out.values[i]!
            let heads = m.config.heads, d = m.config.headDim
            return .record(
                Record(pairs: [
                    ("K", .tensor(K)), ("V", .tensor(V)), ("Kh", .tensor(perHead(K, heads, d))), ("Vh", .tensor(perHead(V, heads, d))),
                    ("lengths", .list(out.lengths.map(int))),
                ]))
        },

        Operation(
            "attention", family: "models", summary: "Attention probabilities of an encoder layer: [heads, L, L] per sentence.",
            doc:
                """
                    softmax(Q Kᵀ/√head_dim) over the sentence's own tokens; row i is where token i looks. One tensor for a string, a list \
                    of tensors for a list (for saliency-based token and KV eviction methods such as H2O).
                    """,
            example: "m = load(\"minilm\")\nA = attention(m, \"Where does the first token look?\", layer: 5)\nprint(shape(A))",
            params: [
                ParamSpec("model", .any), ParamSpec("sentences", .any), ParamSpec("layer", .integer, .value(.number(0)), namedOnly: true),
            ]
        ) { args, interp in
            if case .decoder(let d) = args.value("model") { return try LM.attention(d, args, interp) }
            let (_, out, i, single) = try hookPass(args, interp, defaultLayer: { _ in 0 }) { $0.attention = [$1] }
            let probs = out.attention[i]!
            return single ? .tensor(probs[0]) : .list(probs.map { .tensor($0) })
        },

        Operation(
            "tokens", family: "models", summary: "Hidden states after an encoder layer (tokens × hidden), all sentences stacked.",
            doc:
                """
                    layer: 0…5, the output of encoder.layer.i (default: the last). Rows follow the sentences in order, each with its \
                    [CLS] … [SEP] tokens; tokenize(m, s) gives the counts.
                    """,
            example: "m = load(\"minilm\")\nH = tokens(m, [\"one two\", \"three\"], layer: 2)\nprint(shape(H))",
            params: [ParamSpec("model", .any), ParamSpec("sentences", .any), ParamSpec("layer", .integer, .none, namedOnly: true)]
        ) { args, interp in
            if case .decoder(let d) = args.value("model") { return try LM.tokens(d, args, interp) }
            let (_, out, i, _) = try hookPass(args, interp, defaultLayer: { $0.config.layers - 1 }) { $0.hidden = [$1] }
            return .tensor(out.hidden[i]!)
        },

        Operation(
            "compress", family: "models",
            summary: "A copy of a model whose linear layers are what fn(W, name) returns (a compressed value or a tensor).",
            doc:
                """
                    fn is called once per linear layer (m.layers, [out, in] weights) with the weight and the layer's name; it returns a \
                    compressed value (any compressor: quantize, prune, lowrank, eora, …) or a plain tensor (counted at 32 bits). The new \
                    model uses each value's reconstruction; .linear_bits adds up their .bits, .linear_bits_per_param divides by the \
                    linear layers' parameter count, .bits adds the untouched tensors (embeddings, biases, LayerNorms) at 32 bits. layers: \
                    restricts to a list of names.
                    """,
            example:
                """
                    m = load(\"minilm\")\nq = compress(m, fn(W, name) { return quantize(W, bits: 8, group: 128) \
                    })\nprint(round(q.linear_bits_per_param, digits: 3))
                    """,
            params: [
                ParamSpec("model", .any), ParamSpec("fn", .function, .none), ParamSpec("layers", .list, .none, namedOnly: true),
                ParamSpec(
                    "calibration", .any, .none, namedOnly: true,
                    doc: "decoders: a text (or list of texts) whose tokens calibrate each layer; fn is then called as fn(W, name, X)"),
                ParamSpec("tokens", .integer, .value(.number(4096)), range: 1...1_000_000, namedOnly: true, doc: "calibration tokens used"),
                ParamSpec(
                    "window", .integer, .value(.number(512)), range: 1...1_000_000, namedOnly: true,
                    doc: "calibration sequences of this many tokens"),
                ParamSpec(
                    "sequential", .bool, .value(.bool(true)), namedOnly: true,
                    doc: "inputs through the layers already compressed (GPTQ's true-sequential) or through the original model"),
                ParamSpec(
                    "activations", .record, .none, namedOnly: true,
                    doc: "decoders: {bits: 8, per: \"token\" | \"tensor\", symmetric: true} fake-quantizes every linear layer's input"),
            ]
        ) { args, interp in
            if case .decoder(let d) = args.value("model") { return try LM.compress(d, args, interp) }
            for p in ["calibration", "activations"] where !args.isNone(p) {
                throw args.error(p, "\(p): applies to decoder models (sequential calibration); MiniLM's fn is fn(W, name)")
            }
            var m = try model(args)
            guard case .function(let fn) = args.value("fn") else { throw args.error("fn", "'fn' must be a function fn(W, name)") }
            var names = m.linearLayers
            if !args.isNone("layers") {
                names = try args.list("layers").map { v in
                    guard case .string(let s) = v, m.linearLayers.contains(s) else {
                        throw args.error("layers", "\(Format.inline(v)) is not a linear layer of the model (see m.layers)")
                    }
                    return s
                }
            }
            for name in names {
                try interp.cancellation.check()
                let W = m.weights[name + ".weight"]!
                let result = try interp.call(
                    fn, positional: [.tensor(W), .string(name)], positionalSpans: [args.spanOf("fn"), args.spanOf("fn")],
                    named: [], span: args.spanOf("fn"))
                let (recon, bits) = try LM.layerResult(result, W, name, args)
                do { m = try m.replacing(name, with: recon, bits: bits) } catch let e as ModelError {
                    throw args.error("fn", e.description)
                }
            }
            return .model(m)
        },

        Operation(
            "fidelity", family: "models", summary: "How faithful model b is to model a on a set of sentences: {mean, min, top1}.",
            doc:
                """
                    mean and min: the mean and minimum over sentences of the cosine similarity between a's and b's embedding of the same \
                    sentence. top1: the fraction of sentences whose nearest other sentence in the set (by cosine) is the same under both \
                    models. Also {cosines} per sentence.
                    """,
            example:
                """
                    m = load(\"minilm\")\nq = compress(m, fn(W, name) { return quantize(W, bits: 4, group: 128) })\nf = fidelity(m, q, \
                    sentences(\"evaluation\"))\nprint(round(f.mean, digits: 4), f.top1)
                    """,
            params: [ParamSpec("a", .any), ParamSpec("b", .any), ParamSpec("sentences", .any)]
        ) { args, interp in
            let a = try model(args, "a"), b = try model(args, "b")
            let (texts, _) = try sentences(args)
            guard a.config.hidden == b.config.hidden else { throw args.error("b", "the models have different widths") }
            let ea = try run(a, texts, Transformer.Capture(), interp, args).embeddings
            let eb = try run(b, texts, Transformer.Capture(), interp, args).embeddings
            let cos = rowCosines(ea, eb)
            let top1: Double
            if texts.count > 1 {
                let na = try nearest(ea), nb = try nearest(eb)
                top1 = Double(zip(na, nb).filter { $0 == $1 }.count) / Double(texts.count)
            } else {
                top1 = 1
            }
            return .record(
                Record(pairs: [
                    ("mean", .number(cos.reduce(0, +) / Double(cos.count))), ("min", .number(cos.min() ?? 1)),
                    ("top1", .number(top1)), ("cosines", .tensor(Tensor(cos.map { Float($0) }))),
                ]))
        },
    ]
}
