import Foundation
import Models
import SqueezeCore
import Testing

@testable import Models

/// Cache policies on SmolLM2: the two modes agree for causal quantizers, an eviction policy that
/// keeps everything is the plain model, stored bits equal hand counts, and the papers' orderings.
@Suite(.serialized) struct KVCachePolicyTests {
    static var model: LanguageModel { SmolLM2Tests.model }
    static let ids: [Int] = {
        let text = (try? SmolLM2Tests.text("alice29")) ?? ""
        return Array(model.tokenizer.encode(text).prefix(512))
    }()

    static func maxDifference(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).map { abs($0 - $1) }.max() ?? 0 }

    @Test func causalQuantizersGiveTheSameNumbersInBothModes() throws {
        let m = Self.model, window = Array(Self.ids.prefix(48))
        let base = try m.perplexity(tokens: window, context: 48, preset: .all)
        for policy: any KVTransform in [
            IntCache(bits: 4, perChannel: false, group: 64, preRoPE: false, sink: 2),
            IntCache(bits: 3, perChannel: false, group: 32, preRoPE: true),
            GEARTransform(bits: 2, group: 64, rank: 2, outliers: 0.02, buffer: 16),
            ZipCacheTransform(high: 4, low: 2, salient: 0.5, group: 64, score: .normalized, probes: 0.5, seed: 3, buffer: 16),
            CacheGenTransform(keyBins: 16, valueBins: 8, deep: 0.5, delta: true, tables: "channel", buffer: 20),
        ] {
            let sim = try m.perplexity(tokens: window, context: 48, preset: .all, cache: .init(.transform(policy), mode: .simulated))
            let inc = try m.perplexity(tokens: window, context: 48, preset: .all, cache: .init(.transform(policy), mode: .incremental))
            // Each row is quantized from itself alone (or, streaming, each full buffer from its own rows
            // and their queries), and with a policy every kernel computes a row the same way however many
            // rows run with it: the token-by-token cache stores the same values as the one-pass
            // simulation, so the predictions are equal bit for bit.
            #expect(Self.maxDifference(sim.nlls, base.nlls) > 1e-2, "\(policy) changes the predictions")
            #expect(sim.nlls == inc.nlls, "\(policy): modes differ by \(Self.maxDifference(sim.nlls, inc.nlls))")
            #expect(sim.kv == inc.kv, "the two modes store the same parts")
        }
    }

    /// GEAR's streaming buffer: the tokens of a query's own buffer are read exact, earlier buffers
    /// compressed; a buffer longer than the window compresses nothing.
    @Test func aStreamingBufferIsReadExactUntilItIsFull() throws {
        let m = Self.model, window = Array(Self.ids.prefix(40))
        let base = try m.perplexity(tokens: window, context: 40, preset: .all)
        func run(_ buffer: Int) throws -> LanguageModel.Perplexity {
            let t = GEARTransform(bits: 2, group: 64, rank: 2, outliers: 0.02, buffer: buffer)
            return try m.perplexity(tokens: window, context: 40, preset: .all, cache: .init(.transform(t)))
        }
        // (With a policy the kernels are the row-reproducible ones: equal to the plain pass to float rounding.)
        let whole = try run(64)
        #expect(Self.maxDifference(whole.nlls, base.nlls) < 1e-4 && whole.kv!.bitsPerElement == 16)
        let b16 = try run(16)
        // Predictions from positions 0…15 read only their own buffer.
        #expect(Array(b16.nlls.prefix(15)) == Array(whole.nlls.prefix(15)))
        #expect(Self.maxDifference(b16.nlls, base.nlls) > 1e-2)
        // Two full buffers compressed (2 bits + scales + outliers + rank-2 factors), 8 tokens waiting at fp16.
        #expect(b16.kv!.keys["fp16 buffer"] == Double(30 * 16 * 8 * 192))
        #expect(b16.kv!.keys["codes"] == Double(30 * 2 * 32 * 192) && b16.kv!.elements == 30 * 40 * 192)
    }

    @Test func evictionThatKeepsEverythingIsThePlainModel() throws {
        let m = Self.model, window = Array(Self.ids.prefix(40))
        let base = try m.perplexity(tokens: window, context: 40, preset: .all)
        for policy: any KVEviction in [WindowEviction(tokens: 40, sink: 0), HeavyHitterEviction(tokens: 40, recent: 8)] {
            let p = try m.perplexity(tokens: window, context: 40, preset: .all, cache: .init(.eviction(policy)))
            #expect(Self.maxDifference(p.nlls, base.nlls) < 1e-3, "\(policy)")
            #expect(abs(p.kv!.bitsPerElement - 16) < 1e-12)
        }
        // A window of 8 + 4 sinks stores 12 of 40 tokens and changes the predictions after token 12.
        let w = try m.perplexity(tokens: window, context: 40, preset: .all, cache: .init(.eviction(WindowEviction(tokens: 8, sink: 4))))
        #expect(abs(w.kv!.bitsPerElement - 16 * 12 / 40) < 1e-12)
        #expect(Self.maxDifference(Array(w.nlls.prefix(11)), Array(base.nlls.prefix(11))) < 1e-3)
        #expect(Self.maxDifference(w.nlls, base.nlls) > 1e-2)
    }

    @Test func storedBitsEqualHandCounts() throws {
        let c = Self.model.config, kvd = c.kvDim
        var K = (0..<(10 * kvd)).map { Float(sin(Double($0))) }, V = K
        let q = IntCache(bits: 3, perChannel: false, group: 64, preRoPE: false, sink: 2)
        let a = try q.apply(layer: 0, keys: &K, values: &V, queries: [], rows: 10, past: 0, config: c)
        // 8 quantized tokens × 192 channels × 3 bits; 3 groups of 64 per token × 32 bits; 2 fp16 tokens.
        let intParts: [String: Double] = ["codes": 8 * 192 * 3, "scales": 8 * 3 * 32, "fp16 tokens": 2 * 192 * 16]
        #expect(a.keys == intParts)
        #expect(a.values == a.keys && a.elements == 10 * 192)
        // Per channel over the whole window: 192 groups; a later call (past 2) has no sink rows.
        let pc = IntCache(bits: 2, perChannel: true, group: 64, span: 4, preRoPE: true, sink: 1)
        let b = try pc.apply(layer: 0, keys: &K, values: &V, queries: [], rows: 10, past: 2, config: c)
        let channelKeys: [String: Double] = ["codes": 10 * 192 * 2, "scales": 3 * 192 * 32]
        let tokenValues: [String: Double] = ["codes": 10 * 192 * 2, "scales": 10 * 3 * 32]
        #expect(b.keys == channelKeys && b.values == tokenValues)
        // KVQuant with thresholds that make channel 0 of every key an outlier.
        let low = [Float](repeating: -2, count: kvd), high = [Float](repeating: 2, count: kvd)
        let levels: [Float] = [-1, -0.3, 0.3, 1]
        let kq = KVQuantCache(
            bits: 2, outliers: 0.01, preRoPE: true, sink: 1, keyLow: [low], keyHigh: [high], keyLevels: [levels], valueLevels: [levels],
            calibrationTokens: 1, kvDim: kvd)
        var K2 = [Float](repeating: 0.5, count: 5 * kvd), V2 = (0..<(5 * kvd)).map { Float($0 % kvd) }
        for r in 0..<5 { K2[r * kvd] = 9 }
        let k = try kq.apply(layer: 0, keys: &K2, values: &V2, queries: [], rows: 5, past: 0, config: c)
        // 4 quantized rows (the first is a sink); 4 key outliers; each value row 0…191 has
        // percentiles 0.955 and 190.045, so 0 and 191 are outliers: 2 per row.
        let kvKeys: [String: Double] = [
            "codes": 4 * 192 * 2, "outliers": 4 * 48, "fp16 tokens": 192 * 16,
        ]
        let kvValues: [String: Double] = [
            "codes": 4 * 192 * 2, "outliers": 8 * 48, "scales": 4 * 32, "fp16 tokens": 192 * 16,
        ]
        #expect(k.keys == kvKeys && k.values == kvValues)
        // The tables: two fp16 thresholds per key channel, 4 + 4 fp16 levels (one layer).
        #expect(kq.constantBits == ["thresholds": 192 * 32, "levels": 8 * 16])
        #expect(K2[kvd] == 9 && K2[0] == 9, "outliers and sink rows keep their value")
    }

    @Test func heavyHittersKeepTheRecentAndTheMostAttended() {
        var h = HeadCache()
        for p in 0..<6 { h.append(key: [Float(p)][...], value: [Float(-p)][...], position: p) }
        h.score = [5, 0.1, 3, 0.2, 0, 0]
        HeavyHitterEviction(tokens: 4, recent: 2).trim(&h, layer: 0, kvHead: 0, dim: 1)
        #expect(h.positions == [0, 2, 4, 5] && h.keys == [0, 2, 4, 5] && h.values == [0, -2, -4, -5])
        WindowEviction(tokens: 2, sink: 1).trim(&h, layer: 0, kvHead: 0, dim: 1)
        #expect(h.positions == [0, 4, 5])
    }

    @Test func policiesRefuseWhatTheyCannotDo() throws {
        let m = Self.model, window = Array(Self.ids.prefix(16))
        let h2o = CachePolicy.eviction(HeavyHitterEviction(tokens: 8, recent: 4))
        #expect(throws: ModelError.self) {
            try m.perplexity(tokens: window, context: 16, preset: .all, cache: .init(h2o, mode: .simulated))
        }
        let perChannel = CachePolicy.transform(IntCache(bits: 3, perChannel: true, group: 64, preRoPE: false))
        #expect(throws: ModelError.self) {
            try m.perplexity(tokens: window, context: 16, preset: .all, cache: .init(perChannel, mode: .incremental))
        }
        let other = KVQuantCache(
            bits: 2, outliers: 0, preRoPE: true, sink: 0, keyLow: [[0]], keyHigh: [[1]], keyLevels: [[0, 1]], valueLevels: [[0, 1]],
            calibrationTokens: 1, kvDim: 1)
        #expect(throws: ModelError.self) { try m.perplexity(tokens: window, context: 16, preset: .all, cache: .init(.transform(other))) }
        #expect(throws: ModelError.self) {
            try m.perplexity(
                tokens: window, context: 16, preset: .all,
                cache: .init(.transform(IntCache(bits: 3, perChannel: false, group: 50, preRoPE: false))))
        }
    }

    /// KVQuant's ablation on SmolLM2 (512 tokens, windows of 128): at 3 bits, keys per channel
    /// before RoPE < per channel after RoPE < per token in perplexity; 3-bit KVQuant with 1%
    /// outliers is closer to the base than 4-bit per-token integers (the paper's int4: one grid per
    /// token vector; measured 24.7 against 29.9, base 22.2, with the llama.cpp preset).
    @Test func keyQuantizationOrderingsOfThePaper() throws {
        let m = Self.model
        func ppl(_ t: any KVTransform) throws -> Double {
            try m.perplexity(tokens: Self.ids, context: 128, preset: .all, cache: .init(.transform(t))).ppl
        }
        let base = try m.perplexity(tokens: Self.ids, context: 128, preset: .all).ppl
        let pre = try ppl(IntCache(bits: 3, perChannel: true, group: 64, preRoPE: true))
        let post = try ppl(IntCache(bits: 3, perChannel: true, group: 64, preRoPE: false))
        let token = try ppl(IntCache(bits: 3, perChannel: false, group: 64, preRoPE: false))
        #expect(base < pre && pre < post && post < token, "base \(base), pre-RoPE \(pre), post-RoPE \(post), per token \(token)")
        let calibration = Array(m.tokenizer.encode(try SmolLM2Tests.text("plrabn12")).prefix(1024))
        let kv3 = try KVQuantCache.calibrate(
            m, tokens: calibration, window: 512, bits: 3, outliers: 0.01, preRoPE: true, sink: 1, cancellation: nil)
        let int4 = try ppl(IntCache(bits: 4, perChannel: false, group: m.config.kvDim, preRoPE: false))
        let k3 = try ppl(kv3)
        #expect(abs(k3 - base) < abs(int4 - base), "KVQuant-3b-1% \(k3), int4 \(int4), base \(base)")
    }
}

