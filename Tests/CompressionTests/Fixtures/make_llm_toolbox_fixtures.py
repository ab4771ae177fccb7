#!/usr/bin/env python3
"""Writes llm_toolbox.npz (arrays) and llm_toolbox.json (scalars): numpy ports of the reference algorithms of the LLM
compression toolbox, on small layers with outlier input channels (as a decoder's are):
- SparseGPT: a line-by-line port of IST-DASLab/sparsegpt's sparsegpt.py (fasterprune), unstructured, N:M and joint
  pruning + quantization (its quantizer: one grid per row from the original weights, GPTQ's find_params);
- AWQ: mit-han-lab/llm-awq's auto_scale (grid of 20 ratios over s = mean|x|^α normalised by sqrt(max·min), loss the
  mean squared output error of the quantized layers) and auto_clip (per row and group, max_val shrunk by 1 − i/20 for
  i < 10, on 512 strided tokens; errors summed in float64 so that near ties fall the same way in both ports);
- VPTQ: vectors of `dim` inputs per row, Hessian-diagonal-weighted Lloyd k-means from given initial codebooks, tiles of
  `dim` columns chosen in GPTQ order with the block update E_T = (W_T − Q_T) U_TT⁻¹, W_R −= E_T U_TR (microsoft/VPTQ's
  vptq() with step = dim), a residual codebook on the first pass's errors and outlier tiles with their own codebook;
- SmoothQuant: s_j = max|X_j|^α / max_rows max|W_:,j|^(1−α) (mit-han-lab/smoothquant smooth.py), clamped at 1e-5.
Run from this folder."""
import json
import numpy as np

rng = np.random.default_rng(20261203)
arrays = {}
def T(a, name=[0]):
    name[0] += 1
    key = f"a{name[0]}"
    arrays[key] = np.asarray(a, dtype=np.float32)
    return key
f32 = np.float32

from gptq_grid import find_params, quant

def layer(rows, cols, tokens):
    W = rng.standard_normal((rows, cols)).astype(f32) * f32(0.05)
    X = rng.standard_normal((tokens, cols)).astype(f32)
    X[:, rng.choice(cols, 4, replace=False)] *= f32(12)      # outlier channels
    X[:, 3] = 0                                               # a dead input
    return W, X

# ---------------------------------------------------------------- SparseGPT
def sparsegpt(W, X, sparsity=0.0, prunen=0, prunem=0, bits=None, blocksize=128, percdamp=0.01):
    W = W.astype(np.float64).copy(); rows, cols = W.shape
    H = 2 / X.shape[0] * (X.astype(np.float64).T @ X.astype(np.float64))
    if bits is not None:
        scale, zero = find_params(W.astype(f32), bits, False); maxq = f32(2 ** bits - 1)
    dead = np.diag(H) == 0; H[dead, dead] = 1; W[:, dead] = 0
    H[np.diag_indices(cols)] += percdamp * np.mean(np.diag(H))
    Hinv = np.linalg.cholesky(np.linalg.inv(H)).T
    mask_all = np.zeros_like(W, dtype=bool)
    for i1 in range(0, cols, blocksize):
        i2 = min(i1 + blocksize, cols); count = i2 - i1
        W1 = W[:, i1:i2].copy(); Q1 = np.zeros_like(W1); Err1 = np.zeros_like(W1); Hinv1 = Hinv[i1:i2, i1:i2]
        if prunen == 0:
            tmp = W1 ** 2 / (np.diag(Hinv1).reshape((1, -1))) ** 2
            thresh = np.sort(tmp.flatten())[int(tmp.size * sparsity)]
            mask1 = tmp <= thresh
        else:
            mask1 = np.zeros_like(W1, dtype=bool)
        for i in range(count):
            w = W1[:, i]; d = Hinv1[i, i]
            if prunen != 0 and i % prunem == 0:
                tmp = W1[:, i:i + prunem] ** 2 / (np.diag(Hinv1)[i:i + prunem].reshape((1, -1))) ** 2
                idx = np.argsort(tmp, axis=1, kind="stable")[:, :prunen]
                np.put_along_axis(mask1[:, i:i + prunem], idx, True, axis=1)
            q = w.copy(); q[mask1[:, i]] = 0
            if bits is not None:
                q = quant(q.astype(f32), scale, zero, maxq)[0].astype(np.float64)
            Q1[:, i] = q
            err1 = (w - q) / d
            W1[:, i:] -= np.outer(err1, Hinv1[i, i:])
            Err1[:, i] = err1
        W[:, i1:i2] = Q1; mask_all[:, i1:i2] = mask1
        W[:, i2:] -= Err1 @ Hinv[i1:i2, i2:]
    return W.astype(f32), (~mask_all).astype(f32)

out = {}
W, X = layer(24, 256, 512)
out["sparsegpt_W"] = T(W); out["sparsegpt_X"] = T(X)
def rel_out_err(Q):
    return float(np.linalg.norm(X @ W.T - X @ Q.T) / np.linalg.norm(X @ W.T))
