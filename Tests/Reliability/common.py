"""Shared pieces of the reliability suites: running the binary, judging its exit, hashing a tree."""

import hashlib
import os
import re
import resource
import signal
import stat
import subprocess

# Exit codes squeeze documents for a clean failure (usage, recipe error, runtime error, history).
CLEAN_FAILURES = {64, 65, 70, 74}
TRAP_MARKERS = ("Fatal error", "Illegal instruction", "Segmentation fault", "AddressSanitizer",
                "Stack dump", "Current stack trace", "Trace/breakpoint")


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def run(binary, args, env=None, timeout=120, limit_gb=None, stdin=None, preexec=None):
    """Runs binary with args; a time-out counts as a hang (returncode None)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    full_env.setdefault("OPENBLAS_NUM_THREADS", "2")

    def limits():
        if limit_gb:
            resource.setrlimit(resource.RLIMIT_AS, (limit_gb << 30, limit_gb << 30))
        if preexec:
            preexec()
    try:
        return subprocess.run([binary] + args, env=full_env, capture_output=True, text=True, timeout=timeout,
                              preexec_fn=limits, stdin=stdin if stdin is not None else subprocess.DEVNULL,
                              errors="replace")
    except subprocess.TimeoutExpired as e:
        return subprocess.CompletedProcess([binary] + args, None, e.stdout or "", (e.stderr or "") + "\n[timed out]")


def is_crash(r):
    if r.returncode is None:
        return False
    return r.returncode < 0 or any(m in (r.stderr or "") for m in TRAP_MARKERS)


class Case:
    def __init__(self, name, text, expect, setup=None, args=(), budget=None):
        self.name, self.text, self.expect, self.setup, self.args, self.budget = name, text, expect, setup, list(args), budget

    def judge(self, r):
        """'refused' (a clean failure whose message matches), or what went wrong."""
        if is_crash(r):
            return "crash"
        if r.returncode is None:
            return "hang"
        if r.returncode == 0:
            return "succeeded"
        if r.returncode not in CLEAN_FAILURES:
            return f"exit-{r.returncode}"
        if not re.search(self.expect, r.stderr, re.IGNORECASE):
            return "wrong-message"
        # A diagnostic names where: file:line:col or an argument.
        if not re.search(r"\.(recipe|npy|npz|png|csv|safetensors|gguf|idx|gz):\d+|byte|offset|--|squeeze:", r.stderr):
            return "no-location"
        return "refused"


def hash_tree(root, skip=()):
    """{relative path: (size, digest)} of everything under root, not following links; symbolic
    links hash their target text, FIFOs and sockets their kind only."""
    skip = tuple(os.path.abspath(s) for s in skip)
    out = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        if os.path.abspath(dirpath).startswith(skip):
            continue
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            ap = os.path.abspath(p)
            if any(ap == s or ap.startswith(s + "-") or ap.startswith(s + os.sep) for s in skip):
                continue
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                out[ap] = (0, "link:" + os.readlink(p))
            elif stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    out[ap] = (st.st_size, hashlib.sha256(f.read()).hexdigest())
            elif stat.S_ISDIR(st.st_mode):
                out[ap] = (0, "dir")
            else:
                out[ap] = (0, "special")
    return out


def ignore_sigpipe():
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