/// ZipCache's and GEAR's policies on SmolLM2.
@Suite(.serialized) struct SaliencyPolicyTests {
    static func ranks(_ x: [Double]) -> [Double] {
        let order = x.indices.sorted { x[$0] < x[$1] }
        var r = [Double](repeating: 0, count: x.count)
        var i = 0
        while i < order.count {
            var j = i
            while j + 1 < order.count && x[order[j + 1]] == x[order[i]] { j += 1 }
            for t in i...j { r[order[t]] = Double(i + j) / 2 }
            i = j + 1
        }
        return r
    }

    static func spearman(_ a: [Double], _ b: [Double]) -> Double {
        let ra = ranks(a), rb = ranks(b), n = Double(a.count)
        let ma = ra.reduce(0, +) / n, mb = rb.reduce(0, +) / n
        var sab = 0.0, saa = 0.0, sbb = 0.0
        for i in 0..<a.count {
            sab += (ra[i] - ma) * (rb[i] - mb)
            saa += (ra[i] - ma) * (ra[i] - ma)
            sbb += (rb[i] - mb) * (rb[i] - mb)
        }
        return sab / (saa * sbb).squareRoot()
    }

    /// H2O's accumulated attention favours early tokens (Spearman against position negative in every
    /// layer; measured −0.16 to −0.85 over 512 tokens of alice29). ZipCache's normalisation removes
    /// that bias — on SmolLM2 it overshoots into a recency bias (+0.35 to +0.71: the few queries
    /// after a recent token attend locally), so "position-neutral" does not hold here; asserted:
    /// the normalised score always ranks later tokens higher than the accumulated one does.
    @Test func accumulatedScoresFavourEarlyTokensAndNormalisedOnesDoNot() throws {
        let m = SmolLM2Tests.model, ids = KVCachePolicyTests.ids
        var capture = LanguageModel.Capture()
        capture.kv = [0, 8, 16, 24]
        let out = try m.forward([ids], capture: capture)
        let position = (0..<ids.count).map(Double.init)
        for layer in capture.kv.sorted() {
            func rho(_ s: ZipCacheTransform.Score) -> Double {
                let z = ZipCacheTransform(high: 4, low: 2, salient: 0.5, group: 0, score: s, probes: 1, seed: 0)
                let scores = z.scores(
                    queries: out.queries[layer]!.storage, keys: out.keys[layer]!.storage, rows: ids.count, layer: layer, config: m.config)
                return Self.spearman(scores, position)
            }
            let accumulated = rho(.accumulated), normalized = rho(.normalized)
            #expect(accumulated < -0.1 && normalized > accumulated, "layer \(layer): \(accumulated), \(normalized)")
        }
    }

