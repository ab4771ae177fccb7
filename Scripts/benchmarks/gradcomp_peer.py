"""numpy peer for `Scripts/bench gradient_compression`: one compressor applied with error feedback to the same
4M-element gradient (2048 × 2048, N(0, 1), a fixed seed) `rounds` times; prints the median seconds per call after
two warm-up calls and the message's bit count (the quality the harness compares). The methods are the numpy ports of the reference code used for the
test fixtures (Tests/CompressionTests/Fixtures/make_gradient_compression_fixtures.py), written for speed with numpy.
    python3 gradcomp_peer.py METHOD ROUNDS
"""
import math
import statistics
import sys
import time

import numpy as np

method, rounds = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(1)
g = rng.standard_normal((2048, 2048)).astype(np.float32)
d = g.size
ib = math.ceil(math.log2(d))
state = {"e": np.zeros_like(g)}


def sparse(p, idx):
    flat = p.reshape(-1)
    dec = np.zeros(d, np.float32)
    dec[idx] = flat[idx]
    return dec.reshape(p.shape), idx.size * (32 + ib)


def step():
    p = g + state["e"]
    if method == "topk":
        k = math.ceil(0.01 * d)
        idx = np.argpartition(np.abs(p).reshape(-1), -k)[-k:]
        dec, bits = sparse(p, idx)
    elif method == "randk":
        idx = rng.choice(d, math.ceil(0.01 * d), replace=False)
        dec, bits = sparse(p, idx)
    elif method == "threshold":
        dec, bits = sparse(p, np.flatnonzero(np.abs(p).reshape(-1) >= 2.5))
    elif method == "sign":
        scale = np.abs(p).sum(dtype=np.float32) / np.float32(d)
        dec = np.where(p >= 0, scale, -scale).astype(np.float32)
        bits = d + 32
    elif method == "qsgd":
        v = p.reshape(-1, 512)
        norm = np.sqrt((v * v).sum(axis=1, keepdims=True))
        level = np.float32(4) / norm * np.abs(v)
        low = np.floor(level)
        q = low + (rng.random(v.shape, dtype=np.float32) < level - low)
        dec = (np.sign(v) * q * norm / np.float32(4)).reshape(p.shape)
        bits = 32 * v.shape[0] + d * (1 + 3)
    elif method == "powersgd":
        P, Q, t = state.setdefault("P", rng.standard_normal((2048, 2)).astype(np.float32)), \
            state.setdefault("Q", rng.standard_normal((2048, 2)).astype(np.float32)), state.get("t", 0)
        if t % 2 == 0:
            P, _ = np.linalg.qr(P)
            Q = p.T @ P
            bits = 32 * 2 * 2048
        else:
            Q, _ = np.linalg.qr(Q)
            P = p @ Q
            bits = 32 * 2 * 2048
        state["P"], state["Q"], state["t"] = P.astype(np.float32), Q.astype(np.float32), t + 1
        dec = P @ Q.T
    elif method == "dgc":
        mmt = state.setdefault("mmt", np.zeros(d, np.float32))
        vec = state.setdefault("vec", np.zeros(d, np.float32))
        mmt *= np.float32(0.9)
        mmt += g.reshape(-1)
        vec += mmt
        ratio = 0.001
        pct, cpr = math.ceil(d * 0.01), math.ceil(2 / ratio)
        stride = math.ceil(d / max(pct, cpr) / 32) * 32 + 1
        samples = d // stride
        while samples < max(pct, cpr):
            stride -= 8
            samples = d // stride
        selects, top = math.ceil(d * ratio), math.ceil(samples * ratio)
        imp = np.abs(vec)
        smp = imp[int(rng.integers(0, stride))::stride]
        threshold = np.partition(smp, -top)[-top]
        idx = np.flatnonzero(imp >= threshold)
        for _ in range(10):
            if idx.size > selects:
                if idx.size > selects * 1.3:
                    idx = idx[np.argpartition(imp[idx], -selects)[-selects:]]
                break
            elif idx.size < 0.8 * selects:
                threshold *= np.float32(0.8)
            else:
                break
            idx = np.flatnonzero(imp >= threshold)
        idx = idx[:selects]
        bits = idx.size * (32 + ib)
        vec[idx] = 0
        mmt[idx] = 0
        return bits
    else:
        raise SystemExit(f"unknown method {method}")
    state["e"] = p - dec
    return bits


times = []
for r in range(rounds + 2):
    t0 = time.perf_counter()
    bits = step()
    if r >= 2:
        times.append(time.perf_counter() - t0)
print(statistics.median(times), bits)
