"""Runs squeeze and its peer side by side: a warm-up, then five counted rounds alternating
A B A B, and prints medians, min–max and the ratio peer/squeeze (> 1: squeeze is faster)."""
import json, os, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SQUEEZE = os.path.join(ROOT, ".build", "release", "squeeze")
BENCH = os.path.join(ROOT, ".build", "release", "squeeze-bench")
PY = sys.executable
PEER = os.path.join(ROOT, "Scripts", "benchmarks", "peer.py")
ROUNDS = 5
# Targets met or not, collected per benchmark run for the table in BENCHMARKS.md.
TARGETS = []

def target(what, goal, measured, met, source):
    """Records one target (the issue that set it in `source`) and prints the verdict."""
    TARGETS.append({"what": what, "goal": goal, "measured": measured, "met": bool(met), "source": source})
    print(f"  target {goal}: {measured} → {'met' if met else 'NOT MET'}")

def inner(cmd):
    """Time reported by the program itself (first field of its last line)."""
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1].split()
    return float(out[0]), (out[1] if len(out) > 1 else "")

def wall(cmd):
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    t = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"{cmd} failed: {r.stderr}")
    return t, r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""

def pair(a, b):
    a(); b()                       # warm-up
    ta, tb = [], []
    qa = qb = ""
    for _ in range(ROUNDS):
        t, qa = a(); ta.append(t)
        t, qb = b(); tb.append(t)
    return ta, tb, qa, qb

def last_number(q):
    import re
    found = re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", q or "")
    return float(found[-1]) if found else None

def report(title, ta, tb, qa, qb, unit="s", peer="numpy", invert=False, tol=1e-3):
    """Prints medians and the ratio; when both sides print a quality figure, they must agree
    within `tol` (relative) or the row is marked failed."""
    ma, mb = statistics.median(ta), statistics.median(tb)
    ratio = mb / ma
    print(f"{title}")
    fmt = lambda x: f"{x * 1000:.1f} ms" if unit == "s" else f"{x:.1f} {unit}"
    print(f"  squeeze {fmt(ma):>12}  (min {fmt(min(ta))}, max {fmt(max(ta))})  quality {qa}")
    print(f"  {peer:<7} {fmt(mb):>12}  (min {fmt(min(tb))}, max {fmt(max(tb))})  quality {qb}")
    print(f"  ratio {peer}/squeeze = {ratio:.2f}{'  (> 1: squeeze faster)' if not invert else ''}")
    a, b = last_number(qa), last_number(qb)
    if a is not None and b is not None:
        rel = abs(a - b) / max(abs(b), 1e-12)
        print(f"  quality {'agrees' if rel <= tol else 'DIFFERS: row FAILED'} (relative difference {rel:.1e}, tolerance {tol:g})")
    return ratio

def sgemm():
    n = 2048
    flops = 2 * n ** 3
    ta, tb, qa, qb = pair(lambda: inner([BENCH, "sgemm", str(n)]), lambda: inner([PY, PEER, "sgemm", str(n)]))
    ga, gb = [flops / t / 1e9 for t in ta], [flops / t / 1e9 for t in tb]
    ma, mb = statistics.median(ga), statistics.median(gb)
    print(f"sgemm {n}×{n} (float32, best of 3 per round)")
    print(f"  squeeze {ma:8.1f} GFLOPS (min {min(ga):.1f}, max {max(ga):.1f})  mean(C) {qa}")
    print(f"  numpy   {mb:8.1f} GFLOPS (min {min(gb):.1f}, max {max(gb):.1f})  mean(C) {qb}")
    print(f"  ratio squeeze/numpy GFLOPS = {ma / mb:.2f}  (target ≥ 0.95)")
    target("sgemm 2048² GFLOPS vs numpy", "ratio ≥ 0.95", f"{ma / mb:.2f}", ma / mb >= 0.95, "issue 2")

def svd():
    """Full SVD (U, S, Vt) of the same float32 matrices, 1000×1000 and 4096×1024, best of 3 per
    round inside each program: squeeze's sgesdd against numpy.linalg.svd; σ₁ as the quality."""
    d = tempfile.mkdtemp()
    for m, n in ((1000, 1000), (4096, 1024)):
        A = os.path.join(d, f"A{m}.npy")
        subprocess.run([PY, "-c", f"import numpy as np; np.save({A!r}, np.random.default_rng(3).standard_normal(({m}, {n})).astype(np.float32))"], check=True)
        r = os.path.join(d, f"s{m}.recipe"); p = os.path.join(d, f"s{m}.py")
        open(r, "w").write(f"A = load({json.dumps(A)})\nbest = 1e9\nfor i in range(3) {{\n  t0 = clock()\n  f = svd(A)\n  best = min(best, clock() - t0)\n}}\n"
                           "print(best, round(f.S[0], digits: 3))\n")
        open(p, "w").write(f"import time, numpy as np\nA = np.load({A!r})\nbest = 1e9\nfor i in range(3):\n    t = time.perf_counter(); U, S, Vt = np.linalg.svd(A, full_matrices=False); best = min(best, time.perf_counter() - t)\n"
                           "print(best, round(float(S[0]), 3))\n")
        ta, tb, qa, qb = pair(lambda: inner([SQUEEZE, "run", r, "--no-history"]), lambda: inner([PY, p]))
        report(f"SVD {m}×{n} float32 (U, S, Vt; best of 3 per round)", ta, tb, "σ₁ " + qa, "σ₁ " + qb, tol=1e-4)
        tr = statistics.median(ta) / statistics.median(tb)
        print(f"  time ratio squeeze/numpy = {tr:.2f}  (target ≤ 1.05)")
        target(f"SVD {m}×{n} time vs numpy", "ratio ≤ 1.05", f"{tr:.2f}", tr <= 1.05, "issue 2")

def startup():
    d = tempfile.mkdtemp()
    empty = os.path.join(d, "empty.recipe"); open(empty, "w").close()
    ta, tb, _, _ = pair(lambda: wall([SQUEEZE, "run", empty, "--no-history"]), lambda: wall([PY, "-c", "pass"]))
    _, tc, _, _ = pair(lambda: wall([SQUEEZE, "run", empty, "--no-history"]), lambda: wall([PY, "-c", "import numpy"]))
    _, td, _, _ = pair(lambda: wall([SQUEEZE, "run", empty, "--no-history"]), lambda: wall([PY, "-c", "import sklearn.cluster"]))
    th, _, _, _ = pair(lambda: wall([SQUEEZE, "run", empty, "--history", os.path.join(d, "h.db")]), lambda: (0, ""))
    print("start-up: `squeeze run` of an empty recipe (target < 30 ms)")
    print(f"  squeeze               {statistics.median(ta) * 1000:6.1f} ms (min {min(ta) * 1000:.1f}, max {max(ta) * 1000:.1f})")
    print(f"  python3 -c pass       {statistics.median(tb) * 1000:6.1f} ms   ratio {statistics.median(tb) / statistics.median(ta):.2f}")
    print(f"  python3 -c 'import numpy' {statistics.median(tc) * 1000:6.1f} ms   ratio {statistics.median(tc) / statistics.median(ta):.2f}")
    print(f"  python3 -c 'import sklearn.cluster' {statistics.median(td) * 1000:6.1f} ms   ratio {statistics.median(td) / statistics.median(ta):.2f}")
    print(f"  squeeze, recorded in the history {statistics.median(th) * 1000:6.1f} ms")
    target("start-up, empty recipe", "< 30 ms", f"{statistics.median(ta) * 1000:.1f} ms", statistics.median(ta) < 0.030, "issue 3")

