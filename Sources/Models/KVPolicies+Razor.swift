import Foundation
import SqueezeCore

/// RazorAttention (Tang et al. 2024): retrieval heads keep their whole cache, every other head
/// keeps `sink` initial tokens, the `recent` newest and one compensation entry — the mean of the
/// keys and of the values it dropped, so their share of the softmax is not simply lost.
public struct RazorEviction: KVEviction {
    /// Heads (layer · kv_heads + kv head) whose whole cache is kept.
    public let full: Set<Int>
    public let layers: Int, kvHeads: Int, sink: Int, recent: Int, compensation: Bool
    public init(full: Set<Int>, layers: Int, kvHeads: Int, sink: Int, recent: Int, compensation: Bool) {
        (self.full, self.layers, self.kvHeads, self.sink, self.recent, self.compensation) = (
            full, layers, kvHeads, sink, recent, compensation
        )
    }

    public var shape: (layers: Int, kvHeads: Int)? { (layers, kvHeads) }

    public var description: String {
        "cache.razor(full heads: \(full.count), sink: \(sink), recent: \(recent), compensation: \(compensation))"
    }

    public func budget(layer: Int, kvHead: Int) -> Int {
        full.contains(layer * kvHeads + kvHead) ? Int.max : sink + recent + (compensation ? 1 : 0)
    }

    public func trim(_ head: inout HeadCache, layer: Int, kvHead: Int, dim d: Int) {
        guard !full.contains(layer * kvHeads + kvHead) else { return }
        // Entries: the sinks, then (once anything was dropped) the compensation entry, then the rest in order.
        let hasCompensation = head.compensated
        let first = sink + (hasCompensation ? 1 : 0)
        let excess = head.count - first - recent
        guard excess > 0 else { return }
        let dropped = first..<(first + excess)
        var keep = Array(0..<sink)
        if compensation {
            // Fold the dropped entries into the compensation entry's running mean.
            let slot = hasCompensation ? sink : dropped.lowerBound
            let before = hasCompensation ? head.merged[sink] : 0
            var k = [Double](repeating: 0, count: d), v = k
            if hasCompensation {
                for t in 0..<d {
                    k[t] = Double(head.keys[slot * d + t]) * Double(before); v[t] = Double(head.values[slot * d + t]) * Double(before)
                }
            }
            var count = before
            for e in dropped {
                for t in 0..<d { k[t] += Double(head.keys[e * d + t]); v[t] += Double(head.values[e * d + t]) }
                count += head.merged[e]
            }
            for t in 0..<d {
                head.keys[slot * d + t] = Float(k[t] / Double(count))
                head.values[slot * d + t] = Float(v[t] / Double(count))
            }
            head.merged[slot] = count
            head.compensated = true
            keep.append(slot)
        }
        keep += Array((first + excess)..<head.count)
        head.keep(keep, dim: d)
    }

    /// The probe's scores per layer and key/value head: a random string (ids drawn from `range`)
    /// repeated `repeats` times after BOS; for each query in a repeat, the attention it gives to
    /// the earlier occurrences of its own token (echo) and to the tokens that followed them
    /// (induction), averaged over queries and maximised over the query heads of the group.
    public static func probe(
        _ model: LanguageModel, length: Int, repeats: Int, range: Range<Int>, seed: UInt64, cancellation: CancellationToken?
    ) throws -> (echo: [[Double]], induction: [[Double]], tokens: [Int]) {
        let c = model.config
        guard range.upperBound <= c.vocab, range.count >= 2 else { throw ModelError("the probe's token range is outside the vocabulary") }
        var rng = RandomGenerator(seed: seed)
        let string = (0..<length).map { _ in range.lowerBound + rng.integer(below: range.count) }
        let lead = model.tokenizer.bos.map { [$0] } ?? []
        let ids = lead + Array([[Int]](repeating: string, count: repeats).joined())
        let o = lead.count, n = ids.count, group = c.heads / c.kvHeads
        var echo = [[Double]](repeating: [Double](repeating: 0, count: c.kvHeads), count: c.layers), induction = echo
        let task = ProgressMeter.start("razor probe", total: c.layers)
        defer { task.end() }
        // A few blocks' attention at a time: [heads, n, n] each.
        for first in stride(from: 0, to: c.layers, by: 3) {
            try cancellation?.check()
            var capture = LanguageModel.Capture()
            capture.attention = Set(first..<min(c.layers, first + 3))
            capture.blocks = min(c.layers, first + 3)
            let out = try model.forward([ids], capture: capture, cancellation: cancellation)
            for layer in capture.attention.sorted() {
                guard let A = out.attention[layer]?.first else { continue }
                A.withBuffer { a in
                    for head in 0..<c.heads {
                        var e = 0.0, ind = 0.0, queries = 0
                        for i in (o + length)..<n {
                            var j = i - length
                            while j >= o {
                                e += Double(a[(head * n + i) * n + j])
                                if j + 1 <= i { ind += Double(a[(head * n + i) * n + j + 1]) }
                                j -= length
                            }
                            queries += 1
                        }
                        let g = head / group
                        echo[layer][g] = max(echo[layer][g], e / Double(max(queries, 1)))
                        induction[layer][g] = max(induction[layer][g], ind / Double(max(queries, 1)))
                    }
                }
                task.advance()
            }
        }
        return (echo, induction, ids)
    }

    /// The retrieval heads: the top `inductionRatio` of all key/value heads by induction score and
    /// the top `echoRatio` by echo score (at least one each when the ratio is positive).
    public static func retrievalHeads(echo: [[Double]], induction: [[Double]], inductionRatio: Double, echoRatio: Double) -> Set<Int> {
        func top(_ s: [[Double]], _ ratio: Double) -> [Int] {
            let flat = s.flatMap { $0 }
            guard ratio > 0 else { return [] }
            let k = max(1, Int((ratio * Double(flat.count)).rounded()))
            return flat.indices.sorted { flat[$0] > flat[$1] || (flat[$0] == flat[$1] && $0 < $1) }.prefix(k).map { $0 }
        }
        return Set(top(induction, inductionRatio) + top(echo, echoRatio))
    }
}
