import Compression
import Foundation
import Models
import OrderedCollections
import SqueezeCore

/// KV-cache policies in recipes: `cache.*` build a policy value (a record naming its method and
/// parameters, with calibrated constants as tensors); perplexity, kld and generate take it as
/// `cache:` and run the model's attention on the compressed cache.
extension Builtins {
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
                convergence, deterministic where the reference's k-means++ start is not), each value weighted by its diagonal \
                Fisher information (∂L/∂x)², L the mean next-token loss of its calibration window (one backward pass through \
                the decoder per window; `fisher: false` for plain k-means). Q-Norm (`q_norm`, on at 2 bits by default): codes \
                decode to ℓ'·r + z with ℓ' = ℓ·σ₁/σ₂ + (m₁ − m₂·σ₁/σ₂), so the calibration's dequantized values keep their mean \
                m₁ and deviation σ₁. Values outside [lo, hi] are kept exactly (dense-and-sparse, ~outliers of all values). Keys \
                before RoPE by default; the first `sink` tokens at fp16 (and left out of the calibration). Stored: b bits per \
                element + per-token value zero point and range (32 bits) + every \
                outlier as fp16 and a 32-bit index; the calibrated tables (each key channel's thresholds, 32 bits, each layer's \
                levels, Q-Norm's scale and offset) are the model's, reported as kv_constant_bits.
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
                ParamSpec("fisher", .bool, .value(.bool(true)), namedOnly: true, doc: "weight k-means by (∂L/∂x)²"),
                ParamSpec("q_norm", .bool, .none, namedOnly: true, doc: "Q-Norm the levels (default: at 2 bits)"),
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
            let fisher = try args.bool("fisher"), qnorm = args.isNone("q_norm") ? bits == 2 : try args.bool("q_norm")
            let q = try LM.wrap(args, "calibration") {
                try KVQuantCache.calibrate(
                    m, tokens: sequences.flatMap { $0 }, window: try args.int("window"), bits: bits, outliers: outliers,
                    preRoPE: preRoPE, sink: sink, fisher: fisher, qnorm: qnorm, cancellation: interp.cancellation)
            }
            func matrix(_ rows: [[Float]]) -> Value {
                .tensor(Tensor(shape: [rows.count, rows.map(\.count).max() ?? 0], storage: rows.flatMap { $0 }))
            }
            return policyRecord(
                "kvquant",
                [
                    ("bits", int(bits)), ("outliers", .number(outliers)), ("pre_rope", .bool(preRoPE)), ("sink", int(sink)),
                    ("fisher", .bool(fisher)), ("q_norm", .bool(qnorm)), ("calibration", int(count)), ("k_low", matrix(q.keyLow)),
                    ("k_high", matrix(q.keyHigh)), ("k_levels", matrix(q.keyLevels)), ("v_levels", matrix(q.valueLevels)),
                    ("k_decode", matrix(q.keyDecode)), ("v_decode", matrix(q.valueDecode)),
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
                the paper's approximation). The top `salient` fraction gets `high` bits, the rest `low`. Whole-window statistics \
                (simulated mode), or with `buffer` b > 0 streaming: new tokens wait at fp16 and each full buffer of b tokens is \
                quantized on its own, scored by its own tokens' queries (the paper re-quantizes as it decodes), the same in both \
                modes. Stored: codes, 32 bits per token group, the key channel scales (16 bits each), a precision flag \
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
                ParamSpec(
                    "score", .choice(ZipCacheTransform.Score.allCases.map(\.rawValue)), .value(.string("normalized")), namedOnly: true),
                ParamSpec("probes", .number, .value(.number(1)), range: 0.001...1, namedOnly: true, doc: "fraction of queries scored"),
                ParamSpec("buffer", .integer, .value(.number(0)), range: 0...1_000_000, namedOnly: true, doc: "fp16 tokens (0: none)"),
                seedParam,
            ]
        ) { args, interp in
            let seed = try withGenerator(args, interp) { Int($0.next() >> 33) }
            return policyRecord(
                "zipcache",
                [
                    ("high", int(try args.int("high"))), ("low", int(try args.int("low"))),
                    ("salient", .number(try args.number("salient"))),
                    ("group", int(try args.int("group"))), ("score", .string(try args.string("score"))),
                    ("probes", .number(try args.number("probes"))), ("seed", int(seed)), ("buffer", int(try args.int("buffer"))),
                ])
        },
        Operation(
            "cache.gear", family: "kv cache",
            summary: "KV-cache policy: GEAR — quantized cache + low-rank residual + exact sparse outliers.",
            doc:
                """
                Kang et al. 2024 on each layer's keys and values (tokens × kv_dim): D̂ = Q(D − S) + L + S, S the \
                ⌊outliers·kv_dim/2⌋ largest and smallest entries of each token kept exactly, Q per-token groups of `group` channels \
                at `bits`, L the rank-r truncated SVD of the residual (as `gear` on a matrix). Streaming (the reference's \
                streaming_gap): new tokens wait at fp16 in a buffer of `buffer` tokens, and each full buffer is compressed on its \
                own (rank 2 by default, the reference's decode rank) after the step that filled it, so a query reads earlier \
                buffers compressed and its own exact — the same in simulated and incremental mode. buffer: 0 compresses the whole \
                window at once (rank 4 by default; whole-window statistics: simulated mode only). Stored: codes + 32 bits per \
                group + outliers at 32 bits plus their column index + fp16 factors r·(tokens + kv_dim) per buffer (or window) + \
                the waiting tokens at fp16.
                """,
            example:
                """
                m = load(\"smollm2\")\nt = load(\"canterbury\").texts.alice29\n\
                p = perplexity(m, t, context: 64, limit: 128, cache: cache.gear(bits: 4))\nprint(p.kv_bits.K > 4)
                """,
            params: [
                ParamSpec("bits", .integer, .value(.number(2)), range: 1...16, namedOnly: true),
                ParamSpec("group", .integer, .value(.number(64)), range: 1...1_000_000, namedOnly: true),
                ParamSpec("rank", .integer, .none, range: 0...1_000_000, namedOnly: true, doc: "default 2 streaming, 4 whole window"),
                ParamSpec("outliers", .number, .value(.number(0.02)), range: 0...1, namedOnly: true),
                ParamSpec("buffer", .integer, .value(.number(64)), range: 0...1_000_000, namedOnly: true, doc: "fp16 tokens (0: none)"),
            ]
        ) { args, _ in
            let buffer = try args.int("buffer")
            return policyRecord(
                "gear",
                [
                    ("bits", int(try args.int("bits"))), ("group", int(try args.int("group"))),
                    ("rank", int(args.isNone("rank") ? (buffer > 0 ? 2 : 4) : try args.int("rank"))),
                    ("outliers", .number(try args.number("outliers"))), ("buffer", int(buffer)),
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
                guard !args.isNone("calibration") else {
                    throw args.error("calibration", "source: \"activations\" needs calibration: text")
                }
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
            "cache.cachegen", family: "kv cache",
            summary: "KV-cache policy: CacheGen — per-token quantization, fewer bins in deeper layers, rANS per (layer, channel).",
            doc:
                """
                Liu et al. 2024 (SIGCOMM). Each token's vector is quantized symmetrically against its own maximum with `key_bins` \
                / `value_bins` intervals (symbols −h…h, h = bins/2 − 1; scale fp16) in the first half of the layers and deep× as \
                many in the deeper half (LMCache's schedule: 32 for K, 16 for V); delta: true codes each token after the first of \
                every 10 as its difference from that anchor (the paper's locality step, which the released code skips); the \
                symbols are coded by rANS with a frequency table per (layer, channel) (tables: \"channel\") or per layer \
                (\"layer\") — each stream carrying its own table — or, with calibration:, with tables per (layer, channel) profiled \
                offline on that text, as CacheGen does (the model's tables, reported as kv_constant_bits). Stored: the real stream \
                lengths + 16 bits per token vector. One stream per window (simulated mode), or with `buffer` b > 0 one per chunk \
                of b tokens as they arrive, the newest tokens waiting at fp16 (CacheGen codes a context in chunks; both modes). \
                cachegen_stats(m, text) compares the groupings.
                """,
            example:
                """
                m = load(\"smollm2\")\nt = load(\"canterbury\").texts.alice29\n\
                p = perplexity(m, t, context: 64, limit: 128, cache: cache.cachegen())\nprint(p.kv_bits_per_element < 6)
                """,
            params: [
                ParamSpec("model", .any, .none, doc: "with calibration: the model whose cache is profiled"),
                ParamSpec("key_bins", .integer, .value(.number(32)), range: 3...65_536, namedOnly: true),
                ParamSpec("value_bins", .integer, .value(.number(16)), range: 3...65_536, namedOnly: true),
                ParamSpec("deep", .number, .value(.number(0.5)), range: 0.01...1, namedOnly: true, doc: "bins factor in the deeper half"),
                ParamSpec("delta", .bool, .value(.bool(false)), namedOnly: true),
                ParamSpec("tables", .choice(["channel", "layer"]), .value(.string("channel")), namedOnly: true),
                ParamSpec("buffer", .integer, .value(.number(0)), range: 0...1_000_000, namedOnly: true, doc: "chunk tokens (0: window)"),
                ParamSpec("calibration", .any, .none, doc: "text to profile the (layer, channel) tables on (CacheGen's offline tables)"),
                ParamSpec("tokens", .integer, .value(.number(2048)), range: 1...10_000_000, namedOnly: true),
                ParamSpec("window", .integer, .value(.number(512)), range: 1...1_000_000, namedOnly: true),
            ]
        ) { args, interp in
            let t = CacheGenTransform(
                keyBins: try args.int("key_bins"), valueBins: try args.int("value_bins"), deep: try args.number("deep"),
                delta: try args.bool("delta"), tables: try args.string("tables"), buffer: try args.int("buffer"))
            var fields: [(String, Value)] = [
                ("key_bins", int(t.keyBins)), ("value_bins", int(t.valueBins)), ("deep", .number(t.deep)), ("delta", .bool(t.delta)),
                ("tables", .string(t.tables)), ("buffer", int(t.buffer)),
            ]
            if !args.isNone("calibration") {
                let m = try LM.model(args)
                let tokens = try LM.calibrationSequences(m, args).sequences.flatMap { $0 }
                let p = try LM.wrap(args, "calibration") {
                    try t.profiled(m, tokens: tokens, window: try args.int("window"), cancellation: interp.cancellation)
                }
                let counts = p.profiles!
                let S = counts.flatMap { $0.map { $0[0].count } }.max() ?? 0, C = m.config.kvDim
                var flat = [Float](repeating: 0, count: counts.count * 2 * C * S)
                for (l, layer) in counts.enumerated() {
                    for (q, part) in layer.enumerated() {
                        for (j, column) in part.enumerated() {
                            for (k, n) in column.enumerated() { flat[((l * 2 + q) * C + j) * S + k] = Float(n) }
                        }
                    }
                }
                fields[4] = ("tables", .string("profiled"))
                fields.append(("calibration", int(tokens.count)))
                fields.append(("profiles", .tensor(Tensor(shape: [counts.count, 2, C, S], storage: flat))))
            } else if !args.isNone("model") {
                throw args.error("model", "a model is needed only with calibration: (to profile its tables)")
            }
            return policyRecord("cachegen", fields)
        },
        Operation(
            "cachegen_stats", family: "kv cache",
            summary: "CacheGen's bitstream on a window three ways (per-channel tables, deltas, one table) and its conditional entropies.",
            doc:
                """
                On the text's first `context` tokens: the cache quantized as cache.cachegen does (the policy given, or the \
                default one), then bits per element with a rANS table per (layer, channel) (per_channel), the same with deltas \
                to anchors (delta), and with one table for every symbol (global), scales included; and the empirical H(symbol | \
                layer, channel), H(symbol | token position) and H(symbol) in bits — the paper's Insight 3 is that grouping by \
                layer and channel tells much more than grouping by position.
                """,
            example:
                """
                m = load(\"smollm2\")\ns = cachegen_stats(m, load(\"canterbury\").texts.alice29, context: 64)\n\
                print(s.per_channel < s.global, s.h_layer_channel < s.h_position)
                """,
            params: [ParamSpec("model", .any), ParamSpec("text", .any), contextParam, cacheParam]
        ) { args, interp in
            let m = try LM.model(args)
            var policy = CacheGenTransform(keyBins: 32, valueBins: 16, deep: 0.5, delta: false, tables: "channel")
            if !args.isNone("cache") {
                guard case .transform(let t as CacheGenTransform) = try cachePolicy(args.value("cache"), args, "cache") else {
                    throw args.error("cache", "cachegen_stats takes a cache.cachegen policy")
                }
                policy = t
            }
            let ids = Array(m.tokenizer.encode(try LM.text(args, "text")).prefix(try args.int("context")))
            guard ids.count >= 2 else { throw args.error("text", "the text has \(ids.count) tokens; at least 2 are needed") }
            let s = try LM.wrap(args, "text") { try m.cacheGenStatistics(ids, policy: policy, cancellation: interp.cancellation) }
            return .record(
                Record(pairs: [
                    ("per_channel", .number(s.perChannel)), ("delta", .number(s.delta)), ("global", .number(s.global)),
                    ("h_layer_channel", .number(s.entropyGivenLayerChannel)), ("h_position", .number(s.entropyGivenPosition)),
                    ("h", .number(s.entropy)), ("tokens", int(s.tokens)), ("profiled", s.profiled.map(Value.number) ?? .none),
                ]))
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
                ParamSpec(
                    "induction", .number, .value(.number(0.14)), range: 0...1, namedOnly: true, doc: "fraction of heads by induction"),
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
                throw args.error(
                    "tokens", "tokens (\(tokens)) must exceed sink + recent (\(sink + recent)) to leave room to evict or merge")
            }
            return policyRecord(
                "ems",
                [
                    ("tokens", int(tokens)), ("sink", int(sink)), ("recent", int(recent)), ("merge", .bool(try args.bool("merge"))),
                    ("similarity", .number(try args.number("similarity"))), ("window", int(try args.int("window"))),
                ])
        },
        Operation(
            "pie", family: "kv cache",
            summary: "Position-independent editing: reuse a prompt's cache after an edit, moving later keys by RoPE.",
            doc:
                """
                PIE. The two prompts share a prefix and a suffix (in tokens; the last token must be kept: it is the query). PIE \
                reuses the prefix's cache, recomputes only the edited span on top of it, and moves the suffix's cached keys by \
                Δ = the length change with one rotation R(Δ) (RoPE: R(p + Δ) = R(Δ)R(p)), values unchanged — ignoring that the \
                suffix's context changed. Then the last token attends to that cache, and to a fully recomputed one. Returns kl = \
                KL(full ‖ PIE) of the next token, same_top, layer0_error (largest |Δ| of block 0's moved keys against \
                recomputation: exact up to rounding, since block-0 keys depend only on token and position), key_error (over all \
                blocks), recomputed and full (tokens each computes), prefix, suffix and shift.
                """,
            example:
                """
                m = load(\"smollm2\")\n\
                r = pie(m, \"Alice went to the garden and home.\", \"Alice went to the big old garden and home.\")\n\
                print(r.layer0_error < 1e-5, r.recomputed, r.full)
                """,
            params: [ParamSpec("model", .any), ParamSpec("prompt", .string), ParamSpec("edited", .string)]
        ) { args, interp in
            let m = try LM.model(args)
            let o = m.tokenizer.encode(try args.string("prompt")), e = m.tokenizer.encode(try args.string("edited"))
            for (name, ids) in [("prompt", o), ("edited", e)] where ids.count > m.config.context {
                throw args.error(name, "\(ids.count) tokens exceed the model's context of \(m.config.context)")
            }
            let r = try LM.wrap(args, "edited") { try m.editCache(original: o, edited: e, cancellation: interp.cancellation) }
            return .record(
                Record(pairs: [
                    ("kl", .number(r.kl)), ("same_top", .bool(r.sameTop)), ("layer0_error", .number(r.layer0KeyError)),
                    ("key_error", .number(r.keyError)), ("recomputed", int(r.recomputed)), ("full", int(r.full)),
                    ("prefix", int(r.prefix)), ("suffix", int(r.suffix)), ("shift", int(r.shift)),
                ]))
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
