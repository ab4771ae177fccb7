import Foundation
import SqueezeCore
import Synchronization

/// Final hidden states of recent evaluation windows by (weights, tokens): `kld` scores many
/// compressed models against one base model on the same windows, and the base's forward passes are
/// then done once. Exact reuse (the same weights and tokens give the same states); at most 256
/// windows (0.3 GB at 512 tokens) are kept, the least recently used dropped first.
private let finalStates = Mutex(RecentValues<FinalKey, Tensor>(limit: 256))

struct FinalKey: Hashable {
    let model: UUID
    let tokens: [Int]
}

/// The base model's logits of recent `kld` chunks with each row's arg-max and log-sum-exp, by
/// (weights, tokens, rows): scoring many models against one base on the same text computes them
/// once (exact reuse). At most 512 MB of logits (ten chunks of 256 rows at SmolLM2's vocabulary),
/// the least recently used dropped first.
private let baseLogits = Mutex(RecentValues<LogitsKey, BaseLogits>(limit: 512 << 20))

/// Values by key, the least recently used dropped first once their total cost is above `limit`
/// (the newest is always kept): the two evaluation caches above.
struct RecentValues<Key: Hashable, Value> {
    let limit: Int
    private var order: [Key] = [], values: [Key: (value: Value, cost: Int)] = [:], total = 0

    init(limit: Int) { self.limit = limit }

    /// The value, now the most recently used.
    mutating func get(_ key: Key) -> Value? {
        guard let v = values[key] else { return nil }
        if let i = order.firstIndex(of: key) { order.remove(at: i); order.append(key) }
        return v.value
    }

    mutating func set(_ key: Key, _ value: Value, cost: Int = 1) {
        if let old = values[key] { total -= old.cost } else { order.append(key) }
        values[key] = (value, cost)
        total += cost
        while total > limit, order.count > 1 {
            let oldest = order.removeFirst()
            total -= values[oldest]?.cost ?? 0
            values[oldest] = nil
        }
    }
}

struct LogitsKey: Hashable {
    let window: FinalKey
    let rows: Range<Int>
}

struct BaseLogits {
    let logits: Tensor
    let top: [Int]
    let logSumExp: [Double]
}

/// Perplexity, KL divergence against a base model, and generation.
extension LanguageModel {
    /// How a text is cut into windows and which predictions are scored (see docs/llm.md).
    public enum Preset: String, Sendable, CaseIterable {
        /// llama.cpp's `llama-perplexity`: non-overlapping windows, each window's first token replaced
        /// by BOS when the vocabulary adds one, only the second half of each window scored.
        case llamaCpp = "llama.cpp"
        /// GPTQ's evaluation (and SparseGPT's, AWQ's, …): one BOS before the whole text when the model
        /// adds one, non-overlapping windows, every prediction in each window scored.
        case gptq
        /// Every prediction after each window's first token, no BOS.
        case all
    }

    /// The windows of a token stream under a preset: each window's tokens and the first row whose
    /// prediction (of the next token) is scored.
    public func windows(_ tokens: [Int], context: Int, preset: Preset) -> (windows: [[Int]], firstScored: Int) {
        var stream = tokens
        if preset == .gptq, tokenizer.addBOS, let bos = tokenizer.bos { stream.insert(bos, at: 0) }
        let n = stream.count / context
        var out: [[Int]] = []
        for w in 0..<n {
            var window = Array(stream[(w * context)..<((w + 1) * context)])
            if preset == .llamaCpp, tokenizer.addBOS, let bos = tokenizer.bos { window[0] = bos }
            out.append(window)
        }
        return (out, preset == .llamaCpp ? context / 2 : 0)
    }

    /// −log softmax(row)[target] for rows of `final`: log-sum-exp (Float64 sums) minus the target's
    /// logit, without materialising the distribution (rows on both cores).
    func negativeLogLikelihoods(_ final: Tensor, rows: Range<Int>, targets: [Int]) throws -> [Double] {
        let V = config.vocab, chunk = 128
        var out = [Double](repeating: 0, count: rows.count)
        for r0 in stride(from: rows.lowerBound, to: rows.upperBound, by: chunk) {
            let r1 = min(rows.upperBound, r0 + chunk), n = r1 - r0
            let L = try logits(final, rows: r0..<r1)
            L.withBuffer { lb in
                out.withUnsafeMutableBufferPointer { op in
                    nonisolated(unsafe) let op = op
                    Parallel.forEach(n, grain: 4) { rr in
                        for r in rr {
                            let o = r * V
                            var mx = -Float.infinity
                            for j in 0..<V { mx = max(mx, lb[o + j]) }
                            var sum = 0.0
                            for j in 0..<V { sum += Double(expf(lb[o + j] - mx)) }
                            let i = r0 + r - rows.lowerBound
                            op[i] = Double(mx) + log(sum) - Double(lb[o + targets[i]])
                        }
                    }
                }
            }
        }
        return out
    }

