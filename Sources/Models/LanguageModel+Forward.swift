import CBLAS
import Foundation
import SqueezeCore

/// The decoder's forward pass. Sequences are batched ragged, as MiniLM's are: the tokens of all
/// sequences are stacked into one T × hidden matrix, so every linear layer is one GEMM over all of
/// them, and attention runs per sequence and head over that sequence's own (cached and new) keys.
/// Attention is computed in blocks of 128 queries against only the keys they may see, as two GEMMs
/// per block (scores, then probabilities × values).
extension LanguageModel {
    /// Keys (after RoPE) and values of one sequence's past tokens, per block: what incremental
    /// decoding reads instead of recomputing them.
    public struct KVCache: Sendable {
        public internal(set) var keys: [[Float]]
        public internal(set) var values: [[Float]]
        public internal(set) var count = 0
        /// Per layer and key/value head, the entries an eviction policy keeps (instead of `keys`, `values`).
        public internal(set) var heads: [[HeadCache]]
        /// Per layer, the queries (after RoPE) of the rows waiting in a streaming buffer (ZipCache
        /// scores a buffer by its own queries when it is compressed).
        public internal(set) var queries: [[Float]]

        public init(layers: Int) {
            keys = Array(repeating: [], count: layers)
            values = Array(repeating: [], count: layers)
            heads = Array(repeating: [], count: layers)
            queries = Array(repeating: [], count: layers)
        }
    }

    /// What a forward pass records besides the final hidden states.
    public struct Capture: Sendable {
        /// Linear layers whose inputs to keep (T × in).
        public var inputs: Set<String> = []
        /// Blocks whose keys (before and after RoPE) and values (T × kv_dim), and queries after RoPE
        /// (T × hidden), to keep.
        public var kv: Set<Int> = []
        /// Blocks whose attention probabilities to keep, per sequence [heads, new tokens, keys].
        public var attention: Set<Int> = []
        /// Blocks whose output residual stream (T × hidden) to keep.
        public var hidden: Set<Int> = []
        /// Stop after this many blocks (the hooks need no more).
        public var blocks: Int? = nil
        public init() {}
    }

    public struct Output: Sendable {
        /// T × hidden after the final RMSNorm (empty when the pass stopped early).
        public var final: Tensor
        public var lengths: [Int]
        public var inputs: [String: Tensor] = [:]
        public var keys: [Int: Tensor] = [:], keysBeforeRoPE: [Int: Tensor] = [:], values: [Int: Tensor] = [:]
        public var queries: [Int: Tensor] = [:]
        public var attention: [Int: [Tensor]] = [:]
        public var hidden: [Int: Tensor] = [:]
        /// What a cache policy stored for the new tokens (transforms; eviction is counted by the caller).
        public var kv = KVAccount()
    }

    /// Rows of each sequence in the stacked matrix and how many cached tokens precede them.
    struct Layout {
        let offsets: [Int]
        let past: [Int]
        /// Row-reproducible kernels: each row's numbers do not depend on how many rows run together
        /// (with a cache policy, so that incremental decoding stores exactly what the simulated pass
        /// stores: a quantizer's rounding would otherwise amplify BLAS's size-dependent sum orders).
        var exact = false
        /// Fewest rows a linear layer multiplies (OpenBLAS takes other kernels below).
        var minRows: Int { exact ? 8 : 2 }
        init(offsets: [Int], past: [Int]) {
            self.offsets = offsets
            self.past = past
        }

        /// The sequences stacked, each after `past` cached tokens (none by default).
        init(sequences: [[Int]], past: [Int]? = nil) {
            offsets = sequences.map(\.count).reduce(into: [0]) { $0.append($0.last! + $1) }
            self.past = past ?? sequences.map { _ in 0 }
        }

        var count: Int { offsets.count - 1 }
        var tokens: Int { offsets.last! }
        func length(_ s: Int) -> Int { offsets[s + 1] - offsets[s] }
    }

    public func forward(
        _ sequences: [[Int]], capture: Capture = Capture(), policy: CachePolicy? = nil, cancellation: CancellationToken? = nil
    ) throws -> Output {
        var none: [KVCache]? = nil
        return try forward(sequences, capture: capture, caches: &none, policy: policy, cancellation: cancellation)
    }

