"""Reference decompressions for squeeze's KV-cache policies on a small cache (Tests/ModelsTests/
KVPolicyReferenceTests.swift): numpy ports of the papers' algorithms, written from the papers and
their reference code (read, not copied). numpy only:

    python3 Tests/ModelsTests/Fixtures/make_kv_policy_fixtures.py

- KVQuant (SqueezeAILab/KVQuant, quant/kvquant/simquant_module_quantizer.py): the levels are 1-D
  k-means of the normalised calibration values with sample_weight = Fisher information (squared
  gradients); squeeze runs Lloyd's iterations from the k quantiles (i + 1/2)/k (the reference uses
  sklearn's k-means++ start, whose seed moves 3-bit perplexity by several percent). Q-Norm: the
  decode levels l' = l·σ1/σ2 + (m1 − m2·σ1/σ2), m1, σ1 of the values and m2, σ2 of the values
  rounded to the nearest level.
- ZipCache (ThisisBillhe/ZipCache): saliency p_j = Σ_i A_ij / #{i ≥ j} summed over query heads
  (normalized attention), the top `salient` fraction of tokens at `high` bits and the rest at `low`;
  keys channel-separable — each channel divided by c_j = √max_i |K_ij| (fp16), quantized per token
  (groups), multiplied back — and values per token, KIVI's min–max grid with fp16 scale and minimum.
- CSKV: each token's keys and values projected on P (kv_dim × r, orthonormal): X·P, quantized per
  token when bits < 16, read back as (X·P)·Pᵀ; the last `recent` tokens stay whole.
"""
import json
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(20261204)
f32, f16 = np.float32, np.float16


def t(a):
    a = np.asarray(a)
    return {"shape": list(a.shape), "data": [float(str(f32(v))) for v in a.reshape(-1)]}


def lloyd(x, w, k, iterations=500):
    """Weighted 1-D k-means on ascending x from the quantiles, each step exact (prefix sums)."""
    n = len(x)
    distinct = []
    for v in x:
        if not distinct or distinct[-1] != v:
            distinct.append(v)
            if len(distinct) > k:
                break
    if len(distinct) <= k:
        return np.array(distinct, dtype=f32)
    W, S = [0.0], [0.0]
    for i in range(n):
        wi = float(w[i]) if w is not None else 1.0
        W.append(W[-1] + wi)
        S.append(S[-1] + wi * float(x[i]))
    c = [x[min(n - 1, int((i + 0.5) / k * n))] for i in range(k)]
    for _ in range(iterations):
        start, moved, nxt = 0, False, list(c)
        for i in range(k):
            end = n if i == k - 1 else int(np.searchsorted(x, f32((c[i] + c[i + 1]) / f32(2)), side="right"))
            wt = W[end] - W[start]
            if end > start and wt > 0:
                nxt[i] = f32((S[end] - S[start]) / wt)
            if nxt[i] != c[i]:
                moved = True
            start = max(start, end)
        c = sorted(nxt)
        if not moved:
            break
    return np.array(c, dtype=f32)


def nearest(x, levels):
    d = np.abs(levels.astype(np.float64) - float(x))
    return int(np.argmin(d))  # the lower level on a tie


def qnorm(values, levels):
    y = np.array([levels[nearest(v, levels)] for v in values], dtype=np.float64)
    x = values.astype(np.float64)
    m1, m2 = x.mean(), y.mean()
    s1, s2 = np.sqrt(max(0, (x * x).mean() - m1 * m1)), np.sqrt(max(0, (y * y).mean() - m2 * m2))
    scale = s1 / s2
    return (levels.astype(np.float64) * scale + (m1 - m2 * scale)).astype(f32)


def uniform(v, bits):
    v = v.astype(f32)
    mn, mx = v.min(), v.max()
    maxq = f32(2 ** bits - 1)
    s, m = f32(f16((mx - mn) / maxq)), f32(f16(mn))
    if s <= 0:
        return np.full_like(v, m)
    q = np.clip(np.round((v - m) / s), 0, maxq).astype(f32)
    return (q * s + m).astype(f32)


