"""Reference reconstructions for squeeze's KV-cache quantizers (Tests/CompressionTests/KVCacheTests):
numpy ports of the reference algorithms on a small cache (tokens x channels, two outlier channels).
    python3 make_kv_cache_fixtures.py
Ported from (read, not copied):
- KIVI (jy-yuan/KIVI quant/new_pack.py, the fake-quant path): per group mn, mx; scale = (mx - mn) / (2^b - 1);
  q = clamp(round((x - mn) / scale), 0, 2^b - 1); x^ = q * scale + mn. Keys per channel (groups of tokens) or per
  token, values per token. squeeze stores scale and mn in fp16, so they are rounded to fp16 here too.
- CacheGen (UChi-JCL/CacheGen as LMCache ports it): per-token symmetric quantization against the vector's max,
  h = bins/2 - 1 levels each side, scale in fp16; the paper's delta step codes each token after the first of
  every 10 as its difference from the anchor's reconstruction.
- GEAR (opengear-project/GEAR, Simulated/compress_function.py): D^ = Q(D - S) + L + S, S the s/2 largest and
  s/2 smallest entries of each row kept exactly (set to the row mean before quantizing), Q the group-wise min-max
  grid along each row, L the rank-r truncation of the remaining error (here by SVD, where the reference runs a few
  power iterations).
- KVQuant (SqueezeAILab/KVQuant quant/kvquant/simquant_module_quantizer.py): per vector thresholds at the
  [1 - t, t] percentiles (t = 1 - outliers/2, torch.quantile = numpy's linear interpolation), values outside kept
  exactly (fp16), the rest normalised by (hi + lo)/2 and (hi - lo)/2 and replaced by the nearest level.
"""
import json
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(20261203)
f32, f16 = np.float32, np.float16


def t(a):
    a = np.asarray(a)
    return {"shape": list(a.shape), "data": [float(str(f32(v))) for v in a.reshape(-1)]}


def uniform(v, bits):
    v = v.astype(f32)
    mn, mx = v.min(), v.max()
    maxq = f32(2 ** bits - 1)
    s, m = f32(f16((mx - mn) / maxq)), f32(f16(mn))
    if s <= 0:
        return np.full_like(v, m)
    q = np.clip(np.round((v - m) / s), 0, maxq).astype(f32)
    return (q * s + m).astype(f32)


def per_token(x, group, bits):
    out = x.copy()
    for r in range(x.shape[0]):
        for j in range(0, x.shape[1], group):
            out[r, j:j + group] = uniform(x[r, j:j + group], bits)
    return out


def per_channel(x, span, bits):
    out = x.copy()
    n = x.shape[0]
    span = span or n
    for r0 in range(0, n, span):
        for c in range(x.shape[1]):
            out[r0:r0 + span, c] = uniform(x[r0:r0 + span, c], bits)
    return out


def non_uniform(v, lo, hi, levels, outliers):
    z, r = f32(f16((hi + lo) / 2)), f32(f16((hi - lo) / 2 if hi > lo else 1))
    out = np.empty_like(v)
    for i, x in enumerate(v):
        if outliers and (x > hi or x < lo):
            out[i] = f32(f16(x))
        else:
            n = (x - z) / r
            out[i] = levels[int(np.argmin(np.abs(levels - n)))] * r + z
    return out


def thresholds(v, outliers):
    if outliers == 0:
        return f32(v.min()), f32(v.max())
    tt = 1 - outliers / 2
    return f32(np.percentile(v, 100 * (1 - tt))), f32(np.percentile(v, 100 * tt))


X = rng.standard_normal((12, 16)).astype(f32)
X[:, 3] *= 8
X[:, 11] += 5
X[2, 7] = 14  # a lone outlier
levels = np.array([-1, -0.6, -0.25, -0.05, 0.1, 0.3, 0.65, 1], dtype=f32)

out = {"X": t(X), "levels": t(levels), "int": [], "nuq": []}
for bits, group in [(2, 8), (3, 4), (4, 16)]:
    out["int"].append({"per": "token", "bits": bits, "group": group, "recon": t(per_token(X, group, bits))})
for bits, span in [(2, 0), (3, 4), (4, 5)]:
    out["int"].append({"per": "channel", "bits": bits, "span": span, "recon": t(per_channel(X, span, bits))})
for outliers in [0.0, 0.2]:
    # Per token (rows) with each row's own thresholds, and per channel (columns) with thresholds from the column.
    rows = np.stack([non_uniform(X[r], *thresholds(X[r], outliers), levels, outliers > 0) for r in range(X.shape[0])])
    cols = np.stack([non_uniform(X[:, c], *thresholds(X[:, c], outliers), levels, outliers > 0) for c in range(X.shape[1])], 1)
    out["nuq"].append({"outliers": outliers, "per_token": t(rows), "per_channel": t(cols)})



def cachegen(x, bins, delta, group=10):
    h = f32(max(1, bins // 2 - 1))
    sym = np.zeros(x.shape, dtype=np.int64)
    rec = np.zeros_like(x)
    anchor = np.zeros(x.shape[1], dtype=f32)
    for r in range(x.shape[0]):
        is_anchor = (not delta) or r % group == 0
        v = x[r] - (0 if is_anchor else anchor)
        s = f32(f16(np.abs(v).max() / h))
        q = np.clip(np.round(v / s), -h, h) if s > 0 else np.zeros_like(v)
        sym[r] = q.astype(np.int64)
        rec[r] = (q.astype(f32) * s + (0 if is_anchor else anchor)).astype(f32)
        if is_anchor:
            anchor = rec[r].copy()
    return sym, rec


out["cachegen"] = []
for bins, delta in [(32, False), (16, True), (5, False)]:
    sym, rec = cachegen(X, bins, delta)
    out["cachegen"].append({"bins": bins, "delta": delta, "symbols": t(sym), "recon": t(rec)})



def gear(D, bits, group, rank, outliers):
    m, n = D.shape
    half = int(np.floor(outliers * n / 2))
    x, recon_sparse, is_out = D.copy(), np.zeros_like(D), np.zeros(D.shape, dtype=bool)
    for r in range(m if half > 0 else 0):
        mean = f32(0)
        for v in D[r]:
            mean = f32(mean + v)
        mean = f32(mean / f32(n))
        order = np.argsort(D[r], kind="stable")
        for j in list(order[:half]) + list(order[-half:]):
            is_out[r, j], recon_sparse[r, j], x[r, j] = True, D[r, j], mean
    maxq = f32(2 ** bits - 1)
    q = np.zeros_like(D)
    for r in range(m):
        for s0 in range(0, n, group):
            g = x[r, s0:s0 + group]
            lo, hi = g.min(), g.max()
            scale = f32((hi - lo) / maxq) if hi > lo else f32(1)
            q[r, s0:s0 + group] = (np.clip(np.round((g - lo) / scale), 0, maxq) * scale + lo).astype(f32)
    recon = np.where(is_out, recon_sparse, q).astype(f32)
    if rank > 0:
        U, S, Vt = np.linalg.svd((D - recon).astype(np.float64), full_matrices=False)
        recon = (recon + (U[:, :rank] * S[:rank]) @ Vt[:rank]).astype(f32)
    return recon


out["gear"] = [{"bits": b, "group": g, "rank": r, "outliers": o, "recon": t(gear(X, b, g, r, o))}
               for b, g, r, o in [(2, 8, 0, 0.0), (2, 8, 2, 0.25), (4, 4, 1, 0.125)]]

with open(os.path.join(HERE, "kv_cache.json"), "w") as f:
    json.dump(out, f)
print("wrote kv_cache.json")