for key, kw in [("unstructured", dict(sparsity=0.5)), ("nm", dict(prunen=2, prunem=4)),
                ("joint", dict(prunen=2, prunem=4, bits=4)), ("unstructured70", dict(sparsity=0.7))]:
    Q, M = sparsegpt(W, X, **kw)
    out[f"sparsegpt_{key}"] = {"recon": T(Q), "mask": T(M), "output_error": rel_out_err(Q)}

# ---------------------------------------------------------------- AWQ (one layer inspecting itself)
def pseudo_quantize(w, n_bit, group):
    shape = w.shape; w = w.reshape(-1, group).astype(f32)
    mx = w.max(axis=1, keepdims=True); mn = w.min(axis=1, keepdims=True)
    max_int = f32(2 ** n_bit - 1)
    scales = (np.maximum(mx - mn, f32(1e-5)) / max_int).astype(f32)
    zeros = np.clip(-np.round(mn / scales), 0, max_int).astype(f32)
    return ((np.clip(np.round(w / scales) + zeros, 0, max_int) - zeros) * scales).astype(f32).reshape(shape)

def awq_scale(W, X, n_bit, group, n_grid=20):
    org = X @ W.T
    x_max = np.abs(X).mean(axis=0).astype(f32)
    best, best_ratio, best_s, hist = np.inf, -1, None, []
    for r in range(n_grid):
        ratio = r / n_grid
        s = np.maximum(x_max ** f32(ratio), f32(1e-4)).astype(f32)
        s = (s / np.sqrt(s.max() * s.min())).astype(f32)
        Wq = pseudo_quantize(W * s[None, :], n_bit, group) / s[None, :]
        loss = float(((org - X @ Wq.T).astype(np.float64) ** 2).mean())
        hist.append(loss)
        if loss < best: best, best_ratio, best_s = loss, ratio, s
    return best_ratio, best_s, hist