    /// At equal bits (half the tokens at 4, half at 2), choosing the high-precision half by
    /// normalised attention beats a random half (measured 54 against 89 at group 64, base 24).
    /// Uniform 3-bit with the same quantizer is better than either on SmolLM2 (30.6): its 2-bit
    /// tokens cost more than its 4-bit ones gain, against the paper's claim.
    @Test func saliencyBeatsARandomSplitAtEqualBits() throws {
        let m = SmolLM2Tests.model, ids = KVCachePolicyTests.ids
        func run(_ s: ZipCacheTransform.Score, high: Int = 4, low: Int = 2) throws -> LanguageModel.Perplexity {
            let z = ZipCacheTransform(high: high, low: low, salient: 0.5, group: 64, score: s, probes: 1, seed: 1)
            return try m.perplexity(tokens: ids, context: 256, preset: .llamaCpp, cache: .init(.transform(z)))
        }
        let salient = try run(.normalized), random = try run(.random), uniform = try run(.random, high: 3, low: 3)
        #expect(salient.ppl < random.ppl, "saliency \(salient.ppl), random \(random.ppl)")
        #expect(salient.kv == random.kv && abs(uniform.kv!.bitsPerElement - salient.kv!.bitsPerElement) < 1e-9)
        // Probes (10% of the queries) approximate the score: same bits, a perplexity between the two.
        let probed = try m.perplexity(
            tokens: ids, context: 256, preset: .llamaCpp,
            cache: .init(.transform(ZipCacheTransform(high: 4, low: 2, salient: 0.5, group: 64, score: .normalized, probes: 0.1, seed: 1))))
        #expect(probed.ppl < random.ppl, "probes \(probed.ppl), random \(random.ppl)")
    }

