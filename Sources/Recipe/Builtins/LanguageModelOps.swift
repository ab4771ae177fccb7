import Foundation
import Models
import SqueezeCore

/// Operations of decoder language models: detokenize, perplexity, kld, logits, generate.
extension Builtins {
    static let presetParam = ParamSpec(
        "preset", .choice(LanguageModel.Preset.allCases.map(\.rawValue)), .value(.string("llama.cpp")), namedOnly: true,
        doc: "the evaluation convention (recorded with the result): \"llama.cpp\", \"gptq\" or \"all\"")
    static let contextParam = ParamSpec(
        "context", .integer, .value(.number(512)), range: 2...1_000_000, namedOnly: true, doc: "window length in tokens")
    static let limitParam = ParamSpec(
        "limit", .integer, .none, range: 1...100_000_000, namedOnly: true, doc: "use only the text's first this many tokens")

    static func evaluationTokens(_ m: LanguageModel, _ args: Arguments) throws -> [Int] {
        let ids = m.tokenizer.encode(try LM.text(args, "text"))
        guard let limit = try args.optionalInt("limit") else { return ids }
        return Array(ids.prefix(limit))
    }

    /// perplexity(m, text, …) with a decoder as its first argument (`x`).
    static func modelPerplexity(_ args: Arguments, _ interp: Interpreter) throws -> Value {
        let m = try LM.model(args, "x")
        guard !args.isNone("text") else { throw args.error("text", "perplexity(m, text): give the text to score") }
        let ids = try evaluationTokens(m, args)
        let context = try args.int("context"), preset = try LM.preset(args)
        let run = try cacheRun(args, m)
        let p = try LM.wrap(args, "text") {
            try m.perplexity(tokens: ids, context: context, preset: preset, cache: run, cancellation: interp.cancellation)
        }
        return .record(
            Record(pairs: [
                ("ppl", .number(p.ppl)), ("nll", .number(p.nll)), ("stderr", .number(p.stderr)), ("tokens", int(p.tokens)),
                ("windows", int(p.windows)), ("scored", int(p.scored)), ("preset", .string(preset.rawValue)),
                ("context", int(context)), ("nlls", .tensor(Tensor(p.nlls.map { Float($0) }))),
            ] + cacheFields(run, p.kv)))
    }

