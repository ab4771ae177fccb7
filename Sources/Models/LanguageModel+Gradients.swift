import CBLAS
import Foundation
import SqueezeCore

/// Reverse mode through the decoder for one sequence: the gradients of its mean next-token loss with
/// respect to every block's keys and values (what KVQuant's Fisher-weighted levels need). The forward
/// pass is the model's own; the backward recomputes each block's inside from its input (the residual
/// stream the forward pass captured), so only T × hidden per block is kept between the two.
extension LanguageModel {
    public struct KVGradients: Sendable {
        /// Per block, T × kv_dim: the keys before and after RoPE and the values, and ∂L/∂ of each.
        /// Dropped blocks have none.
        public var keysBeforeRoPE: [Int: Tensor] = [:], keys: [Int: Tensor] = [:], values: [Int: Tensor] = [:]
        public var dKeysBeforeRoPE: [Int: Tensor] = [:], dKeys: [Int: Tensor] = [:], dValues: [Int: Tensor] = [:]
        /// The mean negative log-likelihood of tokens 2…T given their prefixes (nats).
        public var loss = 0.0
    }

    /// L = −(1/(T−1)) Σₜ log p(tₜ₊₁ | t₁…tₜ) and its gradients with respect to each block's keys and
    /// values. Dense models only: fake-quantized activations (a rounding) have no gradient to take.
    public func kvGradients(_ tokens: [Int], cancellation: CancellationToken? = nil) throws -> KVGradients {
        let c = config, T = tokens.count
        guard T >= 2 else { throw ModelError("gradients of the next-token loss need at least 2 tokens, got \(T)") }
        guard activationQuantization == nil else {
            throw ModelError("gradients: the model fake-quantizes its activations, which have no gradient; take them on the model before")
        }
        var capture = Capture()
        capture.hidden = Set(0..<c.layers)
        let out = try forward([tokens], capture: capture, cancellation: cancellation)
        let layout = Layout(sequences: [tokens])
        var inputs: [Int: Tensor] = [:]
        var x = embed([tokens])
        for i in 0..<c.layers where !droppedBlocks.contains(i) {
            inputs[i] = x
            x = out.hidden[i]!
        }
        var result = KVGradients()
        let head = weights[c.tiedEmbeddings ? "token_embd.weight" : "output.weight"]!
        var dLogits = try logits(out.final)
        result.loss = nextTokenLossGradient(&dLogits, tokens)
        var dx = rmsNormBackward(try Tensor.gemm(dLogits, head), x, weights["output_norm.weight"]!)
        let task = ProgressMeter.start("\(name) backward", total: inputs.count)
        defer { task.end() }
        for i in inputs.keys.sorted(by: >) {
            try cancellation?.check()
            dx = try blockBackward(i, inputs[i]!, dx, layout, into: &result, cancellation)
            task.advance()
        }
        return result
    }

    /// Replaces T × vocabulary logits by ∂L/∂logits = (softmax − onehot(next)) / (T − 1) (the last
    /// row predicts nothing: zero) and returns L.
    func nextTokenLossGradient(_ logits: inout Tensor, _ tokens: [Int]) -> Double {
        let V = logits.shape[1], T = tokens.count, n = Float(T - 1)
        var loss = 0.0
        logits.withMutableBuffer { lp in
            for t in 0..<T {
                let row = lp.baseAddress! + t * V
                guard t < T - 1 else { for j in 0..<V { row[j] = 0 }; continue }
                var mx = -Float.infinity
                for j in 0..<V { mx = max(mx, row[j]) }
                var sum = 0.0
                for j in 0..<V { let e = expf(row[j] - mx); row[j] = e; sum += Double(e) }
                let target = tokens[t + 1]
                loss -= log(Double(row[target]) / sum)
                let inv = Float(1 / sum) / n
                for j in 0..<V { row[j] *= inv }
                row[target] -= 1 / n
            }
        }
        return loss / Double(T - 1)
    }

    /// ∂L/∂x of y = x / √(mean(x²) + ε) · g, row by row: inv·g⊙dy − x·inv³·(dy·(g⊙x))/h.
    func rmsNormBackward(_ dy: Tensor, _ x: Tensor, _ g: Tensor) -> Tensor {
        let h = g.count, eps = Double(config.eps)
        var dx = Tensor.zeros(x.shape)
        dx.withMutableBuffer { dp in
            x.withBuffer { xp in
                dy.withBuffer { yp in
                    g.withBuffer { gp in
                        nonisolated(unsafe) let dp = dp
                        Parallel.forEach(xp.count / h, grain: 64) { rows in
                            for r in rows {
                                let row = r * h
                                var ss = 0.0, dot = 0.0
                                for j in 0..<h {
                                    let v = Double(xp[row + j])
                                    ss += v * v
                                    dot += Double(yp[row + j]) * Double(gp[j]) * v
                                }
                                let inv = 1 / (ss / Double(h) + eps).squareRoot()
                                let a = Float(inv), b = Float(inv * inv * inv * dot / Double(h))
                                for j in 0..<h { dp[row + j] = a * gp[j] * yp[row + j] - b * xp[row + j] }
                            }
                        }
                    }
                }
            }
        }
        return dx
    }