def loop():
    d = tempfile.mkdtemp()
    r = os.path.join(d, "loop.recipe"); p = os.path.join(d, "loop.py")
    open(r, "w").write("s = 0\nfor i in range(1000000) { s = s + i * 0.5 }\nprint(s)\n")
    open(p, "w").write("s = 0\nfor i in range(1000000):\n    s = s + i * 0.5\nprint(s)\n")
    ta, tb, qa, qb = pair(lambda: wall([SQUEEZE, "run", r, "--no-history"]), lambda: wall([PY, p]))
    ratio = report("interpreter: 10⁶ iterations of s = s + i * 0.5 (whole process)", ta, tb, qa, qb, peer="CPython")
    target("scalar loop vs CPython", "no slower (ratio ≥ 1)", f"{ratio:.2f}", ratio >= 1, "issue 3")

def core_share():
    d = tempfile.mkdtemp()
    r = os.path.join(d, "gemm.recipe")
    open(r, "w").write("A = randn(1024, 1024, seed: 1)\nB = randn(1024, 1024, seed: 2)\nt0 = clock()\n"
                       "for i in range(20) { C = A @ B }\nprint(clock() - t0)\n")
    ta, tb = [], []
    for _ in range(ROUNDS):
        ta.append(inner([SQUEEZE, "run", r, "--no-history"])[0]); tb.append(inner([BENCH, "gemm-loop", "1024"])[0])
    share = statistics.median(tb) / statistics.median(ta)
    print("tensor-heavy recipe: 20 products of 1024² matrices in a recipe loop vs the same calls in Swift")
    print(f"  recipe {statistics.median(ta) * 1000:.1f} ms, core alone {statistics.median(tb) * 1000:.1f} ms: "
          f"{share * 100:.1f}% of the recipe's time is in the core (target > 95%)")
    target("tensor-heavy recipe: time in the core", "> 95%", f"{share * 100:.1f}%", share > 0.95, "issue 3")

def prompt_time(cmd, prompt):
    """Seconds from spawning `cmd` on a pseudo-terminal until `prompt` appears."""
    import pty, select, signal
    env = dict(os.environ, SQUEEZE_HISTFILE=os.path.join(tempfile.mkdtemp(), "hist"), TERM="xterm")
    t0 = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:
        os.execvpe(cmd[0], cmd, env)
    buf = b""
    while prompt not in buf:
        r, _, _ = select.select([fd], [], [], 5)
        if not r:
            break
        try:
            buf += os.read(fd, 4096)
        except OSError:
            break
    t = time.perf_counter() - t0
    os.kill(pid, signal.SIGKILL); os.waitpid(pid, 0); os.close(fd)
    return t, ""

def repl():
    ta, tb, _, _ = pair(lambda: prompt_time([SQUEEZE], b"squeeze> "), lambda: prompt_time([PY, "-i", "-q"], b">>> "))
    report("REPL: start to prompt on a pseudo-terminal (target < 50 ms)", ta, tb, "", "", peer="python3 -i")
    target("REPL start to prompt", "< 50 ms", f"{statistics.median(ta) * 1000:.1f} ms", statistics.median(ta) < 0.050, "issue 4")

