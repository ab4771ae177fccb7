"""squeeze sweep against the real thing: the local engine (grid, own folders, artifacts, grouping
read by pandas, resume after a kill, Ctrl-C once and twice) and a real single-node Slurm cluster
(Scripts/slurm: Debian's slurm-wlm and munge) — a 12-point job array with --max-parallel 2 and a
failing point, collected twice; a task killed mid-run; a damaged shard.

SQUEEZE_TEST_BINARY names the squeeze binary (default .build/debug/squeeze). Every wait is for a
condition (a row in a history, a job leaving squeue) under a generous hang guard, never a sleep
standing in for one; nothing here asserts on time."""

import os
import pathlib
import signal
import sqlite3
import subprocess
import tempfile
import time
import unittest

import pandas

ROOT = pathlib.Path(__file__).resolve().parents[2]
SQUEEZE = str((ROOT / os.environ.get("SQUEEZE_TEST_BINARY", ".build/debug/squeeze")).resolve())
HERE = pathlib.Path(__file__).resolve().parent
SWEEP_RECIPE = str(ROOT / "Examples" / "sweep.recipe")
HANG = 600  # seconds: only a hang guard


def squeeze(*args, cwd, check=True, env=None):
    r = subprocess.run([SQUEEZE, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=HANG)
    if check and r.returncode != 0:
        raise AssertionError(f"squeeze {' '.join(args)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
    return r


def rows(db, sql, *params):
    con = sqlite3.connect(db, timeout=30)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def wait_until(what, condition, guard=HANG):
    end = time.monotonic() + guard
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within the {guard} s hang guard")


def safe_rows(db, sql, *params):
    try:
        return rows(db, sql, *params) if os.path.exists(db) else []
    except sqlite3.Error:
        return []  # the file is being created


class LocalSweep(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="squeeze-sweep-")
        self.db = os.path.join(self.dir, "history.db")

    def test_grid_folders_artifacts_and_grouping(self):
        r = squeeze("sweep", SWEEP_RECIPE, "-p", "rank=[2,4,8]", "-p", "noise=[0.05,0.1]", "-p", "seed=range(3)",
                    "--name", "grid", "--history", self.db, cwd=self.dir)
        self.assertIn("18 completed, 0 failed", r.stdout)
        runs = rows(self.db, "SELECT id, status, out_dir, sweep_point, seed FROM runs WHERE sweep = 'grid'")
        self.assertEqual(len(runs), 18)
        self.assertTrue(all(s == "completed" for _, s, _, _, _ in runs))
        self.assertEqual(len({o for _, _, o, _, _ in runs}), 18, "each point has its own folder")
        self.assertEqual({p for _, _, _, p, _ in runs},
                         {f"rank={r},noise={n},seed={s}" for r in (2, 4, 8) for n in (0.05, 0.1) for s in range(3)})
        # The seed axis is the run's seed (the recipe declares no parameter seed).
        self.assertEqual(sorted({s for *_, s in runs}), [0, 1, 2])
        shas = rows(self.db, "SELECT a.sha256, a.stored FROM artifacts a JOIN runs r ON r.id = a.run WHERE r.sweep = 'grid'")
        self.assertEqual(len(shas), 18)
        self.assertEqual(len({s for s, _ in shas}), 18, "points that differ wrote different files; none was overwritten")
        for _, _, out, _, _ in runs:
            self.assertTrue(os.path.exists(os.path.join(out, "sweep_w_hat.npy")))
        csv = squeeze("runs", "--sweep", "grid", "--group-by", "rank,noise", "--format", "csv", "--history", self.db, cwd=self.dir)
        frame = pandas.read_csv(__import__("io").StringIO(csv.stdout))
        self.assertEqual(len(frame), 6)
        self.assertEqual(set(frame["runs"]), {3})
        self.assertIn("metric.rel_error.mean", frame.columns)
        self.assertEqual(set(frame["param.rank"]), {2, 4, 8})
        unknown = squeeze("runs", "--sweep", "nope", "--history", self.db, cwd=self.dir, check=False)
        self.assertEqual(unknown.returncode, 64)
        self.assertIn("no sweep named 'nope'; sweeps: grid", unknown.stderr)
        # The table and plots of `sweep report`.
        rep = squeeze("sweep", "report", "grid", "--history", self.db, cwd=self.dir)
        folder = os.path.join(self.dir, "sweeps", "grid", "report")
        self.assertIn("report.md", rep.stdout)
        for png in ("rel_error-vs-rank.png", "rel_error-vs-noise.png", "ratio-vs-rank.png", "ratio-vs-noise.png"):
            with open(os.path.join(folder, png), "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
        md = open(os.path.join(folder, "report.md")).read()
        self.assertIn("| rank | noise | runs |", md)
        # Starting it again is refused; --resume finds nothing to do.
        again = squeeze("sweep", SWEEP_RECIPE, "-p", "rank=[2]", "--name", "grid", "--history", self.db, cwd=self.dir, check=False)
        self.assertEqual(again.returncode, 64)
        self.assertIn("--resume", again.stderr)
        resumed = squeeze("sweep", SWEEP_RECIPE, "--name", "grid", "--resume", "--history", self.db, cwd=self.dir)
        self.assertIn("nothing to run", resumed.stdout)
        self.assertEqual(rows(self.db, "SELECT count(*) FROM runs WHERE sweep = 'grid'")[0][0], 18)

    def test_random_points_are_drawn_from_the_seed(self):
        def points(seed, name):
            squeeze("sweep", SWEEP_RECIPE, "-p", "rank=range(1,9)", "-p", "noise=[0.01,0.1,1]", "--random", "5",
                    "--seed", str(seed), "--name", name, "--history", self.db, cwd=self.dir)
            return sorted(p for (p,) in rows(self.db, "SELECT sweep_point FROM runs WHERE sweep = ?", name))
        a, b, c = points(3, "r1"), points(3, "r2"), points(4, "r3")
        self.assertEqual(len(a), 5)
        self.assertEqual(a, b)
        self.assertNotEqual(a, c)

    def test_bad_axes_are_named(self):
        for args, words in ((["-p", "rnk=[2]"], "did you mean 'rank'"), (["-p", "rank"], "expected name=values"),
                            (["-p", "rank=range(0)"], "is empty"), (["-p", "rank=[]"], "empty"),
                            (["-p", "rank=[1,1]"], "appears twice"), ([], "no axes")):
            r = squeeze("sweep", SWEEP_RECIPE, *args, "--history", self.db, cwd=self.dir, check=False)
            self.assertEqual(r.returncode, 64, r.stderr)
            self.assertIn(words, r.stderr)

    def test_resume_after_the_sweep_is_killed(self):
        recipe = str(HERE / "slow.recipe")
        p = subprocess.Popen([SQUEEZE, "sweep", recipe, "-p", "n=range(8)", "--name", "killed", "--jobs", "1",
                              "--history", self.db], cwd=self.dir, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        done = lambda: safe_rows(self.db, "SELECT count(*) FROM runs WHERE sweep = 'killed' AND status = 'completed'")
        wait_until("three completed points", lambda: done() and done()[0][0] >= 3)
        p.kill()
        p.communicate()
        # The point that was running notices that its sweep is gone and ends itself as interrupted.
        wait_until("the orphaned point to end", lambda: subprocess.run(
            ["pgrep", "-f", self.db], capture_output=True).returncode == 1)
        before = done()[0][0]
        self.assertFalse(rows(self.db, "SELECT 1 FROM runs WHERE sweep = 'killed' AND status = 'running'"))
        self.assertLess(before, 8)
        r = squeeze("sweep", recipe, "--name", "killed", "--resume", "--history", self.db, cwd=self.dir)
        self.assertIn(f"{before} of 8 points completed before; {8 - before} to run", r.stdout)
        per_point = rows(self.db, "SELECT sweep_point, count(*) FROM runs WHERE sweep = 'killed' AND status = 'completed' "
                                  "GROUP BY sweep_point")
        self.assertEqual(len(per_point), 8)
        self.assertTrue(all(n == 1 for _, n in per_point), per_point)

    def test_ctrl_c_stops_launching_and_lets_running_points_finish(self):
        recipe = str(HERE / "slow.recipe")
        p = subprocess.Popen([SQUEEZE, "sweep", recipe, "-p", "n=range(6)", "--name", "stop", "--jobs", "1",
                              "--history", self.db], cwd=self.dir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_until("a completed point", lambda: safe_rows(
            self.db, "SELECT 1 FROM runs WHERE sweep = 'stop' AND status = 'completed'"))
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=HANG)
        self.assertEqual(p.returncode, 130, out + err)
        statuses = [s for (s,) in rows(self.db, "SELECT status FROM runs WHERE sweep = 'stop'")]
        self.assertTrue(statuses and all(s == "completed" for s in statuses), statuses)
        self.assertLess(len(statuses), 6)
        self.assertIn("not started", out)

    def test_second_ctrl_c_interrupts_the_running_points(self):
        recipe = str(HERE / "slow.recipe")
        p = subprocess.Popen([SQUEEZE, "sweep", recipe, "-p", "n=range(3)", "-p", "spin=[true]", "--name", "spin",
                              "--jobs", "1", "--history", self.db], cwd=self.dir, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        wait_until("a running point", lambda: safe_rows(
            self.db, "SELECT 1 FROM runs WHERE sweep = 'spin' AND status = 'running'"))
        p.send_signal(signal.SIGINT)
        # The second Ctrl-C once the first is acknowledged (two signals sent at once are one).
        first = p.stderr.readline()
        self.assertIn("stopping", first)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=HANG)
        self.assertEqual(p.returncode, 130, out + err)
        self.assertEqual([s for (s,) in rows(self.db, "SELECT status FROM runs WHERE sweep = 'spin'")], ["interrupted"])


def slurm_environment():
    """Starts the single-node cluster (Scripts/slurm); None, with the reason printed, if it cannot."""
    r = subprocess.run([str(ROOT / "Scripts" / "slurm"), "start"], capture_output=True, text=True, timeout=HANG)
    if r.returncode != 0:
        print(f"Slurm tests skipped: {r.stderr.strip()}")
        return None
    env = dict(os.environ, SLURM_CONF=str(ROOT / ".build-slurm" / "slurm.conf"))
    return env


SLURM = slurm_environment()


@unittest.skipIf(SLURM is None, "Scripts/slurm could not start a single-node cluster (reason printed above)")
class SlurmSweep(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="squeeze-slurm-")
        self.db = os.path.join(self.dir, "history.db")

    def sweep(self, *args, check=True):
        return squeeze("sweep", *args, "--history", self.db, cwd=self.dir, env=SLURM, check=check)

    def job_of(self, out):
        return out.split("submitted Slurm job ")[1].split(",")[0]

    def wait_for_job(self, job):
        wait_until(f"job {job} to leave squeue", lambda: subprocess.run(
            ["squeue", "-h", "-j", job], capture_output=True, text=True, env=SLURM).stdout.strip() == "")

    def test_job_array_collect_twice(self):
        r = self.sweep(str(HERE / "quant.recipe"), "-p", "bits=[2,3,4]", "-p", "group=[64,128]", "-p", "seed=range(2)",
                       "--name", "quant", "--engine", "slurm", "--max-parallel", "2")
        job = self.job_of(r.stdout)
        script = open(os.path.join(self.dir, "sweeps", "quant", "sweep-1.sbatch")).read()
        self.assertIn("#SBATCH --array=0-11%2", script)
        self.wait_for_job(job)
        status = self.sweep("status", "quant")
        self.assertIn("10 completed", status.stdout)
        self.assertIn("2 failed", status.stdout)
        self.assertEqual(len(os.listdir(os.path.join(self.dir, "sweeps", "quant", "shards"))) >= 12, True)
        first = self.sweep("collect", "quant")
        self.assertIn("12 runs added", first.stdout)
        second = self.sweep("collect", "quant")
        self.assertIn("0 runs added", second.stdout)
        self.assertIn("12 already collected", second.stdout)
        runs = rows(self.db, "SELECT id, uuid, status, sweep_point FROM runs WHERE sweep = 'quant'")
        self.assertEqual(len(runs), 12)
        self.assertEqual(len({u for _, u, _, _ in runs}), 12)
        failed = sorted(p for _, _, s, p in runs if s == "failed")
        self.assertEqual(failed, ["bits=3,group=128,seed=0", "bits=3,group=128,seed=1"])
        self.assertEqual(sum(s == "completed" for _, _, s, _ in runs), 10)
        metrics = rows(self.db, "SELECT count(*) FROM metrics m JOIN runs r ON r.id = m.run WHERE r.sweep = 'quant'")[0][0]
        self.assertEqual(metrics, 20)  # error and bpp of each completed point
        stored = rows(self.db, "SELECT a.sha256, a.kind, a.bytes FROM artifacts a JOIN runs r ON r.id = a.run "
                               "WHERE r.sweep = 'quant' AND a.stored = 1")
        self.assertEqual(len(stored), 10)
        for sha, kind, size in stored:
            copy = os.path.join(self.dir, "artifacts", sha[:2], f"{sha}.{kind}" if kind else sha)
            self.assertEqual(os.path.getsize(copy), size)
        shown = squeeze("runs", "--sweep", "quant", "--group-by", "bits,group", "--status", "completed",
                        "--history", self.db, cwd=self.dir)
        self.assertIn("bits", shown.stdout)
        self.assertIn("report.md", self.sweep("report", "quant").stdout)

    def test_killed_task_and_damaged_shard(self):
        r = self.sweep(str(HERE / "slow.recipe"), "-p", "spin=[false,true]", "--name", "faults", "--engine", "slurm")
        job = self.job_of(r.stdout)
        shard = os.path.join(self.dir, "sweeps", "faults", "shards", "1.db")
        pid = wait_until("the spinning task's run", lambda: safe_rows(shard, "SELECT pid FROM runs WHERE status = 'running'"))[0][0]
        os.kill(pid, signal.SIGKILL)
        self.wait_for_job(job)
        with open(os.path.join(self.dir, "sweeps", "faults", "shards", "7.db"), "wb") as f:
            f.write(b"this is not an SQLite database, it is a damaged shard" * 100)
        c = self.sweep("collect", "faults", check=False)
        self.assertEqual(c.returncode, 74, c.stdout + c.stderr)
        self.assertIn("7.db", c.stderr)
        self.assertIn("2 runs added", c.stdout)
        statuses = dict(rows(self.db, "SELECT sweep_point, status FROM runs WHERE sweep = 'faults'"))
        self.assertEqual(statuses, {"spin=false": "completed", "spin=true": "crashed"})
        status = self.sweep("status", "faults")
        self.assertIn("damaged shard", status.stdout)
        self.assertIn("crashed", status.stdout)


if __name__ == "__main__":
    unittest.main()