    /// One block backward: recomputes its inside from the input `x`, takes ∂L/∂output `dOut` to
    /// ∂L/∂input, and records the keys, values and their gradients.
    func blockBackward(
        _ i: Int, _ x: Tensor, _ dOut: Tensor, _ layout: Layout, into result: inout KVGradients, _ cancellation: CancellationToken?
    ) throws -> Tensor {
        let c = config, p = "blk.\(i)."
        func W(_ role: String) -> Tensor { weights[p + role + ".weight"]! }
        // Forward, as `block` computes it.
        var a = x
        rmsNorm(&a, W("attn_norm"))
        var q = try linear(a, W("attn_q")), k = try linear(a, W("attn_k"))
        let v = try linear(a, W("attn_v")), kPre = k
        rope(&q, heads: c.heads, layout)
        rope(&k, heads: c.kvHeads, layout)
        var none: [KVCache]? = nil, unused = KVAccount()
        let (ctx, probs) = try attend(q, k, v, layout, layer: i, caches: &none, keep: true, account: &unused, cancellation)
        var o = try linear(ctx, W("attn_output"))
        add(&o, x)
        var b = o
        rmsNorm(&b, W("ffn_norm"))
        let gate = try linear(b, W("ffn_gate")), up = try linear(b, W("ffn_up"))
        // Backward: the feed-forward (d = o + down(R(silu(gate) ⊙ up))).
        var dh = try Tensor.gemm(dOut, W("ffn_down"))
        if let Rt = feedForwardRotation { dh = try Tensor.gemm(dh, Rt) }
        var dGate = dh, dUp = dh
        dGate.withMutableBuffer { dg in
            dUp.withMutableBuffer { du in
                gate.withBuffer { gp in
                    up.withBuffer { upp in
                        for j in 0..<dg.count {
                            let g = gp[j], s = 1 / (1 + expf(-g)), d = dg[j]
                            du[j] = d * g * s
                            dg[j] = d * upp[j] * s * (1 + g * (1 - s))
                        }
                    }
                }
            }
        }
        var db = try Tensor.gemm(dGate, W("ffn_gate"))
        add(&db, try Tensor.gemm(dUp, W("ffn_up")))
        var dO = rmsNormBackward(db, o, W("ffn_norm"))
        add(&dO, dOut)
        // Attention (o = x + ctx W_oᵀ).
        let dCtx = try Tensor.gemm(dO, W("attn_output"))
        var (dq, dk, dv) = attentionBackward(dCtx, q, k, v, probs[0], tokens: layout.tokens)
        result.dKeys[i] = dk
        rope(&dq, heads: c.heads, layout, inverse: true)
        rope(&dk, heads: c.kvHeads, layout, inverse: true)
        (result.keysBeforeRoPE[i], result.keys[i], result.values[i]) = (kPre, k, v)
        (result.dKeysBeforeRoPE[i], result.dValues[i]) = (dk, dv)
        var da = try Tensor.gemm(dq, W("attn_q"))
        add(&da, try Tensor.gemm(dk, W("attn_k")))
        add(&da, try Tensor.gemm(dv, W("attn_v")))
        var dx = rmsNormBackward(da, x, W("attn_norm"))
        add(&dx, dO)
        return dx
    }

    /// ∂L/∂(q, k, v) of causal grouped-query attention over one sequence of T tokens, from ∂L/∂ctx
    /// and the probabilities P [heads, T, T]: per head, dP = dC Vᵀ, dS = P ⊙ (dP − rowsum(P ⊙ dP)),
    /// dq = s·dS K, dK += s·dSᵀ q, dV += Pᵀ dC (s = 1/√d; a key/value head sums its query heads).
    func attentionBackward(_ dCtx: Tensor, _ q: Tensor, _ k: Tensor, _ v: Tensor, _ P: Tensor, tokens T: Int) -> (Tensor, Tensor, Tensor) {
        let c = config, h = c.hidden, kvd = c.kvDim, d = c.headDim, group = c.heads / c.kvHeads
        let scale = 1 / Float(d).squareRoot()
        var dq = Tensor.zeros([T, h]), dk = Tensor.zeros([T, kvd]), dv = Tensor.zeros([T, kvd])
        var dS = [Float](repeating: 0, count: T * T)
        dCtx.withBuffer { dc in
            q.withBuffer { qp in
                k.withBuffer { kp in
                    v.withBuffer { vp in
                        P.withBuffer { pp in
                            dq.withMutableBuffer { dqp in
                                dk.withMutableBuffer { dkp in
                                    dv.withMutableBuffer { dvp in
                                        dS.withUnsafeMutableBufferPointer { sp in
                                            let s = sp.baseAddress!
                                            for head in 0..<c.heads {
                                                let g = head / group, ph = pp.baseAddress! + head * T * T
                                                let dC = dc.baseAddress! + head * d
                                                cblas_sgemm(
                                                    CblasRowMajor, CblasNoTrans, CblasTrans, Int32(T), Int32(T), Int32(d), 1, dC, Int32(h),
                                                    vp.baseAddress! + g * d, Int32(kvd), 0, s, Int32(T))
                                                cblas_sgemm(
                                                    CblasRowMajor, CblasTrans, CblasNoTrans, Int32(T), Int32(d), Int32(T), 1, ph, Int32(T),
                                                    dC, Int32(h), 1, dvp.baseAddress! + g * d, Int32(kvd))
                                                for r in 0..<T {
                                                    var dot: Float = 0
                                                    for j in 0...r { dot += ph[r * T + j] * s[r * T + j] }
                                                    for j in 0...r { s[r * T + j] = ph[r * T + j] * (s[r * T + j] - dot) }
                                                    for j in (r + 1)..<T { s[r * T + j] = 0 }
                                                }
                                                cblas_sgemm(
                                                    CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(T), Int32(d), Int32(T), scale, s,
                                                    Int32(T), kp.baseAddress! + g * d, Int32(kvd), 0, dqp.baseAddress! + head * d, Int32(h))
                                                cblas_sgemm(
                                                    CblasRowMajor, CblasTrans, CblasNoTrans, Int32(T), Int32(d), Int32(T), scale, s,
                                                    Int32(T), qp.baseAddress! + head * d, Int32(h), 1, dkp.baseAddress! + g * d, Int32(kvd))
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return (dq, dk, dv)
    }
}
