#!/usr/bin/env python3
"""Writes crate.json: the one-layer CRATE toy of ALGORITHMS.md §A3, computed with numpy in float64
from the formulas (tokens as columns, as the paper writes them). Run from this folder:
python3 make_crate_fixtures.py"""
import json
import numpy as np

d, K, p, N, noise, eps2 = 32, 4, 8, 64, 0.3, 0.5
beta = p / (N * eps2)
rng = np.random.default_rng(0)
U = np.linalg.qr(rng.standard_normal((d, K * p)))[0]          # orthonormal, K blocks of p columns
bases = [U[:, k * p:(k + 1) * p] for k in range(K)]
labels = np.repeat(np.arange(K), N // K)
Z = np.stack([bases[l] @ rng.standard_normal(p) for l in labels], 1) + noise * rng.standard_normal((d, N))
Z = (Z / np.linalg.norm(Z, axis=0)).astype(np.float32).astype(np.float64)

def R(W, width):
    return 0.5 * np.linalg.slogdet(np.eye(W.shape[1]) + width / (N * eps2) * W.T @ W)[1]

def Rc(Z):
    return sum(R(Uk.T @ Z, p) for Uk in bases)

def normalize(Z):
    return Z / np.linalg.norm(Z, axis=0)

def softmax_cols(G):
    E = np.exp(G - G.max(0))
    return E / E.sum(0)

def mssa(Z):
    return beta * sum(Uk @ ((Uk.T @ Z) @ softmax_cols((Uk.T @ Z).T @ (Uk.T @ Z))) for Uk in bases)

def exact_grad(Z):
    out = np.zeros_like(Z)
    for Uk in bases:
        W = Uk.T @ Z
        out += beta * Uk @ W @ np.linalg.inv(np.eye(N) + beta * W.T @ W)
    return out

def ista(Z, D, eta=0.1, lam=0.1):
    return np.maximum(Z + eta * D.T @ (Z - D @ Z) - eta * lam, 0)

kappa = 1.0
stack, Y = [], Z.copy()
for _ in range(6):
    Y = normalize((1 - kappa * beta) * Y + kappa * mssa(Y))   # β once (mssa carries it), as §A3's check values
    stack.append(Rc(Y))
D = np.linalg.qr(rng.standard_normal((d, d)))[0]
lasso, A = [], Z.copy()
for _ in range(6):
    lasso.append(0.5 * np.sum((Z - D @ A) ** 2) + 0.1 * np.abs(A).sum())
    A = np.maximum(A + 0.1 * D.T @ (Z - D @ A) - 0.1 * 0.1, 0)     # one non-negative ISTA step on the LASSO
out = {
    "d": d, "K": K, "p": p, "N": N, "eps2": eps2,
    "Z_rows": Z.T.ravel().tolist(),                          # N × d, tokens as rows (squeeze's layout)
    "bases": np.stack(bases).ravel().tolist(),               # K × d × p
    "D": D.ravel().tolist(),
    "rc_input": Rc(Z),
    "rc_mssa_stack": stack,
    "rc_exact_step": Rc(normalize(Z - kappa * exact_grad(Z))),
    "rc_shrink": Rc(normalize((1 - kappa * beta) * Z)),
    "zeros_ista_identity": float(np.mean(ista(Z, np.eye(d)) == 0)),
    "zeros_ista_orthogonal": float(np.mean(ista(Z, D) == 0)),
    "lasso": lasso,
}
json.dump(out, open("crate.json", "w"), indent=0)
print({k: v for k, v in out.items() if k not in ("Z_rows", "bases", "D")})
