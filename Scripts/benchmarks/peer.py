"""The peer side of Scripts/bench: times the same kernel in numpy and prints `seconds quality`."""
import sys, time
import numpy as np

def best_of(k, f):
    best = float("inf")
    out = None
    for _ in range(k):
        t0 = time.perf_counter(); out = f(); best = min(best, time.perf_counter() - t0)
    return best, out

name = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else None
rng = np.random.default_rng(0)
if name == "sgemm":
    n = n or 2048
    a = rng.standard_normal((n, n), dtype=np.float32); b = rng.standard_normal((n, n), dtype=np.float32)
    t, c = best_of(3, lambda: a @ b)
    print(t, float(c.mean()))
elif name == "svd":
    n = n or 1000
    a = rng.standard_normal((n, n), dtype=np.float32)
    t, s = best_of(3, lambda: np.linalg.svd(a))
    print(t, float(s[1][0]))
else:
    sys.exit(f"unknown benchmark {name}")
