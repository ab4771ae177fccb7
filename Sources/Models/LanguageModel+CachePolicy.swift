import CBLAS
import Foundation
import SqueezeCore

/// The forward pass's side of cache policies: a transform compresses each sequence's new keys and
/// values; under an eviction policy, attention reads each head's kept entries.
extension LanguageModel {
    /// Runs transform `t` on the rows of every sequence of one layer (k and v are T × kv_dim).
    func compress(
        _ t: any KVTransform, layer: Int, _ k: inout Tensor, _ v: inout Tensor, _ q: Tensor, _ layout: Layout
    ) throws
        -> KVAccount
    {
        let kvd = config.kvDim, h = config.hidden
        var total = KVAccount()
        for s in 0..<layout.count {
            let n = layout.length(s), o = layout.offsets[s]
            guard n > 0 else { continue }
            var K = Array(k.storage[(o * kvd)..<((o + n) * kvd)]), V = Array(v.storage[(o * kvd)..<((o + n) * kvd)])
            let Q = Array(q.storage[(o * h)..<((o + n) * h)])
            total.add(try t.apply(layer: layer, keys: &K, values: &V, queries: Q, rows: n, past: layout.past[s], config: config))
            k.withMutableBuffer { kp in for j in 0..<(n * kvd) { kp[o * kvd + j] = K[j] } }
            v.withMutableBuffer { vp in for j in 0..<(n * kvd) { vp[o * kvd + j] = V[j] } }
        }
        return total
    }

    /// One sequence's causal attention with row-reproducible kernels: every (head, row) is a SIMD
    /// dot product per visible key, a softmax, and a weighted sum of values in key order — the
    /// same operations in the same order however many rows run together, so a row computed alone
    /// (incremental decoding) equals the same row in a whole window. Returns the probabilities
    /// [heads, rows, keys] when `keep`. (The head dimension is a multiple of 8: CachePolicy.check.)
    func attendRows(
        _ q: Tensor, _ K: [Float], _ V: [Float], rows n: Int, past: Int, offset o: Int, into ctx: inout Tensor, keep: Bool
    ) -> [Float] {
        let c = config, h = c.hidden, kvd = c.kvDim, d = c.headDim, group = c.heads / c.kvHeads, Lk = past + n
        let scale = 1 / Float(d).squareRoot(), chunks = d / 8
        var kept = keep ? [Float](repeating: 0, count: c.heads * n * Lk) : []
        q.withBuffer { qp in
            ctx.withMutableBuffer { cp in
                K.withUnsafeBufferPointer { kp in
                    V.withUnsafeBufferPointer { vp in
                        kept.withUnsafeMutableBufferPointer { keepP in
                            nonisolated(unsafe) let cp = cp, keepP = keepP
                            Parallel.forEach(c.heads * n, grain: max(1, 4096 / Lk)) { items in
                                var p = [Float](repeating: 0, count: Lk)
                                var acc = [SIMD8<Float>](repeating: .zero, count: chunks)
                                for item in items {
                                    let head = item / n, r = item % n, g = head / group, visible = past + r + 1
                                    let qrow = (o + r) * h + head * d
                                    let qb = UnsafeRawPointer(qp.baseAddress! + qrow)
                                    var mx = -Float.infinity
                                    for j in 0..<visible {
                                        let kb = UnsafeRawPointer(kp.baseAddress! + j * kvd + g * d)
                                        var s8 = SIMD8<Float>()
                                        for u in 0..<chunks {
                                            s8 +=
                                                qb.loadUnaligned(fromByteOffset: 32 * u, as: SIMD8<Float>.self)
                                                * kb.loadUnaligned(fromByteOffset: 32 * u, as: SIMD8<Float>.self)
                                        }
                                        p[j] = s8.sum() * scale
                                        mx = max(mx, p[j])
                                    }
                                    var sum: Float = 0
                                    for j in 0..<visible { p[j] = expf(p[j] - mx); sum += p[j] }
                                    let inv = 1 / sum
                                    for u in 0..<chunks { acc[u] = .zero }
                                    for j in 0..<visible {
                                        p[j] *= inv
                                        let w = SIMD8<Float>(repeating: p[j]), vb = UnsafeRawPointer(vp.baseAddress! + j * kvd + g * d)
                                        for u in 0..<chunks {
                                            acc[u] += w * vb.loadUnaligned(fromByteOffset: 32 * u, as: SIMD8<Float>.self)
                                        }
                                    }
                                    for u in 0..<chunks { for i in 0..<8 { cp[qrow + 8 * u + i] = acc[u][i] } }
                                    if keep { for j in 0..<visible { keepP[(head * n + r) * Lk + j] = p[j] } }
                                }
                            }
                        }
                    }
                }
            }
        }
        return kept
    }

