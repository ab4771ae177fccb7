#!/usr/bin/env python3
"""Writes compression.npz (arrays) and compression.json (scalars): independent numpy implementations of RTN (GPTQ's quant.py rules, in
float32 like torch), the MSE grid search, GPTQ (a line-by-line numpy port of gptq.py's fasterquant),
NF4, magnitude / N:M / Wanda pruning, truncated SVD errors and the metrics. Run from this folder."""
import json
import numpy as np

rng = np.random.default_rng(20261129)
arrays = {}
def T(a, name=[0]):
    """Stores an array in the .npz (float32) and returns its key."""
    name[0] += 1
    key = f"a{name[0]}"
    arrays[key] = np.asarray(a, dtype=np.float32)
    return key
f32 = np.float32

from gptq_grid import find_params, quant

def rtn(W, bits, group, sym):
    rows, cols = W.shape; out = np.zeros_like(W); codes = np.zeros_like(W)
    for s in range(0, cols, group):
        sc, z = find_params(W[:, s:s + group], bits, sym)
        out[:, s:s + group], codes[:, s:s + group] = quant(W[:, s:s + group], sc[:, None], z[:, None], f32(2 ** bits - 1))
    return out, codes

def rtn_mse(w, bits):
    maxq = f32(2 ** bits - 1)
    lo, hi = f32(min(w.min(), 0)), f32(max(w.max(), 0))
    best, best_err = None, np.inf
    for i in range(80):
        p = f32(1 - i / 100)
        l, h = f32(p * lo), f32(p * hi)
        scale = f32((h - l) / maxq); zero = f32(np.round(-l / scale))
        r, _ = quant(w, scale, zero, maxq)
        err = np.sum(np.abs(r - w).astype(f32) ** f32(2.4))
        if err < best_err: best, best_err = r, err
    return best