def history():
    """The cost of recording: the same 1,000-statement recipe with and without the history. The
    recipe times its own statements (clock()); the whole process is timed too, which adds the fixed
    cost of opening the database and its last commit."""
    d = tempfile.mkdtemp()
    for label, size in (("small-tensor statements (96×96 products, reductions, log)", 96),
                        ("scalar statements (x = i * 2 + 1)", 0)):
        lines = ["t0 = clock()"]
        if size:
            lines.append(f"x = randn([{size}, {size}], seed: 1) * 0.1")
            kinds = ["y = x @ x", "s = mean(y * y)", "log(energy: s, step: {i})", "x = x * 0.99 + y * 0.01"]
        else:
            kinds = ["x{i} = {i} * 2 + 1"]
        i = 0
        while len(lines) < 1001:
            lines.append(kinds[i % len(kinds)].format(i=i // len(kinds) if size else i % 10)); i += 1
        lines.append("print(clock() - t0)")
        r = os.path.join(d, f"h{size}.recipe"); open(r, "w").write("\n".join(lines) + "\n")
        db = os.path.join(d, f"h{size}.db")
        ia, ib, wa, wb = [], [], [], []
        for k in range(ROUNDS + 1):
            for cmd, inn, wal in (([SQUEEZE, "run", r, "--no-history"], ia, wa), ([SQUEEZE, "run", r, "--history", db], ib, wb)):
                t0 = time.perf_counter()
                out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
                if k:
                    wal.append(time.perf_counter() - t0); inn.append(float(out))
        m = statistics.median
        print(f"history: 1,000 {label}")
        print(f"  recipe's own time   {m(ia) * 1000:6.1f} ms without, {m(ib) * 1000:6.1f} ms recorded: "
              f"{(m(ib) / m(ia) - 1) * 100:+.1f}% (target < 5%)")
        print(f"  whole process       {m(wa) * 1000:6.1f} ms without, {m(wb) * 1000:6.1f} ms recorded: "
              f"{(m(wb) - m(wa)) * 1000:+.1f} ms, {(m(wb) / m(wa) - 1) * 100:+.1f}%")
        over = m(ib) / m(ia) - 1
        target(f"history overhead, 1,000 {label.split(' (')[0]}", "< 5% of the recipe's time", f"{over * 100:+.1f}%", over < 0.05, "issue 5")

def scatter():
    """plot.scatter of 100,000 points to PNG, timed inside the recipe, against matplotlib's
    scatter + savefig (Agg, 640×480 at 100 dpi) timed inside Python."""
    d = tempfile.mkdtemp()
    r = os.path.join(d, "scatter.recipe"); p = os.path.join(d, "scatter.py")
    open(r, "w").write("X = randn(100000, 2, seed: 1)\nc = randint(0, 10, 100000, seed: 2)\nt0 = clock()\n"
                       "plot.scatter(X, color: c, to: \"s.png\")\nprint(clock() - t0)\n")
    open(p, "w").write("import time, numpy as np, matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
                       "X = np.random.default_rng(1).standard_normal((100000, 2)); c = np.random.default_rng(2).integers(0, 10, 100000)\n"
                       "t0 = time.perf_counter()\nfig, ax = plt.subplots()\nax.scatter(X[:, 0], X[:, 1], c=c, cmap='tab10', s=4)\n"
                       f"fig.savefig({os.path.join(d, 'm.png')!r})\nprint(time.perf_counter() - t0)\n")
    ta, tb, _, _ = pair(lambda: inner([SQUEEZE, "run", r, "--no-history", "--out", d]), lambda: inner([PY, p]))
    report("plot.scatter of 100,000 points to PNG (target < 0.3 s)", ta, tb, "", "", peer="matplotlib")
    target("plot.scatter 100,000 points", "< 0.3 s", f"{statistics.median(ta):.3f} s", statistics.median(ta) < 0.3, "issue 6")

def fashion():
    """load("fashion-mnist"): the 60,000 training images and labels from Debian's gzipped IDX files,
    against numpy (gzip + frombuffer + float32), both timed inside their programs."""
    d = tempfile.mkdtemp()
    r = os.path.join(d, "f.recipe"); p = os.path.join(d, "f.py")
    open(r, "w").write("t0 = clock()\nf = load(\"fashion-mnist\")\nprint(clock() - t0, shape(f.images))\n")
    open(p, "w").write("import gzip, time, numpy as np\nt = time.perf_counter()\nroot = '/usr/share/datasets/fashion-mnist/'\n"
                       "with gzip.open(root + 'train-images-idx3-ubyte.gz') as f: X = np.frombuffer(f.read(), np.uint8, offset=16).reshape(60000, 28, 28).astype(np.float32)\n"
                       "with gzip.open(root + 'train-labels-idx1-ubyte.gz') as f: y = np.frombuffer(f.read(), np.uint8, offset=8).astype(np.float32)\n"
                       "print(time.perf_counter() - t, X.shape)\n")
    ta, tb, qa, qb = pair(lambda: inner([SQUEEZE, "run", r, "--no-history"]), lambda: inner([PY, p]))
    report("Fashion-MNIST: 60,000 training images from gzipped IDX (target < 0.5 s)", ta, tb, qa, qb)
    target("load Fashion-MNIST (60,000 images)", "< 0.5 s", f"{statistics.median(ta):.3f} s", statistics.median(ta) < 0.5, "issue 7")

def kmeans():
    """20 Lloyd iterations on 100,000×64 float32 from the same initial centroids (the first k rows):
    squeeze's kmeans against scikit-learn's KMeans (lloyd, tol=0) and faiss's Kmeans, each timed
    inside its program; inertia printed as the quality check."""
    d = tempfile.mkdtemp()
    data = os.path.join(d, "X.npy")
    subprocess.run([PY, "-c", f"import numpy as np; np.save({data!r}, np.random.default_rng(0).standard_normal((100000, 64)).astype(np.float32))"], check=True)
    for k in (256, 1024):
        r = os.path.join(d, f"k{k}.recipe")
        open(r, "w").write(f"X = load({json.dumps(data)})\nC0 = X[0:{k}]\nt0 = clock()\nm = kmeans(X, k: {k}, init: C0, iters: 20, tol: 0)\n"
                           "print(clock() - t0, round(m.inertia))\n")
        sk = os.path.join(d, f"sk{k}.py")
        open(sk, "w").write(f"import time, numpy as np\nfrom sklearn.cluster import KMeans\nX = np.load({data!r})\n"
                            f"t = time.perf_counter()\nm = KMeans({k}, init=X[:{k}], n_init=1, max_iter=20, tol=0, algorithm='lloyd').fit(X)\n"
                            "print(time.perf_counter() - t, round(m.inertia_))\n")
        fa = os.path.join(d, f"fa{k}.py")
        open(fa, "w").write(f"import time, numpy as np, faiss\nX = np.load({data!r})\n"
                            f"t = time.perf_counter()\nkm = faiss.Kmeans(64, {k}, niter=20, max_points_per_centroid=10**9)\n"
                            f"km.train(X, init_centroids=X[:{k}].copy())\nD, _ = km.index.search(X, 1)\n"
                            "print(time.perf_counter() - t, round(float(D.sum())))\n")
        ta, tb, qa, qb = pair(lambda: inner([SQUEEZE, "run", r, "--no-history", "--out", d]), lambda: inner([PY, sk]))
        rs = report(f"kmeans 100,000×64, k = {k}, 20 Lloyd iterations (inertia as quality)", ta, tb, qa, qb, peer="sklearn", tol=0.01)
        _, tc, _, qc = pair(lambda: inner([SQUEEZE, "run", r, "--no-history", "--out", d]), lambda: inner([PY, fa]))
        rel = abs(last_number(qa) - last_number(qc)) / last_number(qc)
        print(f"  faiss   {statistics.median(tc) * 1000:9.1f} ms  quality {qc}  ratio faiss/squeeze = {statistics.median(tc) / statistics.median(ta):.2f}"
              f"  (target ≥ 1; quality {'agrees' if rel <= 0.01 else 'DIFFERS: row FAILED'})")
        rf = statistics.median(tc) / statistics.median(ta)
        target(f"kmeans k = {k} vs scikit-learn", "≥ 2×", f"{rs:.2f}×", rs >= 2, "issue 9")
        target(f"kmeans k = {k} vs faiss", "≥ 1×", f"{rf:.2f}×", rf >= 1, "issue 9")

def assign():
    """Nearest-code assignment of 50,000 queries against 100,000 codes (d = 64): squeeze's assign
    (blocked GEMM tiles + argmin) against faiss IndexFlatL2.search(k=1), both timed inside their
    programs; the sum of squared distances is the quality check."""
    d = tempfile.mkdtemp()
    Q = os.path.join(d, "Q.npy"); C = os.path.join(d, "C.npy")
    subprocess.run([PY, "-c", f"import numpy as np; g = np.random.default_rng(1); np.save({Q!r}, g.standard_normal((50000, 64)).astype(np.float32)); "
                    f"np.save({C!r}, g.standard_normal((100000, 64)).astype(np.float32))"], check=True)
    r = os.path.join(d, "a.recipe"); p = os.path.join(d, "a.py")
    open(r, "w").write(f"Q = load({json.dumps(Q)})\nC = load({json.dumps(C)})\nt0 = clock()\na = assign(Q, C)\n"
                       "print(clock() - t0, round(sum(a.distances) / 1000))\n")
    open(p, "w").write(f"import time, numpy as np, faiss\nQ = np.load({Q!r}); C = np.load({C!r})\nt = time.perf_counter()\n"
                       "index = faiss.IndexFlatL2(64); index.add(C); D, I = index.search(Q, 1)\n"
                       "print(time.perf_counter() - t, round(float(D.sum()) / 1000))\n")
    ta, tb, qa, qb = pair(lambda: inner([SQUEEZE, "run", r, "--no-history"]), lambda: inner([PY, p]))
    ratio = report("assign: 50,000 queries × 100,000 codes, d = 64 (target ≥ faiss IndexFlatL2)", ta, tb,
                   "Σd²/1000 " + qa, "Σd²/1000 " + qb, peer="faiss")
    flops = 2 * 50000 * 100000 * 64
    print(f"  GFLOPS-equivalent: squeeze {flops / statistics.median(ta) / 1e9:.0f}, faiss {flops / statistics.median(tb) / 1e9:.0f}")
    target("assign 50k × 100k codes vs faiss IndexFlatL2", "≥ 1×", f"{ratio:.2f}×", ratio >= 1, "issue 9")

def coding_rate():
    """coding_rate of a 10,000 × 128 matrix (ε² = 0.5) against numpy's slogdet of the smaller
    Gram side, and rate_reduction with 10 classes against the same in numpy; float64 logdets."""
    d = tempfile.mkdtemp()
    Z = os.path.join(d, "Z.npy"); y = os.path.join(d, "y.npy")
    subprocess.run([PY, "-c", f"import numpy as np; g = np.random.default_rng(2); np.save({Z!r}, g.standard_normal((10000, 128)).astype(np.float32)); "
                    f"np.save({y!r}, g.integers(0, 10, 10000).astype(np.float32))"], check=True)
    for name, recipe, script in (
        ("coding_rate 10,000×128", f"Z = load({json.dumps(Z)})\nt0 = clock()\nr = coding_rate(Z, eps2: 0.5)\nprint(clock() - t0, round(r, digits: 4))\n",
         f"import time, numpy as np\nZ = np.load({Z!r})\nt = time.perf_counter()\nn, d = Z.shape\nZ64 = Z.astype(np.float64)\n"
         "r = 0.5 * np.linalg.slogdet(np.eye(d) + d / (n * 0.5) * Z64.T @ Z64)[1]\nprint(time.perf_counter() - t, round(r, 4))\n"),
        ("rate_reduction 10,000×128, 10 classes", f"Z = load({json.dumps(Z)})\ny = load({json.dumps(y)})\nt0 = clock()\nr = rate_reduction(Z, y, eps2: 0.5)\nprint(clock() - t0, round(r.delta, digits: 4))\n",
         f"import time, numpy as np\nZ = np.load({Z!r}); y = np.load({y!r})\nt = time.perf_counter()\nn, d = Z.shape\nZ64 = Z.astype(np.float64)\n"
         "R = 0.5 * np.linalg.slogdet(np.eye(d) + d / (n * 0.5) * Z64.T @ Z64)[1]\nRc = 0.0\n"
         "for c in range(10):\n    Zc = Z64[y == c]; m = len(Zc)\n    Rc += m / (2 * n) * np.linalg.slogdet(np.eye(d) + d / (m * 0.5) * Zc.T @ Zc)[1]\n"
         "print(time.perf_counter() - t, round(R - Rc, 4))\n"),
    ):
        r = os.path.join(d, "c.recipe"); p = os.path.join(d, "c.py")
        open(r, "w").write(recipe); open(p, "w").write(script)
        ta, tb, qa, qb = pair(lambda: inner([SQUEEZE, "run", r, "--no-history"]), lambda: inner([PY, p]))
        ratio = report(f"{name} (target ≥ numpy's speed)", ta, tb, qa, qb)
        target(f"{name.split(' ')[0]} vs numpy", "≥ 1×", f"{ratio:.2f}×", ratio >= 1, "issue 9")

def compression():
    """RTN 4-bit group-128 of a 4096×4096 matrix and 2:4 magnitude pruning, against vectorised
    numpy; rsvd rank 64 of 4096×1024 against sklearn's randomized_svd (error as quality)."""
    d = tempfile.mkdtemp()
    W = os.path.join(d, "W.npy"); A = os.path.join(d, "A.npy")
    subprocess.run([PY, "-c", f"import numpy as np; g = np.random.default_rng(0); np.save({W!r}, g.standard_normal((4096, 4096)).astype(np.float32)); "
                    f"U = np.linalg.qr(g.standard_normal((4096, 256)))[0]; V = np.linalg.qr(g.standard_normal((1024, 256)))[0]; "
                    f"np.save({A!r}, ((U * 0.95 ** np.arange(256)) @ V.T).astype(np.float32))"], check=True)
    cases = {
        "rtn": (f"W = load({json.dumps(W)})\nt0 = clock()\nq = quantize(W, bits: 4, group: 128, scale_bits: \"32\")\nprint(clock() - t0, round(error(W, q), digits: 5))\n",
                f"import time, numpy as np\nW = np.load({W!r})\nt = time.perf_counter()\nG = W.reshape(4096, 32, 128)\n"
                "lo = np.minimum(G.min(2, keepdims=True), 0); hi = np.maximum(G.max(2, keepdims=True), 0)\n"
                "s = (hi - lo) / 15; z = np.round(-lo / s)\nq = np.clip(np.round(G / s) + z, 0, 15)\nR = (s * (q - z)).reshape(4096, 4096)\n"
                "print(time.perf_counter() - t, round(float(np.linalg.norm(W - R) / np.linalg.norm(W)), 5))\n",
                "RTN 4-bit group 128, 4096×4096 (target ≥ 5× numpy)", 5),
        "prune": (f"W = load({json.dumps(W)})\nt0 = clock()\np = prune(W, pattern: \"2:4\")\nprint(clock() - t0, round(error(W, p), digits: 5))\n",
                  f"import time, numpy as np\nW = np.load({W!r})\nt = time.perf_counter()\nG = W.reshape(-1, 4)\n"
                  "idx = np.argsort(np.abs(G), axis=1, kind='stable')[:, :2]\nM = np.ones_like(G, dtype=bool)\nnp.put_along_axis(M, idx, False, axis=1)\n"
                  "R = np.where(M, G, 0).reshape(W.shape)\nprint(time.perf_counter() - t, round(float(np.linalg.norm(W - R) / np.linalg.norm(W)), 5))\n",
                  "2:4 magnitude pruning, 4096×4096 (target ≥ 5× numpy)", 5),
        "rsvd": (f"A = load({json.dumps(A)})\nt0 = clock()\nc = rsvd(A, rank: 64, seed: 0)\nprint(clock() - t0, round(error(A, c), digits: 5))\n",
                 f"import time, numpy as np\nfrom sklearn.utils.extmath import randomized_svd\nA = np.load({A!r})\nt = time.perf_counter()\n"
                 "U, S, Vt = randomized_svd(A, 64, n_oversamples=10, n_iter=4, random_state=0)\n"
                 "print(time.perf_counter() - t, round(float(np.linalg.norm(A - (U * S) @ Vt) / np.linalg.norm(A)), 5))\n",
                 "randomized SVD rank 64 of 4096×1024 (target ≥ 2× sklearn at equal or lower error)", 2),
    }
    for name, (recipe, script, title, goal) in cases.items():
        r = os.path.join(d, f"{name}.recipe"); p = os.path.join(d, f"{name}.py")
        open(r, "w").write(recipe); open(p, "w").write(script)
        ta, tb, qa, qb = pair(lambda: inner([SQUEEZE, "run", r, "--no-history"]), lambda: inner([PY, p]))
        peer = "sklearn" if name == "rsvd" else "numpy"
        ratio = report(title, ta, tb, "error " + qa, "error " + qb, peer=peer)
        ea, eb = last_number(qa), last_number(qb)
        ok = ratio >= goal and (name != "rsvd" or ea <= eb * (1 + 1e-3))
        target(title.split(" (")[0] + f" vs {peer}", f"≥ {goal}×" + (" at equal or lower error" if name == "rsvd" else ""), f"{ratio:.2f}×", ok, "issue 8")

def minilm():
    """embed() of 256 sentences with all-MiniLM-L6-v2 against Hugging Face's tokenizers plus a numpy
    float32 implementation of the same forward pass (one padded batch with an attention mask,
    numpy's BLAS for the products); both time tokenization and the forward pass inside their
    programs. The cosine of the first two embeddings is the quality check."""
    d = tempfile.mkdtemp()
    listing = os.path.join(d, "list.recipe")
    open(listing, "w").write("s = sentences(\"all\")\nfor x in s + s[0:16] { print(x) }\n")
    text = subprocess.run([SQUEEZE, "run", listing, "--no-history"], check=True, capture_output=True, text=True).stdout
    sentences = os.path.join(d, "sentences.txt"); open(sentences, "w").write(text)
    r = os.path.join(d, "m.recipe")
    open(r, "w").write("m = load(\"minilm\")\ns = sentences(\"all\")\ns = s + s[0:16]\nt0 = clock()\nE = embed(m, s)\n"
                       "print(clock() - t0, round(sum(E[0] * E[1]), digits: 5))\n"
                       "n = 0\nfor x in s { n = n + len(tokenize(m, x).pieces) }\nprint(n)\n")
    tokens = int(subprocess.run([SQUEEZE, "run", r, "--no-history"], check=True, capture_output=True, text=True).stdout.split()[-1])
    r2 = os.path.join(d, "m2.recipe")
    open(r2, "w").write(open(r).read().rsplit("n = 0", 1)[0])
    ta, tb, qa, qb = pair(lambda: inner([SQUEEZE, "run", r2, "--no-history"]),
                          lambda: inner([PY, os.path.join(ROOT, "Scripts", "benchmarks", "minilm_numpy.py"), sentences]))
    report(f"MiniLM: embed 256 sentences, {tokens} tokens ({tokens / 256:.1f} per sentence; target < 2 s)", ta, tb,
           "cos(e0, e1) " + qa, "cos(e0, e1) " + qb)
    print(f"  tokens per second: squeeze {tokens / statistics.median(ta):,.0f}, numpy {tokens / statistics.median(tb):,.0f}")
    target("MiniLM: embed 256 sentences", "< 2 s", f"{statistics.median(ta):.2f} s", statistics.median(ta) < 2, "issue 10")

def llm():
    """SmolLM2-135M on the same GGUF: perplexity throughput (8 windows of 512 tokens of alice29, every
    prediction scored, two threads) and greedy generation (64 tokens), squeeze against transformers
    (float32, torch on two threads) and llama.cpp (llama-cpp-python: its own Q4_1 kernels with 8-bit
    activations, so its perplexity differs slightly); the FLOP rate of squeeze's prefill against an
    sgemm of 2048² in the same run; and the peak memory of evaluating the whole evaluation text
    (alice29 + lcet10) once."""
    data = os.environ.get("SQUEEZE_DATA", os.path.expanduser("~/.cache/squeeze"))
    alice = os.path.join(data, "canterbury", "alice29.txt")
    peer = os.path.join(ROOT, "Scripts", "benchmarks", "llm_peer.py")
    try:
        import llama_cpp  # noqa: F401
        engines = ["transformers", "llamacpp"]
    except ImportError:
        engines = ["transformers"]
        print("  (llama-cpp-python is not in the bench venv: Scripts/bench installs it when LLAMA_CPP=1)")
    d = tempfile.mkdtemp()
    tokens, gen = 4096, 64
    prefill = os.path.join(d, "prefill.recipe")
    open(prefill, "w").write(f"m = load(\"smollm2\")\nc = load(\"canterbury\")\n"
                             f"w = perplexity(m, c.texts.lcet10, context: 512, preset: \"all\", limit: 512)\n"
                             f"t0 = clock()\np = perplexity(m, c.texts.alice29, context: 512, preset: \"all\", limit: {tokens})\n"
                             f"print(clock() - t0, round(p.ppl, digits: 4))\n")
    prompt = "The history of data compression begins with"
    generate = os.path.join(d, "generate.recipe")
    open(generate, "w").write(f"m = load(\"smollm2\")\nw = generate(m, {json.dumps(prompt)}, tokens: 4)\nt0 = clock()\n"
                              f"g = generate(m, {json.dumps(prompt)}, tokens: {gen})\nprint(clock() - t0, len(g.ids))\n")
    names = {"transformers": "transformers", "llamacpp": "llama.cpp"}
    gflops = statistics.median([2 * 2048 ** 3 / inner([BENCH, "sgemm", "2048"])[0] / 1e9 for _ in range(3)])
    rates = {}
    for e in engines:
        ta, tb, qa, qb = pair(lambda: inner([SQUEEZE, "run", prefill, "--no-history"]), lambda: inner([PY, peer, e, "prefill", alice, str(tokens)]))
        ratio = report(f"SmolLM2 perplexity, {tokens} tokens in windows of 512 (squeeze vs {names[e]})", ta, tb, "ppl " + qa, "ppl " + qb,
                       peer=names[e][:7], tol=1e-3 if e == "transformers" else 0.05)
        print(f"  tokens per second: squeeze {tokens / statistics.median(ta):,.0f}, {names[e]} {tokens / statistics.median(tb):,.0f}")
        rates["prefill"] = tokens / statistics.median(ta)
        goal = 3 if e == "transformers" else 1
        target(f"prefill vs {names[e]}", f"≥ {goal}×", f"{ratio:.2f}×", ratio >= goal, "issue 20")
    # 2 × parameters per token for the products, plus causal attention (QKᵀ and PV over each window).
    flops = tokens * 2 * 134_515_008 + (tokens // 512) * 30 * 9 * 4 * 64 * (512 * 513 // 2)
    rate = flops / (tokens / rates["prefill"]) / 1e9
    print(f"prefill FLOP rate: {rate:.1f} GFLOPS = {rate / gflops:.0%} of sgemm 2048² ({gflops:.1f} GFLOPS, same run)")
    target("prefill FLOP rate", "≥ 60% of sgemm 2048²", f"{rate / gflops:.0%}", rate / gflops >= 0.6, "issue 20")
    for e in engines:
        def rate_of(cmd):
            t, q = inner(cmd)
            return t / max(1, int(float(q))), q
        ta, tb, qa, qb = pair(lambda: rate_of([SQUEEZE, "run", generate, "--no-history"]), lambda: rate_of([PY, peer, e, "generate", prompt, str(gen)]))
        ratio = report(f"SmolLM2 greedy generation, {gen} tokens, seconds per token (squeeze vs {names[e]})", ta, tb,
                       "tokens " + qa, "tokens " + qb, peer=names[e][:7], tol=1)
        print(f"  tokens per second: squeeze {1 / statistics.median(ta):.1f}, {names[e]} {1 / statistics.median(tb):.1f}")
        if e == "transformers":
            target("generation vs transformers", "≥ 1×", f"{ratio:.2f}×", ratio >= 1, "issue 20")
    whole = os.path.join(d, "whole.recipe")
    open(whole, "w").write("m = load(\"smollm2\")\nc = load(\"canterbury\")\n"
                           "p = perplexity(m, [c.texts.alice29, c.texts.lcet10], context: 512)\nprint(p.windows, round(p.ppl, digits: 4))\n")
    # Peak RSS of the squeeze process alone: measured by a fresh interpreter whose only child it is.
    probe = ("import resource, subprocess, sys\n"
             "out = subprocess.run(sys.argv[1:], check=True, capture_output=True, text=True).stdout.split()\n"
             "print(out[0], out[1], resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")
    t0 = time.perf_counter()
    windows, ppl, kb = subprocess.run([PY, "-c", probe, SQUEEZE, "run", whole, "--no-history"], check=True, capture_output=True,
                                      text=True).stdout.split()
    peak = int(kb) / 1024 / 1024
    print(f"whole evaluation text (alice29 + lcet10, llama.cpp preset): {windows} windows, ppl {ppl}, "
          f"{time.perf_counter() - t0:.0f} s, peak RSS of squeeze {peak:.2f} GB")
    target("peak memory, whole evaluation text", "< 1.5 GB", f"{peak:.2f} GB", peak < 1.5, "issue 20")

def kv_cache():
    """Simulated-mode perplexity of SmolLM2 with a compressed KV cache against the same evaluation
    without one (4 windows of 512 tokens of alice29, each side a fresh process so nothing is reused):
    the quantizers run once per window, so the compressed evaluation should cost at most 1.5×."""
    d = tempfile.mkdtemp()
    def recipe(name, cache):
        path = os.path.join(d, name + ".recipe")
        open(path, "w").write("m = load(\"smollm2\")\nc = load(\"canterbury\")\n"
                              f"P = {cache}\nt0 = clock()\n"
                              f"p = perplexity(m, c.texts.alice29, context: 512, limit: 2048{', cache: P' if cache != 'none' else ''})\n"
                              "print(clock() - t0, round(p.ppl, digits: 3))\n")
        return path
    plain = recipe("plain", "none")
    for name, cache in [("cache.int(bits: 4)", "cache.int(bits: 4)"), ("KVQuant 3-bit", "cache.kvquant(m, bits: 3, calibration: c.texts.plrabn12, tokens: 1024)")]:
        path = recipe(name.split("(")[0].replace(" ", "_").replace(".", "_"), cache)
        ta, tb, qa, qb = pair(lambda: inner([SQUEEZE, "run", path, "--no-history"]), lambda: inner([SQUEEZE, "run", plain, "--no-history"]))
        ratio = report(f"SmolLM2 perplexity with {name} (simulated) against no cache policy, 2048 tokens", ta, tb, "ppl " + qa,
                       "ppl " + qb, peer="plain", tol=10)
        target(f"perplexity with {name} vs without", "≤ 1.5× the time", f"{1 / ratio:.2f}×", 1 / ratio <= 1.5, "issue 23")

def kernel():
    """squeeze's Jupyter kernel against ipykernel, each started from its kernelspec and driven by the
    same raw-ZeroMQ client (Scripts/benchmarks/kernel_client.py, so jupyter_client's threads are not
    what is timed): process start to kernel_info_reply, and the round trip of `1 + 1` (request sent →
    execute_reply and idle status received), median of 500 after a warm-up. squeeze records the
    session in a history, as a user's kernel does."""
    d = tempfile.mkdtemp()
    env = dict(os.environ, JUPYTER_DATA_DIR=os.path.join(d, "jupyter"))
    subprocess.run([SQUEEZE, "kernel", "install", "--name", "squeeze-bench", "--", "--history", os.path.join(d, "h.db")],
                   check=True, capture_output=True, env=env)
    client = os.path.join(ROOT, "Scripts", "benchmarks", "kernel_client.py")
    runs = {}

    def measure(name):
        out = subprocess.run([PY, client, name, "1 + 1", "500"], check=True, capture_output=True, text=True, env=env, timeout=300)
        start, median, p90 = map(float, out.stdout.split())
        runs.setdefault(name, []).append((start / 1000, median / 1000, p90 / 1000))
        return start / 1000, ""

    ta, tb, _, _ = pair(lambda: measure("squeeze-bench"), lambda: measure("python3"))
    report("kernel: process start to kernel_info_reply (target < 200 ms)", ta, tb, "", "", peer="ipykernel")
    target("kernel start to kernel_info_reply", "< 200 ms", f"{statistics.median(ta) * 1000:.1f} ms", statistics.median(ta) < 0.200, "issue 21")
    ra = [r[1] for r in runs["squeeze-bench"][1:]]
    rb = [r[1] for r in runs["python3"][1:]]
    report("kernel: round trip of execute_request `1 + 1`, median of 500 per round (target < 5 ms)", ra, rb, "", "", peer="ipykernel")
    target("execute round trip", "< 5 ms", f"{statistics.median(ra) * 1000:.2f} ms", statistics.median(ra) < 0.005, "issue 21")

def sweep():
    """The local sweep engine's cost per point above the run itself: `squeeze sweep` over 40 points
    of Examples/sweep.recipe, one at a time, against the same 40 `squeeze run` calls made one after
    another by a shell loop (what a researcher writes without it), both into a history. Then the
    time to collect 1,000 runs from a shard into a history (`squeeze sweep collect`)."""
    import shutil, sqlite3
    d = tempfile.mkdtemp()
    recipe = os.path.join(ROOT, "Examples", "sweep.recipe")
    n = 40
    counter = [0]
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")

    def engine():
        counter[0] += 1
        t0 = time.perf_counter()
        subprocess.run([SQUEEZE, "sweep", recipe, "-p", f"rank=range(1,{n + 1})", "--jobs", "1", "--name", f"b{counter[0]}",
                        "--out", os.path.join(d, "sweeps"), "--history", os.path.join(d, "engine.db")],
                       check=True, capture_output=True, env=env)
        return time.perf_counter() - t0, ""

    def loop():
        counter[0] += 1
        out = os.path.join(d, "loop", str(counter[0]))
        script = f'for r in $(seq 1 {n}); do "{SQUEEZE}" run "{recipe}" -p rank=$r --seed 0 --out "{out}/$r" --history "{d}/loop.db" --quiet >/dev/null || exit 1; done'
        t0 = time.perf_counter()
        subprocess.run(["bash", "-c", script], check=True, env=env)
        return time.perf_counter() - t0, ""

    ta, tb, _, _ = pair(engine, loop)
    report(f"sweep: {n} points of Examples/sweep.recipe, one at a time (whole sweep)", ta, tb, "", "", peer="shell loop", invert=True)
    per = (statistics.median(ta) - statistics.median(tb)) / n
    print(f"  launch overhead per point above `squeeze run` in a shell loop: {per * 1000:+.1f} ms")
    target("sweep launch overhead per point", "< 30 ms", f"{per * 1000:+.1f} ms", per < 0.030, "issue 26")

    # 1,000 runs in one shard, collected into a history that holds the sweep but none of its runs.
    big = os.path.join(d, "big")
    os.makedirs(big)
    subprocess.run([SQUEEZE, "sweep", recipe, "-p", "rank=range(1,11)", "-p", "noise=range(100)", "--name", "big",
                    "--out", os.path.join(big, "sweeps"), "--history", os.path.join(big, "all.db")],
                   check=True, capture_output=True, env=dict(os.environ, OPENBLAS_NUM_THREADS="1"))
    shards = os.path.join(big, "sweeps", "big", "shards")
    os.makedirs(shards)
    con = sqlite3.connect(os.path.join(big, "all.db"))
    con.execute(f"VACUUM INTO '{os.path.join(shards, '0.db')}'")
    con.close()
    empty = os.path.join(big, "empty.db")
    shutil.copyfile(os.path.join(shards, "0.db"), empty)
    con = sqlite3.connect(empty)
    for table in ("params", "statements", "metrics", "notes", "artifacts", "cells", "runs"):
        con.execute(f"DELETE FROM {table}")
    con.commit()
    con.close()
    times = []
    for k in range(ROUNDS + 1):
        main = os.path.join(big, f"main{k}.db")
        shutil.copyfile(empty, main)
        t0 = time.perf_counter()
        r = subprocess.run([SQUEEZE, "sweep", "collect", "big", "--history", main], check=True, capture_output=True, text=True)
        if k:
            times.append(time.perf_counter() - t0)
        assert "1000 runs added" in r.stdout, r.stdout
    print("sweep collect: 1,000 runs (with their statements, metrics, parameters and artifact records) from a shard")
    print(f"  median {statistics.median(times) * 1000:.0f} ms (min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f})")
    shutil.rmtree(d, ignore_errors=True)

def toolbox():
    """GPTQ (4 bits, groups of 128) and SparseGPT (50%) on SmolLM2's largest layers — ffn_down
    (576×1536) and ffn_up (1536×576) of block 5, with their real inputs on about 5,000 tokens of
    macbeth — against the reference algorithms in PyTorch on two threads (toolbox_peer.py; both
    sides time the Hessian and the algorithm, and print the relative output error); then EvoPress's
    time per generation on a per-block database, reported alone."""
    data = os.environ.get("SQUEEZE_DATA", os.path.expanduser("~/.cache/squeeze"))
    text = open(os.path.join(data, "shakespeare", "macbeth.txt"), encoding="utf-8", errors="replace").read()
    chunks = [text[20000 + i * 2000:20000 + (i + 1) * 2000] for i in range(8)]
    d = tempfile.mkdtemp()
    peer = os.path.join(ROOT, "Scripts", "benchmarks", "toolbox_peer.py")
    for layer in ["blk.5.ffn_down", "blk.5.ffn_up"]:
        W, X = os.path.join(d, f"{layer}.W.npy"), os.path.join(d, f"{layer}.X.npy")
        prep = os.path.join(d, f"{layer}.prep.recipe")
        open(prep, "w").write(f"m = load(\"smollm2\")\nX = activations(m, {json.dumps(chunks)}, layer: {json.dumps(layer)})\n"
                              f"save(X, {json.dumps(X)})\nsave(m[{json.dumps(layer + '.weight')}], {json.dumps(W)})\nprint(shape(X))\n")
        shape = subprocess.run([SQUEEZE, "run", prep, "--no-history", "--out", d], check=True, capture_output=True, text=True).stdout.strip()
        for method, call, goal in [("gptq", "quantize(W, bits: 4, group: 128, method: \"gptq\", X: X)", "GPTQ 4-bit g128"),
                                   ("sparsegpt", "prune(W, sparsity: 0.5, method: \"sparsegpt\", X: X)", "SparseGPT 50%")]:
            r = os.path.join(d, f"{layer}.{method}.recipe")
            open(r, "w").write(f"W = load({json.dumps(W)})\nX = load({json.dumps(X)})\nt0 = clock()\nq = {call}\nt = clock() - t0\n"
                               f"Y = X @ transpose(W)\nprint(t, round(norm(Y - X @ transpose(q.recon)) / norm(Y), digits: 4))\n")
            ta, tb, qa, qb = pair(lambda: inner([SQUEEZE, "run", r, "--no-history"]), lambda: inner([PY, peer, method, W, X, "2"]))
            title = f"{goal} of {layer} {shape.replace(' ', '')} inputs, Hessian included (target ≥ 1× the reference PyTorch, 2 threads)"
            ratio = report(title, ta, tb, "output error " + qa, "output error " + qb, peer="PyTorch", tol=2e-2)
            target(f"{goal} of {layer} vs PyTorch reference", "≥ 1×", f"{ratio:.2f}×", ratio >= 1, "issue 22")
    evo = os.path.join(d, "evopress.recipe")
    open(evo, "w").write("m = load(\"smollm2\")\nc = load(\"canterbury\")\n"
                         "db = levels(m, fn(W, name, b) { return quantize(W, bits: b, group: 64) }, choices: [2, 3, 4, 8], per: \"block\")\n"
                         "t0 = clock()\ne = evopress(db, uniform: 3, text: c.texts.alice29, generations: 3, offspring: 8, survivors: [2], "
                         "stage_tokens: [128, 512], seed: 1)\nprint((clock() - t0) / 3, round(e.fitness[2], digits: 4))\n")
    t, q = inner([SQUEEZE, "run", evo, "--no-history"])
    print("EvoPress on SmolLM2, 30 blocks × levels {2, 3, 4, 8} (RTN g64) at uniform-3 storage: 8 offspring on 128 tokens, "
          "2 survivors and the parent on 512, context 128")
    print(f"  {t:.2f} s per generation (fitness after 3 generations {q})")

def training():
    """One training step (forward, backward through the tape, AdamW) of the 784-256-10 MLP at batch 256
    and of Examples/training.recipe's CNN at batch 64, against the same in PyTorch on two threads
    (training_peer.py); both sides report the median seconds per step after five warm-up steps. Then
    the tape's own cost: a chain of 2,000 scalar multiplications differentiated, less the same chain
    run plainly, per recorded operation."""
    d = tempfile.mkdtemp()
    peer = os.path.join(ROOT, "Scripts", "benchmarks", "training_peer.py")
    nets = {
        "mlp": ("X = rand(256, 784, seed: 1)\ny = randint(0, 10, [256], seed: 2)\np = mlp_init([784, 256, 10], seed: 3)\n"
                "loss = fn(p, X, y) { return cross_entropy(mlp(p, X), y) }\n",
                "MLP 784-256-10, batch 256"),
        "cnn": ("X = rand(64, 1, 28, 28, seed: 1)\ny = randint(0, 10, [64], seed: 2)\n"
                "p = {c1: rand(16, 1, 3, 3, low: -0.3, high: 0.3, seed: 3), b1: zeros(16), c2: rand(32, 16, 3, 3, low: -0.08, high: 0.08, seed: 4),\n"
                "     b2: zeros(32), W: rand(800, 10, low: -0.035, high: 0.035, seed: 5), b: zeros(10)}\n"
                "fn net(p, X) {\n  h = max_pool(relu(conv2d(X, p.c1, p.b1)), size: 2)\n  h = max_pool(relu(conv2d(h, p.c2, p.b2)), size: 2)\n"
                "  return reshape(h, [shape(h)[0], 800]) @ p.W + p.b\n}\nloss = fn(p, X, y) { return cross_entropy(net(p, X), y) }\n",
                "CNN conv3×3(16)-pool-conv3×3(32)-pool-fc, batch 64"),
    }
    for kind, (setup, title) in nets.items():
        r = os.path.join(d, f"{kind}.recipe")
        open(r, "w").write(setup + "vg = value_and_grad(loss)\nopt = adam(lr: 0.001, weight_decay: 0.01)\ns = opt.init(p)\ntimes = []\n"
                           "for k in range(25) {\n  t0 = clock()\n  v = vg(p, X, y)\n  u = opt.step(p, v.grad, s)\n  p = u.params\n  s = u.state\n"
                           "  if k >= 5 { times = append(times, clock() - t0) }\n}\nst = sort(tensor(times))\n"
                           "print((st[9] + st[10]) / 2, \"loss\", round(v.value, digits: 4))\n")
        ta, tb, qa, qb = pair(lambda: inner([SQUEEZE, "run", r, "--no-history"]), lambda: inner([PY, peer, kind, "20"]))
        ratio = report(f"training step of the {title} (target ≥ 1× PyTorch, 2 threads)", ta, tb, qa, qb, peer="PyTorch", tol=1e9)
        target(f"training step, {title}, vs PyTorch", "≥ 1×", f"{ratio:.2f}×", ratio >= 1, "issue 24")
    tape = os.path.join(d, "tape.recipe")
    open(tape, "w").write("fn chain(x) {\n  for i in range(2000) { x = x * 1.0001 }\n  return sum(x)\n}\nx = ones(1)\n"
                          "t0 = clock()\nfor r in range(5) { g = grad(chain)(x) }\ntg = (clock() - t0) / 5\n"
                          "t0 = clock()\nfor r in range(5) { v = chain(x) }\ntp = (clock() - t0) / 5\nprint((tg - tp) / 2000 * 1e6)\n")
    t, _ = inner([SQUEEZE, "run", tape, "--no-history"])
    print(f"tape overhead: {t:.2f} µs per recorded operation (record, backward closure and gradient accumulation; "
          f"2,000 scalar multiplications differentiated, less the same run plainly)")

def gradient_compression():
    """Each gradient compressor with error feedback on a 4M-element gradient (2048 × 2048, N(0, 1)), against the
    numpy implementation of the same method (gradcomp_peer.py): median seconds per call over 10 calls after two
    warm-ups; both print the message's bits, which must agree (each side draws the gradient with its own generator, so
    the data-dependent counts of threshold and DGC agree to 5%, the others exactly). Then the
    simulated 4-worker training step's cost over a plain step (squeeze only)."""
    d = tempfile.mkdtemp()
    peer = os.path.join(ROOT, "Scripts", "benchmarks", "gradcomp_peer.py")
    settings = {"topk": "ratio: 0.01", "randk": "ratio: 0.01", "threshold": "threshold: 2.5", "sign": "",
                "qsgd": "levels: 4, bucket: 512", "powersgd": "rank: 2", "dgc": "ratio: 0.001"}
    for method, extra in settings.items():
        r = os.path.join(d, f"{method}.recipe")
        args = f"method: \"{method}\"" + (f", {extra}" if extra else "")
        open(r, "w").write(f"g = randn(2048, 2048, seed: 1)\ns = none\ntimes = []\nfor k in range(12) {{\n  t0 = clock()\n"
                           f"  c = compress_grad(g, {args}, state: s, seed: 1)\n  s = c.state\n"
                           f"  if k >= 2 {{ times = append(times, clock() - t0) }}\n}}\nst = sort(tensor(times))\n"
                           f"print((st[4] + st[5]) / 2, c.message.bits)\n")
        ta, tb, qa, qb = pair(lambda: inner([SQUEEZE, "run", r, "--no-history"]), lambda: inner([PY, peer, method, "10"]))
        report(f"compress_grad {method} ({extra or 'one scale'}) with error feedback, 4M-element gradient", ta, tb, qa, qb,
               tol=0.05 if method in ("dgc", "threshold") else 0)
    step = os.path.join(d, "steps.recipe")
    open(step, "w").write(
        "train_set = load(\"fashion-mnist\", split: \"train\")\ndata = {X: train_set.X[0:12800] / 255, y: train_set.labels[0:12800]}\n"
        "loss = fn(p, X, y) { return cross_entropy(mlp(p, X), y) }\np0 = mlp_init([784, 256, 10], seed: 1)\n"
        "fn timed(w, c) {\n  t0 = clock()\n  r = train(p0, loss, data, optimizer: sgd(lr: 0.1, momentum: 0.9), epochs: 1, batch: 128, seed: 2, workers: w, compressor: c)\n"
        "  return (clock() - t0) / 100\n}\nplain = timed(1, none)\ndense = timed(4, none)\ntopk = timed(4, {method: \"topk\", ratio: 0.01})\n"
        "psgd = timed(4, {method: \"powersgd\", rank: 2})\nprint(plain, dense / plain, topk / plain, psgd / plain)\n")
    out = subprocess.run([SQUEEZE, "run", step, "--no-history"], check=True, capture_output=True, text=True).stdout.split()[-4:]
    plain, dense, topk, psgd = map(float, out)
    print(f"simulated 4-worker step (MLP 784-256-10, batch 128) over a plain step: dense ×{dense:.2f}, top-1% + EF ×{topk:.2f}, "
          f"PowerSGD r2 + EF ×{psgd:.2f} (plain step {plain * 1000:.1f} ms)")

ALL = {"sgemm": sgemm, "svd": svd, "startup": startup, "loop": loop, "core": core_share, "repl": repl, "history": history, "scatter": scatter, "fashion": fashion, "kmeans": kmeans, "assign": assign, "coding_rate": coding_rate, "compression": compression, "minilm": minilm, "llm": llm, "kernel": kernel, "sweep": sweep, "toolbox": toolbox, "training": training, "gradient_compression": gradient_compression, "kv_cache": kv_cache}
class Tee:
    """Prints as usual and keeps a copy for the results files."""
    def __init__(self, out): self.out, self.buf = out, []
    def write(self, s): self.out.write(s); self.buf.append(s)
    def flush(self): self.out.flush()

def machine():
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    blas = subprocess.run([SQUEEZE, "--version"], capture_output=True, text=True).stdout.strip().splitlines()
    try:
        import numpy, threadpoolctl
        info = [f"numpy {numpy.__version__}"] + [f"{d['internal_api']} {d['version']} {d.get('architecture', '')} threads {d['num_threads']}"
                                                  for d in threadpoolctl.threadpool_info()]
    except Exception:
        info = []
    # Both sides inherit this environment, so OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, when set, apply to both.
    env = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS") if k in os.environ}
    return {"cpu": cpu, "cores": os.cpu_count(), "squeeze": blas, "peer": info, "env": env,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}

names = sys.argv[1:] or list(ALL)
for nm in names:
    if nm not in ALL:
        raise SystemExit(f"unknown benchmark {nm}; choose from {', '.join(ALL)}")
results = {}
for nm in names:
    tee = Tee(sys.stdout)
    TARGETS.clear()
    old, sys.stdout = sys.stdout, tee
    try:
        ALL[nm]()
    except Exception as e:   # one failing benchmark is reported, the others still run
        print(f"{nm}: FAILED: {e}")
    finally:
        sys.stdout = old
    results[nm] = ("".join(tee.buf).rstrip("\n"), list(TARGETS))
    print()

# bench/results.json keeps every benchmark's latest output; BENCHMARKS.md is regenerated from it.
import json
os.makedirs(os.path.join(ROOT, "bench"), exist_ok=True)
path = os.path.join(ROOT, "bench", "results.json")
stored = json.load(open(path)) if os.path.exists(path) else {"benchmarks": {}}
m = machine()
for nm, (text, targets) in results.items():
    stored["benchmarks"][nm] = {"output": text, "date": m["date"], "targets": targets}
stored["machine"] = m
json.dump(stored, open(path, "w"), indent=1, ensure_ascii=False)
md = ["# Benchmarks", "", "Generated by `Scripts/bench` from `bench/results.json`; do not edit by hand. Each row is squeeze",
      "and its peer measured alternately in the same run (warm-up, then five rounds A B A B), medians shown.", "",
      f"Machine: {m['cpu']}, {m['cores']} cores. squeeze: {'; '.join(m['squeeze'][2:])}. Peer: {'; '.join(m['peer'])}. "
      f"BLAS environment (shared by both sides): {m['env'] or 'none set'}.", ""]
rows = [(nm, t) for nm in ALL if nm in stored["benchmarks"] for t in stored["benchmarks"][nm].get("targets", [])]
if rows:
    met = sum(t["met"] for _, t in rows)
    md += ["## Targets", "", f"{met} of {len(rows)} targets met in the latest run of each benchmark (the issue that set each one is named).", "",
           "| benchmark | what | target | measured | |", "|---|---|---|---|---|"]
    md += [f"| {nm} | {t['what']} | {t['goal']} | {t['measured']} | {'met' if t['met'] else '**not met**'} ({t['source']}) |" for nm, t in rows]
    md += [""]
for nm in ALL:
    if nm in stored["benchmarks"]:
        b = stored["benchmarks"][nm]
        md += [f"## {nm} ({b['date']})", "", "```", b["output"], "```", ""]
open(os.path.join(ROOT, "BENCHMARKS.md"), "w").write("\n".join(md))