    /// The forward pass; with `caches` (one per sequence) the new tokens follow the cached ones and
    /// their keys and values are appended. A cache `policy` compresses what attention reads: a
    /// transform replaces the new keys and values by what the cache gives back; an eviction policy
    /// (with caches only) keeps each head's entries within its budget.
    public func forward(
        _ sequences: [[Int]], capture: Capture = Capture(), caches: inout [KVCache]?, policy: CachePolicy? = nil,
        cancellation: CancellationToken? = nil
    ) throws -> Output {
        if case .eviction? = policy, caches == nil { throw ModelError("an eviction policy needs the incremental cache") }
        let c = config
        if let caches, caches.count != sequences.count {
            throw ModelError("\(caches.count) caches for \(sequences.count) sequences")
        }
        let past = caches?.map(\.count) ?? Array(repeating: 0, count: sequences.count)
        for (s, ids) in sequences.enumerated() {
            if let bad = ids.first(where: { $0 < 0 || $0 >= c.vocab }) {
                throw ModelError("token id \(bad) is outside the vocabulary (0…\(c.vocab - 1))")
            }
            guard past[s] + ids.count <= c.context else {
                throw ModelError("\(past[s] + ids.count) tokens exceed the model's context of \(c.context)")
            }
        }
        var layout = Layout(sequences: sequences, past: past)
        if case .transform? = policy { layout.exact = true }
        let T = layout.tokens
        try Memory.check(elements: T * max(c.intermediate, 3 * c.hidden), copies: 4, "a forward pass over \(T) tokens")
        var out = Output(final: Tensor.zeros([T, c.hidden]), lengths: sequences.map(\.count))
        guard T > 0 else { return out }
        var x = embed(sequences)
        let blocks = min(c.layers, capture.blocks ?? c.layers)
        let task = ProgressMeter.start("\(name) forward", total: blocks)
        defer { task.end() }
        for i in 0..<blocks {
            try cancellation?.check()
            try block(i, &x, layout, caches: &caches, policy: policy, capture: capture, out: &out, cancellation: cancellation)
            task.advance()
        }
        if caches != nil {
            for s in 0..<sequences.count { caches![s].count += sequences[s].count }
        }
        if blocks == c.layers {
            rmsNorm(&x, weights["output_norm.weight"]!)
            out.final = x
        }
        return out
    }

    /// Token embeddings, T × hidden.
    func embed(_ sequences: [[Int]]) -> Tensor {
        let h = config.hidden, E = weights["token_embd.weight"]!
        let ids = sequences.flatMap { $0 }
        return Tensor(shape: [ids.count, h]) { o in
            E.withBuffer { e in
                for (t, id) in ids.enumerated() { for j in 0..<h { o[t * h + j] = e[id * h + j] } }
            }
        }
    }

    /// The output head on rows of the final hidden states: rows × vocabulary logits.
    public func logits(_ final: Tensor) throws -> Tensor {
        try linear(final, weights[config.tiedEmbeddings ? "token_embd.weight" : "output.weight"]!)
    }

    /// The output head on rows `rows` of the final hidden states only.
    public func logits(_ final: Tensor, rows: Range<Int>) throws -> Tensor {
        let h = config.hidden
        return try logits(Tensor(shape: [rows.count, h], storage: Array(final.storage[(rows.lowerBound * h)..<(rows.upperBound * h)])))
    }

