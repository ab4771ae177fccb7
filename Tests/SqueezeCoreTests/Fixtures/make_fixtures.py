#!/usr/bin/env python3
"""Writes core.json: reference values for SqueezeCore, computed independently with numpy,
scipy and scikit-learn. Run from this folder: python3 make_fixtures.py
Versions used: recorded in the output's "versions" field."""
import json, math
import numpy as np
import scipy, scipy.linalg
import sklearn
from sklearn.decomposition import PCA

rng = np.random.default_rng(20261129)

def T(a):
    a = np.asarray(a, dtype=np.float64)
    data = ["nan" if math.isnan(x) else ("inf" if x == math.inf else ("-inf" if x == -math.inf else float(x)))
            for x in a.ravel().tolist()]
    return {"shape": list(a.shape), "data": data}

def f32(*shape):
    return rng.standard_normal(shape).astype(np.float32)

out = {"versions": {"numpy": np.__version__, "scipy": scipy.__version__, "sklearn": sklearn.__version__}}

# Products
A = f32(5, 3); B = f32(3, 4); C = f32(5, 4)
out["matmul"] = {"A": T(A), "B": T(B), "C": T(C), "AB": T(A.astype(np.float64) @ B),
                 "AtC": T(A.T.astype(np.float64) @ C), "AtA": T(A.T.astype(np.float64) @ A),
                 "AAt": T(A.astype(np.float64) @ A.T)}
v = f32(3)
out["matvec"] = {"v": T(v), "Av": T(A.astype(np.float64) @ v), "vv": float(v.astype(np.float64) @ v)}

# SVD: full rank, rank-deficient, 1x1, wide
svd = {}
for name, M in [("tall", f32(7, 4)), ("wide", f32(3, 6)),
                ("rankdef", (f32(8, 2) @ f32(2, 5)).astype(np.float32)), ("one", np.array([[-3.0]], np.float32))]:
    svd[name] = {"A": T(M), "S": T(np.linalg.svd(M.astype(np.float64), compute_uv=False)),
                 "rank": int(np.linalg.matrix_rank(M.astype(np.float64)))}
out["svd"] = svd

# eigh (lower triangle is what counts: the upper holds garbage on purpose)
S = f32(5, 5); S = (S + S.T) / 2
G = S.copy(); G[np.triu_indices(5, 1)] = 99.0
w, V = np.linalg.eigh(S.astype(np.float64))
out["eigh"] = {"A": T(G), "values": T(w), "vectors": T(V)}

# Cholesky, solve, inverse, logdet
M = f32(4, 4); P = (M @ M.T + 4 * np.eye(4)).astype(np.float32)
out["chol"] = {"A": T(P), "L": T(np.linalg.cholesky(P.astype(np.float64)))}
N = f32(4, 4); b = f32(4); Bm = f32(4, 2)
out["solve"] = {"A": T(N), "b": T(b), "x": T(np.linalg.solve(N.astype(np.float64), b.astype(np.float64))),
                "B": T(Bm), "X": T(np.linalg.solve(N.astype(np.float64), Bm.astype(np.float64))),
                "inv": T(np.linalg.inv(N.astype(np.float64)))}
sl = {}
neg = np.diag([2.0, -3.0, 0.5]).astype(np.float32) + 0.1 * f32(3, 3)
big = (f32(60, 60) @ f32(60, 60).T / 60 + 0.01 * np.eye(60)).astype(np.float32)
big = ((big + big.T) / 2).astype(np.float32)
for name, M in [("spd", P), ("general", N), ("negative", neg), ("big", big),
                ("singular", np.array([[1, 2], [2, 4]], np.float32)), ("one", np.array([[2.5]], np.float32))]:
    s, l = np.linalg.slogdet(M.astype(np.float64))
    sl[name] = {"A": T(M), "sign": float(s), "logabsdet": "-inf" if l == -math.inf else float(l)}
