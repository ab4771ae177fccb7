"""Soak: a REPL session driven through a pseudo-terminal with random valid and invalid inputs (and
Ctrl-C during computations). It must answer every input with a prompt, never die, keep a flat
memory profile (resident set growth < 10% from the end of the warm-up — every kind of input once —
to the end), and leave a
history database that passes SQLite's integrity check."""

import errno
import fcntl
import os
import pty
import random
import select
import signal
import sqlite3
import struct
import termios
import time

PROMPT = b"squeeze> "
MORE = b"...> "

VALID = [
    "x{v} = randn({r}, {c}, seed: {n})",
    "y{v} = x{v} @ transpose(x{v})",
    "svd(randn({r}, {c})).S[0]",
    "kmeans(randn(300, 4, seed: {n}), k: {k}, seed: {n}).inertia",
    "q{v} = quantize(randn(64, 128), bits: {b})",
    "q{v}.bits_per_param",
    "error(x{v}, q{v})",
    "fn f{v}(a, b: 2) {{ return a * b + {n} }}",
    "f{v}({n})",
    "fn g{v}(n) {{ fn h(m) {{ return m + n }} return h({n}) }}",
    "g{v}({n})",
    "fn mk{v}(n) {{ fn add(m) {{ return m + n }} return add }}",
    "a{v} = mk{v}({n})",
    "a{v}(1)",
    "l{v} = [1, 2, {n}, \"s\", [3, 4]]",
    "r{v} = {{a: {n}, b: [2, 3], c: \"x\"}}",
    "r{v}.a + len(l{v})",
    "for i in range(50) {{ s{v} = i * 2 }}",
    "print(\"soak\", {n})",
    "log(loss: {f}, step: {n})",
    "note(\"soak note {n}\")",
    ":vars",
    "?svd",
    ":time randn(100, 100) @ randn(100, 100)",
    "help(\"kmeans\")",
    "prune(randn(16, 16), pattern: \"2:4\").mask",
    "coding_rate(randn(100, 8))",
    "s{v} = str({n}) + \"x\"",
    "mean(randn(1000))",
    "x{v}.shape",
    "pca(randn(200, 6), k: 2).explained_variance",
    "lowrank(randn(32, 32), rank: 4).bits",
    "encode(tensor([1, 2, 2, 3, 3, 3]))",
    "cluster(randn(120, 3), k: 3, method: \"kmeans\").labels[0]",
    "x{v} = none",
    "while {k} > 100 {{ print(1) }}",
]
INVALID = [
    "x = (", "y = ]", "fn (", "1 +* 2", "undefined_name_{n}", "ones(2, 3) @ ones(2, 3)",
    "kmeans(randn(5, 2), k: 10)", "zeros(-1)", "randn(1000000, 1000000)", "\"unterminated",
    "λ = 3 ☃", ":nonsense", ":run /nonexistent.recipe", "load(\"/nonexistent.npy\")",
    "save(eye(2), \"../x.npy\")", "x{v}[100]", "r{v}.missing", "f{v}(1, 2, 3, 4)", "quantize(eye(3), bits: 99)",
    "1 / 0", "assert(false, \"soak\")", "[" * 300, "1 +" * 2000 + " 1", "\x1b[A\x1b[B", "kme\t", "sv\t\t",
    "if true {", "for i in", "tensor([[1, 2], [3]])",
]
SLOW = "kmeans(randn(40000, 32, seed: {n}), k: 256, seed: {n}).inertia"


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Repl:
    def __init__(self, binary, root):
        env = dict(os.environ, NO_COLOR="1", TERM="xterm", SQUEEZE_HISTFILE=os.path.join(root, "readline_history"),
                   OPENBLAS_NUM_THREADS="2")
        self.db = os.path.join(root, "history.db")
        pid, fd = pty.fork()
        if pid == 0:
            os.chdir(root)
            os.execve(binary, [binary, "repl", "--history", self.db, "--seed", "1"], env)
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        self.pid, self.fd = pid, fd
        self.buf = b""
        self.dead = False

    def read_until(self, markers, timeout):
        end = time.time() + timeout
        while time.time() < end:
            for m in markers:
                i = self.buf.rfind(m)
                if i >= 0:
                    self.buf = self.buf[i + len(m):]
                    return m
            r, _, _ = select.select([self.fd], [], [], max(0.0, end - time.time()))
            if not r:
                continue
            try:
                chunk = os.read(self.fd, 65536)
            except OSError as e:
                if e.errno == errno.EIO:
                    self.dead = True
                    return None
                raise
            if not chunk:
                self.dead = True
                return None
            self.buf = (self.buf + chunk)[-65536:]
        return None

    def send(self, text):
        os.write(self.fd, text.encode())

    def answer(self, guard=300):
        """Waits for the prompt after an input; an unfinished multi-line input is abandoned with
        Ctrl-C (one that lands while readline re-installs its prompt can be lost, as at any
        terminal: it is pressed again). PROMPT, or MORE/None when none came. `guard` only catches
        a hang: a machine busy with other work answers later, and the soak waits for it."""
        got = self.read_until([PROMPT, MORE], guard)
        for _ in range(3):
            if got != MORE:
                break
            self.send("\x03")
            got = self.read_until([PROMPT], 10) or MORE
        return got

    def alive(self):
        if self.dead:
            return False
        pid, _ = os.waitpid(self.pid, os.WNOHANG)
        return pid == 0