    static let languageModels: [Operation] = [
        Operation(
            "detokenize", family: "models", summary: "The text of token ids (a decoder's byte-level BPE, control tokens as written).",
            doc: "Inverse of tokenize(m, text).ids: each token's bytes (GPT-2's byte alphabet mapped back) joined and read as UTF-8.",
            example: "m = load(\"smollm2\")\nt = tokenize(m, \"Squeeze it: 3 bits.\")\nprint(detokenize(m, t.ids), len(t.pieces))",
            params: [ParamSpec("model", .any), ParamSpec("ids", .any)]
        ) { args, _ in
            let m = try LM.model(args)
            let ids: [Int]
            switch args.value("ids") {
            case .tensor(let t): ids = t.storage.map { Int($0) }
            case .list: ids = try args.ints("ids")
            default: throw args.error("ids", "'ids' must be a tensor or list of token ids, got \(args.value("ids").typeDescription)")
            }
            if let bad = ids.first(where: { $0 < 0 || $0 >= m.config.vocab }) {
                throw args.error("ids", "token id \(bad) is outside the vocabulary (0…\(m.config.vocab - 1))")
            }
            return .string(m.tokenizer.decode(ids))
        },

        Operation(
            "kld", family: "models", summary: "KL(base ‖ model) per predicted token, with llama.cpp's statistics.",
            doc:
                """
                    For each scored prediction (the preset's windows, as perplexity), KL = Σ_v p_base(v)(log p_base(v) − log p(v)) over \
                    the vocabulary. Returns mean ± stderr, median, p99 and max of KL; same_top (the fraction where both models' arg-max \
                    agree, ± stderr); rms_dp (RMS of p(token) − p_base(token) for the real next token); ln_ppl_ratio = mean(NLL − \
                    NLL_base) = ln(PPL/PPL_base) ± stderr; ppl_base and ppl; and kl per prediction — llama-perplexity \
                    --kl-divergence's report (PR ggml-org/llama.cpp#6936), computed from full float64 log-probabilities rather than its \
                    16-bit stored ones.
                    """,
            example:
                """
                    m = load(\"smollm2\")\nq = compress(m, fn(W, name) { return quantize(W, bits: 4, group: 128) }, \
                    layers: [\"blk.0.ffn_down\"])\n\
                    d = kld(m, q, load(\"canterbury\").texts.alice29, context: 64, limit: 128)\nprint(d.scored, d.mean < 0.05)
                    """,
            params: [
                ParamSpec("base", .any), ParamSpec("model", .any), ParamSpec("text", .any), contextParam, presetParam, limitParam,
                cacheParam, cacheModeParam,
            ]
        ) { args, interp in
            let base = try LM.model(args, "base"), m = try LM.model(args)
            let ids = try evaluationTokens(m, args)
            let context = try args.int("context"), preset = try LM.preset(args)
            let run = try cacheRun(args, m)
            let d = try LM.wrap(args, "text") {
                try LanguageModel.divergence(
                    base: base, model: m, tokens: ids, context: context, preset: preset, cache: run, cancellation: interp.cancellation)
            }
            return .record(
                Record(pairs: [
                    ("mean", .number(d.meanKL)), ("stderr", .number(d.stderrKL)), ("median", .number(d.medianKL)),
                    ("p99", .number(d.p99KL)), ("max", .number(d.maxKL)), ("same_top", .number(d.sameTop)),
                    ("same_top_stderr", .number(d.sameTopStderr)), ("rms_dp", .number(d.rmsDeltaP)),
                    ("ln_ppl_ratio", .number(d.lnPPLRatio)), ("ln_ppl_ratio_stderr", .number(d.lnPPLRatioStderr)),
                    ("ppl_base", .number(d.pplBase)), ("ppl", .number(d.ppl)), ("scored", int(d.scored)), ("windows", int(d.windows)),
                    ("preset", .string(preset.rawValue)), ("context", int(context)), ("kl", .tensor(Tensor(d.kl.map { Float($0) }))),
                ] + cacheFields(run, d.kv)))
        },

        Operation(
            "logits", family: "models", summary: "A decoder's next-token logits: the last position's (vocabulary), or every position's.",
            doc:
                """
                    One forward pass over the text's tokens; the output head (the tied token embedding for SmolLM2) on the last \
                    position gives a tensor of vocab_size; all: true gives tokens × vocab_size (memory: 4 bytes × tokens × 49,152).
                    """,
            example: "m = load(\"smollm2\")\nz = logits(m, \"The capital of France is\")\nprint(shape(z), argmax(z))",
            params: [ParamSpec("model", .any), ParamSpec("text", .string), ParamSpec("all", .bool, .value(.bool(false)), namedOnly: true)]
        ) { args, interp in
            let m = try LM.model(args)
            let ids = m.tokenizer.encode(try args.string("text"))
            guard !ids.isEmpty else { throw args.error("text", "the text has no tokens") }
            guard ids.count <= m.config.context else {
                throw args.error("text", "the text has \(ids.count) tokens, above the model's context of \(m.config.context)")
            }
            let all = try args.bool("all")
            if all { try LM.wrap(args, "text") { try Memory.check(elements: ids.count * m.config.vocab, "logits of \(ids.count) tokens") } }
            let final = try LM.wrap(args, "text") { try m.forward([ids], cancellation: interp.cancellation).final }
            let L = try LM.wrap(args, "text") { try m.logits(final, rows: (all ? 0 : ids.count - 1)..<ids.count) }
            return .tensor(all ? L : Tensor(shape: [m.config.vocab], storage: L.storage))
        },

        Operation(
            "generate", family: "models", summary: "Continue a prompt with a decoder: {text, ids} of the new tokens, through the KV cache.",
            doc:
                """
                    One forward pass over the prompt fills the KV cache, then one pass per new token. temperature 0 (the default) is \
                    greedy (arg-max); above 0, a draw from softmax(logits / temperature) after keeping the top_k most likely tokens and \
                    then the smallest set whose probability reaches top_p (nucleus sampling, Holtzman et al. 2020), from seed (or the \
                    run's generator). Stops after tokens new tokens, at the end-of-sequence token, or when the continuation contains a \
                    stop string (cut before it). reason: \"length\", \"eos\" or \"stop\".
                    """,
            example: "m = load(\"smollm2\")\ng = generate(m, \"The capital of France is\", tokens: 3)\nprint(g.text)",
            params: [
                ParamSpec("model", .any), ParamSpec("prompt", .string),
                ParamSpec("tokens", .integer, .value(.number(32)), range: 1...100_000, namedOnly: true),
                ParamSpec("temperature", .number, .value(.number(0)), range: 0...100, namedOnly: true),
                ParamSpec("top_k", .integer, .none, range: 1...10_000_000, namedOnly: true),
                ParamSpec("top_p", .number, .none, range: 0...1, namedOnly: true),
                ParamSpec("stop", .any, .none, namedOnly: true, doc: "a string or list of strings that end the continuation"),
                seedParam, cacheParam,
            ]
        ) { args, interp in
            let m = try LM.model(args)
            let prompt = m.tokenizer.encode(try args.string("prompt"))
            guard !prompt.isEmpty else { throw args.error("prompt", "the prompt is empty: give at least one token of text") }
            var stop: [String] = []
            switch args.value("stop") {
            case .none: break
            case .string(let s): stop = [s]
            case .list(let l):
                stop = try l.map { v in
                    guard case .string(let s) = v, !s.isEmpty else { throw args.error("stop", "stop strings must be non-empty strings") }
                    return s
                }
            default: throw args.error("stop", "stop must be a string or a list of strings")
            }
            let sampling = LanguageModel.Sampling(
                temperature: try args.number("temperature"), topK: try args.optionalInt("top_k"), topP: try args.optionalNumber("top_p"))
            let policy = try args.isNone("cache") ? nil : cachePolicy(args.value("cache"), args, "cache")
            if let policy { try LM.wrap(args, "cache") { try policy.check(m, mode: .incremental) } }
            let g = try withGenerator(args, interp) { rng in
                try LM.wrap(args, "tokens") {
                    try m.generate(
                        prompt: prompt, tokens: try args.int("tokens"), sampling: sampling, stop: stop, cache: policy, rng: &rng,
                        cancellation: interp.cancellation)
                }
            }
            return .record(
                Record(pairs: [
                    ("text", .string(g.text)), ("ids", .tensor(Tensor(g.ids.map { Float($0) }))), ("reason", .string(g.reason)),
                    ("prompt_tokens", int(prompt.count)),
                ] + cacheFields(policy.map { LanguageModel.CacheRun($0, mode: .incremental) }, g.kv)))
        },
    ]
}
