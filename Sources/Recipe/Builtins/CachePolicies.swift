import Compression
import Foundation
import Models
import OrderedCollections
import SqueezeCore

/// KV-cache policies in recipes: `cache.*` build a policy value (a record naming its method and
/// parameters, with calibrated constants as tensors); perplexity, kld and generate take it as
/// `cache:` and run the model's attention on the compressed cache.
extension Builtins {
    static let cacheParam = ParamSpec(
        "cache", .any, .none, namedOnly: true, doc: "a KV-cache policy (cache.int, cache.kvquant, cache.window, cache.h2o)")
    static let cacheModeParam = ParamSpec(
        "mode", .choice(KVMode.allCases.map(\.rawValue)), .none, namedOnly: true,
        doc: "\"simulated\" (one pass per window; quantizers' default) or \"incremental\" (token by token; eviction's default)")

    /// The policy and mode an evaluation is asked to use, or nil without `cache:`.
    static func cacheRun(_ args: Arguments, _ m: LanguageModel) throws -> LanguageModel.CacheRun? {
        guard !args.isNone("cache") else {
            guard args.isNone("mode") else { throw args.error("mode", "mode: applies with a cache policy (cache: cache.int(bits: 4), …)") }
            return nil
        }
        let policy = try cachePolicy(args.value("cache"), args, "cache")
        let mode = try args.isNone("mode") ? nil : KVMode(rawValue: try args.string("mode"))
        let run = LanguageModel.CacheRun(policy, mode: mode)
        try LM.wrap(args, "cache") { try policy.check(m, mode: run.mode) }
        return run
    }

    /// What an evaluation with a cache policy adds to its result.
    static func cacheFields(_ run: LanguageModel.CacheRun?, _ account: KVAccount?) -> [(String, Value)] {
        guard let run, let a = account else { return [] }
        func parts(_ p: [String: Double]) -> Value {
            .record(Record(pairs: p.keys.sorted().map { ($0, .number(a.elements == 0 ? 0 : p[$0]! / Double(a.elements))) }))
        }
        return [
            ("cache", .string(run.policy.description)), ("mode", .string(run.mode.rawValue)),
            ("kv_bits_per_element", .number(a.bitsPerElement)),
            ("kv_bits", .record(Record(pairs: [("K", .number(a.keyBitsPerElement)), ("V", .number(a.valueBitsPerElement))]))),
            ("kv_parts", .record(Record(pairs: [("K", parts(a.keys)), ("V", parts(a.values))]))),
            ("kv_constant_bits", .number(run.policy.constantBits.values.reduce(0, +))),
        ]
    }

