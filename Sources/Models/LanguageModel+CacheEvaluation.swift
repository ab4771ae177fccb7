import Foundation
import SqueezeCore

/// Evaluation with a compressed KV cache: the final hidden states of a window under a policy, in
/// either mode, with what the cache stored.
extension LanguageModel {
    /// A policy and the mode it runs in, as an evaluation is asked for it.
    public struct CacheRun: Sendable, CustomStringConvertible {
        public let policy: CachePolicy
        public let mode: KVMode
        public init(_ policy: CachePolicy, mode: KVMode? = nil) {
            self.policy = policy
            self.mode = mode ?? policy.defaultMode
        }
        public var description: String { "\(policy) (\(mode.rawValue))" }
    }

    /// The final hidden states of one window (window × hidden) under `run`, and the cache's account.
    /// Simulated: one forward pass whose attention reads the transformed keys and values.
    /// Incremental: token by token through the real cache; under an eviction policy the first
    /// tokens up to the smallest head budget go in one pass (nothing is evicted before then, so
    /// this is the same computation).
    public func cacheFinal(_ window: [Int], run: CacheRun, cancellation: CancellationToken?) throws -> (Tensor, KVAccount) {
        try run.policy.check(self, mode: run.mode)
        if run.mode == .simulated {
            let out = try forward([window], policy: run.policy, cancellation: cancellation)
            return (out.final, out.kv)
        }
        var caches: [KVCache]? = [KVCache(layers: config.layers)]
        var final: [Float] = []
        final.reserveCapacity(window.count * config.hidden)
        var account = KVAccount()
        var first = 1
        if case .eviction(let e) = run.policy {
            var smallest = Int.max
            for l in 0..<config.layers { for g in 0..<config.kvHeads { smallest = min(smallest, e.budget(layer: l, kvHead: g)) } }
            first = max(1, min(smallest, window.count))
        }
        var t = 0
        while t < window.count {
            try cancellation?.check()
            let n = t == 0 ? first : 1
            let out = try forward([Array(window[t..<(t + n)])], caches: &caches, policy: run.policy, cancellation: cancellation)
            final += out.final.storage
            account.add(out.kv)
            t += n
        }
        if case .eviction = run.policy { account = evictionAccount(caches![0], tokens: window.count) }
        if case .transform(let t) = run.policy, t.buffer > 0 {
            // The rows still waiting in each (running) layer's buffer at the end of the window.
            for _ in 0..<(config.layers - droppedBlocks.count) {
                account.add(t.buffered(rows: window.count % t.buffer, kvDim: config.kvDim))
            }
        }
        return (Tensor(shape: [window.count, config.hidden], storage: final), account)
    }

    /// Runs `tokens` in windows of `window`, capturing every block's queries, keys (before and after
    /// RoPE) and values, and hands each window's output and length to `body`: the calibration pass
    /// of the cache policies that fit constants offline.
    func calibrationPasses(
        _ tokens: [Int], window: Int, cancellation: CancellationToken?, _ body: (_ out: Output, _ count: Int) throws -> Void
    ) throws {
        guard !tokens.isEmpty else { throw ModelError("the calibration text has no tokens") }
        var capture = Capture()
        capture.kv = Set(0..<config.layers)
        for w in stride(from: 0, to: tokens.count, by: window) {
            try cancellation?.check()
            let ids = Array(tokens[w..<min(tokens.count, w + window)])
            try body(try forward([ids], capture: capture, cancellation: cancellation), ids.count)
        }
    }
}