def awq_clip(w, x, n_bit, group, n_grid=20, max_shrink=0.5, n_sample_token=512):
    co, ci = w.shape
    x = x.reshape(1, x.shape[0], -1, group)
    x = x[:, 0::max(1, x.shape[1] // n_sample_token)]
    w = w.reshape(co, 1, -1, group)
    org_max = np.abs(w).max(axis=-1, keepdims=True)
    best = org_max.copy(); min_errs = np.ones_like(org_max, dtype=np.float64) * 1e9
    x64 = x.astype(np.float64)
    org_out = (x64 * w).sum(axis=-1)
    for i_s in range(int(max_shrink * n_grid)):
        max_val = org_max * f32(1 - i_s / n_grid)
        cur = np.clip(w, -max_val, max_val)
        q = pseudo_quantize(cur, n_bit, group)
        err = ((q * x64).sum(axis=-1) - org_out) ** 2
        err = err.mean(axis=1).reshape(min_errs.shape)
        better = err < min_errs
        min_errs[better] = err[better]; best[better] = max_val[better]
    return best.reshape(co, -1)

W, X = layer(32, 256, 1024)
out["awq_W"] = T(W); out["awq_X"] = T(X)
for bits in (3, 4):
    ratio, s, hist = awq_scale(W, X, bits, 64)
    Ws = (W * s[None, :]).astype(f32); Xs = (X / s[None, :]).astype(f32)
    bounds = awq_clip(Ws, Xs, bits, 64)
    Wc = np.clip(Ws.reshape(32, -1, 64), -bounds[:, :, None], bounds[:, :, None]).reshape(32, 256)
    recon = pseudo_quantize(Wc, bits, 64) / s[None, :]
    rtn = pseudo_quantize(W, bits, 64)
    out[f"awq_{bits}"] = {"ratio": ratio, "scales": T(s), "losses": hist, "bounds": T(bounds), "recon": T(recon),
                          "output_error": float(np.linalg.norm(X @ W.T - X @ recon.T) / np.linalg.norm(X @ W.T)),
                          "rtn_output_error": float(np.linalg.norm(X @ W.T - X @ rtn.T) / np.linalg.norm(X @ W.T))}

# ---------------------------------------------------------------- SmoothQuant's migration scales
def smooth_scales(X, Ws, alpha):
    act = np.abs(X).max(axis=0)
    wmax = np.concatenate([np.abs(w).max(axis=0, keepdims=True) for w in Ws], axis=0).max(axis=0)
    wmax = np.maximum(wmax, f32(1e-5))
    return np.maximum(act ** f32(alpha) / wmax ** f32(1 - alpha), f32(1e-5)).astype(f32)
W2 = (rng.standard_normal((48, 256)) * 0.05).astype(f32)
out["smooth"] = {"alpha": 0.5, "scales": T(smooth_scales(X, [W, W2], 0.5)), "W2": T(W2)}
out["smooth_85"] = {"alpha": 0.85, "scales": T(smooth_scales(X, [W, W2], 0.85))}

# ---------------------------------------------------------------- VPTQ
def nearest(x, book, w):
    d = (((x[None, :] - book) ** 2) * w[None, :]).sum(axis=1)
    return int(np.argmin(d))

def wkmeans(x, wt, centres, iters):
    c = centres.astype(np.float64).copy()
    for _ in range(iters):
        labels = np.array([nearest(x[i], c, wt[i]) for i in range(len(x))])
        for k in range(len(c)):
            m = labels == k
            den = wt[m].sum(axis=0)
            num = (wt[m] * x[m]).sum(axis=0)
            c[k] = np.where(den > 0, num / np.where(den > 0, den, 1), c[k])
    return c

def vptq(W, X, dim, inits, iters, outlier_frac=0.0, blocksize=128, percdamp=0.01):
    rows, cols = W.shape; tiles = cols // dim
    H = 2 / X.shape[0] * (X.astype(np.float64).T @ X.astype(np.float64))
    h = np.diag(H).copy()
    w = W.astype(np.float64).copy()
    dead = np.diag(H) == 0; H[dead, dead] = 1; w[:, dead] = 0
    H[np.diag_indices(cols)] += percdamp * np.mean(np.diag(H))
    U = np.linalg.cholesky(np.linalg.inv(H)).T
    mass = np.array([h[t * dim:(t + 1) * dim].sum() for t in range(tiles)])
    n_out = int(round(outlier_frac * tiles))
    outliers = sorted(sorted(range(tiles), key=lambda t: (-mass[t], t))[:n_out])
    regular = [t for t in range(tiles) if t not in outliers]
    def vectors(data, ts):
        x = np.array([data[r, t * dim:(t + 1) * dim] for r in range(rows) for t in ts])
        wt = np.array([h[t * dim:(t + 1) * dim] for r in range(rows) for t in ts])
        return x, wt
    book = wkmeans(*vectors(w, regular), inits["main"], iters)
    obook = wkmeans(*vectors(w, outliers), inits["outlier"], iters) if outliers else None
    def one_pass(res):
        ww = w.copy(); q = np.zeros_like(ww); err_all = np.zeros_like(ww)
        idx = np.zeros((rows, tiles), dtype=np.int64); ridx = np.zeros((rows, tiles), dtype=np.int64)
        for i1 in range(0, cols, blocksize):
            i2 = min(i1 + blocksize, cols); E = np.zeros((rows, i2 - i1))
            for t in range(i1 // dim, i2 // dim):
                a, b = t * dim, (t + 1) * dim
                bk = obook if t in outliers else book
                Uinv = np.linalg.inv(U[a:b, a:b])
                for r in range(rows):
                    x = ww[r, a:b].copy()
                    c = nearest(x, bk, h[a:b]); idx[r, t] = c; chosen = bk[c].copy()
                    if res is not None:
                        c2 = nearest(x - chosen, res, h[a:b]); ridx[r, t] = c2; chosen = chosen + res[c2]
                    q[r, a:b] = chosen
                    e = (x - chosen) @ Uinv
                    E[r, a - i1:b - i1] = e
                    ww[r, b:i2] -= e @ U[a:b, b:i2]
            err_all[:, i1:i2] = ww[:, i1:i2] - q[:, i1:i2]
            ww[:, i2:] -= E @ U[i1:i2, i2:]
        return q, err_all, idx, ridx
    q, err, idx, ridx = one_pass(None)
    res_book = None
    if inits.get("residual") is not None:
        res_book = wkmeans(*vectors(err, list(range(tiles))), inits["residual"], iters)
        q, err, idx, ridx = one_pass(res_book)
    return q.astype(f32), idx, ridx, book, res_book, obook, outliers

W, X = layer(16, 256, 512)
out["vptq_W"] = T(W); out["vptq_X"] = T(X)
tiles = 256 // 4
inits = {"main": (rng.standard_normal((16, 4)) * 0.05).astype(f32), "outlier": (rng.standard_normal((16, 4)) * 0.05).astype(f32),
         "residual": (rng.standard_normal((8, 4)) * 0.01).astype(f32)}
for key, kw in [("plain", dict(inits={"main": inits["main"]})), ("full", dict(inits=inits, outlier_frac=0.1))]:
    q, idx, ridx, book, res, obook, outl = vptq(W, X, 4, iters=4, **kw)
    rtn = np.zeros_like(W)
    out[f"vptq_{key}"] = {"recon": T(q), "indices": T(idx), "residual_indices": T(ridx), "codebook": T(book),
                          "outlier_tiles": outl, "output_error": float(np.linalg.norm(X @ W.T - X @ q.T) / np.linalg.norm(X @ W.T))}
out["vptq_init"] = {k: T(v) for k, v in inits.items()}

with open("llm_toolbox.json", "w") as f: json.dump(out, f, indent=1, sort_keys=True)
np.savez("llm_toolbox.npz", **arrays)
print({k: v["output_error"] for k, v in out.items() if isinstance(v, dict) and "output_error" in v})