    /// A policy value back to the model's policy, checking every field.
    static func cachePolicy(_ v: Value, _ args: Arguments, _ name: String) throws -> CachePolicy {
        guard case .record(let r) = v, case .string(let method)? = r["cache"] else {
            throw args.error(
                name, "'\(name)' must be a cache policy (cache.int, cache.kvquant, cache.zipcache, cache.gear, cache.cskv, cache.razor, cache.ems, cache.window, cache.h2o), got \(v.typeDescription)")
        }
        func int(_ k: String) throws -> Int {
            guard case .number(let x)? = r[k], x == x.rounded(), abs(x) < 1e9 else {
                throw args.error(name, "the policy's \(k) must be a whole number")
            }
            return Int(x)
        }
        func number(_ k: String) throws -> Double {
            guard case .number(let x)? = r[k] else { throw args.error(name, "the policy's \(k) must be a number") }
            return x
        }
        func bool(_ k: String) throws -> Bool {
            guard case .bool(let x)? = r[k] else { throw args.error(name, "the policy's \(k) must be true or false") }
            return x
        }
        func rows(_ k: String) throws -> [[Float]] {
            guard case .tensor(let t)? = r[k], t.rank == 2 else { throw args.error(name, "the policy's \(k) must be a matrix") }
            return (0..<t.shape[0]).map { Array(t.storage[($0 * t.shape[1])..<(($0 + 1) * t.shape[1])]) }
        }
        switch method {
        case "int":
            return .transform(
                IntCache(
                    bits: try int("bits"), perChannel: r["per"]?.stringValue == "channel", group: try int("group"), span: try int("span"),
                    preRoPE: try bool("pre_rope"), sink: try int("sink")))
        case "kvquant":
            let low = try rows("k_low")
            return .transform(
                KVQuantCache(
                    bits: try int("bits"), outliers: try number("outliers"), preRoPE: try bool("pre_rope"), sink: try int("sink"),
                    keyLow: low, keyHigh: try rows("k_high"), keyLevels: try rows("k_levels"), valueLevels: try rows("v_levels"),
                    calibrationTokens: try int("calibration"), kvDim: low.first?.count))
        case "zipcache":
            guard let score = r["score"]?.stringValue.flatMap(ZipCacheTransform.Score.init(rawValue:)) else {
                throw args.error(name, "the policy's score must be \"normalized\", \"accumulated\" or \"random\"")
            }
            return .transform(
                ZipCacheTransform(
                    high: try int("high"), low: try int("low"), salient: try number("salient"), group: try int("group"), score: score,
                    probes: try number("probes"), seed: UInt64(max(0, try int("seed")))))
        case "gear":
            return .transform(
                GEARTransform(bits: try int("bits"), group: try int("group"), rank: try int("rank"), outliers: try number("outliers")))
        case "razor":
            guard case .tensor(let full)? = r["full"], full.rank == 2 else { throw args.error(name, "the policy's full must be a matrix") }
            let heads = Set(full.storage.indices.filter { full.storage[$0] != 0 })
            return .eviction(
                RazorEviction(
                    full: heads, layers: full.shape[0], kvHeads: full.shape[1], sink: try int("sink"), recent: try int("recent"),
                    compensation: try bool("compensation")))
        case "ems":
            return .eviction(
                EvictMergeEviction(
                    tokens: try int("tokens"), sink: try int("sink"), recent: try int("recent"), merge: try bool("merge"),
                    similarity: try number("similarity"), window: try int("window")))
        case "cskv":
            func bases(_ k: String) throws -> [Tensor] {
                guard case .tensor(let t)? = r[k], t.rank == 3 else { throw args.error(name, "the policy's \(k) must be a 3-D tensor") }
                let (L, n, rk) = (t.shape[0], t.shape[1], t.shape[2])
                return (0..<L).map { Tensor(shape: [n, rk], storage: Array(t.storage[($0 * n * rk)..<(($0 + 1) * n * rk)])) }
            }
            return .transform(
                ChannelShrinkTransform(
                    rank: try int("rank"), recent: try int("recent"), bits: try int("bits"), source: r["source"]?.stringValue ?? "",
                    keyBasis: try bases("k_basis"), valueBasis: try bases("v_basis")))
        case "window": return .eviction(WindowEviction(tokens: try int("tokens"), sink: try int("sink")))
        case "h2o": return .eviction(HeavyHitterEviction(tokens: try int("tokens"), recent: try int("recent")))
        default: throw args.error(name, "no cache policy \(Format.quoted(method))")
        }
    }

    static func policyRecord(_ method: String, _ fields: [(String, Value)]) -> Value {
        .record(Record(pairs: [("cache", .string(method))] + fields))
    }

    static let bitsParam = ParamSpec("bits", .integer, .value(.number(4)), range: 1...16, namedOnly: true)
    static let sinkParam = ParamSpec(
        "sink", .integer, .value(.number(0)), range: 0...1_000_000, namedOnly: true, doc: "first tokens kept at fp16 (attention sinks)")

