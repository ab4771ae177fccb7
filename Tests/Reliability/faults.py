"""The history under faults: a full disk, a read-only database, a database locked by another
process past the busy timeout, a damaged file, Ctrl-C, and kill -9 at random points of 100 runs.
After every fault the database must pass SQLite's integrity check, every row that was visible
before must still be there, and the run must have continued or failed cleanly."""

import os
import random
import signal
import sqlite3
import subprocess
import threading
import time

from common import CLEAN_FAILURES, is_crash, run, write

# 60 top-level statements (statements are what the history records), ~10 ms of work each.
RECIPE = "param scale = 1\n" + "".join(
    f"x{i} = randn(160, 160, seed: {i}) @ randn(160, 160, seed: {i + 1}) * scale\nlog(step: {i}, value: number(sum(x{i})))\n"
    for i in range(60)) + 'print("done")\n'


def snapshot(db):
    """{run id: (statements, metrics)} of every run, read with SQLite itself."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        rows = con.execute("""SELECT r.id, (SELECT COUNT(*) FROM statements s WHERE s.run = r.id),
                                     (SELECT COUNT(*) FROM metrics m WHERE m.run = r.id) FROM runs r""").fetchall()
        return {r[0]: (r[1], r[2]) for r in rows}
    finally:
        con.close()


def integrity(db):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return con.execute("PRAGMA integrity_check").fetchone()[0]
    except sqlite3.DatabaseError as e:
        return str(e)
    finally:
        con.close()


def contains(after, before):
    """Rows lost: for every run seen before, how many of its statements and metrics are gone."""
    lost = 0
    for rid, (s, m) in before.items():
        s2, m2 = after.get(rid, (0, 0))
        lost += max(0, s - s2) + max(0, m - m2)
    return lost


class Suite:
    def __init__(self, binary, root, verbose):
        self.binary, self.root, self.verbose = binary, root, verbose
        self.tried = self.passed = self.crashes = self.lost = 0
        self.failures, self.notes = [], []
        self.recipe = os.path.join(root, "loop.recipe")
        write(self.recipe, RECIPE.encode())

    def squeeze(self, db, *args, env=None, timeout=120, preexec=None, out=None):
        out = out or os.path.join(self.root, "out")
        return run(self.binary, ["run", self.recipe, "--out", out, "--history", db, "--seed", "3"] + list(args),
                   env=env, timeout=timeout, preexec=preexec)

    def check(self, name, ok, detail=""):
        self.tried += 1
        if ok:
            self.passed += 1
        else:
            self.failures.append(f"{name}: {detail}")
        if self.verbose:
            print(f"  {name:34s} {'ok' if ok else 'FAILED'} {detail[:150]}")

    def clean(self, r):
        """The run continued (0) or failed with a documented exit code, without a trap."""
        if is_crash(r):
            self.crashes += 1
            return False
        return r.returncode == 0 or r.returncode in CLEAN_FAILURES

    # --- faults -----------------------------------------------------------------------------

    def disk_full(self):
        mnt = os.path.join(self.root, "tmpfs")
        os.makedirs(mnt)
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", mnt], capture_output=True).returncode == 0
        if not mounted:
            self.notes.append("disk full: tmpfs mount not permitted here; used RLIMIT_FSIZE instead")
        try:
            db = os.path.join(mnt, "history.db")
            r = self.squeeze(db)
            self.check("disk-full: first run records", r.returncode == 0, r.stderr[-300:])
            before = snapshot(db)
            filler = os.path.join(mnt, "filler")
            if mounted:
                fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
                try:
                    while True:
                        os.write(fd, b"\0" * 4096)
                except OSError:
                    pass
                finally:
                    os.close(fd)
                pre = None
            else:
                def pre():
                    import resource
                    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
                    size = os.path.getsize(db)
                    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
            # The history cannot grow: the recipe must still run (recording given up with a warning)
            # or fail cleanly.
            r = self.squeeze(db, preexec=pre)
            self.check("disk-full: run continues or fails cleanly", self.clean(r) and ("done" in r.stdout or r.returncode in CLEAN_FAILURES),
                       f"exit {r.returncode}: {r.stderr[-300:]}")
            warned = "history" in r.stderr
            self.check("disk-full: the user is told", warned or r.returncode == 0 and not r.stderr, r.stderr[-200:])
            # Output on a full disk: save fails with a diagnostic and leaves no partial file.
            if mounted:
                out = os.path.join(mnt, "out")
                rec = os.path.join(self.root, "save.recipe")
                write(rec, b'save(randn(1000, 1000, seed: 1), "big.npy")\n')
                r2 = run(self.binary, ["run", rec, "--out", out, "--no-history"])
                self.check("disk-full: save fails cleanly", self.clean(r2) and r2.returncode == 70 and "big.npy" in r2.stderr,
                           f"exit {r2.returncode}: {r2.stderr[-300:]}")
                self.check("disk-full: no partial file", not os.path.exists(os.path.join(out, "big.npy")),
                           str(os.listdir(out) if os.path.isdir(out) else []))
            if os.path.exists(filler):
                os.remove(filler)
            self.check("disk-full: database intact", integrity(db) == "ok", integrity(db))
            lost = contains(snapshot(db), before)
            self.lost += lost
            self.check("disk-full: no row lost", lost == 0, f"{lost} rows lost")
            r = self.squeeze(db)
            self.check("disk-full: next run records again", r.returncode == 0, r.stderr[-300:])
        finally:
            if mounted:
                subprocess.run(["umount", "-l", mnt])

    def read_only(self):
        d = os.path.join(self.root, "ro")
        os.makedirs(d)
        db = os.path.join(d, "history.db")
        r = self.squeeze(db)
        self.check("read-only: first run records", r.returncode == 0, r.stderr[-300:])
        before = snapshot(db)
        digest = open(db, "rb").read()
        if os.geteuid() == 0:
            # root ignores permissions: run squeeze as nobody over root's files.
            os.chmod(self.root, 0o755)
            os.chmod(d, 0o755)
            os.chmod(db, 0o644)
            outdir = os.path.join(self.root, "ro-out")
            os.makedirs(outdir)
            os.chown(outdir, 65534, 65534)

            def pre():
                os.setgid(65534)
                os.setuid(65534)
            r = self.squeeze(db, preexec=pre, out=outdir)
        else:
            os.chmod(db, 0o444)
            os.chmod(d, 0o555)
            r = self.squeeze(db)
            os.chmod(d, 0o755)
            os.chmod(db, 0o644)
        self.check("read-only: clean exit with a message", self.clean(r) and (r.returncode == 0 or "history" in r.stderr),
                   f"exit {r.returncode}: {r.stderr[-300:]}")
        self.check("read-only: file untouched", open(db, "rb").read() == digest, "the database changed")
        self.check("read-only: database intact", integrity(db) == "ok")
        lost = contains(snapshot(db), before)
        self.lost += lost

    def locked(self):
        db = os.path.join(self.root, "locked.db")
        r = self.squeeze(db)
        self.check("locked: first run records", r.returncode == 0, r.stderr[-300:])
        before = snapshot(db)
        con = sqlite3.connect(db, timeout=1, isolation_level=None)
        con.execute("BEGIN EXCLUSIVE")
        release = threading.Timer(13.0, lambda: None)
        release.start()
        t0 = time.time()
        proc = subprocess.Popen([self.binary, "run", self.recipe, "--out", os.path.join(self.root, "out"), "--history", db],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(13.0)   # past the 10 s busy timeout
        con.execute("ROLLBACK")
        con.close()
        out, err = proc.communicate(timeout=120)
        r = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
        self.check("locked: clean exit with a message", self.clean(r) and (r.returncode == 0 or "lock" in r.stderr or "busy" in r.stderr),
                   f"exit {r.returncode} after {time.time() - t0:.1f} s: {r.stderr[-300:]}")
        self.check("locked: database intact", integrity(db) == "ok")
        lost = contains(snapshot(db), before)
        self.lost += lost
        self.check("locked: no row lost", lost == 0, f"{lost} rows lost")
        r = self.squeeze(db)
        self.check("locked: next run records", r.returncode == 0, r.stderr[-300:])

    def damaged(self):
        d = os.path.join(self.root, "damaged")
        os.makedirs(d)
        db = os.path.join(d, "history.db")
        r = self.squeeze(db)
        self.check("damaged: first run records", r.returncode == 0, r.stderr[-300:])
        with open(db, "r+b") as f:
            f.write(b"this is not a database" * 10)
        for suffix in ("-wal", "-shm"):
            if os.path.exists(db + suffix):
                os.remove(db + suffix)
        r = self.squeeze(db)
        kept = [n for n in os.listdir(d) if n.startswith("history.db.corrupt-")]
        self.check("damaged: run goes on in a fresh database", r.returncode == 0 and "done" in r.stdout, r.stderr[-300:])
        self.check("damaged: damaged file kept aside", len(kept) == 1, str(os.listdir(d)))
        self.check("damaged: fresh database intact", integrity(db) == "ok")

    def damaged_page(self):
        """A page in the middle of the file overwritten: doctor rebuilds the history from every
        readable row and keeps the damaged file."""
        d = os.path.join(self.root, "page")
        os.makedirs(d)
        db = os.path.join(d, "history.db")
        for _ in range(12):
            self.squeeze(db)
        con = sqlite3.connect(db)
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        rows = sum(con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("runs", "statements", "metrics"))
        con.close()
        size = os.path.getsize(db)
        with open(db, "r+b") as f:
            f.seek(4096 * (size // 4096 // 2))
            f.write(random.Random(7).randbytes(4096))
        self.check("damaged page: detected", integrity(db) != "ok", "integrity_check did not notice")
        r = run(self.binary, ["doctor", "--history", db])
        self.check("damaged page: doctor repairs", self.clean(r) and r.returncode == 0 and "repaired" in r.stdout and "integrity: ok" in r.stdout,
                   f"exit {r.returncode}: {r.stdout[-300:]} {r.stderr[-300:]}")
        kept = [n for n in os.listdir(d) if ".corrupt-" in n]
        self.check("damaged page: damaged file kept", len(kept) >= 1, str(os.listdir(d)))
        after = sum(sqlite3.connect(db).execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("runs", "statements", "metrics"))
        # One 4 KiB page holds at most a few hundred of these rows.
        self.check("damaged page: rows recovered", after >= rows - 300, f"{after} of {rows} rows")
        r = self.squeeze(db)
        self.check("damaged page: next run records", r.returncode == 0 and integrity(db) == "ok", r.stderr[-300:])

    def interrupted(self):
        db = os.path.join(self.root, "int.db")
        long = os.path.join(self.root, "long.recipe")
        write(long, b"for i in range(100000000) {\n  x = randn(64, 64) @ randn(64, 64)\n}\n")
        proc = subprocess.Popen([self.binary, "run", long, "--out", os.path.join(self.root, "out"), "--history", db], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        self.check("ctrl-c: exit 130", proc.returncode == 130, f"exit {proc.returncode}: {err[-200:]}")
        con = sqlite3.connect(db)
        status = con.execute("SELECT status FROM runs ORDER BY id DESC LIMIT 1").fetchone()
        con.close()
        self.check("ctrl-c: run recorded as interrupted", status == ("interrupted",), str(status))
        self.check("ctrl-c: database intact", integrity(db) == "ok")

    def kill9(self, rounds=100):
        db = os.path.join(self.root, "kill.db")
        r = self.squeeze(db)
        assert r.returncode == 0, r.stderr
        # How long a whole run takes, to spread the kills over it (start-up included).
        t0 = time.time()
        self.squeeze(db)
        full = time.time() - t0
        rng = random.Random(12345)
        seen = snapshot(db)
        bad = lost_total = prefix_bad = 0
        for k in range(rounds):
            proc = subprocess.Popen([self.binary, "run", self.recipe, "--out", os.path.join(self.root, "out"),
                                     "--history", db, "--seed", str(k)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            time.sleep(rng.uniform(0, full * 1.1))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            try:
                ok = integrity(db) == "ok"
                now = snapshot(db)
            except sqlite3.DatabaseError as e:
                ok, now = False, {}
                self.failures.append(f"kill -9 round {k}: {e}")
            bad += not ok
            lost_total += contains(now, seen)
            # A killed run's statements are a prefix: 0…k with no hole.
            con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
            for rid, n, lo, hi in con.execute("SELECT run, COUNT(*), MIN(idx), MAX(idx) FROM statements GROUP BY run"):
                if n and (lo != 0 or hi != n - 1):
                    prefix_bad += 1
            con.close()
            seen = {rid: tuple(max(a, b) for a, b in zip(now.get(rid, (0, 0)), seen.get(rid, (0, 0)))) for rid in set(now) | set(seen)}
        self.lost += lost_total
        self.check(f"kill -9 x{rounds}: integrity ok every time", bad == 0, f"{bad} damaged")
        self.check(f"kill -9 x{rounds}: no committed row lost", lost_total == 0, f"{lost_total} rows lost")
        self.check(f"kill -9 x{rounds}: statements recorded in order", prefix_bad == 0, f"{prefix_bad} runs with holes")
        # The next open marks the dead runs crashed; doctor checks and reports.
        r = run(self.binary, ["doctor", "--history", db])
        self.check("doctor after kills: integrity ok", r.returncode == 0 and "integrity: ok" in r.stdout, r.stdout[-300:] + r.stderr[-300:])
        con = sqlite3.connect(db)
        running = con.execute("SELECT COUNT(*) FROM runs WHERE status = 'running'").fetchone()[0]
        crashed = con.execute("SELECT COUNT(*) FROM runs WHERE status = 'crashed'").fetchone()[0]
        con.close()
        self.check("doctor after kills: no run left 'running'", running == 0, f"{running} running, {crashed} crashed")
        self.notes.append(f"kill -9: {rounds} runs killed at random points over {full:.2f} s, {crashed} recorded as crashed")


def run_suite(binary, root, verbose=False, rounds=100):
    s = Suite(binary, root, verbose)
    for fault in (s.disk_full, s.read_only, s.locked, s.damaged, s.damaged_page, s.interrupted, lambda: s.kill9(rounds)):
        try:
            fault()
        except Exception as e:  # a harness error is a failure, not a pass
            s.failures.append(f"{getattr(fault, '__name__', 'kill9')}: harness error {e!r}")
    extra = ("; " + "; ".join(s.notes)) if s.notes else ""
    return {"suite": "history under faults", "tried": s.tried, "passed": s.passed, "crashes": s.crashes,
            "bytes_lost": s.lost, "failures": s.failures, "extra": extra}