    @Test func gearStoresItsPartsAndImprovesWithBits() throws {
        let m = SmolLM2Tests.model, ids = Array(KVCachePolicyTests.ids.prefix(256))
        let base = try m.perplexity(tokens: ids, context: 128, preset: .llamaCpp).ppl
        var last = Double.infinity
        for bits in [2, 3, 4] {
            let p = try m.perplexity(
                tokens: ids, context: 128, preset: .llamaCpp,
                cache: .init(.transform(GEARTransform(bits: bits, group: 64, rank: 4, outliers: 0.02))))
            #expect(p.ppl < last && p.ppl > base * 0.98, "\(bits) bits: \(p.ppl)")
            last = p.ppl
            // Per window and layer (128 tokens × 192 channels): codes, 3 groups per token, 2 outliers
            // per token (⌊0.02·192/2⌋ = 1 of each end) at 32 + log₂ 192 bits, factors 4·(128 + 192) at 16.
            let a = p.kv!
            let windows = 2.0, layers = 30.0
            #expect(a.keys["codes"] == Double(bits) * 128 * 192 * windows * layers)
            #expect(a.keys["groups"] == 128 * 3 * 32 * windows * layers)
            #expect(abs(a.keys["outliers"]! - 128 * 2 * (32 + log2(192)) * windows * layers) < 1e-6)
            #expect(a.keys["factors"] == 4 * (128 + 192) * 16 * windows * layers)
        }
    }
}

