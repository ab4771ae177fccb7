"""Hostile recipes: writes that try to leave the output directory, reads of the history, memory
bombs and inputs that used to trap. Each case runs the real binary; it passes when the run ends
with a diagnostic (never a signal or a Swift trap), the diagnostic says what the case expects, and
nothing outside the output directory changed (the workspace is hashed before and after)."""

import os
import stat

from common import Case, hash_tree, run, write

# The workspace: recipe/ (the recipes), out/ (--out), outside/ (must never change), .squeeze/ (a
# live history the recipes must not read or write). Returns paths by name.


def workspace(root):
    paths = {k: os.path.join(root, k) for k in ("recipe", "out", "outside", ".squeeze")}
    for p in paths.values():
        os.makedirs(p, exist_ok=True)
    write(os.path.join(paths["outside"], "victim.npy"), b"precious bytes")
    write(os.path.join(paths["outside"], "notes.txt"), b"do not touch\n")
    paths["history"] = os.path.join(paths[".squeeze"], "history.db")
    return paths


def cases(ws):
    out, outside, hist = ws["out"], ws["outside"], ws["history"]
    escape = "refused|not allowed"
    c = []

    def add(name, text, expect, setup=None, args=(), budget=None):
        c.append(Case(name, text, expect, setup, list(args), budget))

    # Writes leaving the output directory.
    add("dotdot", 'save(eye(2), "../escape.npy")', "may not contain '..'")
    add("dotdot-nested", 'save(eye(2), "a/b/../../../escape.npy")', "may not contain '..'")
    add("absolute-outside", f'save(eye(2), "{outside}/abs.npy")', "not allowed")
    add("absolute-slashes", f'save(eye(2), "{outside}/.//./abs2.npy")', "not allowed")
    add("absolute-root", 'save(eye(2), "/escape.npy")', "not allowed")
    add("etc", 'save(eye(2), "/etc/squeeze-escape.csv")', "not allowed")
    add("plot-dotdot", 'plot.line([1, 2, 3], to: "../p.png")', "may not contain '..'")
    add("plot-absolute", f'plot.scatter(randn(5, 2), to: "{outside}/p.png")', "not allowed")
    add("param-path", 'param path = "x.npy"\nsave(eye(2), path)', "may not contain '..'", args=["-p", "path=../p.npy"])

    def link_dir():
        os.symlink(outside, os.path.join(out, "linkdir"))
    add("symlink-dir", 'save(eye(2), "linkdir/x.npy")', "not allowed", setup=link_dir)

    def link_file():
        os.symlink(os.path.join(outside, "victim.npy"), os.path.join(out, "victim.npy"))
    add("symlink-file-overwrite", 'save(eye(2), "victim.npy")', "not allowed", setup=link_file)

    def dangling():
        os.symlink(os.path.join(outside, "new.npy"), os.path.join(out, "dangling.npy"))
    add("symlink-dangling", 'save(eye(2), "dangling.npy")', "not allowed", setup=dangling)

    def relative_link():
        os.symlink("../outside", os.path.join(out, "rel"))
    add("symlink-relative", 'save(eye(3), "rel/y.csv")', "not allowed", setup=relative_link)

    def chain():
        os.symlink(os.path.join(out, "hop2"), os.path.join(out, "hop1"))
        os.symlink(outside, os.path.join(out, "hop2"))
    add("symlink-chain", 'save(eye(2), "hop1/z.npy")', "not allowed", setup=chain)

    def loop():
        os.symlink(os.path.join(out, "loopb"), os.path.join(out, "loopa"))
        os.symlink(os.path.join(out, "loopa"), os.path.join(out, "loopb"))
    add("symlink-loop", 'save(eye(2), "loopa/z.npy")', escape + "|cannot", setup=loop)

    def link_plot():
        os.symlink(os.path.join(outside, "notes.txt"), os.path.join(out, "plot.png"))
    add("symlink-plot", 'plot.line([1, 2], to: "plot.png")', "not allowed", setup=link_plot)

    # The history is off limits.
    add("write-history-dir", 'save(eye(2), ".squeeze/x.npy")', ".squeeze", args=["--out", os.path.dirname(hist)])
    add("write-history-db", 'save(eye(2), "history.db")', ".squeeze", args=["--out", os.path.dirname(hist)])
    add("write-history-abs", f'save({{a: eye(2)}}, "{hist}")', escape)
    add("read-history", f'x = load("{hist}")', "history")
    add("read-history-wal", f'x = load("{hist}-wal")', "history")

    def link_history():
        os.symlink(hist, os.path.join(ws["recipe"], "data.npy"))
    add("read-history-symlink", 'x = load("data.npy")', "history", setup=link_history)

    def link_history_csv():
        os.symlink(os.path.dirname(hist), os.path.join(ws["recipe"], "h"))
    add("read-history-dir-symlink", 'x = load("h/history.db.csv")', "history|cannot read", setup=link_history_csv)

    # Reads that would never end or are not files.
    def dev_zero():
        os.symlink("/dev/zero", os.path.join(ws["recipe"], "zero.npy"))
    add("read-dev-zero", 'x = load("zero.npy")', "not a regular file", setup=dev_zero)

    def fifo():
        os.mkfifo(os.path.join(ws["recipe"], "pipe.csv"))
    add("read-fifo", 'x = load("pipe.csv")', "not a regular file", setup=fifo)
    add("read-directory", f'x = load("{outside}")', "not a regular file|unknown file type")
    add("read-proc", 'x = load("/proc/self/environ.csv")', "cannot read|not a regular file")

    # Memory bombs: each must fail at once against the budget, before allocating.
    budget = "256M"
    bombs = [
        ("randn", "x = randn(1000000, 1000000)"),
        ("zeros", "x = zeros(100000, 100000)"),
        ("ones-4d", "x = ones(1000, 1000, 1000, 1000)"),
        ("full", "x = full([300000, 300000], 1)"),
        ("rand", "x = rand(200000, 200000)"),
        ("randint", "x = randint(0, 9, [100000, 100000])"),
        ("eye", "x = eye(1000000)"),
        ("linspace", "x = linspace(0, 1, 1000000000)"),
        ("arange", "x = arange(0, 1e12)"),
        ("permutation", "x = permutation(1000000000)"),
        ("choice", "x = choice(1000000000000, 10)"),
        ("range-list", "x = list(range(10000000000))"),
        ("matmul", "a = ones(100000, 1)\nb = ones(1, 100000)\nc = a @ b"),
        ("broadcast", "a = ones(100000, 1)\nb = ones(1, 100000)\nc = a + b"),
        ("outer-gram", "a = ones(100000, 2)\ng = gram(a, outer: true)"),
        ("diag", "d = diag(ones(100000))"),
        ("concat", "a = ones(6000, 6000)\nb = concat([a, a], axis: 0)"),
        ("stack", "a = ones(6000, 6000)\nb = stack([a, a])"),
        ("codebook", "X = randn(1000000, 8)\nc = codebook(X, size: 1000000)"),
        ("kmeans", "X = randn(100, 8)\nr = kmeans(X, k: 1000000000)"),
        ("spectral", "X = randn(200000, 2)\nr = cluster(X, k: 2, method: \"spectral\")"),
        ("subspace", "X = randn(200000, 2)\nr = cluster(X, k: 2, method: \"subspace\")"),
        ("rsvd", "W = randn(1000, 1000)\nr = rsvd(W, rank: 100000000)"),
        ("mcr2", "X = randn(100, 4)\nr = mcr2(X, tensor([0, 1] * 50), dim: 100000000)"),
        ("crate", "Z = randn(16, 8)\nr = crate(Z, heads: 100000000, dim_head: 100)"),
        ("hist-bins", "plot.hist(randn(10), bins: 10000000000)"),
        ("plot-size", "plot.line([1, 2], size: [1000000, 1000000])"),
        ("tile-reshape", "x = reshape(ones(4), [2, -1, 1000000000])"),
        ("bitstack", "W = randn(64, 64)\nb = bitstack(W, blocks: 100000000, rank: 1)"),
        ("mixture", "x = mixture(n: 100000000000, k: 3, dim: 2)"),
        ("manifolds", "x = manifolds(kind: \"circles\", n: 100000000000)"),
        ("subspaces", "x = subspaces(n: 100000000000, ambient: 10, dim: 2, count: 3)"),
        ("list-of-rows", "x = list(zeros(100000000, 0))"),
        ("gguf-like-load", "x = sentences(limit: 1000000000)"),
    ]
    for name, text in bombs:
        add("bomb-" + name, text, "memory budget|at most|too large|must be|cannot|exceeds|limit", budget=budget)

    # Numbers that used to be unchecked conversions.
    add("zeros-nan", "x = zeros(number(\"nan\"))", "must|finite|integer|NaN")
    add("zeros-inf", "x = zeros(1e400)", "must|finite|integer|memory")
    add("zeros-negative", "x = zeros(-5)", "must|negative|≥")
    add("range-huge-step", "x = len(range(0, 1e300, 1e-300))", "must|integer|too|memory")
    add("index-huge", "x = ones(3)\ny = x[1e20]", "out of range|index")
    add("index-nan", "x = ones(3)\ny = x[number(\"nan\")]", "index|integer|NaN")
    add("seed-nan", "seed(number(\"nan\"))", "seed|integer|NaN|finite")
    add("deep-recursion", "fn f(n) { return f(n + 1) }\nf(0)", "recursion|deep|depth")
    add("deep-nesting", "x = " + "(" * 100000 + "1" + ")" * 100000, "nest|deep|depth")
    add("deep-list", "x = " + "[" * 100000 + "]" * 100000, "nest|deep|depth")
    add("long-path", 'save(eye(2), "' + "a" * 5000 + '.npy")', "cannot|name|long")
    add("nul-byte", 'save(eye(2), "a\x00b.npy")', "NUL|control|invalid|character")
    add("empty-path", 'save(eye(2), "")', "empty")
    add("dir-path", 'save(eye(2), ".")', "not allowed|directory")
    add("dir-path-sub", 'save(eye(2), "sub/")', "directory|file type|unknown|cannot")
    return c + nan_cases()