out["slogdet"] = sl

# QR (reduced): compare |diag R| which is sign-free
Q = f32(6, 4)
q, r = np.linalg.qr(Q.astype(np.float64))
out["qr"] = {"A": T(Q), "absdiagR": T(np.abs(np.diag(r)))}

# Norms
Mn = f32(4, 3); vn = np.array([3, -4, 0, 1.5], np.float32)
out["norm"] = {"M": T(Mn), "fro": float(np.linalg.norm(Mn.astype(np.float64))),
               "nuc": float(np.linalg.norm(Mn.astype(np.float64), "nuc")),
               "two": float(np.linalg.norm(Mn.astype(np.float64), 2)),
               "one": float(np.linalg.norm(Mn.astype(np.float64), 1)),
               "inf": float(np.linalg.norm(Mn.astype(np.float64), np.inf)),
               "v": T(vn), "v1": float(np.linalg.norm(vn, 1)), "v2": float(np.linalg.norm(vn)),
               "vinf": float(np.linalg.norm(vn, np.inf)), "v0": float(np.linalg.norm(vn, 0)),
               "v3": float(np.linalg.norm(vn.astype(np.float64), 3))}

# Reductions over axes
X = f32(3, 4, 2).astype(np.float64)
red = {"X": T(X)}
for ax in [None, 0, 1, 2, -1]:
    key = "all" if ax is None else str(ax)
    red[key] = {"sum": T(X.sum(axis=ax)), "mean": T(X.mean(axis=ax)), "var": T(X.var(axis=ax)),
                "std1": T(X.std(axis=ax, ddof=1)), "min": T(X.min(axis=ax)), "max": T(X.max(axis=ax)),
                "argmin": T(X.argmin(axis=ax) if ax is not None else X.argmin()),
                "argmax": T(X.argmax(axis=ax) if ax is not None else X.argmax()),
                "prod": T(X.prod(axis=ax))}
out["reduce"] = red

# Broadcasting and elementwise
a = f32(3, 1, 4); c = f32(2, 1); r = f32(4)
ops = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide,
       "maximum": np.maximum, "lt": lambda x, y: (x < y).astype(np.float64)}
out["broadcast"] = {"a": T(a), "c": T(c), "r": T(r),
                    "ac": {k: T(f(a.astype(np.float64), c.astype(np.float64))) for k, f in ops.items()},
                    "ar": {k: T(f(a.astype(np.float64), r.astype(np.float64))) for k, f in ops.items()}}
x = np.array([-7, -3.5, -1, 0, 1, 3.5, 7], np.float64); y = np.array([3, -2, 2, 5, -3, 2, -2.5])
out["mod"] = {"x": T(x), "y": T(y), "mod": T(np.mod(x, y)), "pow": T(np.power(np.abs(x), y))}
u = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.2, 4.0], np.float64)
out["unary"] = {"x": T(u), "round": T(np.round(u)), "sign": T(np.sign(u)), "exp": T(np.exp(u)),
                "abs": T(np.abs(u)), "tanh": T(np.tanh(u)), "floor": T(np.floor(u)), "ceil": T(np.ceil(u))}

# Sorting
s = np.array([[3, 1, np.nan, 2, 1], [0, -1, 5, 5, 2]], np.float64)
out["sort"] = {"x": T(s), "sorted": T(np.sort(s, axis=-1)), "argsort": T(np.argsort(s, axis=-1, kind="stable"))}
t = np.array([[4, 9, 1, 9, 3], [2, 2, 8, 0, 7]], np.float64)
idx = np.argsort(-t, axis=-1, kind="stable")[:, :3]
out["topk"] = {"x": T(t), "values": T(np.take_along_axis(t, idx, -1)), "indices": T(idx)}

