"""Reference messages and memories for squeeze's gradient compressors (Tests/CompressionTests/GradientCompressionTests):
numpy ports of the reference code of each method, run on fixed inputs. The random choices a method makes (rand-k
indices, QSGD's uniforms, DGC's sample start, PowerSGD's starting factors) are drawn here and handed to squeeze.
    python3 make_gradient_compression_fixtures.py
Ported from (read, not copied):
- top-k / rand-k / threshold with memory: epfml/sparsifiedSGD (memory: p = g + e; e = p - C(p))
- scaled sign: epfml/error-feedback-SGD (||x||_1 / d * sign(x)) per chunk
- QSGD: Alistarh et al. 2017 as in GRACE's qsgd compressor (norm, floor + Bernoulli rounding)
- PowerSGD: epfml/powersgd powersgd.py BasicPowerSGD.aggregate (one iteration per step, alternating, warm start,
  orthogonalize = Gram-Schmidt with eps 1e-8, error feedback in the gradient buffer, allreduce_average)
- DGC: synxlin/deep-gradient-compression compression.py (initialize, _sparsify) and memory (momentum correction,
  momentum factor masking)
- 1-bit Adam: DeepSpeed NcclBackend.compressed_allreduce (worker and server error feedback, scale ||x|| / sqrt(n))
"""
import json
import math
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(20261203)
f32 = np.float32


def t(a):
    a = np.asarray(a)
    return {"shape": list(a.shape), "data": [float(str(f32(v))) for v in a.reshape(-1)]}


def ints(a):
    return [int(v) for v in a]


def randn(*shape):
    return rng.standard_normal(shape).astype(f32)


# ---- sparsifiers with memory (two steps) ----
def topk_idx(x, k):
    return np.sort(np.argsort(-np.abs(x), kind="stable")[:k])


def sparse_steps(kind):
    d = 300
    e = np.zeros(d, f32)
    steps = []
    for s in range(2):
        g = randn(d)
        if s == 1:
            g[5] = g[6] = 4.0  # a tie at the top
        p = g + e
        if kind == "topk":
            idx = topk_idx(p, 7)
        elif kind == "randk":
            idx = np.sort(rng.choice(d, 7, replace=False))
        else:
            idx = np.flatnonzero(np.abs(p) >= f32(1.5))
        dec = np.zeros(d, f32)
        dec[idx] = p[idx]
        e = p - dec
        steps.append({"g": t(g), "indices": ints(idx), "values": t(p[idx]), "memory": t(e)})
    return steps


def sign_case():
    x = randn(200)
    out = np.zeros_like(x)
    for s in range(0, 200, 64):
        c = x[s:s + 64]
        out[s:s + 64] = np.abs(c).sum(dtype=f32) / f32(c.size) * np.where(c >= 0, f32(1), f32(-1))
    return {"x": t(x), "chunk": 64, "decoded": t(out)}


def qsgd_case():
    x = randn(300)
    x[10] = 0
    u = rng.uniform(size=300).astype(f32)
    s, bucket = 4, 128
    out = np.zeros_like(x)
    for b in range(0, 300, bucket):
        v = x[b:b + bucket]
        norm = np.sqrt((v * v).sum(dtype=f32))
        level = f32(s) / norm * np.abs(v)
        low = np.floor(level)
        q = low + (u[b:b + bucket] < level - low)
        out[b:b + bucket] = np.sign(v) * q * norm / f32(s)
    return {"x": t(x), "uniforms": t(u), "levels": s, "bucket": bucket, "decoded": t(out)}


# ---- PowerSGD (2 workers, 3 steps) ----
def orthogonalize(m, eps=1e-8):
    m = m.copy()
    for i in range(m.shape[1]):
        col = m[:, i]
        col /= np.sqrt((col ** 2).sum()) + f32(eps)
        m[:, i] = col
        if i + 1 < m.shape[1]:
            rest = m[:, i + 1:]
            rest -= (col[:, None] * rest).sum(axis=0, keepdims=True) * col[:, None]
            m[:, i + 1:] = rest
    return m


def powersgd_case():
    n, m, r, W = 12, 8, 2, 2
    P = randn(n, r)
    Q = randn(m, r)
    P0, Q0 = P.copy(), Q.copy()
    errors = [np.zeros((n, m), f32) for _ in range(W)]
    steps = []
    for step in range(3):
        grads = [randn(n, m) for _ in range(W)]
        bufs = [g + e for g, e in zip(grads, errors)]
        if step % 2 == 0:
            P = orthogonalize(P)
            Q = sum(b.T @ P for b in bufs) / f32(W)
            approx = P @ Q.T
        else:
            Q = orthogonalize(Q)
            P = sum(b @ Q for b in bufs) / f32(W)
            approx = P @ Q.T
        errors = [b - approx for b in bufs]
        steps.append({"grads": [t(g) for g in grads], "average": t(approx), "memories": [t(e) for e in errors]})
    return {"rows": n, "cols": m, "rank": r, "P": t(P0), "Q": t(Q0), "steps": steps}