def run_suite(binary, root, minutes=1.0, max_inputs=0, verbose=False):
    rng = random.Random(20261129)
    repl = Repl(binary, root)
    failures = []
    first = repl.read_until([PROMPT], 30)
    if first is None:
        return {"suite": "REPL soak", "tried": 0, "passed": 0, "crashes": 1, "bytes_lost": 0,
                "failures": ["the REPL did not start"]}
    # Warm-up: every kind of input once (first-time allocations: BLAS buffers, caches, the help
    # text, a big k-means), then the resident set is the baseline the rest is measured against.
    fixed = dict(v=0, r=30, c=20, n=1, k=3, b=4, f=0.5)
    for template in VALID + INVALID + [SLOW]:
        try:
            line = template.format(**fixed)
        except (KeyError, IndexError, ValueError):
            line = template
        repl.send(line + "\r")
        # The warm-up runs the slow k-means to its end (the debug build, maybe beside other work).
        if repl.answer(guard=900) != PROMPT:
            failures.append(f"warm-up input {line[:60]!r}: no prompt")
            break
    deadline = time.time() + minutes * 60
    pace = minutes * 60 / max_inputs if max_inputs else 0
    tried = answered = interrupts = 0
    warm = None
    last_rss = rss_kib(repl.pid)
    samples = []
    t0 = time.time()
    while time.time() < deadline and (not max_inputs or tried < max_inputs):
        n = rng.randrange(1000)
        fields = dict(v=rng.randrange(8), r=rng.randrange(1, 60), c=rng.randrange(1, 60), n=n, k=rng.randrange(1, 9),
                      b=rng.choice([2, 3, 4, 8]), f=rng.random())
        roll = rng.random()
        if roll < 0.02:
            line = SLOW.format(**fields)
        elif roll < 0.3:
            line = rng.choice(INVALID)
            try:
                line = line.format(**fields)
            except (KeyError, IndexError, ValueError):
                pass
        elif roll < 0.31:
            line = ":reset"
        else:
            line = rng.choice(VALID).format(**fields)
        tried += 1
        repl.send(line + "\r")
        if line.startswith("kmeans(randn(40000"):
            time.sleep(rng.uniform(0.05, 0.3))
            repl.send("\x03")
            interrupts += 1
        got = repl.answer()
        if got == PROMPT:
            answered += 1
        else:
            failures.append(f"input {tried} {line[:60]!r}: {'the REPL died' if not repl.alive() else 'no prompt within the hang guard'}")
            if not repl.alive():
                break
            repl.send("\x03")
            repl.read_until([PROMPT], 10)
        if verbose:
            now = rss_kib(repl.pid)
            if now - last_rss > 1024:
                print(f"  +{now - last_rss} KiB after input {tried}: {line[:80]!r}")
            last_rss = now
        if warm is None:
            warm = rss_kib(repl.pid)
        if tried % 100 == 0:
            samples.append((round(time.time() - t0), rss_kib(repl.pid)))
            if verbose:
                print(f"  {tried} inputs, {samples[-1][0]} s, RSS {samples[-1][1]} KiB")
        if pace:
            target = t0 + tried * pace
            if target > time.time():
                time.sleep(target - time.time())
    crashes = 0
    final = rss_kib(repl.pid) if repl.alive() else 0
    if repl.alive():
        repl.send(":quit\r")
        # What the process writes while exiting (a sanitizer's report, if any).
        tail = repl.buf
        end = time.time() + 30
        while time.time() < end:
            r, _, _ = select.select([repl.fd], [], [], 1)
            if r:
                try:
                    chunk = os.read(repl.fd, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                tail += chunk
        if os.environ.get("SOAK_DUMP_TAIL"):
            open(os.environ["SOAK_DUMP_TAIL"], "wb").write(tail)
        if b"Sanitizer" in tail:
            failures.append("sanitizer report at exit: " + tail[tail.find(b"==") :][:3000].decode(errors="replace"))
        for _ in range(50):
            pid, status = os.waitpid(repl.pid, os.WNOHANG)
            if pid:
                if os.WIFSIGNALED(status):
                    crashes += 1
                    failures.append(f"the REPL died of signal {os.WTERMSIG(status)} on :quit")
                break
            time.sleep(0.1)
        else:
            os.kill(repl.pid, signal.SIGKILL)
            failures.append("the REPL did not exit on :quit")
    else:
        crashes += 1
    growth = (final - warm) / warm if warm and final else float("nan")
    if not (growth < 0.10):
        failures.append(f"resident set grew {growth * 100:.1f}% after the warm-up ({warm} → {final} KiB); samples {samples[-10:]}")
    con = sqlite3.connect(repl.db)
    ok = con.execute("PRAGMA integrity_check").fetchone()[0]
    cells = con.execute("SELECT COUNT(*) FROM statements").fetchone()[0]
    con.close()
    if ok != "ok":
        failures.append(f"history integrity: {ok}")
    elapsed = time.time() - t0
    extra = (f"; {elapsed / 60:.1f} min, {interrupts} Ctrl-C, RSS {warm} → {final} KiB "
             f"({growth * 100:+.1f}%), {cells} statements recorded")
    return {"suite": "REPL soak", "tried": tried, "passed": answered, "crashes": crashes, "bytes_lost": 0,
            "failures": failures, "extra": extra}