    static let cachePolicies: [Operation] = [
        Operation(
            "cache.int", family: "kv cache",
            summary: "KV-cache policy: uniform integer keys (per token or per channel) and values (per token).",
            doc:
                """
                KIVI's asymmetric grid (Liu et al. 2024) on the cache attention reads: per group s = (max − min)/(2^b − 1) and min \
                in fp16, x̂ = round((x − min)/s)·s + min. Keys per: \"token\" (groups of `group` channels of a token) or \"channel\" \
                (each channel over groups of `span` tokens; span 0 = the whole window, which is not causal: simulated mode only), \
                before RoPE (pre_rope: true, RoPE applied to the dequantized keys, as KVQuant) or after; values always per token in \
                groups of `group` channels (default the head dimension, 64). The first `sink` tokens stay fp16. Stored: b bits per \
                element + 32 bits (scale and minimum) per group + 16 bits per element of sink tokens.
                """,
            example:
                """
                m = load(\"smollm2\")\nt = load(\"canterbury\").texts.alice29\n\
                p = perplexity(m, t, context: 64, limit: 128, cache: cache.int(bits: 4))\nprint(p.kv_bits_per_element, p.mode)
                """,
            params: [
                bitsParam, ParamSpec("per", .choice(["token", "channel"]), .value(.string("token")), namedOnly: true, doc: "keys' axis"),
                ParamSpec(
                    "group", .integer, .value(.number(64)), range: 1...1_000_000, namedOnly: true, doc: "channels per per-token group"),
                ParamSpec("span", .integer, .value(.number(0)), range: 0...1_000_000, namedOnly: true, doc: "tokens per per-channel group"),
                ParamSpec("pre_rope", .bool, .value(.bool(false)), namedOnly: true), sinkParam,
            ]
        ) { args, _ in
            let per = try args.string("per")
            if per == "token", try args.int("span") != 0 { throw args.error("span", "span: applies to per: \"channel\" keys") }
            return policyRecord(
                "int",
                [
                    ("bits", int(try args.int("bits"))), ("per", .string(per)), ("group", int(try args.int("group"))),
                    ("span", int(try args.int("span"))), ("pre_rope", .bool(try args.bool("pre_rope"))),
                    ("sink", int(try args.int("sink"))),
                ])
        },
        Operation(
            "cache.kvquant", family: "kv cache",
            summary: "KV-cache policy: KVQuant — calibrated per-channel pre-RoPE keys, per-token values, non-uniform levels, outliers.",
            doc:
                """
                Hooper et al. 2024 on the live cache. From `tokens` tokens of the calibration text (windows of `window`): each \
                key channel's thresholds [lo, hi] = its [1 − t, t] percentiles over every calibration token, t = 1 − outliers/2 \
                (min and max without outliers), fixed offline so keys quantize causally; values take each token's own \
                percentiles. Inliers are normalised by z = (hi + lo)/2, r = (hi − lo)/2 and replaced by the nearest of 2^b levels \
                per layer (1-D k-means on the calibration's normalised inliers: Lloyd's iterations from the quantiles to \
                convergence, deterministic where the reference's k-means++ start is not; not Fisher-weighted); values \
                outside [lo, hi] are kept exactly (dense-and-sparse, ~outliers of all values). Keys before RoPE by default; the \
                first `sink` tokens at fp16. Stored: b bits per element + per-token value zero point and range (32 bits) + every \
                outlier as fp16 and a 32-bit index; the calibrated tables (each key channel's thresholds, 32 bits, and each layer's \
                    levels) are the model's, reported as kv_constant_bits.
                """,
            example:
                """
                m = load(\"smollm2\")\nt = load(\"canterbury\").texts\n\
                P = cache.kvquant(m, bits: 3, calibration: t.plrabn12, tokens: 256)\n\
                print(perplexity(m, t.alice29, context: 64, limit: 128, cache: P).kv_bits_per_element < 3.6)
                """,
            params: [
                ParamSpec("model", .any), bitsParam,
                ParamSpec("outliers", .number, .value(.number(0.01)), range: 0...0.5, namedOnly: true, doc: "fraction kept exact"),
                ParamSpec("pre_rope", .bool, .value(.bool(true)), namedOnly: true),
                ParamSpec("sink", .integer, .value(.number(1)), range: 0...1_000_000, namedOnly: true, doc: "first tokens at fp16"),
                ParamSpec("calibration", .any, doc: "text (or list of texts) the thresholds and levels are calibrated on"),
                ParamSpec("tokens", .integer, .value(.number(2048)), range: 1...10_000_000, namedOnly: true),
                ParamSpec("window", .integer, .value(.number(512)), range: 1...1_000_000, namedOnly: true),
            ]
        ) { args, interp in
            let m = try LM.model(args)
            let (sequences, count) = try LM.calibrationSequences(m, args)
            let (bits, outliers, preRoPE, sink) = (
                try args.int("bits"), try args.number("outliers"), try args.bool("pre_rope"), try args.int("sink")
            )
            let q = try LM.wrap(args, "calibration") {
                try KVQuantCache.calibrate(
                    m, tokens: sequences.flatMap { $0 }, window: try args.int("window"), bits: bits, outliers: outliers,
                    preRoPE: preRoPE, sink: sink, cancellation: interp.cancellation)
            }
            func matrix(_ rows: [[Float]]) -> Value {
                .tensor(Tensor(shape: [rows.count, rows.map(\.count).max() ?? 0], storage: rows.flatMap { $0 }))
            }
            return policyRecord(
                "kvquant",
                [
                    ("bits", int(bits)), ("outliers", .number(outliers)), ("pre_rope", .bool(preRoPE)), ("sink", int(sink)),
                    ("calibration", int(count)), ("k_low", matrix(q.keyLow)), ("k_high", matrix(q.keyHigh)),
                    ("k_levels", matrix(q.keyLevels)), ("v_levels", matrix(q.valueLevels)),
                ])
        },
        Operation(
            "cache.zipcache", family: "kv cache",
            summary: "KV-cache policy: ZipCache — salient tokens (normalized attention) at high bits, the rest at low bits.",
            doc:
                """
                    He et al. 2024. Keys channel-separable token-wise: each channel divided by c_j = √max_i |K_ij| (fp16), then one \
                    asymmetric grid per token (per group of `group` channels; 0 = the whole token), values per token the same way. \
                    Saliency p_j = Σ_i A_ij / #{i ≥ j} (score: "normalized"; "accumulated" is H2O's Σ_i A_ij, "random" a seeded split) \
                    summed over query heads, from every query or from a `probes` fraction of them (half the most recent, half random: \
                    the paper's approximation). The top `salient` fraction gets `high` bits, the rest `low`. Whole-window statistics: \
                    simulated mode. Stored: codes, 32 bits per token group, the key channel scales (16 bits each), a precision flag \
                    per token.
                    """,
            example:
                """
                    m = load(\"smollm2\")\nt = load(\"canterbury\").texts.alice29\n\
                    p = perplexity(m, t, context: 64, limit: 128, cache: cache.zipcache(seed: 1))\nprint(p.kv_bits_per_element < 3.5)
                    """,
            params: [
                ParamSpec("high", .integer, .value(.number(4)), range: 1...16, namedOnly: true),
                ParamSpec("low", .integer, .value(.number(2)), range: 1...16, namedOnly: true),
                ParamSpec("salient", .number, .value(.number(0.5)), range: 0...1, namedOnly: true, doc: "fraction of tokens at high bits"),
                ParamSpec("group", .integer, .value(.number(0)), range: 0...1_000_000, namedOnly: true, doc: "channels per grid (0: all)"),
                ParamSpec("score", .choice(ZipCacheTransform.Score.allCases.map(\.rawValue)), .value(.string("normalized")), namedOnly: true),
                ParamSpec("probes", .number, .value(.number(1)), range: 0.001...1, namedOnly: true, doc: "fraction of queries scored"),
                seedParam,
            ]
        ) { args, interp in
            let seed = try withGenerator(args, interp) { Int($0.next() >> 33) }
            return policyRecord(
                "zipcache",
                [
                    ("high", int(try args.int("high"))), ("low", int(try args.int("low"))), ("salient", .number(try args.number("salient"))),
                    ("group", int(try args.int("group"))), ("score", .string(try args.string("score"))),
                    ("probes", .number(try args.number("probes"))), ("seed", int(seed)),
                ])
        },
        Operation(
            "cache.gear", family: "kv cache", summary: "KV-cache policy: GEAR — quantized cache + low-rank residual + exact sparse outliers.",
            doc:
                """
                    Kang et al. 2024 on each layer's window of keys and of values (tokens × kv_dim): D̂ = Q(D − S) + L + S, S the \
                    ⌊outliers·kv_dim/2⌋ largest and smallest entries of each token kept exactly, Q per-token groups of `group` channels \
                    at `bits`, L the rank-r truncated SVD of the residual (as `gear` on a matrix). Whole-window statistics: simulated \
                    mode. Stored: codes + 32 bits per group + outliers at 32 bits plus their column index + fp16 factors r·(tokens + \
                    kv_dim).
                    """,
            example:
                """
                    m = load(\"smollm2\")\nt = load(\"canterbury\").texts.alice29\n\
                    p = perplexity(m, t, context: 64, limit: 128, cache: cache.gear(bits: 4))\nprint(p.kv_bits.K > 4)
                    """,
            params: [
                ParamSpec("bits", .integer, .value(.number(2)), range: 1...16, namedOnly: true),
                ParamSpec("group", .integer, .value(.number(64)), range: 1...1_000_000, namedOnly: true),
                ParamSpec("rank", .integer, .value(.number(4)), range: 0...1_000_000, namedOnly: true),
                ParamSpec("outliers", .number, .value(.number(0.02)), range: 0...1, namedOnly: true),
            ]
        ) { args, _ in
            policyRecord(
                "gear",
                [
                    ("bits", int(try args.int("bits"))), ("group", int(try args.int("group"))), ("rank", int(try args.int("rank"))),
                    ("outliers", .number(try args.number("outliers"))),
                ])
        },
        Operation(
            "cache.cskv", family: "kv cache",
            summary: "KV-cache policy: CSKV — keys and values stored as r of kv_dim channels (SVD of the weights or of the activations).",
            doc:
                """
                    Wang et al. 2024. Each layer's keys (before RoPE) and values are stored as a latent X·P of `rank` channels and read \
                    back as X·P·Pᵀ, P (kv_dim × r, orthonormal) from the SVD of W_k and W_v (source: \"weights\", the top left \
                    singular vectors: K = X·W_kᵀ lies in their span) or of the keys and values on the calibration text (source: \
                    \"activations\", the top right singular vectors: the rank-r subspace that loses least of them — activation-aware, \
                    as SVD-LLM and EoRA). bits < 16 quantizes the latent per token (32 bits of scale and minimum per token); the \
                    last `recent` tokens of a window stay whole at fp16 (the bi-branch cache; simulated mode only when recent > 0). \
                    The paper's brief fine-tuning of the factors is not done. Stored: the latent, the fp16 window, and P per layer \
                    (16 bits each: the model's tables, reported as kv_constant_bits, not in the cache's bits per element).
                    """,
            example:
                """
                    m = load(\"smollm2\")\nt = load(\"canterbury\").texts\n\
                    P = cache.cskv(m, rank: 96, calibration: t.plrabn12, tokens: 256)\n\
                    print(perplexity(m, t.alice29, context: 64, limit: 128, cache: P).kv_bits_per_element < 9)
                    """,
            params: [
                ParamSpec("model", .any), ParamSpec("rank", .integer, .value(.number(96)), range: 1...1_000_000, namedOnly: true),
                ParamSpec("source", .choice(["activations", "weights"]), .value(.string("activations")), namedOnly: true),
                ParamSpec("calibration", .any, .none, doc: "text for source: \"activations\""),
                ParamSpec("tokens", .integer, .value(.number(2048)), range: 1...10_000_000, namedOnly: true),
                ParamSpec("window", .integer, .value(.number(512)), range: 1...1_000_000, namedOnly: true),
                ParamSpec("recent", .integer, .value(.number(0)), range: 0...1_000_000, namedOnly: true, doc: "last tokens kept whole"),
                ParamSpec("bits", .integer, .value(.number(16)), range: 1...16, namedOnly: true, doc: "latent precision (16: fp16)"),
            ]
        ) { args, interp in
            let m = try LM.model(args)
            let source = try args.string("source")
            var tokens: [Int] = []
            if source == "activations" {
                guard !args.isNone("calibration") else { throw args.error("calibration", "source: \"activations\" needs calibration: text") }
                tokens = try LM.calibrationSequences(m, args).sequences.flatMap { $0 }
            } else if !args.isNone("calibration") {
                throw args.error("calibration", "source: \"weights\" takes no calibration text")
            }
            let rank = try args.int("rank")
            guard rank <= m.config.kvDim else { throw args.error("rank", "rank \(rank) is above the model's kv_dim \(m.config.kvDim)") }
            let t = try LM.wrap(args, "calibration") {
                try ChannelShrinkTransform.calibrate(
                    m, rank: rank, source: source, tokens: tokens, window: try args.int("window"), recent: try args.int("recent"),
                    bits: try args.int("bits"), cancellation: interp.cancellation)
            }
            func stack(_ b: [Tensor]) -> Value {
                .tensor(Tensor(shape: [b.count, m.config.kvDim, rank], storage: b.flatMap(\.storage)))
            }
            return policyRecord(
                "cskv",
                [
                    ("rank", int(rank)), ("source", .string(source)), ("recent", int(t.recent)), ("bits", int(t.bits)),
                    ("k_basis", stack(t.keyBasis)), ("v_basis", stack(t.valueBasis)),
                ])
        },
        Operation(
            "cache.razor", family: "kv cache",
            summary: "KV-cache policy: RazorAttention — retrieval heads keep everything, the others sinks + recent + a compensation entry.",
            doc:
                """
                    Tang et al. 2024. The probe: BOS + `length` random token ids from [10000, 12500) repeated `repeats` times, one \
                    forward pass; per head, echo = the attention a query in a repeat gives to the earlier occurrences of its own token, \
                    induction = to the tokens that followed them, averaged over queries, maximised over the query heads of each \
                    key/value group (the paper: 2,500 tokens × 4; the default 256 × 4 fits the probe's attention in memory). The top \
                    `induction` fraction of all key/value heads by induction score and the top `echo` fraction by echo score are \
                    retrieval heads and keep their whole cache; the others keep `sink` initial + `recent` newest tokens and, with \
                    compensation, one entry holding the mean of the keys and values they dropped. truncate: \"retrieval\" is the \
                    ablation — truncate the retrieval heads instead and keep the others whole. Returns the policy with the scores \
                    (induction, echo: layers × kv_heads) and full (1 where a head keeps everything). Incremental mode.
                    """,
            example:
                """
                    m = load(\"smollm2\")\nP = cache.razor(m, length: 32, recent: 16, seed: 1)\n\
                    print(sum(P.full), argmax(P.induction))
                    """,
            params: [
                ParamSpec("model", .any),
                ParamSpec("induction", .number, .value(.number(0.14)), range: 0...1, namedOnly: true, doc: "fraction of heads by induction"),
                ParamSpec("echo", .number, .value(.number(0.01)), range: 0...1, namedOnly: true, doc: "fraction of heads by echo"),
                ParamSpec("sink", .integer, .value(.number(4)), range: 0...1_000_000, namedOnly: true),
                ParamSpec("recent", .integer, .value(.number(256)), range: 1...1_000_000, namedOnly: true),
                ParamSpec("compensation", .bool, .value(.bool(true)), namedOnly: true),
                ParamSpec("truncate", .choice(["others", "retrieval"]), .value(.string("others")), namedOnly: true),
                ParamSpec("length", .integer, .value(.number(256)), range: 2...100_000, namedOnly: true, doc: "probe string length"),
                ParamSpec("repeats", .integer, .value(.number(4)), range: 2...100, namedOnly: true), seedParam,
            ]
        ) { args, interp in
            let m = try LM.model(args)
            let (length, repeats) = (try args.int("length"), try args.int("repeats"))
            guard length * repeats + 1 <= m.config.context else {
                throw args.error("length", "the probe's \(length * repeats + 1) tokens exceed the model's context of \(m.config.context)")
            }
            let seed = try withGenerator(args, interp) { $0.next() >> 1 }
            let p = try LM.wrap(args, "model") {
                try RazorEviction.probe(
                    m, length: length, repeats: repeats, range: 10_000..<12_500, seed: seed, cancellation: interp.cancellation)
            }
            var heads = RazorEviction.retrievalHeads(
                echo: p.echo, induction: p.induction, inductionRatio: try args.number("induction"), echoRatio: try args.number("echo"))
            let (L, G) = (m.config.layers, m.config.kvHeads)
            if try args.string("truncate") == "retrieval" { heads = Set(0..<(L * G)).subtracting(heads) }
            func matrix(_ s: [[Double]]) -> Value { .tensor(Tensor(shape: [L, G], storage: s.flatMap { $0.map(Float.init) })) }
            return policyRecord(
                "razor",
                [
                    ("sink", int(try args.int("sink"))), ("recent", int(try args.int("recent"))),
                    ("compensation", .bool(try args.bool("compensation"))), ("truncate", .string(try args.string("truncate"))),
                    ("full", .tensor(Tensor(shape: [L, G], storage: (0..<(L * G)).map { heads.contains($0) ? 1 : 0 }))),
                    ("induction", matrix(p.induction)), ("echo", matrix(p.echo)),
                ])
        },
        Operation(
            "cache.ems", family: "kv cache",
            summary: "KV-cache policy: EMS — evict-then-merge by global–local importance, merged entries weighted by their count.",
            doc:
                """
                    Evict-then-merge with global–local importance (EMS). Each head keeps `tokens` entries, always the first `sink` and \
                    the `recent` newest. Importance = global (attention received per query that could see the entry) + local \
                    (attention received over about the last `window` steps, an exponential average). Over budget, the least \
                    important entry leaves: with merge, into the most similar other candidate by key cosine (≥ similarity), keys and \
                    values averaged by count and the merged entry's logit raised by log(count) (proportional attention, so merged \
                    tokens keep their attention mass); otherwise, or with merge: false, it is evicted. Incremental mode. Stored: \
                    the entries at fp16 + a 16-bit count per merged entry.
                    """,
            example:
                """
                    m = load(\"smollm2\")\nt = load(\"canterbury\").texts.alice29\n\
                    p = perplexity(m, t, context: 48, limit: 48, cache: cache.ems(tokens: 24, recent: 8))\nprint(p.kv_bits.K < 16)
                    """,
            params: [
                ParamSpec("tokens", .integer, .value(.number(256)), range: 1...1_000_000, namedOnly: true, doc: "entries kept per head"),
                ParamSpec("sink", .integer, .value(.number(4)), range: 0...1_000_000, namedOnly: true),
                ParamSpec("recent", .integer, .value(.number(32)), range: 0...1_000_000, namedOnly: true),
                ParamSpec("merge", .bool, .value(.bool(true)), namedOnly: true),
                ParamSpec("similarity", .number, .value(.number(0.5)), range: -1...1, namedOnly: true, doc: "least key cosine to merge"),
                ParamSpec("window", .integer, .value(.number(32)), range: 1...1_000_000, namedOnly: true, doc: "steps of local importance"),
            ]
        ) { args, _ in
            let (tokens, sink, recent) = (try args.int("tokens"), try args.int("sink"), try args.int("recent"))
            guard sink + recent < tokens else {
                throw args.error("tokens", "tokens (\(tokens)) must exceed sink + recent (\(sink + recent)) to leave room to evict or merge")
            }
            return policyRecord(
                "ems",
                [
                    ("tokens", int(tokens)), ("sink", int(sink)), ("recent", int(recent)), ("merge", .bool(try args.bool("merge"))),
                    ("similarity", .number(try args.number("similarity"))), ("window", int(try args.int("window"))),
                ])
        },
        Operation(
            "cache.window", family: "kv cache",
            summary: "KV-cache policy: keep the first sink tokens and the most recent tokens (StreamingLLM).",
            doc:
                """
                Xiao et al. 2024: every head keeps `sink` initial tokens and the `tokens` most recent, evicting the rest as tokens \
                arrive (incremental mode). Stored: the kept entries at fp16.
                """,
            example:
                """
                m = load(\"smollm2\")\nt = load(\"canterbury\").texts.alice29\n\
                p = perplexity(m, t, context: 48, limit: 48, cache: cache.window(tokens: 16, sink: 4))\nprint(p.mode)
                """,
            params: [
                ParamSpec("tokens", .integer, .value(.number(256)), range: 1...1_000_000, namedOnly: true, doc: "recent tokens kept"),
                ParamSpec("sink", .integer, .value(.number(4)), range: 0...1_000_000, namedOnly: true),
            ]
        ) { args, _ in policyRecord("window", [("tokens", int(try args.int("tokens"))), ("sink", int(try args.int("sink")))]) },
        Operation(
            "cache.h2o", family: "kv cache",
            summary: "KV-cache policy: H2O — keep recent tokens and the heavy hitters of accumulated attention.",
            doc:
                """
                Zhang et al. 2023: each head keeps `tokens` entries: the `recent` newest (default half) and, of the older, those \
                with the largest attention accumulated over every query that read them (summed over the group's query heads); the \
                lowest is evicted as each token arrives (incremental mode). Accumulated scores favour early tokens (they have \
                been read by more queries). Stored: the kept entries at fp16.
                """,
            example:
                """
                m = load(\"smollm2\")\nt = load(\"canterbury\").texts.alice29\n\
                p = perplexity(m, t, context: 48, limit: 48, cache: cache.h2o(tokens: 16))\nprint(p.kv_bits_per_element < 16)
                """,
            params: [
                ParamSpec("tokens", .integer, .value(.number(256)), range: 1...1_000_000, namedOnly: true, doc: "entries kept per head"),
                ParamSpec("recent", .integer, .none, range: 0...1_000_000, namedOnly: true, doc: "of which the newest (default tokens/2)"),
            ]
        ) { args, _ in
            let tokens = try args.int("tokens"), recent = try args.optionalInt("recent") ?? tokens / 2
            guard recent <= tokens else { throw args.error("recent", "recent (\(recent)) must not exceed tokens (\(tokens))") }
            return policyRecord("h2o", [("tokens", int(tokens)), ("recent", int(recent))])
        },
    ]
}
