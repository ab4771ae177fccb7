"""squeeze as a Jupyter kernel, tested by Jupyter's own clients.

Run by Scripts/test with the test venv's Python (jupyter_client, jupyter_kernel_test, nbconvert,
nbclient, nbformat, papermill, pyzmq and squeeze-jupyter from Jupyter/):

    .build-test/venv/bin/python -m pytest Tests/Kernel -q

SQUEEZE_TEST_BINARY names the squeeze binary (default .build/debug/squeeze). Every kernelspec,
history and file the tests make lives in one temporary folder. No test waits a fixed time: each
waits for the message it needs (with a generous hang guard), and latencies are printed, not asserted.
"""
import hashlib
import hmac
import json
import os
import pathlib
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest
import uuid

import jupyter_kernel_test
import nbformat
import zmq
from jupyter_client.manager import start_new_kernel

ROOT = pathlib.Path(__file__).resolve().parents[2]
SQUEEZE = str((ROOT / os.environ.get("SQUEEZE_TEST_BINARY", ".build/debug/squeeze")).resolve())
WORK = pathlib.Path(tempfile.mkdtemp(prefix="squeeze-kernel-test-"))
HISTORY = WORK / "history.db"
ALLOWED = WORK / "allowed"
ALLOWED.mkdir()
os.environ["JUPYTER_DATA_DIR"] = str(WORK / "jupyter")
os.environ["JUPYTER_RUNTIME_DIR"] = str(WORK / "runtime")
os.environ.pop("SQUEEZE_SEED", None)
# Kernels start in the working directory: the notebook's folder is WORK/notebooks.
NOTEBOOKS = WORK / "notebooks"
NOTEBOOKS.mkdir()
os.chdir(NOTEBOOKS)
HANG = 120  # seconds: only a hang guard, never a timing assertion


