import Compression
import Foundation
import Models
import SqueezeCore

/// The decoder language model in recipes: tokens, perplexity, KL against a base model, logits,
/// generation, and the decoder's side of the model hooks (`tokenize`, `activations`, `kv`,
/// `attention`, `tokens`, `compress`), which dispatch here when given a decoder.
enum LM {
    static func model(_ args: Arguments, _ name: String = "model") throws -> LanguageModel {
        guard case .decoder(let m) = args.value(name) else {
            throw args.error(
                name, "'\(name)' must be a decoder language model (load(\"smollm2\")), got \(args.value(name).typeDescription)")
        }
        return m
    }

    /// A text argument: a string, or a list of strings joined by a blank line (GPTQ's "\n\n".join).
    static func text(_ args: Arguments, _ name: String) throws -> String {
        switch args.value(name) {
        case .string(let s): return s
        case .list(let l):
            return try l.enumerated().map { i, v -> String in
                guard case .string(let s) = v else {
                    throw args.error(name, "item \(i) of '\(name)' is \(v.typeDescription), expected a string")
                }
                return s
            }.joined(separator: "\n\n")
        default: throw args.error(name, "'\(name)' must be a string or a list of strings, got \(args.value(name).typeDescription)")
        }
    }

    /// Token sequences for the hooks: one per string of a list (batched ragged), each within the context.
    static func sequences(_ m: LanguageModel, _ args: Arguments, _ name: String) throws -> (ids: [[Int]], single: Bool) {
        let (texts, single) = try Builtins.sentences(args, name)
        let ids = texts.map { m.tokenizer.encode($0) }
        for (i, s) in ids.enumerated() {
            guard !s.isEmpty else { throw args.error(name, "text \(i) has no tokens") }
            guard s.count <= m.config.context else {
                throw args.error(name, "text \(i) has \(s.count) tokens, above the model's context of \(m.config.context)")
            }
        }
        return (ids, single)
    }

    static func wrap<R>(_ args: Arguments, _ name: String, _ body: () throws -> R) throws -> R {
        do { return try body() } catch let e as ModelError { throw args.error(name, e.description) }
    }

    static func preset(_ args: Arguments) throws -> LanguageModel.Preset {
        LanguageModel.Preset(rawValue: try args.string("preset"))!
    }

    static func block(_ args: Arguments, _ m: LanguageModel, default d: Int) throws -> Int {
        guard let i = try args.optionalInt("layer") else { return d }
        guard i >= 0, i < m.config.layers else {
            throw args.error("layer", "layer must be a block 0…\(m.config.layers - 1), got \(i)")
        }
        return i
    }

    static func layerName(_ args: Arguments, _ m: LanguageModel, _ name: String) throws -> String {
        guard m.linearLayers.contains(name) else {
            throw args.error(
                "layer",
                "no linear layer named \(Format.quoted(name))"
                    + (Suggest.didYouMean(name, in: m.linearLayers).map { "; \($0)" } ?? "; see m.layers"))
        }
        return name
    }

    // MARK: - The shared hooks

    static func tokenize(_ m: LanguageModel, _ args: Arguments) throws -> Value {
        let (texts, single) = try Builtins.sentences(args, "text")
        let records: [Value] = texts.map { t in
            let ids = m.tokenizer.encode(t)
            return .record(
                Record(pairs: [
                    ("ids", .tensor(Tensor(ids.map { Float($0) }))), ("pieces", .list(ids.map { .string(m.tokenizer.piece($0)) })),
                ]))
        }
        return single ? records[0] : .list(records)
    }

    static func activations(_ m: LanguageModel, _ args: Arguments, _ interp: Interpreter) throws -> Value {
        let (ids, _) = try sequences(m, args, "sentences")
        var capture = LanguageModel.Capture()
        if args.isNone("layer") {
            capture.inputs = Set(m.linearLayers)
        } else {
            let name = try layerName(args, m, try args.string("layer"))
            capture.inputs = [name]
            capture.blocks = LanguageModel.parse(layer: name)!.block + 1
        }
        let out = try wrap(args, "sentences") { try m.forward(ids, capture: capture, cancellation: interp.cancellation) }
        if args.isNone("layer") { return .record(Record(pairs: m.linearLayers.map { ($0, .tensor(out.inputs[$0]!)) })) }
        return .tensor(out.inputs[try args.string("layer")]!)
    }