    public struct Perplexity: Sendable {
        public var ppl: Double, nll: Double, stderr: Double
        /// Tokens of the text used (after `limit`), windows, and predictions scored.
        public var tokens: Int, windows: Int, scored: Int
        /// The negative log-likelihood of each scored prediction, in order.
        public var nlls: [Double]
        /// What a compressed cache stored over every window (with a cache policy).
        public var kv: KVAccount? = nil
    }

    /// The mean of `values`, exp of it, and llama.cpp's uncertainty exp(mean)·√(var/(n−1)).
    public static func summarize(_ nlls: [Double]) -> (ppl: Double, nll: Double, stderr: Double) {
        let n = Double(nlls.count)
        guard n > 0 else { return (.nan, .nan, .nan) }
        let mean = nlls.reduce(0, +) / n
        let variance = nlls.reduce(0) { $0 + $1 * $1 } / n - mean * mean
        let ppl = exp(mean)
        return (ppl, mean, n > 1 ? ppl * (max(variance, 0) / (n - 1)).squareRoot() : 0)
    }

    func checkWindows(_ tokens: [Int], context: Int) throws {
        guard context >= 2 else { throw ModelError("context must be at least 2 tokens, got \(context)") }
        guard context <= config.context else {
            throw ModelError("context \(context) is above the model's context of \(config.context) tokens")
        }
        guard tokens.count >= context else {
            throw ModelError("the text has \(tokens.count) tokens, shorter than one window of \(context)")
        }
    }

    public func perplexity(
        tokens: [Int], context: Int, preset: Preset, cache: CacheRun? = nil, cancellation: CancellationToken? = nil
    ) throws -> Perplexity {
        try checkWindows(tokens, context: context)
        let (windows, first) = self.windows(tokens, context: context, preset: preset)
        var nlls: [Double] = []
        var account = cache.map { _ in KVAccount() }
        let task = ProgressMeter.start("perplexity", total: windows.count)
        defer { task.end() }
        for window in windows {
            try cancellation?.check()
            let final: Tensor
            if let cache {
                let (f, a) = try cacheFinal(window, run: cache, cancellation: cancellation)
                final = f
                account?.add(a)
            } else {
                final = try cachedFinal(window, cancellation: cancellation)
            }
            nlls += try negativeLogLikelihoods(final, rows: first..<(context - 1), targets: Array(window[(first + 1)...]))
            task.advance()
        }
        let s = Self.summarize(nlls)
        return Perplexity(
            ppl: s.ppl, nll: s.nll, stderr: s.stderr, tokens: tokens.count, windows: windows.count, scored: nlls.count, nlls: nlls,
            kv: account)
    }

    /// llama.cpp's `--kl-divergence` statistics of KL(base ‖ model) per scored prediction.
    public struct Divergence: Sendable {
        public var kl: [Double]
        public var meanKL: Double, stderrKL: Double, medianKL: Double, p99KL: Double, maxKL: Double
        public var sameTop: Double, sameTopStderr: Double
        public var rmsDeltaP: Double
        public var lnPPLRatio: Double, lnPPLRatioStderr: Double
        public var pplBase: Double, ppl: Double
        public var scored: Int, windows: Int
        /// What the model's compressed cache stored (with a cache policy).
        public var kv: KVAccount? = nil
    }