# ---- DGC (2 steps, sampled threshold) ----
def dgc_plan(numel, ratio, sample_ratio=0.01):
    pct = int(math.ceil(numel * sample_ratio))
    cpr = int(math.ceil(2 / ratio))
    if numel <= cpr:
        stride, samples = 1, numel
    else:
        stride = int(math.ceil(numel / max(pct, cpr) / 32)) * 32 + 1
        samples = numel // stride
        while samples < max(pct, cpr):
            stride -= 8
            samples = numel // stride
    return int(math.ceil(numel * ratio)), samples, int(math.ceil(samples * ratio)), stride


def dgc_sparsify(vec, ratio, start):
    numel = vec.size
    selects, samples, top, stride = dgc_plan(numel, ratio)
    imp = np.abs(vec)
    smp = imp if numel == samples else imp[start::stride]
    threshold = np.sort(smp)[::-1][top - 1]
    idx = np.flatnonzero(imp >= threshold)
    if numel > samples:
        for _ in range(10):
            if idx.size > selects:
                if idx.size > selects * 1.3:
                    idx = np.sort(idx[np.argsort(-imp[idx], kind="stable")[:selects]])
                break
            elif idx.size < 0.8 * selects:
                threshold = threshold * f32(0.8)
            else:
                break
            idx = np.flatnonzero(imp >= threshold)
    return idx[:selects]


def dgc_case(nesterov):
    d, ratio, mu = 2000, 0.01, f32(0.9)
    mmt = np.zeros(d, f32)
    vec = np.zeros(d, f32)
    steps = []
    for _ in range(2):
        g = randn(d)
        g[::7] *= 3  # heavier entries the threshold must find
        if nesterov:
            mmt = (mmt + g) * mu
            vec = vec + mmt + g
        else:
            mmt = mu * mmt + g
            vec = vec + mmt
        start = int(rng.integers(0, dgc_plan(d, ratio)[3]))
        idx = dgc_sparsify(vec, ratio, start)
        values = vec[idx].copy()
        vec[idx] = 0
        mmt[idx] = 0
        steps.append({"g": t(g), "start": start, "indices": ints(idx), "values": t(values), "momentum": t(mmt), "velocity": t(vec)})
    plan = dgc_plan(d, ratio)
    return {"ratio": ratio, "nesterov": nesterov, "plan": list(plan), "steps": steps}


# ---- 1-bit Adam's compressed all-reduce (3 workers) ----
def onebit_case():
    W, d = 3, 50
    unit = W * (W * 8 // math.gcd(W, 8))
    D = (d + unit - 1) // unit * unit
    momenta = [randn(d) for _ in range(W)]
    werr = [randn(D) * f32(0.1) for _ in range(W)]
    serr = randn(D) * f32(0.1)
    werr0, serr0 = [w.copy() for w in werr], serr.copy()
    total = np.zeros(D, f32)
    for i in range(W):
        x = np.concatenate([momenta[i], np.zeros(D - d, f32)]) + werr[i]
        scale = np.linalg.norm(x) / np.sqrt(D)
        sgn = np.where(x >= 0, f32(1), f32(-1))
        werr[i] = x - f32(scale) * sgn
        total += f32(scale) * sgn / f32(W)
    out = np.zeros(D, f32)
    C = D // W
    for c in range(W):
        sl = slice(c * C, (c + 1) * C)
        comp = total[sl] + serr[sl]
        scale = np.linalg.norm(comp) / np.sqrt(C)
        sgn = np.where(comp >= 0, f32(1), f32(-1))
        serr[sl] = comp - f32(scale) * sgn
        out[sl] = f32(scale) * sgn
    return {"padded": D, "momenta": [t(m) for m in momenta], "worker_error": [t(w) for w in werr0], "server_error": t(serr0),
            "average": t(out[:d]), "worker_error_after": [t(w) for w in werr], "server_error_after": t(serr)}


fixture = {
    "topk": sparse_steps("topk"), "randk": sparse_steps("randk"), "threshold": sparse_steps("threshold"),
    "sign": sign_case(), "qsgd": qsgd_case(), "powersgd": powersgd_case(),
    "dgc": dgc_case(False), "dgc_nesterov": dgc_case(True), "onebit": onebit_case(),
}
with open(os.path.join(HERE, "gradient_compression.json"), "w") as f:
    json.dump(fixture, f)
print("wrote gradient_compression.json")