    /// The hooks' common part: the texts, block i (or `defaultBlock`), and one forward pass through
    /// block i capturing what `ask` sets for it.
    static func hookPass(
        _ m: LanguageModel, _ args: Arguments, _ interp: Interpreter, defaultBlock: Int, _ ask: (inout LanguageModel.Capture, Int) -> Void
    ) throws -> (out: LanguageModel.Output, block: Int, single: Bool) {
        let (ids, single) = try sequences(m, args, "sentences")
        let i = try block(args, m, default: defaultBlock)
        var capture = LanguageModel.Capture()
        ask(&capture, i)
        capture.blocks = i + 1
        let out = try wrap(args, "sentences") { try m.forward(ids, capture: capture, cancellation: interp.cancellation) }
        return (out, i, single)
    }

    static func kv(_ m: LanguageModel, _ args: Arguments, _ interp: Interpreter) throws -> Value {
        let (out, i, _) = try hookPass(m, args, interp, defaultBlock: 0) { $0.kv = [$1] }
        let rope = try args.isNone("rope") ? true : args.bool("rope")
        let K = rope ? out.keys[i]! : out.keysBeforeRoPE[i]!, V = out.values[i]!
        let heads = m.config.kvHeads, d = m.config.headDim
        return .record(
            Record(pairs: [
                ("K", .tensor(K)), ("V", .tensor(V)), ("Kh", .tensor(Builtins.perHead(K, heads, d))),
                ("Vh", .tensor(Builtins.perHead(V, heads, d))),
                ("lengths", .list(out.lengths.map(Builtins.int))), ("rope", .bool(rope)),
            ]))
    }

    static func attention(_ m: LanguageModel, _ args: Arguments, _ interp: Interpreter) throws -> Value {
        let (out, i, single) = try hookPass(m, args, interp, defaultBlock: 0) { $0.attention = [$1] }
        let probs = out.attention[i]!
        return single ? .tensor(probs[0]) : .list(probs.map { .tensor($0) })
    }

    static func tokens(_ m: LanguageModel, _ args: Arguments, _ interp: Interpreter) throws -> Value {
        let (out, i, _) = try hookPass(m, args, interp, defaultBlock: m.config.layers - 1) { $0.hidden = [$1] }
        return .tensor(out.hidden[i]!)
    }

    /// fn's result for a layer (either model's compress): the weight to use and its bits.
    static func layerResult(_ result: Value, _ W: Tensor, _ name: String, _ args: Arguments) throws -> (Tensor, Double) {
        let recon: Tensor, bits: Double
        switch result {
        case .compressed(let c): recon = c.recon; bits = c.bits
        case .tensor(let t): recon = t; bits = Double(32 * t.count)
        default: throw args.error("fn", "fn returned \(result.typeDescription) for \(name); expected a compressed value or a tensor")
        }
        guard recon.shape == W.shape else {
            throw args.error(
                "fn", "fn returned shape \(Shape.describe(recon.shape)) for \(name), whose weight is \(Shape.describe(W.shape))")
        }
        let bad = recon.nonFiniteCount
        guard bad == 0 else { throw args.error("fn", "fn returned \(bad) NaN or infinite values for \(name)") }
        return (recon, bits)
    }

