"""Training leaves no memory behind (issue 24): in a REPL session, 200 training steps, then 1,000 more;
the resident set at the prompt (the REPL trims freed memory after each input) must not grow by more
than 10% (the soak's criterion) plus 16 MiB of allocator slack. A tape kept alive by a step, or its
backward closures, would hold every step's activations: tens of MiB per hundred steps here."""

import os
import time

from interrupts import Session
from soak import rss_kib

SETUP = [
    "data = {X: randn(2048, 256, seed: 1), y: randint(0, 10, [2048], seed: 2)}",
    "loss = fn(p, X, y) { return cross_entropy(mlp(p, X), y) }",
    "r = train(mlp_init([256, 256, 10], seed: 3), loss, data, optimizer: adam(lr: 0.001), epochs: 4, batch: 64, seed: 1)",
]
MORE = "r = train(r.params, loss, data, optimizer: adam(lr: 0.001), epochs: 32, batch: 64, seed: 2)"


def run_suite(binary, root, verbose):
    failures, passed = [], 0
    s = Session(binary, root)
    extra = ""
    try:
        s.expect("squeeze> ")
        for line in SETUP:
            s.send(line + "\n")
            s.expect("squeeze> ")
        before = rss_kib(s.pid)
        s.send(MORE + "\n")
        s.expect("squeeze> ")
        s.send("print(\"steps\", r.steps)\n")
        s.expect("steps 1024")
        s.expect("squeeze> ")
        after = rss_kib(s.pid)
        extra = f"; resident set {before / 1024:.0f} MiB after 128 steps, {after / 1024:.0f} MiB after 1,024 more"
        if after > before * 1.1 + 16 * 1024:
            failures.append(f"memory grew over 1,024 training steps: {before} KiB → {after} KiB")
        else:
            passed += 1
    except Exception as e:  # a harness error is a failure, not a pass
        failures.append(f"harness error {e!r}")
    finally:
        s.close()
    return {"suite": "training", "tried": 1, "passed": passed, "crashes": 0, "bytes_lost": 0, "failures": failures, "extra": extra}
