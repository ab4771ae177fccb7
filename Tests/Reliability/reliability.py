#!/usr/bin/env python3
"""squeeze's reliability suites, run against the real binary.

    reliability.py BINARY [SUITE…] [--verbose] [--soak-minutes M]

Suites: recipes (hostile recipes), files (hostile files), faults (history under faults),
soak (a REPL driven through a pseudo-terminal), interrupts (Ctrl-C in each long operation family),
training (memory over 1,024 training steps). Without SUITE: recipes files faults, and a one-minute
soak. Prints one line of counts per suite and exits 1 if any case failed."""

import argparse
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))



def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("suites", nargs="*", default=["recipes", "files", "faults", "interrupts", "training", "soak"])
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--soak-minutes", type=float, default=1.0)
    ap.add_argument("--soak-inputs", type=int, default=0, help="stop the soak after this many inputs (0: time only)")
    a = ap.parse_args()
    binary = os.path.abspath(a.binary)
    results = []
    for suite in a.suites:
        root = tempfile.mkdtemp(prefix=f"squeeze-{suite}-")
        try:
            if suite == "recipes":
                import hostile_recipes
                results.append(hostile_recipes.run_suite(binary, root, a.verbose))
            elif suite == "files":
                import hostile_files
                results.append(hostile_files.run_suite(binary, root, a.verbose))
            elif suite == "faults":
                import faults
                results.append(faults.run_suite(binary, root, a.verbose))
            elif suite == "interrupts":
                import interrupts
                results.append(interrupts.run_suite(binary, root, a.verbose))
            elif suite == "training":
                import training
                results.append(training.run_suite(binary, root, a.verbose))
            elif suite == "soak":
                import soak
                results.append(soak.run_suite(binary, root, a.soak_minutes, a.soak_inputs, a.verbose))
            else:
                ap.error(f"unknown suite {suite!r}")
        finally:
            shutil.rmtree(root, ignore_errors=True)
    ok = True
    for r in results:
        extra = r.get("extra", "")
        print(f"{r['suite']}: {r['tried']} cases, {r['passed']} passed, crashes: {r['crashes']}, "
              f"bytes lost: {r['bytes_lost']}{extra}")
        for f in r["failures"]:
            print("  FAILED " + f)
        ok = ok and not r["failures"] and r["crashes"] == 0 and r["bytes_lost"] == 0
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
