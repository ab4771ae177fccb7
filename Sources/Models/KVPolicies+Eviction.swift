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