def run_suite(binary, root, verbose=False):
    ws = workspace(root)
    # A live history with one run in it (the reads and writes above must not touch it).
    write(os.path.join(ws["recipe"], "ok.recipe"), b"log(a: 1)\n")
    r = run(binary, ["run", os.path.join(ws["recipe"], "ok.recipe"), "--out", ws["out"], "--history", ws["history"]])
    assert r.returncode == 0, r.stderr
    tried = refused = crashes = 0
    changed_bytes = 0
    failures = []
    for i, case in enumerate(cases(ws)):
        tried += 1
        if case.setup:
            case.setup()
        path = os.path.join(ws["recipe"], f"case{i:03d}.recipe")
        write(path, (case.text + "\n").encode())
        before = hash_tree(root, skip=(ws["out"], ws["history"]))
        args = ["run", path, "--out", ws["out"], "--history", ws["history"], "--seed", "1"] + case.args
        if "--out" in case.args:
            args = ["run", path, "--history", ws["history"], "--seed", "1"] + case.args
        env = {}
        if case.budget:
            env["SQUEEZE_MAX_MEMORY"] = case.budget
        r = run(binary, args, env=env, timeout=60, limit_gb=6)
        after = hash_tree(root, skip=(ws["out"], ws["history"]))
        diff = changed(before, after, ignore=(path,))
        changed_bytes += sum(diff.values())
        verdict = case.judge(r)
        if verdict == "crash":
            crashes += 1
        if verdict == "refused" and not diff:
            refused += 1
        else:
            failures.append(f"{case.name}: {verdict}; exit {r.returncode}; changed {sorted(diff)}\n    {r.stderr.strip()[-600:]}")
        if verbose:
            print(f"  {case.name:28s} {verdict:10s} {r.stderr.strip().splitlines()[0][:110] if r.stderr.strip() else ''}")
    return {"suite": "hostile recipes", "tried": tried, "passed": refused, "crashes": crashes,
            "bytes_lost": changed_bytes, "failures": failures}