    static func compress(_ model: LanguageModel, _ args: Arguments, _ interp: Interpreter) throws -> Value {
        var m = model
        if !args.isNone("activations") {
            let q = try activationQuantization(args)
            m = m.quantizingActivations(q).noting("activations \(q)")
            if args.isNone("fn") { return .decoder(m) }
        }
        guard case .function(let fn) = args.value("fn") else {
            throw args.error("fn", "'fn' must be a function fn(W, name) or fn(W, name, X) (or give activations: alone)")
        }
        let names = try layerNames(m, args)
        func call(_ W: Tensor, _ name: String, _ X: Tensor?) throws -> (Tensor, Double) {
            let positional: [Value] = [.tensor(W), .string(name)] + (X.map { [.tensor($0)] } ?? [])
            let result = try interp.call(
                fn, positional: positional, positionalSpans: positional.map { _ in args.spanOf("fn") }, named: [], span: args.spanOf("fn"))
            return try layerResult(result, W, name, args)
        }
        if args.isNone("calibration") {
            var out = m
            let task = ProgressMeter.start("compress", total: names.count)
            defer { task.end() }
            for name in names {
                try interp.cancellation.check()
                let (W, bits) = try call(m.weight(name)!, name, nil)
                out = try wrap(args, "fn") { try out.replacing(name, with: W, bits: bits) }
                task.advance()
            }
            return .decoder(out.noting("compress(\(names.count) layers)"))
        }
        if case .user(let u) = fn, u.parameters.count < 3 {
            throw args.error("fn", "with calibration:, fn is called as fn(W, name, X): give it a third parameter for the layer's inputs")
        }
        let (sequences, count) = try calibrationSequences(m, args)
        let sequential = try args.bool("sequential")
        let out = try wrap(args, "calibration") {
            try m.calibrated(sequences: sequences, layers: Set(names), sequential: sequential, cancellation: interp.cancellation) {
                name, W, X in try call(W, name, X)
            }
        }
        let how = sequential ? "sequential" : "independent"
        return .decoder(out.noting("compress(\(names.count) layers, \(count) calibration tokens, \(how))"))
    }

    /// layers: a list of the model's linear layers (all of them when not given).
    static func layerNames(_ m: LanguageModel, _ args: Arguments) throws -> [String] {
        guard !args.isNone("layers") else { return m.linearLayers }
        return try args.list("layers").map { v in
            guard case .string(let s) = v, m.linearLayers.contains(s) else {
                throw args.error(
                    "layers",
                    "\(Format.inline(v)) is not a linear layer of the model"
                        + ((v.stringValue.flatMap { Suggest.didYouMean($0, in: m.linearLayers) }).map { "; \($0)" } ?? " (see m.layers)"))
            }
            return s
        }
    }

    /// activations: {bits, per, symmetric}.
    static func activationQuantization(_ args: Arguments) throws -> ActivationQuantization {
        guard case .record(let r) = args.value("activations") else { throw args.error("activations", "activations must be a record") }
        for k in r.fields.keys where !["bits", "per", "symmetric"].contains(k) {
            throw args.error("activations", "activations has no field '\(k)' (bits, per, symmetric)")
        }
        guard case .number(let b)? = r["bits"], b == b.rounded(), b >= 2, b <= 16 else {
            throw args.error("activations", "activations.bits must be a whole number 2…16")
        }
        var q = ActivationQuantization(bits: Int(b))
        switch r["per"] {
        case nil, .string("token")?: q.perToken = true
        case .string("tensor")?: q.perToken = false
        default: throw args.error("activations", "activations.per must be \"token\" or \"tensor\"")
        }
        switch r["symmetric"] {
        case nil: break
        case .bool(let v)?: q.symmetric = v
        default: throw args.error("activations", "activations.symmetric must be true or false")
        }
        return q
    }

    /// The calibration text's first `tokens` tokens cut into sequences of `window`, and their count.
    static func calibrationSequences(_ m: LanguageModel, _ args: Arguments) throws -> (sequences: [[Int]], tokens: Int) {
        let text = try LM.text(args, "calibration")
        let budget = try args.int("tokens"), window = try args.int("window")
        let ids = Array(m.tokenizer.encode(text).prefix(budget))
        guard ids.count >= 1 else { throw args.error("calibration", "the calibration text has no tokens") }
        guard window <= m.config.context else {
            throw args.error("window", "window \(window) is above the model's context of \(m.config.context)")
        }
        return (stride(from: 0, to: ids.count, by: window).map { Array(ids[$0..<min(ids.count, $0 + window)]) }, ids.count)
    }
}

extension Value {
    var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
}