    public static func divergence(
        base: LanguageModel, model: LanguageModel, tokens: [Int], context: Int, preset: Preset, cache: CacheRun? = nil,
        cancellation: CancellationToken? = nil
    ) throws -> Divergence {
        guard base.config.vocab == model.config.vocab else {
            throw ModelError("the models have different vocabularies (\(base.config.vocab) and \(model.config.vocab) tokens)")
        }
        try model.checkWindows(tokens, context: context)
        let (windows, first) = model.windows(tokens, context: context, preset: preset)
        var kl: [Double] = [], same = 0, dp2 = 0.0, nllBase: [Double] = [], nll: [Double] = []
        var account = cache.map { _ in KVAccount() }
        let task = ProgressMeter.start("kld", total: windows.count)
        defer { task.end() }
        let V = base.config.vocab
        for window in windows {
            try cancellation?.check()
            let fb = try base.cachedFinal(window, cancellation: cancellation)
            let fm: Tensor
            if let cache {
                let (f, a) = try model.cacheFinal(window, run: cache, cancellation: cancellation)
                fm = f
                account?.add(a)
            } else {
                fm = try model.forward([window], cancellation: cancellation).final
            }
            // Both models' logits on the same chunk of rows; per row, KL(base ‖ model) from the two
            // log-sum-exps and one weighted pass (DivergenceScorer.divergence; rows on both cores).
            let chunk = 256
            for r0 in stride(from: first, to: context - 1, by: chunk) {
                let r1 = min(context - 1, r0 + chunk), n = r1 - r0
                let b = try base.cachedLogits(window, fb, rows: r0..<r1), Lm = try model.logits(fm, rows: r0..<r1)
                var out = [(kl: Double, same: Bool, lpb: Double, lpm: Double)](repeating: (0, false, 0, 0), count: n)
                b.logits.withBuffer { bp in
                    Lm.withBuffer { mp in
                        out.withUnsafeMutableBufferPointer { op in
                            nonisolated(unsafe) let op = op
                            Parallel.forEach(n, grain: 4) { rr in
                                for r in rr {
                                    let o = r * V
                                    let zb = UnsafeBufferPointer(rebasing: bp[o..<(o + V)])
                                    let zm = UnsafeBufferPointer(rebasing: mp[o..<(o + V)])
                                    let d = DivergenceScorer.divergence(zb, zm, top: b.top[r], logSumExp: b.logSumExp[r])
                                    let target = window[r0 + r + 1]
                                    op[r] = (max(d.kl, 0), d.sameTop, Double(bp[o + target]) - d.lseb, Double(mp[o + target]) - d.lsem)
                                }
                            }
                        }
                    }
                }
                for x in out {
                    kl.append(x.kl)
                    if x.same { same += 1 }
                    let delta = exp(x.lpm) - exp(x.lpb)
                    dp2 += delta * delta
                    nllBase.append(-x.lpb)
                    nll.append(-x.lpm)
                }
            }
            task.advance()
        }
        let n = Double(kl.count)
        func meanStderr(_ v: [Double]) -> (Double, Double) {
            let m = v.reduce(0, +) / n
            let variance = v.reduce(0) { $0 + $1 * $1 } / n - m * m
            return (m, n > 1 ? (max(variance, 0) / (n - 1)).squareRoot() : 0)
        }
        let sorted = kl.sorted()
        let (mk, sk) = meanStderr(kl)
        let ratio = meanStderr(zip(nll, nllBase).map { $0 - $1 })
        let top = Double(same) / n
        return Divergence(
            kl: kl, meanKL: mk, stderrKL: sk, medianKL: sorted[Int(0.5 * (n - 1))], p99KL: sorted[Int(0.99 * (n - 1))],
            maxKL: sorted.last ?? 0, sameTop: top, sameTopStderr: n > 1 ? (top * (1 - top) / (n - 1)).squareRoot() : 0,
            rmsDeltaP: (dp2 / n).squareRoot(), lnPPLRatio: ratio.0, lnPPLRatioStderr: ratio.1,
            pplBase: summarize(nllBase).ppl, ppl: summarize(nll).ppl, scored: kl.count, windows: windows.count, kv: account)
    }

    /// The final hidden states of one window, reused when these weights have run these tokens before.
    func cachedFinal(_ window: [Int], cancellation: CancellationToken?) throws -> Tensor {
        let key = FinalKey(model: identity, tokens: window)
        if let hit = finalStates.withLock({ $0.get(key) }) { return hit }
        let f = try forward([window], cancellation: cancellation).final
        finalStates.withLock { $0.set(key, f) }
        return f
    }

    /// The logits of rows `rows` of a window's final states with each row's arg-max and
    /// log-sum-exp, reused when these weights have scored these tokens' rows before.
    func cachedLogits(_ window: [Int], _ final: Tensor, rows: Range<Int>) throws -> BaseLogits {
        let key = LogitsKey(window: FinalKey(model: identity, tokens: window), rows: rows)
        if let hit = baseLogits.withLock({ $0.get(key) }) { return hit }
        let L = try logits(final, rows: rows), V = config.vocab
        var top = [Int](repeating: 0, count: rows.count), lse = [Double](repeating: 0, count: rows.count)
        L.withBuffer { lp in
            top.withUnsafeMutableBufferPointer { tp in
                lse.withUnsafeMutableBufferPointer { sp in
                    nonisolated(unsafe) let (tp, sp) = (tp, sp)
                    Parallel.forEach(rows.count, grain: 4) { rr in
                        for r in rr {
                            let z = UnsafeBufferPointer(rebasing: lp[(r * V)..<((r + 1) * V)])
                            tp[r] = DivergenceScorer.argmax(z)
                            sp[r] = DivergenceScorer.logSumExp(z, maximum: z[tp[r]])
                        }
                    }
                }
            }
        }
        let entry = BaseLogits(logits: L, top: top, logSumExp: lse)
        baseLogits.withLock { $0.set(key, entry, cost: 4 * L.count) }
        return entry
    }