def gptq(W, X, bits, group, sym, blocksize=128, percdamp=0.01, actorder=False):
    W = W.astype(np.float64).copy(); rows, cols = W.shape
    H = 2 / X.shape[0] * (X.astype(np.float64).T @ X.astype(np.float64))
    maxq = f32(2 ** bits - 1)
    if group is None: scale, zero = find_params(W.astype(f32), bits, sym)
    dead = np.diag(H) == 0; H[dead, dead] = 1; W[:, dead] = 0
    if actorder:   # with static_groups, as gptq.py runs act_order with groups
        if group is not None:
            groups = [find_params(W[:, i:i + group].astype(f32), bits, sym) for i in range(0, cols, group)]
        perm = np.argsort(-np.diag(H), kind="stable")
        W = W[:, perm]; H = H[perm][:, perm]
    H[np.diag_indices(cols)] += percdamp * np.mean(np.diag(H))
    Hinv = np.linalg.cholesky(np.linalg.inv(H)).T       # upper Cholesky factor of H⁻¹
    Q = np.zeros_like(W)
    for i1 in range(0, cols, blocksize):
        i2 = min(i1 + blocksize, cols); W1 = W[:, i1:i2].copy(); Err1 = np.zeros_like(W1); Hinv1 = Hinv[i1:i2, i1:i2]
        for i in range(i2 - i1):
            if group is not None and actorder:
                scale, zero = groups[perm[i1 + i] // group]
            elif group is not None and (i1 + i) % group == 0:
                scale, zero = find_params(W[:, i1 + i:i1 + i + group].astype(f32), bits, sym)
            w = W1[:, i]
            q, _ = quant(w.astype(f32), scale, zero, maxq)
            Q[:, i1 + i] = q
            err = (w - q) / Hinv1[i, i]
            W1[:, i:] -= np.outer(err, Hinv1[i, i:])
            Err1[:, i] = err
        W[:, i2:] -= Err1 @ Hinv[i1:i2, i2:]
    if actorder:
        Q = Q[:, np.argsort(perm)]
    return Q

out = {}
W = rng.standard_normal((16, 256)).astype(f32)
out["W"] = T(W)
for bits, group, sym in [(4, 64, False), (3, 128, True), (2, 256, False)]:
    r, c = rtn(W, bits, group, sym)
    out[f"rtn_{bits}_{group}_{int(sym)}"] = {"recon": T(r), "codes": T(c)}
v = W[0]
out["rtn_mse_3"] = T(rtn_mse(v, 3))
# GPTQ on correlated calibration data
A = rng.standard_normal((256, 256)).astype(f32) / 16
X = (rng.standard_normal((512, 256)).astype(f32) @ (np.eye(256, dtype=f32) + A)).astype(f32)
W2 = rng.standard_normal((32, 256)).astype(f32)
out["gptq_W"] = T(W2); out["gptq_X"] = T(X)
for bits in [2, 3, 4]:
    q = gptq(W2, X, bits, 128, False)
    r, _ = rtn(W2, bits, 128, False)
    err = lambda C: float(np.linalg.norm(X.astype(np.float64) @ (W2 - C).T) / np.linalg.norm(X.astype(np.float64) @ W2.T))
    out[f"gptq_{bits}"] = {"recon": T(q), "output_error": err(q), "rtn_output_error": err(r)}
# GPTQ with act_order (static groups) on inputs of very different scales, where the order matters.
Xs = (X * rng.uniform(0.05, 4, 256).astype(f32)).astype(f32)
out["gptq_act_X"] = T(Xs)
for bits in [2, 3]:
    errs = {}
    for act in (False, True):
        q = gptq(W2, Xs, bits, 128, False, actorder=act)
        errs[act] = float(np.linalg.norm(Xs.astype(np.float64) @ (W2 - q).T) / np.linalg.norm(Xs.astype(np.float64) @ W2.T))
        if act: out[f"gptq_act_{bits}"] = {"recon": T(q), "output_error": errs[True], "plain_output_error": errs[False]}
# NF4 (levels from QLoRA / bitsandbytes), blocks of 64
levels = np.array([-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
    -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725, 0.24611230194568634,
    0.33791524171829224, 0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0], dtype=f32)
blocks = W.reshape(-1, 64); absmax = np.abs(blocks).max(axis=1, keepdims=True)
idx = np.abs((blocks / absmax)[:, :, None] - levels[None, None, :]).argmin(axis=2)
out["nf4"] = T((levels[idx] * absmax).reshape(W.shape))
# Pruning
scores = np.abs(W)
thr = np.sort(scores.ravel())[int(W.size * 0.3)]
out["magnitude_0.3"] = T(np.where(scores <= thr, 0, W))
def nm(S, n, m):
    mask = np.ones_like(S, dtype=bool)
    for r in range(S.shape[0]):
        for g in range(0, S.shape[1], m):
            order = np.argsort(S[r, g:g + m], kind="stable")
            mask[r, g + order[:m - n]] = False
    return mask
out["nm_2_4"] = T(np.where(nm(scores, 2, 4), W, 0))
Xw = rng.standard_normal((200, 256)).astype(f32) * rng.uniform(0.1, 3, 256).astype(f32)
out["wanda_X"] = T(Xw)
ws = np.abs(W) * np.sqrt((Xw.astype(np.float64) ** 2).sum(axis=0)).astype(f32)
order = np.argsort(ws, axis=1, kind="stable")
mask = np.ones_like(W, dtype=bool)
np.put_along_axis(mask, order[:, :int(256 * 0.5)], False, axis=1)
out["wanda_0.5"] = T(np.where(mask, W, 0))
out["wanda_2_4"] = T(np.where(nm(ws, 2, 4), W, 0))
# Truncated SVD errors and metrics
s = np.linalg.svd(W.astype(np.float64), compute_uv=False)
out["lowrank_error"] = {str(r): float(np.sqrt((s[r:] ** 2).sum()) / np.linalg.norm(W.astype(np.float64))) for r in [1, 4, 8, 15]}
B = W + f32(0.1) * rng.standard_normal(W.shape).astype(f32)
d = W.astype(np.float64) - B
out["metrics"] = {"B": T(B), "error": float(np.linalg.norm(d) / np.linalg.norm(W.astype(np.float64))), "mse": float((d ** 2).mean()),
                  "snr": float(10 * np.log10((W.astype(np.float64) ** 2).sum() / (d ** 2).sum())),
                  "psnr_peak2": float(10 * np.log10(4 / (d ** 2).mean()))}
json.dump(out, open("compression.json", "w"), indent=0)
np.savez_compressed("compression.npz", **arrays)
print({k: v["output_error"] for k, v in out.items() if k.startswith("gptq_") and isinstance(v, dict) and "output_error" in v},
      {k: v["rtn_output_error"] for k, v in out.items() if k.startswith("gptq_") and isinstance(v, dict) and "rtn_output_error" in v})