def zipcache(Q, K, V, heads, kv_heads, salient, high, low, group):
    n, kvd = K.shape
    d = kvd // kv_heads
    mass, seen = np.zeros(n), np.zeros(n)
    for i in range(n):
        for h in range(heads):
            g = h // (heads // kv_heads)
            s = (K[:i + 1, g * d:(g + 1) * d] @ Q[i, h * d:(h + 1) * d]).astype(f32) / f32(np.sqrt(d))
            p = np.exp(s - s.max())
            mass[:i + 1] += p / p.sum()
        seen[:i + 1] += 1
    score = mass / seen
    order = sorted(range(n), key=lambda j: (-score[j], j))
    bits = np.full(n, low)
    bits[order[:int(round(salient * n))]] = high
    c = np.array([f32(f16(np.sqrt(np.abs(K[:, j]).max()))) if np.abs(K[:, j]).max() > 0 else f32(1) for j in range(kvd)], dtype=f32)
    Kh, Vh = K.copy(), V.copy()
    for r in range(n):
        kn = (K[r] / c).astype(f32)
        for j in range(0, kvd, group):
            kn[j:j + group] = uniform(kn[j:j + group], bits[r])
            Vh[r, j:j + group] = uniform(V[r, j:j + group], bits[r])
        Kh[r] = (kn * c).astype(f32)
    return Kh, Vh, bits


def cskv(X, P, recent, bits):
    m = X.shape[0] - recent
    out = X.copy()
    latent = (X[:m] @ P).astype(f32)
    if bits < 16:
        latent = np.stack([uniform(row, bits) for row in latent])
    out[:m] = (latent @ P.T).astype(f32)
    return out


out = {}
# KVQuant levels: normalised inliers in [-1, 1] with heavy tails, Fisher weights heavy-tailed too.
values = np.clip(rng.standard_t(4, 400) / 4, -1, 1).astype(f32)
weights = (rng.standard_normal(400) ** 2 * np.exp(2 * rng.standard_normal(400))).astype(f32)
order = np.argsort(values, kind="stable")
xs, ws = values[order], weights[order]
out["kvquant"] = {"values": t(values), "weights": t(weights), "cases": []}
for bits in [2, 3]:
    plain = lloyd(xs, None, 2 ** bits)
    fisher = lloyd(xs, ws, 2 ** bits)
    out["kvquant"]["cases"].append({"bits": bits, "plain": t(plain), "fisher": t(fisher), "qnorm": t(qnorm(values, plain))})

# ZipCache: 2 query heads sharing 1 key/value head of 8 channels, 12 tokens.
heads, kv_heads, d, n = 2, 1, 8, 12
Q = rng.standard_normal((n, heads * d)).astype(f32)
K = rng.standard_normal((n, kv_heads * d)).astype(f32)
K[:, 2] *= 6
V = rng.standard_normal((n, kv_heads * d)).astype(f32)
Kh, Vh, bits = zipcache(Q, K, V, heads, kv_heads, 0.5, 4, 2, 4)
out["zipcache"] = {"heads": heads, "kv_heads": kv_heads, "head_dim": d, "salient": 0.5, "high": 4, "low": 2, "group": 4,
                   "Q": t(Q), "K": t(K), "V": t(V), "keys": t(Kh), "values": t(Vh), "bits": bits.tolist()}

# CSKV: 12 tokens of 8 channels, P the top 3 right singular vectors of the data, 2 recent tokens whole.
X = (rng.standard_normal((n, 3)) @ rng.standard_normal((3, 8)) + 0.1 * rng.standard_normal((n, 8))).astype(f32)
P = np.linalg.svd(X.astype(np.float64))[2][:3].T.astype(f32)
out["cskv"] = {"X": t(X), "P": t(P), "recent": 2, "cases": [{"bits": b, "recon": t(cskv(X, P, 2, b))} for b in [16, 4]]}

with open(os.path.join(HERE, "kv_policies.json"), "w") as f:
    json.dump(out, f)
print("wrote kv_policies.json")