# Slicing (NumPy basic indexing)
Z = np.arange(30, dtype=np.float64).reshape(5, 6)
out["slice"] = {"Z": T(Z), "rows_step_rev": T(Z[1:5:2, ::-1]), "last_row": T(Z[-1]), "col2": T(Z[:, 2]),
                "neg_range": T(Z[-3:-1, 1:-1]), "rev_step": T(Z[::-2, 4:0:-2])}
out["linspace"] = T(np.linspace(-1, 2, 7)); out["arange"] = T(np.arange(0.5, 3.2, 0.7))
Y = np.arange(24, dtype=np.float64).reshape(2, 3, 4)
out["permute"] = {"Y": T(Y), "p201": T(np.transpose(Y, (2, 0, 1)))}
out["concat"] = {"a": T(Z[:2]), "b": T(Z[2:]), "axis1": T(np.concatenate([Z[:, :2], Z[:, 2:]], axis=1)),
                 "stack1": T(np.stack([Z[0], Z[1]], axis=1))}

# PCA (scikit-learn, full SVD solver)
Xp = f32(20, 5) * np.array([5, 3, 1, 0.5, 0.1], np.float32) + np.array([1, -2, 0, 3, 0], np.float32)
p = PCA(n_components=3, svd_solver="full").fit(Xp.astype(np.float64))
out["pca"] = {"X": T(Xp), "scores": T(p.transform(Xp.astype(np.float64))), "components": T(p.components_),
              "explained_variance": T(p.explained_variance_)}

# RNG: PCG64. Our seeding (SplitMix64 expansion + PCG srandom) recomputed here in plain Python;
# the raw stream then comes from numpy's own PCG64 set to that state.
M64 = (1 << 64) - 1; M128 = (1 << 128) - 1
MULT = 0x2360ED051FC65DA44385DF649FCCF645
def splitmix_words(seed, n):
    s = seed; ws = []
    for _ in range(n):
        s = (s + 0x9E3779B97F4A7C15) & M64
        z = s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        ws.append(z ^ (z >> 31))
    return ws
def seeded_state(seed):
    w0, w1, w2, w3 = splitmix_words(seed, 4)
    inc = ((((w2 << 64) | w3) << 1) | 1) & M128
    state = 0
    state = (state * MULT + inc) & M128
    state = (state + ((w0 << 64) | w1)) & M128
    state = (state * MULT + inc) & M128
    return state, inc
rngs = {}
for seed in [0, 7, 123456789]:
    st, inc = seeded_state(seed)
    bg = np.random.PCG64()
    bg.state = {"bit_generator": "PCG64", "state": {"state": st, "inc": inc}, "has_uint32": 0, "uinteger": 0}
    raw = [int(x) for x in bg.random_raw(8)]
    bg.state = {"bit_generator": "PCG64", "state": {"state": st, "inc": inc}, "has_uint32": 0, "uinteger": 0}
    gen = np.random.Generator(bg)
    uni = gen.random(6).tolist()   # numpy's random(): (next >> 11) * 2^-53
    # Box–Muller on the same stream, as documented in Random.swift
    bg.state = {"bit_generator": "PCG64", "state": {"state": st, "inc": inc}, "has_uint32": 0, "uinteger": 0}
    r = bg.random_raw(8)
    us = [(int(x) >> 11) * 2.0 ** -53 for x in r]
    normals = []
    for i in range(0, 8, 2):
        u1 = 1 - us[i]; u2 = us[i + 1]
        rad = math.sqrt(-2 * math.log(u1)); th = 2 * math.pi * u2
        normals += [rad * math.cos(th), rad * math.sin(th)]
    rngs[str(seed)] = {"state_hi": st >> 64, "state_lo": st & M64, "inc_hi": inc >> 64, "inc_lo": inc & M64,
                       "raw": [str(x) for x in raw], "uniform": [repr(x) for x in uni], "normal": [repr(x) for x in normals]}
out["rng"] = rngs

with open("core.json", "w") as f:
    json.dump(out, f, indent=0)
print("wrote core.json")
