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

    /// p[j] = (q·k_j)/√d for keys 0..<count, each dot product as a sum of 8-wide products over the
    /// head's chunks in order and then across the lanes — the same for every key however the loop
    /// is unrolled. Four keys at a time: one load of each query chunk feeds four independent sums.
    @inline(__always)
    static func scores(
        _ qb: UnsafeRawPointer, chunks: Int, keys count: Int, scale: Float, into p: UnsafeMutablePointer<Float>,
        key: (Int) -> UnsafeRawPointer
    ) {
        var j = 0
        while j + 4 <= count {
            let k0 = key(j), k1 = key(j + 1), k2 = key(j + 2), k3 = key(j + 3)
            var s0 = SIMD8<Float>(), s1 = s0, s2 = s0, s3 = s0
            for u in 0..<chunks {
                let x = qb.loadUnaligned(fromByteOffset: 32 * u, as: SIMD8<Float>.self)
                s0 += x * k0.loadUnaligned(fromByteOffset: 32 * u, as: SIMD8<Float>.self)
                s1 += x * k1.loadUnaligned(fromByteOffset: 32 * u, as: SIMD8<Float>.self)
                s2 += x * k2.loadUnaligned(fromByteOffset: 32 * u, as: SIMD8<Float>.self)
                s3 += x * k3.loadUnaligned(fromByteOffset: 32 * u, as: SIMD8<Float>.self)
            }
            (p[j], p[j + 1], p[j + 2], p[j + 3]) = (s0.sum() * scale, s1.sum() * scale, s2.sum() * scale, s3.sum() * scale)
            j += 4
        }
        while j < count {
            let k0 = key(j)
            var s0 = SIMD8<Float>()
            for u in 0..<chunks {
                s0 +=
                    qb.loadUnaligned(fromByteOffset: 32 * u, as: SIMD8<Float>.self)
                    * k0.loadUnaligned(fromByteOffset: 32 * u, as: SIMD8<Float>.self)
            }
            p[j] = s0.sum() * scale
            j += 1
        }
    }

    /// A streaming transform's flush: every buffer of `t.buffer` rows completed between positions
    /// `past` and `end` of one sequence's keys and values (rows × kv_dim, all its positions) is
    /// compressed together, in place, with its rows' queries (`queries`: rows × hidden from
    /// position `first` on).
    func flush(
        _ t: any KVTransform, layer: Int, _ K: inout [Float], _ V: inout [Float], queries: [Float], first: Int, from past: Int,
        to end: Int
    ) throws -> KVAccount {
        let b = t.buffer, kvd = config.kvDim, h = config.hidden
        var total = KVAccount()
        for chunk in (past / b)..<(end / b) {
            let rows = (chunk * b * kvd)..<((chunk + 1) * b * kvd)
            var k = Array(K[rows]), v = Array(V[rows])
            let q = Array(queries[((chunk * b - first) * h)..<(((chunk + 1) * b - first) * h)])
            total.add(try t.apply(layer: layer, keys: &k, values: &v, queries: q, rows: b, past: chunk * b, config: config))
            K.replaceSubrange(rows, with: k)
            V.replaceSubrange(rows, with: v)
        }
        return total
    }

    /// One sequence's causal attention with row-reproducible kernels: every (head, row) is a SIMD
    /// dot product per visible key, a softmax, and a weighted sum of values in key order — the
    /// same operations in the same order however many rows run together, so a row computed alone
    /// (incremental decoding) equals the same row in a whole window. Returns the probabilities
    /// [heads, rows, keys] when `keep`. (The head dimension is a multiple of 8: CachePolicy.check.)
    /// With `exact` (a streaming buffer of b rows), the row at position t reads keys and values at
    /// positions from b·⌊t/b⌋ on from the exact ones instead: those still waiting in its buffer.
    func attendRows(
        _ q: Tensor, _ K: [Float], _ V: [Float], rows n: Int, past: Int, offset o: Int, into ctx: inout Tensor, keep: Bool,
        exact: (K: [Float], V: [Float], buffer: Int)? = nil
    ) -> [Float] {
        let c = config, h = c.hidden, kvd = c.kvDim, d = c.headDim, group = c.heads / c.kvHeads, Lk = past + n
        let scale = 1 / Float(d).squareRoot(), chunks = d / 8
        var kept = keep ? [Float](repeating: 0, count: c.heads * n * Lk) : []
        q.withBuffer { qp in
            ctx.withMutableBuffer { cp in
                K.withUnsafeBufferPointer { kp in
                    V.withUnsafeBufferPointer { vp in
                        (exact?.K ?? K).withUnsafeBufferPointer { ekp in
                            (exact?.V ?? V).withUnsafeBufferPointer { evp in
                                kept.withUnsafeMutableBufferPointer { keepP in
                                    nonisolated(unsafe) let cp = cp, keepP = keepP
                                    let b = exact?.buffer ?? Int.max
                                    Parallel.forEach(c.heads * n, grain: max(1, 4096 / Lk)) { items in
                                        let p = UnsafeMutablePointer<Float>.allocate(capacity: Lk)
                                        let acc = UnsafeMutablePointer<SIMD8<Float>>.allocate(capacity: chunks)
                                        defer {
                                            p.deallocate()
                                            acc.deallocate()
                                        }
                                        for item in items {
                                            let head = item / n, r = item % n, g = head / group, visible = past + r + 1
                                            let qrow = (o + r) * h + head * d
                                            // Keys before `flushed` are read from the cache as compressed, the rest exact.
                                            let flushed = b == Int.max ? visible : (past + r) / b * b
                                            func key(_ j: Int) -> UnsafeRawPointer {
                                                UnsafeRawPointer((j < flushed ? kp : ekp).baseAddress! + j * kvd + g * d)
                                            }
                                            Self.scores(
                                                UnsafeRawPointer(qp.baseAddress! + qrow), chunks: chunks, keys: visible, scale: scale,
                                                into: p,
                                                key: key)
                                            var mx = -Float.infinity
                                            for j in 0..<visible { mx = max(mx, p[j]) }
                                            var sum: Float = 0
                                            for j in 0..<visible { p[j] = expf(p[j] - mx); sum += p[j] }
                                            let inv = 1 / sum
                                            for u in 0..<chunks { acc[u] = .zero }
                                            for j in 0..<visible {
                                                p[j] *= inv
                                                let w = SIMD8<Float>(repeating: p[j])
                                                let vb = UnsafeRawPointer((j < flushed ? vp : evp).baseAddress! + j * kvd + g * d)
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