def changed(before, after, ignore=()):
    out = {}
    for k in set(before) | set(after):
        if k in ignore:
            continue
        if before.get(k) != after.get(k):
            size = (before.get(k) or (0, ""))[0]
            out[k] = max(size, 1)
    return out


# Numerics policy: NaN or ±∞ in the input of an operation that would silently poison its result
# must fail with a diagnostic naming the operation and the count of bad values; operations that
# handle them (elementwise arithmetic, reductions propagating NaN, sorting NaN last, plots that
# skip NaN points with a warning, metrics such as error() that return NaN, products such as gram)
# are documented to do so and are not listed here.
NAN_SETUP = 'X = randn(40, 8, seed: 1)\nX = where(X > 2.2, number("nan"), X)\nI = where(X > 2.0, number("inf"), X)\n'
NAN_OPS = [
    ("svd", "svd(X)"), ("svd-rank", "svd(X, rank: 2)"), ("eigh", "eigh(gram(X))"), ("qr", "qr(X)"),
    ("chol", "chol(gram(X))"), ("solve", "solve(gram(X), ones(8))"), ("inv", "inv(gram(X))"),
    ("logdet", "logdet(gram(X))"), ("slogdet", "slogdet(gram(X))"), ("norm-nuc", 'norm(X, "nuc")'),
    ("norm-2", "norm(X, 2)"), ("pca", "pca(X, 2)"), 
    ("lowrank", "lowrank(X, rank: 2)"), ("rsvd", "rsvd(X, rank: 2)"),
    ("eora", "eora(X, X, X, rank: 2)"), ("bitstack", "bitstack(X, blocks: 2)"),
    ("gear", "gear(X, bits: 4, rank: 2)"), ("kvquant", "kvquant(X, bits: 4)"), ("tt", "tt(X, shape: [40, 8], ranks: [4])"),
    ("quantize", "quantize(X, bits: 4, group: 8)"), ("quantize-inf", "quantize(I, bits: 4, group: 8)"),
    ("quantize-mse", 'quantize(X, bits: 4, group: 8, clip: "mse")'), ("nf4", 'quantize(X, method: "nf4", group: 8)'),
    ("gptq", 'quantize(X, bits: 4, group: 8, method: "gptq", X: randn(64, 8))'),
    ("gptq-calibration", 'quantize(randn(40, 8), bits: 4, group: 8, method: "gptq", X: X)'),
    ("kmeans-levels", 'quantize(X, bits: 3, method: "kmeans")'), ("vq", 'quantize(X, method: "vq", dim: 2, codes: 4)'),
    ("pq", 'quantize(X, method: "pq", dim: 2, codes: 4)'), ("rvq", 'quantize(X, method: "rvq", stages: 2, codes: 4)'),
    ("prune", "prune(X, sparsity: 0.5)"), ("prune-2:4", 'prune(X, pattern: "2:4")'),
    ("wanda", 'prune(randn(40, 8), sparsity: 0.5, method: "wanda", X: X)'),
    ("kmeans", "kmeans(X, k: 3)"), ("assign", "assign(X, randn(3, 8))"), ("assign-codes", "assign(randn(5, 8), X)"),
    ("spectral", 'cluster(X, k: 2, method: "spectral")'), ("subspace", 'cluster(X, k: 2, method: "subspace")'),
    ("mlc", 'cluster(X, k: 2, method: "mlc")'), ("coding-rate", "coding_rate(X)"),
    ("rate-reduction", "rate_reduction(X, tensor([0, 1] * 20))"), ("mcr2", "mcr2(X, tensor([0, 1] * 20), dim: 4, epochs: 2)"),
    ("codebook", "codebook(X, size: 4, epochs: 1)"), ("crate", "crate(X, heads: 2, dim_head: 2, layers: 1)"),
    ("entropy", "entropy(round(X))"), ("encode", "encode(round(X))"), ("spectral-affinity", 'cluster(randn(40, 2), k: 2, method: "spectral", affinity: abs(gram(transpose(X))))'),
]


def nan_cases():
    return [Case("nan-" + name, NAN_SETUP + f"r = {call}", r"(\d+ NaN|NaN or infinite|non-finite|not finite|got nan)")
            for name, call in NAN_OPS]