    /// Causal grouped-query attention over each key/value head's kept entries: the new tokens'
    /// keys and values are appended to their head's entries, each query reads the entries at or
    /// before its position with their logit bias, every entry's score gains the attention it
    /// received (summed over the group's query heads), and then the policy trims the head.
    func attendHeads(
        _ q: Tensor, _ k: Tensor, _ v: Tensor, _ layout: Layout, layer: Int, caches: inout [KVCache], policy: any KVEviction,
        _ cancellation: CancellationToken?
    ) throws -> Tensor {
        let c = config, h = c.hidden, kvd = c.kvDim, d = c.headDim, group = c.heads / c.kvHeads
        let scale = 1 / Float(d).squareRoot()
        var ctx = Tensor.zeros([layout.tokens, h])
        for s in 0..<layout.count {
            let n = layout.length(s), past = layout.past[s], o = layout.offsets[s]
            guard n > 0 else { continue }
            if caches[s].heads[layer].isEmpty { caches[s].heads[layer] = Array(repeating: HeadCache(), count: c.kvHeads) }
            for g in 0..<c.kvHeads {
                try cancellation?.check()
                var head = HeadCache()
                swap(&head, &caches[s].heads[layer][g])  // in place: no copy of the entries
                for r in 0..<n {
                    let row = (o + r) * kvd + g * d
                    head.append(key: k.storage[row..<(row + d)], value: v.storage[row..<(row + d)], position: past + r)
                }
                let L = head.count
                var p = [Float](repeating: 0, count: n * L)
                var mass = [Double](repeating: 0, count: L), seen = [Int](repeating: 0, count: L)
                for qh in (g * group)..<((g + 1) * group) {
                    try q.withBuffer { qp in
                        try ctx.withMutableBuffer { cp in
                            try head.keys.withUnsafeBufferPointer { kp in
                                try head.values.withUnsafeBufferPointer { vp in
                                    try p.withUnsafeMutableBufferPointer { pp in
                                        guard let kb = kp.baseAddress, let vb = vp.baseAddress else {
                                            throw ModelError("the policy left no entries in layer \(layer), head \(g)")
                                        }
                                        cblas_sgemm(
                                            CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(L), Int32(d), scale,
                                            qp.baseAddress! + o * h + qh * d, Int32(h), kb, Int32(d), 0, pp.baseAddress, Int32(L))
                                        for r in 0..<n {
                                            let pos = past + r, row = r * L
                                            var mx = -Float.infinity
                                            for j in 0..<L where head.positions[j] <= pos {
                                                pp[row + j] += head.bias[j]
                                                mx = max(mx, pp[row + j])
                                            }
                                            var sum: Float = 0
                                            for j in 0..<L {
                                                if head.positions[j] <= pos {
                                                    let e = expf(pp[row + j] - mx)
                                                    pp[row + j] = e
                                                    sum += e
                                                } else {
                                                    pp[row + j] = 0
                                                }
                                            }
                                            let inv = 1 / sum
                                            for j in 0..<L where head.positions[j] <= pos {
                                                pp[row + j] *= inv
                                                mass[j] += Double(pp[row + j])
                                                seen[j] += 1
                                            }
                                        }
                                        cblas_sgemm(
                                            CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(d), Int32(L), 1,
                                            pp.baseAddress, Int32(L), vb, Int32(d), 0, cp.baseAddress! + o * h + qh * d, Int32(h))
                                    }
                                }
                            }
                        }
                    }
                }
                let decay = 1 - 1 / Double(max(1, policy.localWindow))
                for j in 0..<L {
                    head.score[j] += mass[j]
                    head.seen[j] += seen[j]
                    head.local[j] = head.local[j] * pow(decay, Double(n)) + mass[j] / Double(group)
                }
                policy.trim(&head, layer: layer, kvHead: g, dim: d)
                caches[s].heads[layer][g] = head
            }
        }
        return ctx
    }

    /// What the eviction caches of one sequence hold: every kept entry's key and value at fp16, and
    /// a merged entry's count at 16 bits, against `tokens` uncompressed tokens.
    func evictionAccount(_ cache: KVCache, tokens: Int) -> KVAccount {
        var a = KVAccount()
        let d = config.headDim
        var entries = 0, merged = 0
        for layer in cache.heads {
            for head in layer {
                entries += head.count
                merged += head.merged.filter { $0 > 1 }.count
            }
        }
        a.keys["fp16 entries"] = Double(entries * d * 16)
        a.values["fp16 entries"] = Double(entries * d * 16)
        if merged > 0 { a.keys["merge counts"] = Double(merged * 16) }
        a.elements = tokens * config.kvDim * config.layers
        return a
    }
}