    // MARK: - Generation

    public struct Sampling: Sendable {
        public var temperature = 0.0
        public var topK: Int? = nil
        public var topP: Double? = nil
        public init(temperature: Double = 0, topK: Int? = nil, topP: Double? = nil) {
            self.temperature = temperature
            self.topK = topK
            self.topP = topP
        }
    }

    /// The next token from one row of logits: the arg-max at temperature 0, else a draw from
    /// softmax(logits / T) restricted to the top k and then to the smallest set of mass ≥ top_p.
    public static func pick(_ logits: ArraySlice<Float>, _ s: Sampling, _ rng: inout RandomGenerator) -> Int {
        let base = logits.startIndex
        if s.temperature <= 0 {
            var best = base
            for j in logits.indices where logits[j] > logits[best] { best = j }
            return best - base
        }
        var order = Array(0..<logits.count)
        order.sort { logits[base + $0] > logits[base + $1] || (logits[base + $0] == logits[base + $1] && $0 < $1) }
        if let k = s.topK, k > 0, k < order.count { order.removeLast(order.count - k) }
        let mx = Double(logits[base + order[0]])
        var p = order.map { exp((Double(logits[base + $0]) - mx) / s.temperature) }
        var total = p.reduce(0, +)
        if let topP = s.topP, topP < 1 {
            var cum = 0.0, keep = p.count
            for (i, v) in p.enumerated() {
                cum += v / total
                if cum >= topP { keep = i + 1; break }
            }
            p.removeLast(p.count - keep)
            total = p.reduce(0, +)
        }
        let u = rng.uniform() * total
        var acc = 0.0
        for (i, v) in p.enumerated() {
            acc += v
            if u < acc { return order[i] }
        }
        return order[p.count - 1]
    }

    public struct Generation: Sendable {
        public var ids: [Int]
        public var text: String
        /// "length", "eos" or "stop".
        public var reason: String
        /// What a compressed cache stored for the prompt and the new tokens (with a cache policy).
        public var kv: KVAccount? = nil
    }

    /// Continues `prompt` by up to `tokens` tokens through the KV cache: one forward over the
    /// prompt, then one per new token. Stops at the end-of-sequence token or when the continuation's
    /// text contains one of `stop` (cut before it).
    public func generate(
        prompt: [Int], tokens: Int, sampling: Sampling, stop: [String] = [], cache policy: CachePolicy? = nil,
        rng: inout RandomGenerator, cancellation: CancellationToken? = nil
    ) throws -> Generation {
        if let policy { try policy.check(self, mode: .incremental) }
        guard !prompt.isEmpty else { throw ModelError("the prompt is empty: give at least one token of text") }
        guard prompt.count + tokens <= config.context else {
            throw ModelError("\(prompt.count) prompt tokens + \(tokens) new exceed the model's context of \(config.context)")
        }
        var caches: [KVCache]? = [KVCache(layers: config.layers)]
        var account = KVAccount()
        var step = try forward([prompt], caches: &caches, policy: policy, cancellation: cancellation)
        account.add(step.kv)
        var last = step.final
        var ids: [Int] = []
        let task = ProgressMeter.start("generate", total: tokens)
        defer { task.end() }
        var reason = "length"
        for _ in 0..<tokens {
            try cancellation?.check()
            let row = last.shape[0] - 1
            let head = try logits(last, rows: row..<(row + 1))
            let next = Self.pick(head.storage[...], sampling, &rng)
            if next == tokenizer.eos { reason = "eos"; break }
            ids.append(next)
            task.advance()
            if !stop.isEmpty {
                let text = tokenizer.decode(ids)
                if stop.contains(where: { text.contains($0) }) { reason = "stop"; break }
            }
            if ids.count == tokens { break }
            step = try forward([[next]], caches: &caches, policy: policy, cancellation: cancellation)
            account.add(step.kv)
            last = step.final
        }
        if case .eviction? = policy { account = evictionAccount(caches![0], tokens: caches![0].count) }
        var text = tokenizer.decode(ids)
        if reason == "stop", let cut = stop.compactMap({ text.range(of: $0)?.lowerBound }).min() { text = String(text[..<cut]) }
        return Generation(ids: ids, text: text, reason: reason, kv: policy == nil ? nil : account)
    }
}