/// RazorAttention's probe and its copy-task claim on SmolLM2.
@Suite(.serialized) struct RazorAttentionTests {
    /// Induction heads stand far above the median score (measured: median 0.004, top 0.94, in
    /// blocks 17–24). On a copy task (BOS + a random string of 40 ids, then the string again;
    /// next-token accuracy over the copy), truncating every other head to 4 sinks + 16 recent tokens
    /// + compensation with the paper's 14% induction + 1% echo heads whole (14 of 90) keeps half of
    /// the copy (measured 0.23 of the plain model's 0.46); on SmolLM2 echo heads carry more of it:
    /// with 15% echo heads (24 of 90 whole) it keeps 0.41 (0.44 at 20%; keeping the top 30 heads by
    /// induction alone keeps only 0.21). Truncating only the retrieval heads instead loses all of it
    /// (0.00 in both settings).
    @Test func retrievalHeadsCarryTheCopy() throws {
        let m = SmolLM2Tests.model, c = m.config
        let p = try RazorEviction.probe(m, length: 64, repeats: 4, range: 10_000..<12_500, seed: 7, cancellation: nil)
        let scores = p.induction.flatMap { $0 }.sorted()
        let median = scores[scores.count / 2]
        let retrieval = RazorEviction.retrievalHeads(echo: p.echo, induction: p.induction, inductionRatio: 0.14, echoRatio: 0.01)
        #expect(retrieval.count >= 13 && retrieval.count <= 14)
        #expect(scores.last! > 50 * median, "top induction \(scores.last!), median \(median)")
        var rng = RandomGenerator(seed: 99)
        let string = (0..<40).map { _ in 10_000 + rng.integer(below: 2500) }
        let ids = (m.tokenizer.bos.map { [$0] } ?? []) + string + string
        let o = ids.count - 80
        func accuracy(_ policy: CachePolicy?) throws -> Double {
            let final = try policy.map { try m.cacheFinal(ids, run: .init($0), cancellation: nil).0 } ?? m.forward([ids]).final
            let L = try m.logits(final, rows: (o + 40)..<(o + 79))
            var hits = 0
            for r in 0..<39 {
                let row = L.storage[(r * c.vocab)..<((r + 1) * c.vocab)]
                if row.indices.max(by: { row[$0] < row[$1] })! - row.startIndex == ids[o + 41 + r] { hits += 1 }
            }
            return Double(hits) / 39
        }
        let base = try accuracy(nil)
        func razor(_ full: Set<Int>) -> CachePolicy {
            .eviction(RazorEviction(full: full, layers: c.layers, kvHeads: c.kvHeads, sink: 4, recent: 16, compensation: true))
        }
        #expect(base > 0.3, "base copy accuracy \(base)")
        let echo = RazorEviction.retrievalHeads(echo: p.echo, induction: p.induction, inductionRatio: 0.14, echoRatio: 0.15)
        for (heads, kept) in [(retrieval, 0.4), (echo, 0.8)] {
            let others = try accuracy(razor(heads))
            let inverted = try accuracy(razor(Set(0..<(c.layers * c.kvHeads)).subtracting(heads)))
            #expect(others >= kept * base, "razor with \(heads.count) heads whole: \(others), base \(base)")
            #expect(inverted <= 0.1 * base, "\(heads.count) retrieval heads truncated \(inverted), base \(base)")
        }
    }