    /// One block: x ← x + attention(norm(x)); x ← x + ffn(norm(x)). `group` (sequential calibration)
    /// sees each group of linear layers' input before they run and returns replacement weights.
    func block(
        _ i: Int, _ x: inout Tensor, _ layout: Layout, caches: inout [KVCache]?, policy: CachePolicy? = nil, capture: Capture,
        out: inout Output, cancellation: CancellationToken?, group: ((_ layers: [String], _ X: Tensor) throws -> [String: Tensor])? = nil
    ) throws {
        guard !droppedBlocks.contains(i) else { return }
        let p = "blk.\(i)."
        var local: [String: Tensor] = [:]
        func w(_ role: String) -> Tensor { local[p + role] ?? weights[p + role + ".weight"]! }
        func feed(_ roles: [String], _ X: Tensor) throws {
            for r in roles where capture.inputs.contains(p + r) { out.inputs[p + r] = X }
            if let group { for (k, v) in try group(roles.map { p + $0 }, X) { local[k] = v } }
        }
        var a = x
        rmsNorm(&a, weights[p + "attn_norm.weight"]!)
        try feed(["attn_q", "attn_k", "attn_v"], a)
        activationQuantization?.apply(&a)
        var q = try linear(a, w("attn_q"), rows: layout.minRows)
        var k = try linear(a, w("attn_k"), rows: layout.minRows)
        var v = try linear(a, w("attn_v"), rows: layout.minRows)
        if capture.kv.contains(i) { out.keysBeforeRoPE[i] = k }
        rope(&q, heads: config.heads, layout)
        // A transform compresses the new rows here, or, streaming, each buffer they fill in `attend`.
        var transform: (any KVTransform)? = nil, stream: (any KVTransform)? = nil
        if case .transform(let t)? = policy { if t.buffer > 0 { stream = t } else { transform = t } }
        if let t = transform, t.preRoPE { out.kv.add(try compress(t, layer: i, &k, &v, q, layout)) }
        rope(&k, heads: config.kvHeads, layout)
        if let t = transform, !t.preRoPE { out.kv.add(try compress(t, layer: i, &k, &v, q, layout)) }
        if capture.kv.contains(i) { out.keys[i] = k; out.values[i] = v; out.queries[i] = q }
        let ctx: Tensor, probs: [Tensor]
        if case .eviction(let e)? = policy {
            ctx = try attendHeads(q, k, v, layout, layer: i, caches: &caches!, policy: e, cancellation)
            probs = []
        } else {
            (ctx, probs) = try attend(
                q, k, v, layout, layer: i, caches: &caches, keep: capture.attention.contains(i), stream: stream, account: &out.kv,
                cancellation)
        }
        if capture.attention.contains(i) { out.attention[i] = probs }
        try feed(["attn_output"], ctx)
        var o = try linear(activationQuantization?.applied(ctx) ?? ctx, w("attn_output"), rows: layout.minRows)
        add(&o, x)
        var b = o
        rmsNorm(&b, weights[p + "ffn_norm.weight"]!)
        try feed(["ffn_gate", "ffn_up"], b)
        activationQuantization?.apply(&b)
        var gate = try linear(b, w("ffn_gate"), rows: layout.minRows)
        let up = try linear(b, w("ffn_up"), rows: layout.minRows)
        swiGLU(&gate, up)
        if let Rt = feedForwardRotation { gate = try linear(gate, Rt, rows: layout.minRows) }
        try feed(["ffn_down"], gate)
        activationQuantization?.apply(&gate)
        var d = try linear(gate, w("ffn_down"), rows: layout.minRows)
        add(&d, o)
        x = d
        if capture.hidden.contains(i) { out.hidden[i] = x }
    }

    /// x Wᵀ, with fewer than `rows` rows padded by zero rows. One row is multiplied as two:
    /// OpenBLAS sends a one-row product to its matrix–vector kernel, which sums in another order,
    /// and incremental decoding would drift from the full forward pass by float rounding. Up to
    /// about 5 rows it still takes other kernels for some shapes (measured: 192 × 576 differs for
    /// M ≤ 5, every layer shape of SmolLM2 agrees bit for bit from M = 8 to 130).
    func linear(_ x: Tensor, _ W: Tensor, rows: Int = 2) throws -> Tensor {
        let m = x.shape[0]
        guard m < rows else { return try Tensor.gemm(x, W, transB: true) }
        let padded = Tensor(shape: [rows, x.shape[1]], storage: x.storage + [Float](repeating: 0, count: (rows - m) * x.shape[1]))
        let y = try Tensor.gemm(padded, W, transB: true)
        return Tensor(shape: [m, W.shape[0]], storage: Array(y.storage.prefix(m * W.shape[0])))
    }