def squeeze(*args, env=None, check=True):
    r = subprocess.run([SQUEEZE, *args], capture_output=True, text=True, env=env, cwd=NOTEBOOKS)
    if check and r.returncode != 0:
        raise AssertionError(f"squeeze {' '.join(args)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
    return r


def install(name, *kernel_args):
    squeeze("kernel", "install", "--name", name, "--", "--history", str(HISTORY), *kernel_args)


install("squeeze-test")
install("squeeze-allow", "--allow-write", str(ALLOWED))


def drain_until_idle(kc, msg_id, timeout=HANG):
    """IOPub messages of one request up to its idle status."""
    out = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = kc.get_iopub_msg(timeout=deadline - time.monotonic())
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return out
        if msg["msg_type"] not in ("status", "execute_input"):
            out.append(msg)
    raise AssertionError("no idle status")


def run(kc, code):
    """Executes code; returns (reply content, iopub messages)."""
    msg_id = kc.execute(code)
    reply = kc.get_shell_msg(timeout=HANG)
    assert reply["parent_header"]["msg_id"] == msg_id
    return reply["content"], drain_until_idle(kc, msg_id)


def streams(msgs, name="stdout"):
    return "".join(m["content"]["text"] for m in msgs if m["msg_type"] == "stream" and m["content"]["name"] == name)


def kernel_pid(km):
    return km.provisioner.process.pid


class SqueezeKernelTests(jupyter_kernel_test.KernelTests):
    """The Jupyter project's own conformance tests, with squeeze code samples."""

    kernel_name = "squeeze-test"
    language_name = "squeeze"
    file_extension = ".recipe"
    code_hello_world = 'print("hello, world")'
    code_stderr = 'warn("careful")'
    completion_samples = [
        {"text": "plot.spe", "matches": {"spectrum"}},
        {"text": "kmea", "matches": {"kmeans"}},
        {"text": "x = svd(randn(3, 3), ran", "matches": {"rank:", "rand", "randint", "randn", "range"}},
    ]
    complete_code_samples = ["x = 1", "fn f(a) {\n  return a\n}", 'print("a")', "?svd"]
    incomplete_code_samples = ["fn f(a) {", "x = [1, 2,", "y = 1 +", "for i in range(3) {\n  print(i)"]
    invalid_code_samples = ["x = )", "x = = 2", "1 2"]
    code_generate_error = 'assert(false, "boom")'
    code_execute_result = [
        {"code": "1 + 1", "result": "2"},
        {"code": "x = 6\nx * 7", "result": "42"},
        {"code": "randn(2, 3, seed: 1)", "mime": "text/html"},
        {"code": "[{method: \"RTN\", bits: 4}, {method: \"GPTQ\", bits: 3}]", "mime": "text/html"},
    ]
    code_display_data = [{"code": 'plot.line([1, 2, 3], [1, 4, 9], to: "kt.png")', "mime": "image/png"}]
    code_history_pattern = "1 + *"
    supported_history_operations = ("tail", "range", "search")
    code_inspect_sample = "svd"


class Installation(unittest.TestCase):
    def test_jupyter_lists_the_kernelspec(self):
        r = subprocess.run([sys.executable, "-m", "jupyter", "kernelspec", "list", "--json"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        spec = json.loads(r.stdout)["kernelspecs"]["squeeze-test"]["spec"]
        self.assertEqual(spec["argv"][:4], [SQUEEZE, "kernel", "-f", "{connection_file}"])
        self.assertEqual(spec["argv"][4:], ["--history", str(HISTORY)])
        self.assertEqual((spec["language"], spec["interrupt_mode"]), ("squeeze", "message"))

    def test_install_refuses_two_places(self):
        r = squeeze("kernel", "install", "--user", "--prefix", str(WORK / "p"), check=False)
        self.assertEqual(r.returncode, 64)
        self.assertIn("at most one of --user, --sys-prefix and --prefix", r.stderr)
        r = squeeze("kernel", "install", "--prefix", str(WORK / "p"), "--name", "squeeze-prefix")
        self.assertTrue((WORK / "p/share/jupyter/kernels/squeeze-prefix/kernel.json").exists())

    def test_a_bad_connection_file_is_a_clear_error(self):
        bad = WORK / "bad.json"
        bad.write_text('{"shell_port": "x"}')
        r = squeeze("kernel", "-f", str(bad), "--no-history", check=False)
        self.assertEqual(r.returncode, 64)
        self.assertIn("'shell_port' must be a port number", r.stderr)

    def test_the_pygments_lexer_the_kernel_names_highlights_recipes(self):
        from pygments.lexers import get_lexer_by_name
        from pygments.token import Comment, Keyword, Name, String
        km, kc = start_new_kernel(kernel_name="squeeze-test")
        try:
            kc.kernel_info()
            info = kc.get_shell_msg(timeout=HANG)["content"]["language_info"]
        finally:
            kc.stop_channels()
            km.shutdown_kernel()
        lexer = get_lexer_by_name(info["pygments_lexer"])
        tokens = [(t, v) for t, v in lexer.get_tokens('fn f(x) { return quantize(x, bits: 4) }  # note\ns = "a\\(1)"')]
        self.assertIn((Keyword, "fn"), tokens)
        self.assertIn((Name.Function, "quantize"), tokens)
        self.assertIn((Name.Attribute, "bits"), tokens)
        self.assertIn((Comment.Single, "# note"), tokens)
        self.assertIn((String.Interpol, "\\("), tokens)


class Outputs(unittest.TestCase):
    """What a cell shows: values, plots, errors with the caret, completion of live values."""

    @classmethod
    def setUpClass(cls):
        cls.km, cls.kc = start_new_kernel(kernel_name="squeeze-test")

    @classmethod
    def tearDownClass(cls):
        cls.kc.stop_channels()
        cls.km.shutdown_kernel()

    def test_error_is_rendered_with_the_caret(self):
        reply, msgs = run(self.kc, "a = 1\nb = a + nope")
        self.assertEqual(reply["status"], "error")
        err = [m for m in msgs if m["msg_type"] == "error"][0]["content"]
        self.assertEqual(err["ename"], "Error")
        self.assertIn("unknown name 'nope'", err["evalue"])
        self.assertRegex(err["traceback"][0], r"^In \[\d+\]:2:9: error: unknown name 'nope'")
        self.assertTrue(any("^~~~" in line for line in err["traceback"]), err["traceback"])
        # The variable set before the error is kept.
        reply, msgs = run(self.kc, "a")
        self.assertEqual([m["content"]["data"]["text/plain"] for m in msgs if m["msg_type"] == "execute_result"], ["1"])

    def test_earlier_values_are_displayed_and_the_last_is_the_result(self):
        reply, msgs = run(self.kc, "2 + 3\nprint(\"between\")\n10 * 10")
        kinds = [m["msg_type"] for m in msgs]
        self.assertEqual(kinds, ["display_data", "stream", "execute_result"])
        self.assertEqual(msgs[0]["content"]["data"]["text/plain"], "5")
        self.assertEqual(msgs[2]["content"]["data"]["text/plain"], "100")

    def test_a_plot_is_an_inline_png_and_its_path_is_not_repeated(self):
        reply, msgs = run(self.kc, 'plot.spectrum(svd(randn(20, 10, seed: 3)).S, to: "spec.png")')
        images = [m for m in msgs if m["msg_type"] == "display_data" and "image/png" in m["content"]["data"]]
        self.assertEqual(len(images), 1)
        import base64
        png = base64.b64decode(images[0]["content"]["data"]["image/png"])
        self.assertEqual(png[:8], b"\x89PNG\r\n\x1a\n")
        self.assertEqual(png, (NOTEBOOKS / "spec.png").read_bytes())
        self.assertFalse([m for m in msgs if m["msg_type"] == "execute_result"])

    def test_completion_of_live_fields_and_named_arguments_and_paths(self):
        run(self.kc, "f = svd(randn(4, 3, seed: 1))")
        self.kc.complete("f.")
        self.assertEqual(set(self.kc.get_shell_msg(timeout=HANG)["content"]["matches"]), {"U", "S", "Vt"})
        self.kc.complete("kmeans(X, 3, se")
        self.assertIn("seed:", self.kc.get_shell_msg(timeout=HANG)["content"]["matches"])
        (NOTEBOOKS / "data-dir").mkdir(exist_ok=True)
        (NOTEBOOKS / "data-dir" / "weights.npy").write_bytes(b"")
        code = 'load("data-dir/we'
        self.kc.complete(code)
        c = self.kc.get_shell_msg(timeout=HANG)["content"]
        self.assertEqual(c["matches"], ["weights.npy"])
        self.assertEqual((c["cursor_start"], c["cursor_end"]), (len(code) - 2, len(code)))

    def test_inspect_a_variable_and_help_in_a_cell(self):
        run(self.kc, "M = randn(5, 7, seed: 2)")
        self.kc.inspect("M + 1", 1)
        c = self.kc.get_shell_msg(timeout=HANG)["content"]
        self.assertTrue(c["found"])
        self.assertIn("tensor 5×7 f32", c["data"]["text/plain"])
        self.kc.inspect("no_such_thing", 3)
        self.assertFalse(self.kc.get_shell_msg(timeout=HANG)["content"]["found"])
        reply, msgs = run(self.kc, "?kmeans")
        self.assertIn("kmeans(", streams(msgs))

    def test_outside_writes_are_refused_by_the_sandbox(self):
        outside = WORK / "outside" / "p.png"
        reply, msgs = run(self.kc, f'plot.line([1, 2], [3, 4], to: "{outside}")')
        self.assertEqual(reply["status"], "error")
        self.assertFalse(outside.exists())


class Notebooks(unittest.TestCase):
    """nbconvert and papermill run notebooks on the kernel; the history keeps each session."""

    def execute(self, notebook, *extra, env=None):
        out = notebook.with_name(notebook.stem + "-executed.ipynb")
        r = subprocess.run(
            [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute", str(notebook), "--output",
             out.name, "--ExecutePreprocessor.kernel_name=squeeze-test", "--ExecutePreprocessor.timeout=600", *extra],
            capture_output=True, text=True, env=env, cwd=notebook.parent)
        self.assertEqual(r.returncode, 0, r.stderr)
        nb = nbformat.read(out, as_version=4)
        nbformat.validate(nb)
        return nb

    @staticmethod
    def printed(nb):
        return "".join(o["text"] for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "stream")

    def runs(self):
        db = sqlite3.connect(HISTORY)
        try:
            return db.execute("SELECT id, kind, status, seed, source FROM runs ORDER BY id").fetchall()
        finally:
            db.close()

    def test_generated_notebook_is_up_to_date(self):
        r = subprocess.run([sys.executable, str(ROOT / "Scripts/generate/notebooks.py"), "--check"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_quickstart_notebook_prints_what_the_recipe_prints(self):
        folder = WORK / "quickstart"
        folder.mkdir()
        shutil.copy(ROOT / "Examples/quickstart.ipynb", folder)
        recipe = squeeze("run", str(ROOT / "Examples/quickstart.recipe"), "--no-history", "--out", str(WORK / "recipe-out"))
        before = {r[0] for r in self.runs()}
        nb = self.execute(folder / "quickstart.ipynb")
        self.assertEqual(self.printed(nb), recipe.stdout)
        pngs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
                if o.output_type == "display_data" and "image/png" in o.data]
        self.assertEqual(len(pngs), 1)  # the recipe's one plot
        self.assertTrue((folder / "quickstart_spectrum.png").exists())

        # The session is a notebook run; exported, it carries the outputs, and executes the same way.
        new = [r for r in self.runs() if r[0] not in before]
        self.assertEqual(len(new), 1)
        run_id, kind, status, seed, source = new[0]
        self.assertEqual((kind, status), ("notebook", "completed"))
        self.assertIn("# %% In [1]", source)
        exported = folder / "exported.ipynb"
        squeeze("export", str(run_id), "--format", "ipynb", "-o", str(exported), "--history", str(HISTORY))
        enb = nbformat.read(exported, as_version=4)
        nbformat.validate(enb)
        self.assertEqual(self.printed(enb), recipe.stdout)
        self.assertEqual(enb.metadata.kernelspec.name, "squeeze")
        again = self.execute(exported, env={**os.environ, "SQUEEZE_SEED": str(seed)})
        self.assertEqual(self.printed(again), recipe.stdout)

    def test_papermill_parameters_override_the_parameters_cell(self):
        pm = shutil.which("squeeze-papermill", path=str(pathlib.Path(sys.executable).parent))
        self.assertIsNotNone(pm, "squeeze-papermill is installed from Jupyter/ by Scripts/test")
        folder = WORK / "papermill"
        folder.mkdir()
        shutil.copy(ROOT / "Examples/quickstart.ipynb", folder)
        before = {r[0] for r in self.runs()}
        r = subprocess.run([pm, "quickstart.ipynb", "out.ipynb", "-p", "rank", "8", "-k", "squeeze-test"],
                           capture_output=True, text=True, cwd=folder)
        self.assertEqual(r.returncode, 0, r.stderr)
        recipe = squeeze("run", str(ROOT / "Examples/quickstart.recipe"), "-p", "rank=8", "--no-history", "--out", str(WORK / "pm-out"))
        self.assertEqual(self.printed(nbformat.read(folder / "out.ipynb", as_version=4)), recipe.stdout)
        run_id = [r[0] for r in self.runs() if r[0] not in before][0]
        shown = squeeze("show", str(run_id), "--history", str(HISTORY)).stdout
        self.assertRegex(shown, r"rank\s+8\s+.*4")


class Interrupts(unittest.TestCase):
    def interrupt_kmeans(self, send):
        km, kc = start_new_kernel(kernel_name="squeeze-test")
        try:
            reply, _ = run(kc, "X = randn(200000, 16, seed: 1)")
            self.assertEqual(reply["status"], "ok")
            msg_id = kc.execute('print("started")\nc = kmeans(X, 512, iters: 500, seed: 2)')
            while True:
                m = kc.get_iopub_msg(timeout=HANG)
                if m["parent_header"].get("msg_id") == msg_id and m["msg_type"] == "stream":
                    break
            t0 = time.monotonic()
            send(km)
            msgs = drain_until_idle(kc, msg_id)
            latency = time.monotonic() - t0
            errors = [m["content"] for m in msgs if m["msg_type"] == "error"]
            self.assertEqual([e["ename"] for e in errors], ["KeyboardInterrupt"])
            reply = kc.get_shell_msg(timeout=HANG)["content"]
            self.assertEqual(reply["status"], "error")
            print(f"\n  interrupt → error: {latency * 1000:.0f} ms", file=sys.stderr)
            reply, msgs = run(kc, "shape(X)")
            self.assertEqual([m["content"]["data"]["text/plain"] for m in msgs if m["msg_type"] == "execute_result"], ["[200000, 16]"])
        finally:
            kc.stop_channels()
            km.shutdown_kernel()

    def test_interrupt_request_on_the_control_channel(self):
        self.interrupt_kmeans(lambda km: km.interrupt_kernel())

    def test_sigint(self):
        self.interrupt_kmeans(lambda km: os.kill(kernel_pid(km), signal.SIGINT))


class Protocol(unittest.TestCase):
    """Raw messages on the shell socket: signatures, malformed JSON, unknown types, the bind address."""

    @classmethod
    def setUpClass(cls):
        cls.log = WORK / "protocol-kernel.log"
        cls.km, cls.kc = start_new_kernel(kernel_name="squeeze-test", stderr=open(cls.log, "w"))
        info = cls.km.get_connection_info()
        cls.info = info
        cls.key = info["key"].decode() if isinstance(info["key"], bytes) else info["key"]
        cls.ctx = zmq.Context()
        cls.sock = cls.ctx.socket(zmq.DEALER)
        cls.sock.connect(f"tcp://{info['ip']}:{info['shell_port']}")

    @classmethod
    def tearDownClass(cls):
        cls.sock.close(0)
        cls.ctx.term()
        cls.kc.stop_channels()
        cls.km.shutdown_kernel()

    def frames(self, msg_type, content, key=None, raw_content=None, signature=None):
        header = json.dumps({"msg_id": uuid.uuid4().hex, "session": "raw", "username": "t", "date": "2026-01-01T00:00:00Z",
                             "msg_type": msg_type, "version": "5.3"}).encode()
        parts = [header, b"{}", b"{}", raw_content if raw_content is not None else json.dumps(content).encode()]
        k = self.key if key is None else key
        sig = hmac.new(k.encode(), b"".join(parts), hashlib.sha256).hexdigest().encode() if signature is None else signature
        return json.loads(header)["msg_id"], [b"<IDS|MSG>", sig] + parts

    def reply_to(self, msg_id):
        poller = zmq.Poller()
        poller.register(self.sock, zmq.POLLIN)
        deadline = time.monotonic() + HANG
        while time.monotonic() < deadline:
            if poller.poll(1000):
                f = self.sock.recv_multipart()
                d = f.index(b"<IDS|MSG>")
                parent = json.loads(f[d + 3])
                header = json.loads(f[d + 2])
                if parent.get("msg_id") == msg_id:
                    return header["msg_type"], json.loads(f[d + 5])
                self.fail(f"a reply to another message came first: {header['msg_type']} to {parent.get('msg_id')}")
        self.fail("no reply")

    def test_wrong_or_missing_signatures_are_not_executed(self):
        for kwargs in ({"key": "not-the-key"}, {"signature": b""}, {"signature": b"0" * 64}):
            _, f = self.frames("execute_request", {"code": "forged = 1", "silent": False}, **kwargs)
            self.sock.send_multipart(f)
        # Shell requests are served in order: this reply comes after the forged ones were handled.
        msg_id, f = self.frames("execute_request", {"code": "forged", "silent": False, "store_history": False})
        self.sock.send_multipart(f)
        kind, content = self.reply_to(msg_id)
        self.assertEqual(kind, "execute_reply")
        self.assertEqual(content["status"], "error")
        self.assertIn("unknown name 'forged'", content["evalue"])
        # Each refusal is logged on the kernel's stderr (written before the next request was read).
        self.assertGreaterEqual(self.log.read_text().count("refused a message on shell: wrong or missing HMAC signature"), 3)

    def test_malformed_json_and_unknown_types_get_error_replies(self):
        msg_id, f = self.frames("execute_request", None, raw_content=b"{not json")
        self.sock.send_multipart(f)
        kind, content = self.reply_to(msg_id)
        self.assertEqual((kind, content["status"], content["ename"]), ("execute_reply", "error", "BadMessage"))
        msg_id, f = self.frames("frobnicate_request", {})
        self.sock.send_multipart(f)
        kind, content = self.reply_to(msg_id)
        self.assertEqual((kind, content["status"]), ("frobnicate_reply", "error"))
        msg_id, f = self.frames("kernel_info_request", {})
        self.sock.send_multipart(f)
        self.assertEqual(self.reply_to(msg_id)[0], "kernel_info_reply")

    def test_sockets_are_bound_to_the_connection_files_address_only(self):
        ports = {self.info[k] for k in ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")}
        listening = {}
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            if not os.path.exists(table):
                continue
            for line in open(table).read().splitlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                addr, port = local.rsplit(":", 1)
                if state == "0A" and int(port, 16) in ports:
                    listening[int(port, 16)] = addr
        self.assertEqual(set(listening), ports)
        self.assertTrue(all(a == "0100007F" for a in listening.values()), listening)


class Sandbox(unittest.TestCase):
    def test_kernelspec_arguments_allow_a_directory(self):
        km, kc = start_new_kernel(kernel_name="squeeze-allow")
        try:
            target = ALLOWED / "ok.png"
            reply, _ = run(kc, f'plot.line([1, 2], [3, 4], to: "{target}")')
            self.assertEqual(reply["status"], "ok")
            self.assertTrue(target.exists())
            elsewhere = WORK / "elsewhere" / "no.png"
            reply, _ = run(kc, f'plot.line([1, 2], [3, 4], to: "{elsewhere}")')
            self.assertEqual(reply["status"], "error")
            self.assertFalse(elsewhere.exists())
        finally:
            kc.stop_channels()
            km.shutdown_kernel()


class Lifecycle(unittest.TestCase):
    def test_restart_gives_a_fresh_session_and_both_are_recorded(self):
        km, kc = start_new_kernel(kernel_name="squeeze-test")
        try:
            run(kc, "kept = 41")
            before = kernel_pid(km)
            km.restart_kernel()
            kc.wait_for_ready(timeout=HANG)
            self.assertNotEqual(kernel_pid(km), before)
            reply, _ = run(kc, "kept")
            self.assertEqual(reply["status"], "error")
            self.assertIn("unknown name 'kept'", reply["evalue"])
        finally:
            kc.stop_channels()
            km.shutdown_kernel()
        db = sqlite3.connect(HISTORY)
        rows = db.execute("SELECT kind, status, source FROM runs WHERE source LIKE '%kept%' ORDER BY id").fetchall()
        db.close()
        self.assertEqual([(k, s) for k, s, _ in rows], [("notebook", "completed"), ("notebook", "completed")])
        self.assertIn("# %% In [1]\nkept = 41", rows[0][2])


class Soak(unittest.TestCase):
    def test_a_thousand_executions_without_memory_growth(self):
        km, kc = start_new_kernel(kernel_name="squeeze-test")
        try:
            pid = kernel_pid(km)

            def rss():
                for line in open(f"/proc/{pid}/status"):
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])

            cells = ["A = randn(64, 64)\nB = A @ A.T\nsum(B)", 'print("step", 1)', "s = svd(A).S\ns[0:3]",
                     "r = {a: 1, b: [1, 2, 3]}\nr", "undefined_thing"]
            warm = None
            for i in range(1000):
                run(kc, cells[i % len(cells)])
                if i == 199:
                    warm = rss()
            end = rss()
            print(f"\n  kernel RSS after warm-up {warm} kB, after 1,000 executions {end} kB ({(end / warm - 1) * 100:+.1f}%)",
                  file=sys.stderr)
            self.assertLessEqual(end, warm * 1.10)
        finally:
            kc.stop_channels()
            km.shutdown_kernel()


if __name__ == "__main__":
    unittest.main()