    @Test func theCompensationEntryIsTheMeanOfWhatWasDropped() {
        var h = HeadCache()
        for p in 0..<6 { h.append(key: [Float(p), 1][...], value: [Float(2 * p), 0][...], position: p) }
        let r = RazorEviction(full: [], layers: 1, kvHeads: 1, sink: 1, recent: 2, compensation: true)
        r.trim(&h, layer: 0, kvHead: 0, dim: 2)
        // Kept: sink 0, the mean of 1, 2, 3, and the recent 4, 5.
        #expect(h.positions == [0, 1, 4, 5] && h.merged == [1, 3, 1, 1] && h.compensated)
        #expect(h.keys == [0, 1, 2, 1, 4, 1, 5, 1] && h.values == [0, 0, 4, 0, 8, 0, 10, 0])
        h.append(key: [6, 1][...], value: [12, 0][...], position: 6)
        r.trim(&h, layer: 0, kvHead: 0, dim: 2)
        // Token 4 joins the mean: (1 + 2 + 3 + 4)/4.
        #expect(h.positions == [0, 1, 5, 6] && h.merged == [1, 4, 1, 1] && h.keys[2] == 2.5 && h.values[2] == 5)
        #expect(r.budget(layer: 0, kvHead: 0) == 4)
    }
}

/// EMS's evict-then-merge.
@Suite(.serialized) struct EvictMergeTests {
    @Test func theLeastImportantEntryMergesIntoItsNearestKeyWithItsCount() {
        var h = HeadCache()
        let keys: [[Float]] = [[1, 0], [0, 1], [1, 0.1], [0.9, 0], [0, -1]]
        for (p, k) in keys.enumerated() { h.append(key: k[...], value: [Float(p), 0][...], position: p) }
        h.score = [9, 5, 0.5, 3, 4]
        h.seen = [1, 1, 1, 1, 1]
        EvictMergeEviction(tokens: 4, sink: 1, recent: 1, merge: true, similarity: 0.5, window: 8).trim(&h, layer: 0, kvHead: 0, dim: 2)
        // Entry 2 (least important, key (1, 0.1)) joins entry 3 (cosine 0.995; entry 1 is orthogonal).
        #expect(h.positions == [0, 1, 2, 4] && h.merged == [1, 1, 2, 1])
        #expect(
            abs(h.keys[4] - 0.95) < 1e-6 && abs(h.keys[5] - 0.05) < 1e-6 && h.values[4] == 2.5 && abs(h.bias[2] - Float(log(2.0))) < 1e-6)
        // Without merging (or with no similar key) it is evicted.
        var e = HeadCache()
        for (p, k) in keys.enumerated() { e.append(key: k[...], value: [Float(p), 0][...], position: p) }
        e.score = [9, 5, 0.5, 3, 4]
        EvictMergeEviction(tokens: 4, sink: 1, recent: 1, merge: false, similarity: 0.5, window: 8).trim(&e, layer: 0, kvHead: 0, dim: 2)
        #expect(e.positions == [0, 1, 3, 4] && e.merged == [1, 1, 1, 1] && e.bias == [0, 0, 0, 0])
    }

    /// At a budget of 32 entries per head over a 256-token window, merging keeps the model closer to
    /// itself than evicting alone (KL measured 0.230 against 0.285 nats; at 64 entries 0.077 against 0.094).
    @Test func mergingKeepsTheModelCloserThanEvictionAlone() throws {
        let m = SmolLM2Tests.model, ids = Array(KVCachePolicyTests.ids.prefix(256))
        func kl(_ merge: Bool) throws -> Double {
            let policy = EvictMergeEviction(tokens: 32, sink: 4, recent: 8, merge: merge, similarity: 0.5, window: 32)
            return try LanguageModel.divergence(
                base: m, model: m, tokens: ids, context: 256, preset: .llamaCpp, cache: .init(.eviction(policy))
            ).meanKL
        }
        let merged = try kl(true), evicted = try kl(false)
        #expect(merged < evicted, "merge \(merged), evict \(evicted)")
    }
}