    func add(_ a: inout Tensor, _ b: Tensor) {
        a.withMutableBuffer { ap in
            b.withBuffer { bp in
                nonisolated(unsafe) let ap = ap
                Parallel.forEach(ap.count, grain: 1 << 16) { r in for i in r { ap[i] += bp[i] } }
            }
        }
    }

    /// x / √(mean(x²) + ε) · g over each row (the mean of squares in Float64).
    func rmsNorm(_ x: inout Tensor, _ g: Tensor) {
        let h = g.count, eps = Double(config.eps)
        x.withMutableBuffer { xp in
            g.withBuffer { gp in
                nonisolated(unsafe) let xp = xp
                Parallel.forEach(xp.count / h, grain: 64) { rows in
                    for r in rows {
                        let row = r * h
                        var ss = 0.0
                        for j in 0..<h { let v = Double(xp[row + j]); ss += v * v }
                        let inv = Float(1 / (ss / Double(h) + eps).squareRoot())
                        for j in 0..<h { xp[row + j] = xp[row + j] * inv * gp[j] }
                    }
                }
            }
        }
    }

    /// gate ← silu(gate) ⊙ up.
    func swiGLU(_ gate: inout Tensor, _ up: Tensor) {
        gate.withMutableBuffer { gp in
            up.withBuffer { up in
                nonisolated(unsafe) let gp = gp
                Parallel.forEach(gp.count, grain: 1 << 15) { r in
                    for i in r { let g = gp[i]; gp[i] = g / (1 + expf(-g)) * up[i] }
                }
            }
        }
    }

    /// Rotary positions on adjacent pairs (2i, 2i+1) of each head's first rope_dims dimensions,
    /// angle pos · base^(−2i/rope_dims), pos counting the sequence's cached tokens; `inverse`
    /// rotates by −angle (the transpose: RoPE's backward).
    func rope(_ x: inout Tensor, heads: Int, _ layout: Layout, inverse: Bool = false) {
        let d = config.headDim, half = config.ropeDims / 2, width = heads * d
        let inv = (0..<half).map { pow(config.ropeBase, -2 * Double($0) / Double(config.ropeDims)) }
        x.withMutableBuffer { xp in
            nonisolated(unsafe) let xp = xp
            Parallel.forEach(layout.tokens, grain: 32) { rows in
                var cs = [Float](repeating: 0, count: half), sn = [Float](repeating: 0, count: half)
                var s = 0
                for t in rows {
                    while t >= layout.offsets[s + 1] { s += 1 }
                    let pos = Double(layout.past[s] + t - layout.offsets[s])
                    for i in 0..<half { let a = pos * inv[i]; cs[i] = Float(cos(a)); sn[i] = Float(inverse ? -sin(a) : sin(a)) }
                    for hd in 0..<heads {
                        let base = t * width + hd * d
                        for i in 0..<half {
                            let a = xp[base + 2 * i], b = xp[base + 2 * i + 1]
                            xp[base + 2 * i] = a * cs[i] - b * sn[i]
                            xp[base + 2 * i + 1] = a * sn[i] + b * cs[i]
                        }
                    }
                }
            }
        }
    }

