"""The peer of `Scripts/bench toolbox`: GPTQ's and SparseGPT's layer algorithms as their reference
code runs them (IST-DASLab/gptq `GPTQ.fasterquant`, IST-DASLab/sparsegpt `SparseGPT.fasterprune`:
PyTorch, float32, H = 2/n·XᵀX, dead inputs, 1% damping, the upper Cholesky factor of H⁻¹, lazy
blocks of 128 columns), on the CPU with torch's threads set by the caller.

Usage: toolbox_peer.py gptq|sparsegpt W.npy X.npy THREADS
Prints "seconds relative-output-error": the time of the Hessian and the algorithm, then
‖X Wᵀ − X Qᵀ‖ / ‖X Wᵀ‖.
"""
import sys, time
import numpy as np
import torch


def hessian(X):
    H = X.t() @ X
    return H * (2 / X.shape[0])


def prepare(W, H, percdamp=0.01):
    dead = torch.diag(H) == 0
    H[dead, dead] = 1
    W[:, dead] = 0
    damp = percdamp * torch.mean(torch.diag(H))
    idx = torch.arange(H.shape[0])
    H[idx, idx] += damp
    L = torch.linalg.cholesky(H)
    Hinv = torch.cholesky_inverse(L)
    return torch.linalg.cholesky(Hinv, upper=True)


def group_params(w, maxq):
    """Asymmetric min/max grid per row of a group (the reference Quantizer with perchannel, sym=False)."""
    xmin = torch.minimum(w.min(1).values, torch.zeros(1))
    xmax = torch.maximum(w.max(1).values, torch.zeros(1))
    both = (xmin == 0) & (xmax == 0)
    xmin[both], xmax[both] = -1, 1
    scale = (xmax - xmin) / maxq
    zero = torch.round(-xmin / scale)
    return scale.unsqueeze(1), zero.unsqueeze(1)


def quant(x, scale, zero, maxq):
    q = torch.clamp(torch.round(x / scale) + zero, 0, maxq)
    return scale * (q - zero)


def obs_sweep(W, Hinv, blocksize, begin, choose):
    """The loop both reference algorithms share: per lazy block of columns, `begin(W1, Hinv1, i1)`
    prepares the block, `choose(state, w, i1, i)` gives column i's new values; each column's scaled
    error updates the block's later columns, the block's errors the columns after it."""
    rows, cols = W.shape
    for i1 in range(0, cols, blocksize):
        i2 = min(i1 + blocksize, cols)
        W1 = W[:, i1:i2].clone()
        Q1 = torch.zeros_like(W1)
        Err1 = torch.zeros_like(W1)
        Hinv1 = Hinv[i1:i2, i1:i2]
        state = begin(W1, Hinv1, i1)
        for i in range(i2 - i1):
            w, d = W1[:, i], Hinv1[i, i]
            q = choose(state, w, i1, i)
            Q1[:, i] = q
            err1 = (w - q) / d
            W1[:, i:] -= err1.unsqueeze(1).matmul(Hinv1[i, i:].unsqueeze(0))
            Err1[:, i] = err1
        W[:, i1:i2] = Q1
        W[:, i2:] -= Err1.matmul(Hinv[i1:i2, i2:])
    return W


def gptq(W, X, bits=4, group=128, blocksize=128):
    W = W.clone()
    Hinv = prepare(W, hessian(X))
    maxq = 2 ** bits - 1
    params = {}

    def choose(_, w, i1, i):
        if (i1 + i) % group == 0:   # the group's grid from the weights as they are when it starts
            params["grid"] = group_params(W[:, i1 + i:i1 + i + group], maxq)
        scale, zero = params["grid"]
        return quant(w.unsqueeze(1), scale, zero, maxq).flatten()

    return obs_sweep(W, Hinv, blocksize, lambda W1, Hinv1, i1: None, choose)


def sparsegpt(W, X, sparsity=0.5, blocksize=128):
    W = W.clone()
    Hinv = prepare(W, hessian(X))

    def begin(W1, Hinv1, i1):   # the block's mask: the smallest w²/U_cc²
        tmp = W1 ** 2 / (torch.diag(Hinv1).reshape((1, -1))) ** 2
        thresh = torch.sort(tmp.flatten())[0][int(tmp.numel() * sparsity)]
        return tmp <= thresh

    def choose(mask1, w, i1, i):
        q = w.clone()
        q[mask1[:, i]] = 0
        return q

    return obs_sweep(W, Hinv, blocksize, begin, choose)


def main():
    method, wpath, xpath, threads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    torch.set_num_threads(threads)
    W = torch.from_numpy(np.load(wpath).astype(np.float32))
    X = torch.from_numpy(np.load(xpath).astype(np.float32))
    t = time.perf_counter()
    Q = gptq(W, X) if method == "gptq" else sparsegpt(W, X)
    seconds = time.perf_counter() - t
    Y = X.double() @ W.double().t()
    err = torch.linalg.norm(Y - X.double() @ Q.double().t()) / torch.linalg.norm(Y)
    print(seconds, round(float(err), 4))


if __name__ == "__main__":
    main()