/// CSKV's channel shrinking.
@Suite(.serialized) struct ChannelShrinkTests {
    /// ‖Q·Kᵀ − Q·K̂ᵀ‖ over every head of one layer (keys after RoPE), relative to ‖Q·Kᵀ‖.
    static func logitError(
        _ m: LanguageModel, _ t: ChannelShrinkTransform, layer: Int, _ out: LanguageModel.Output, tokens n: Int
    ) throws
        -> Double
    {
        let c = m.config, d = c.headDim
        var K = out.keysBeforeRoPE[layer]!.storage, V = out.values[layer]!.storage
        _ = try t.apply(layer: layer, keys: &K, values: &V, queries: [], rows: n, past: 0, config: c)
        var shrunk = Tensor(shape: [n, c.kvDim], storage: K)
        m.rope(&shrunk, heads: c.kvHeads, LanguageModel.Layout(sequences: [Array(repeating: 0, count: n)]))
        let Q = out.queries[layer]!.storage, exact = out.keys[layer]!.storage
        var err = 0.0, total = 0.0
        for head in 0..<c.heads {
            let g = head / (c.heads / c.kvHeads)
            for i in stride(from: 0, to: n, by: 7) {
                for j in 0...i {
                    var a: Float = 0, b: Float = 0
                    for u in 0..<d {
                        let q = Q[i * c.hidden + head * d + u]
                        a += q * exact[j * c.kvDim + g * d + u]
                        b += q * shrunk.storage[j * c.kvDim + g * d + u]
                    }
                    err += Double((a - b) * (a - b))
                    total += Double(a * a)
                }
            }
        }
        return (err / total).squareRoot()
    }

    /// At equal rank (96 of 192 channels) the activation-aware basis keeps the attention logits far
    /// better than the weights' SVD (measured perplexity on alice29: 35 against 14,339, base 22;
    /// the weights' singular directions ignore SmolLM2's outlier input channels). Full rank is exact.
    @Test func activationAwareShrinkingKeepsTheLogitsBetter() throws {
        let m = SmolLM2Tests.model, ids = Array(KVCachePolicyTests.ids.prefix(256))
        let calibration = Array(m.tokenizer.encode(try SmolLM2Tests.text("plrabn12")).prefix(1024))
        let act = try ChannelShrinkTransform.calibrate(
            m, rank: 96, source: "activations", tokens: calibration, window: 512, recent: 0, bits: 16, cancellation: nil)
        let weights = try ChannelShrinkTransform.calibrate(
            m, rank: 96, source: "weights", tokens: [], window: 512, recent: 0, bits: 16, cancellation: nil)
        var capture = LanguageModel.Capture()
        capture.kv = [2, 14, 26]
        let out = try m.forward([ids], capture: capture)
        for layer in capture.kv.sorted() {
            let a = try Self.logitError(m, act, layer: layer, out, tokens: ids.count)
            let w = try Self.logitError(m, weights, layer: layer, out, tokens: ids.count)
            #expect(a < w, "layer \(layer): activation-aware \(a), weights \(w)")
        }
        let full = try ChannelShrinkTransform.calibrate(
            m, rank: 192, source: "weights", tokens: [], window: 512, recent: 0, bits: 16, cancellation: nil)
        #expect(try Self.logitError(m, full, layer: 14, out, tokens: ids.count) < 1e-4)
        // Bits: 96 fp16 latent channels of 192 per token (8 bits per element); 4-bit latents with a
        // 32-bit grid per token, and the last 8 tokens whole.
        var K = out.keysBeforeRoPE[2]!.storage, V = out.values[2]!.storage
        let a16 = try act.apply(layer: 2, keys: &K, values: &V, queries: [], rows: 256, past: 0, config: m.config)
        #expect(a16.keyBitsPerElement == 8 && a16.keys == ["latent": 256 * 96 * 16])
        let q4 = ChannelShrinkTransform(
            rank: 96, recent: 8, bits: 4, source: "activations", keyBasis: act.keyBasis, valueBasis: act.valueBasis)
        let a4 = try q4.apply(layer: 2, keys: &K, values: &V, queries: [], rows: 256, past: 0, config: m.config)
        let want: [String: Double] = ["latent": 248 * 96 * 4, "scales": 248 * 32, "fp16 tokens": 8 * 192 * 16]
        #expect(a4.values == want && !q4.causal && act.causal)
        #expect(act.constantBits == ["bases": 2 * 30 * 192 * 96 * 16])
    }
}