    /// Causal grouped-query attention: query head h reads key/value head h / (heads / kv_heads).
    /// A streaming transform (`stream`, GEAR's buffer) compresses every buffer the new rows fill, in
    /// the cache, and attention reads each key compressed or exact by the querying row's position
    /// (KVTransform.buffer); what it stores is added to `account`.
    func attend(
        _ q: Tensor, _ k: Tensor, _ v: Tensor, _ layout: Layout, layer: Int, caches: inout [KVCache]?, keep: Bool,
        stream: (any KVTransform)? = nil, account: inout KVAccount, _ cancellation: CancellationToken?
    ) throws -> (Tensor, [Tensor]) {
        let c = config, h = c.hidden, kvd = c.kvDim, d = c.headDim, group = c.heads / c.kvHeads
        let scale = 1 / Float(d).squareRoot()
        var ctx = Tensor.zeros([layout.tokens, h])
        var probs: [Tensor] = []
        let blockRows = 128
        for s in 0..<layout.count {
            let n = layout.length(s), past = layout.past[s], o = layout.offsets[s]
            if n == 0 { probs.append(Tensor.zeros([c.heads, 0, past])); continue }
            // The keys and values this sequence reads: its cache (with the new rows appended) or its own rows.
            var K: [Float], V: [Float]
            if caches != nil {
                caches![s].keys[layer] += k.storage[(o * kvd)..<((o + n) * kvd)]
                caches![s].values[layer] += v.storage[(o * kvd)..<((o + n) * kvd)]
                K = caches![s].keys[layer]
                V = caches![s].values[layer]
            } else {
                K = Array(k.storage[(o * kvd)..<((o + n) * kvd)])
                V = Array(v.storage[(o * kvd)..<((o + n) * kvd)])
            }
            let Lk = past + n
            if layout.exact {
                var exact: (K: [Float], V: [Float], buffer: Int)? = nil
                if let t = stream {
                    exact = (K, V, t.buffer)
                    // The queries of every row not yet compressed: those waiting in the cache, then the new ones.
                    let first = past / t.buffer * t.buffer, done = Lk / t.buffer * t.buffer
                    let Q = (caches?[s].queries[layer] ?? []) + q.storage[(o * h)..<((o + n) * h)]
                    account.add(try flush(t, layer: layer, &K, &V, queries: Q, first: first, from: past, to: Lk))
                    if caches != nil {
                        caches![s].keys[layer] = K
                        caches![s].values[layer] = V
                        caches![s].queries[layer] = Array(Q[((done - first) * h)...])
                    } else {
                        account.add(t.buffered(rows: Lk % t.buffer, kvDim: kvd))
                    }
                }
                let p = attendRows(q, K, V, rows: n, past: past, offset: o, into: &ctx, keep: keep, exact: exact)
                if keep { probs.append(Tensor(shape: [c.heads, n, Lk], storage: p)) }
                continue
            }
            var kept = keep ? [Float](repeating: 0, count: c.heads * n * Lk) : []
            var scores = [Float](repeating: 0, count: min(blockRows, n) * Lk)
            try q.withBuffer { qp in
                try ctx.withMutableBuffer { cp in
                    try K.withUnsafeBufferPointer { kp in
                        try V.withUnsafeBufferPointer { vp in
                            for head in 0..<c.heads {
                                try cancellation?.check()
                                let g = head / group
                                for r0 in stride(from: 0, to: n, by: blockRows) {
                                    let rows = min(blockRows, n - r0), keys = past + r0 + rows
                                    scores.withUnsafeMutableBufferPointer { sp in
                                        cblas_sgemm(
                                            CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(keys), Int32(d), scale,
                                            qp.baseAddress! + (o + r0) * h + head * d, Int32(h), kp.baseAddress! + g * d, Int32(kvd),
                                            0, sp.baseAddress, Int32(keys))
                                        nonisolated(unsafe) let sp = sp
                                        Parallel.forEach(rows, grain: max(1, 8192 / keys)) { rr in
                                            for r in rr {
                                                let row = r * keys, visible = past + r0 + r + 1
                                                var mx = -Float.infinity
                                                for j in 0..<visible { mx = max(mx, sp[row + j]) }
                                                var sum: Float = 0
                                                for j in 0..<visible { let e = expf(sp[row + j] - mx); sp[row + j] = e; sum += e }
                                                let inv = 1 / sum
                                                for j in 0..<visible { sp[row + j] *= inv }
                                                for j in visible..<keys { sp[row + j] = 0 }
                                            }
                                        }
                                        cblas_sgemm(
                                            CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(rows), Int32(d), Int32(keys), 1,
                                            sp.baseAddress, Int32(keys), vp.baseAddress! + g * d, Int32(kvd),
                                            0, cp.baseAddress! + (o + r0) * h + head * d, Int32(h))
                                        if keep {
                                            for r in 0..<rows {
                                                for j in 0..<keys { kept[(head * n + r0 + r) * Lk + j] = sp[r * keys + j] }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            if keep { probs.append(Tensor(shape: [c.heads, n, Lk], storage: kept)) }
        }
        return (ctx, probs)
    }
}
