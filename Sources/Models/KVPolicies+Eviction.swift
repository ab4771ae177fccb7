import Foundation

/// StreamingLLM's window (Xiao et al. 2024): each head keeps the first `sink` tokens and the most
/// recent `tokens`.
public struct WindowEviction: KVEviction {
    public let tokens: Int, sink: Int
    public init(tokens: Int, sink: Int) {
        self.tokens = tokens
        self.sink = sink
    }

    public var description: String { "cache.window(tokens: \(tokens), sink: \(sink))" }
    public func budget(layer: Int, kvHead: Int) -> Int { tokens + sink }

    public func trim(_ head: inout HeadCache, layer: Int, kvHead: Int, dim: Int) {
        guard head.count > tokens + sink else { return }
        // Entries stay in arrival order, so the sinks are the first and the window the last.
        head.keep(Array(0..<sink) + Array((head.count - tokens)..<head.count), dim: dim)
    }
}

/// H2O (Zhang et al. 2023): each head keeps `tokens` entries, the `recent` most recent and, of the
/// older ones, the heavy hitters — those with the largest attention accumulated over every query
/// (and the group's query heads) that has read them; the lowest are evicted (the older on a tie).
public struct HeavyHitterEviction: KVEviction {
    public let tokens: Int, recent: Int
    public init(tokens: Int, recent: Int) {
        self.tokens = tokens
        self.recent = recent
    }

    public var description: String { "cache.h2o(tokens: \(tokens), recent: \(recent))" }
    public func budget(layer: Int, kvHead: Int) -> Int { tokens }

    public func trim(_ head: inout HeadCache, layer: Int, kvHead: Int, dim: Int) {
        let excess = head.count - tokens
        guard excess > 0 else { return }
        let older = head.count - recent
        let order = (0..<older).sorted { head.score[$0] < head.score[$1] || (head.score[$0] == head.score[$1] && $0 < $1) }
        let drop = Set(order.prefix(excess))
        head.keep((0..<head.count).filter { !drop.contains($0) }, dim: dim)
    }
}

/// EMS (evict-then-merge with global–local importance): each head keeps `tokens` entries, of
/// which `sink` initial and `recent` newest always. An entry's importance is its global score
/// (attention received per query that could see it) plus its local score (attention received
/// recently, averaged over about `window` steps). Over budget, the least important entry leaves:
/// with merging, into the entry whose key is most similar (cosine ≥ `similarity`) among the
/// others that may leave — keys and values averaged by count, and the merged entry's logit
/// raised by log(count) so its share of attention counts all the tokens it holds (ToMe's
/// proportional attention) — else it is evicted (EMS's zero class).
public struct EvictMergeEviction: KVEviction {
    public let tokens: Int, sink: Int, recent: Int, merge: Bool, similarity: Double, window: Int
    public init(tokens: Int, sink: Int, recent: Int, merge: Bool, similarity: Double, window: Int) {
        (self.tokens, self.sink, self.recent, self.merge, self.similarity, self.window) = (tokens, sink, recent, merge, similarity, window)
    }

    public var description: String {
        "cache.ems(tokens: \(tokens), sink: \(sink), recent: \(recent), merge: \(merge), similarity: \(similarity), window: \(window))"
    }
    public func budget(layer: Int, kvHead: Int) -> Int { tokens }
    public var localWindow: Int { window }

    public func trim(_ head: inout HeadCache, layer: Int, kvHead: Int, dim d: Int) {
        while head.count > tokens {
            let candidates = Array(sink..<(head.count - recent))
            guard !candidates.isEmpty else { return }
            func importance(_ j: Int) -> Double { head.score[j] / Double(max(1, head.seen[j])) + head.local[j] }
            let x = candidates.min { importance($0) < importance($1) || (importance($0) == importance($1) && $0 < $1) }!
            var target: Int? = nil
            if merge {
                var best = similarity
                for y in candidates where y != x {
                    var dot = 0.0, nx = 0.0, ny = 0.0
                    for t in 0..<d {
                        let a = Double(head.keys[x * d + t]), b = Double(head.keys[y * d + t])
                        dot += a * b
                        nx += a * a
                        ny += b * b
                    }
                    let cos = dot / max((nx * ny).squareRoot(), 1e-30)
                    if cos >= best { best = cos; target = y }
                }
            }
            if let y = target {
                let cx = Double(head.merged[x]), cy = Double(head.merged[y]), total = cx + cy
                for t in 0..<d {
                    head.keys[y * d + t] = Float((Double(head.keys[y * d + t]) * cy + Double(head.keys[x * d + t]) * cx) / total)
                    head.values[y * d + t] = Float((Double(head.values[y * d + t]) * cy + Double(head.values[x * d + t]) * cx) / total)
                }
                head.merged[y] += head.merged[x]
                head.bias[y] = Float(log(total))
                head.score[y] += head.score[x]
                head.seen[y] = max(head.seen[y], head.seen[x])
                head.local[y] += head.local[x]
                head.positions[y] = min(head.positions[y], head.positions[x])
            }
            head.keep((0..<head.count).filter { $0 != x }, dim: d)
        }
    }
}