/// CacheGen's bitstream on SmolLM2 (measured on 512 tokens of alice29: profiled (layer, channel)
/// tables 2.38 bits per element, one table for everything 2.80, per-channel tables carried in each
/// stream 3.16, with deltas 4.28; H(symbol | layer, channel) 2.18 bits against H(symbol | position) 2.71).
@Suite(.serialized) struct CacheGenModelTests {
    @Test func tablesByLayerAndChannelBeatOneTableAndDeltasDoNotHelp() throws {
        let m = SmolLM2Tests.model
        let calibration = Array(m.tokenizer.encode(try SmolLM2Tests.text("plrabn12")).prefix(1024))
        let policy = try CacheGenTransform(keyBins: 32, valueBins: 16, deep: 0.5, delta: false, tables: "channel")
            .profiled(m, tokens: calibration, window: 512, cancellation: nil)
        let s = try m.cacheGenStatistics(Array(KVCachePolicyTests.ids.prefix(256)), policy: policy, cancellation: nil)
        #expect(s.profiled! < s.global, "profiled \(s.profiled!), global \(s.global)")
        #expect(s.perChannel < s.delta, "per channel \(s.perChannel), delta \(s.delta)")
        #expect(s.entropyGivenLayerChannel < s.entropyGivenPosition && s.entropyGivenPosition <= s.entropy + 1e-9)
        // The policy's perplexity run stores about the same (its deeper layers see the compressed
        // cache's effect on their inputs, so their symbols differ a little).
        let p = try m.perplexity(
            tokens: Array(KVCachePolicyTests.ids.prefix(256)), context: 256, preset: .llamaCpp, cache: .init(.transform(policy)))
        #expect(abs(p.kv!.bitsPerElement - s.profiled!) < 0.02 * s.profiled!)
        // Tables: 15 shallow layers with 31 key and 15 value symbols, 15 deep ones with 15 and 7,
        // for each of 192 channels, 12 bits per frequency.
        #expect(policy.constantBits["tables"] == Double(12 * 192 * (15 * (31 + 15) + 15 * (15 + 7))))
    }
}

/// PIE's cache editing.
@Suite(.serialized) struct PositionIndependentEditingTests {
    /// Block 0's moved keys equal recomputation up to rounding; the next token's KL against full
    /// recomputation grows with the edit (measured 0.002, 0.021, 0.050 nats for 1, 4 and 18 inserted tokens).
    @Test func movedKeysAreExactInBlockZeroAndTheErrorGrowsWithTheEdit() throws {
        let m = SmolLM2Tests.model
        let head = "Alice was beginning to get "
        let tail =
            "very tired of sitting by her sister on the bank, and of having nothing to do: once or twice she had peeped into the book "
            + "her sister was reading, but it had no pictures or conversations in it, and what is the use of a book, thought Alice?"
        let original = m.tokenizer.encode(head + tail)
        var last = -1.0
        for insert in [
            "quite ", "quite honestly and rather ", "quite honestly, after a long and hot afternoon in the garden with nothing, rather ",
        ] {
            let r = try m.editCache(original: original, edited: m.tokenizer.encode(head + insert + tail), cancellation: nil)
            #expect(r.layer0KeyError < 1e-5, "\(insert): block 0 keys differ by \(r.layer0KeyError)")
            #expect(r.kl > last, "\(insert): KL \(r.kl) after \(last)")
            #expect(r.shift == r.recomputed - 1 && r.prefix + r.suffix + r.shift == r.full)
            last = r.kl
        }
        #expect(throws: ModelError.self) { try m.editCache(original: original, edited: m.tokenizer.encode(head), cancellation: nil) }
    }
}
