#!/usr/bin/env python3
"""Regenerates what README.md and docs/*.md quote from squeeze — recipe outputs, shell sessions,
run times and the plots in docs/plots — from a run of the current code, so quoted numbers and
pictures cannot drift from what squeeze does.

Marks in the Markdown:

    <!-- output: Examples/quickstart.recipe [--seed 1] [| lines matching REGEX | lines 1-3] -->
    ```
    …the recipe's standard output…
    ```

    <!-- session -->
    ```
    $ squeeze run Examples/sweep.recipe -p rank=2     # each `$ ` line is run by bash,
    …its output…                                      # its output follows it
    ```

    <!-- time: Examples/minilm-quantization.recipe -->75 s<!-- /time -->

Recipes run with the release binary (`Scripts/squeeze`), `--seed 1` unless the mark gives one,
writing into a temporary folder with no history. A session runs in a temporary folder holding a
copy of Examples/, with `squeeze` on the PATH and a fresh history. A time is the wall time of the
recipe's run. Every PNG in docs/plots that an example recipe writes is replaced by the one it
wrote. The line `<!-- outputs made … -->` after the marks says when, where and under what load.

    Scripts/generate/outputs.py [--sessions | --only RECIPE] [FILE.md …]
                                    (default: README.md, docs/*.md, docs/plots; FILE.md: its marks and the
                                     plots it shows; --sessions: the session blocks only; --only RECIPE:
                                     that recipe's outputs, times and plots only, e.g. one long example)
    Scripts/generate/outputs.py --check DIR [FILE.md …]   (quoted outputs against DIR/<recipe>.out)"""
import datetime
import glob
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SQUEEZE = os.path.join(ROOT, "Scripts", "squeeze")
MARK = re.compile(r"<!-- output: (?P<recipe>\S+)(?P<args>(?: --?\S+(?: \S+)?)*?)(?: \| (?P<filter>.+?))? -->\n```[a-z]*\n(?P<body>.*?)```",
                  re.S)
SESSION = re.compile(r"<!-- session(?: keep: (?P<keep>[^>]*?))? -->\n```[a-z]*\n(?P<body>.*?)```", re.S)
TIME = re.compile(r"<!-- time: (?P<recipe>\S+) -->(?P<text>.*?)<!-- /time -->")
STAMP = re.compile(r"<!-- outputs made[^>]*-->")
runs = {}


def run(recipe, args=""):
    """The recipe's output, output folder and wall time (each recipe and arguments run once)."""
    key = (recipe, args.strip())
    if key not in runs:
        out = tempfile.mkdtemp(prefix="squeeze-outputs-")
        argv = [SQUEEZE, "run", os.path.join(ROOT, recipe), "--out", out, "--no-history", "--quiet"] + (
            args.split() if args.strip() else ["--seed", "1"])
        start = time.monotonic()
        text = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=True).stdout
        runs[key] = (text, out, time.monotonic() - start)
    return runs[key]


def keep(text, spec):
    span = re.fullmatch(r"lines (\d+)-(\d+)", spec or "")
    if span:
        return "".join(line + "\n" for line in text.splitlines()[int(span[1]) - 1:int(span[2])])
    if spec:
        return "".join(line + "\n" for line in text.splitlines() if re.search(spec, line))
    return text


def session(body, kept=None):
    """Runs each `$ ` line of a session block in a scratch folder and puts its output after it;
    `kept` ("SRC=DEST, …") names files the session wrote to copy into docs/ (a sweep's plots)."""
    work = tempfile.mkdtemp(prefix="squeeze-session-")
    shutil.copytree(os.path.join(ROOT, "Examples"), os.path.join(work, "Examples"))
    env = dict(os.environ, PATH=os.path.join(ROOT, "Scripts") + os.pathsep + os.environ["PATH"],
               SQUEEZE_HISTORY=os.path.join(work, "history.db"))
    slurm = os.path.join(ROOT, ".build-slurm", "slurm.conf")
    if os.path.exists(slurm) and "SLURM_CONF" not in env:   # Scripts/slurm start's cluster
        env["SLURM_CONF"] = slurm
    out = ""
    for line in body.splitlines():
        if not line.startswith("$ "):
            continue
        command = re.sub(r"\s+#.*$", "", line[2:])
        result = subprocess.run(["bash", "-c", command],
                                cwd=work, env=env, capture_output=True, text=True)
        out += line + "\n" + result.stdout
    for pair in filter(None, (kept or "").split(",")):
        src, dest = (s.strip() for s in pair.split("="))
        shutil.copyfile(os.path.join(work, src), os.path.join(ROOT, "docs", dest))
    shutil.rmtree(work, ignore_errors=True)
    return out


def duration(seconds):
    if seconds < 60:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    whole = round(seconds)   # whole seconds first, so 1,439.6 s reads 24 min 0 s, not 23 min 60 s
    return f"{whole // 60} min {whole % 60} s"


def blas_core():
    """OpenBLAS's kernel family on this CPU (SkylakeX, Zen, Haswell…), as `squeeze --version` says."""
    text = subprocess.run([SQUEEZE, "--version"], capture_output=True, text=True).stdout
    found = re.search(r"BLAS core: ([^,\n]+)", text)
    return found[1].strip() if found else "unknown"


def machine():
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"{platform.node()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, OpenBLAS core {blas_core()}, "
            f"load average {load}")


def regenerate(path):
    text = open(path, encoding="utf-8").read()
    count = 0

    def output(m):
        nonlocal count
        if only and m["recipe"] != only:
            return m.group(0)
        count += 1
        body = keep(run(m["recipe"], m["args"] or "")[0], m["filter"])
        if m["body"].startswith("$ "):   # a shown command line stays
            body = m["body"].split("\n", 1)[0] + "\n" + body
        return m.group(0)[: m.start("body") - m.start(0)] + body + "```"

    def shell(m):
        nonlocal count
        count += 1
        return m.group(0)[: m.start("body") - m.start(0)] + session(m["body"], m["keep"]) + "```"

    def timed(m):
        nonlocal count
        if only and m["recipe"] != only:
            return m.group(0)
        count += 1
        return f"<!-- time: {m['recipe']} -->{duration(run(m['recipe'])[2])}<!-- /time -->"

    if sessions_only:
        new = SESSION.sub(shell, text)
    elif only:
        new = TIME.sub(timed, MARK.sub(output, text))
    else:
        new = TIME.sub(timed, SESSION.sub(shell, MARK.sub(output, text)))
    if count:
        stamp = f"<!-- outputs made {datetime.date.today().isoformat()} by Scripts/generate/outputs.py on {machine()} -->"
        new = STAMP.sub(stamp, new) if STAMP.search(new) else new
    if new != text:
        open(path, "w", encoding="utf-8").write(new)
    print(f"{os.path.relpath(path, ROOT)}: {count} block{'s' if count != 1 else ''} regenerated")


def plots():
    """docs/plots/*.png from the example recipes that write them."""
    shown = {os.path.basename(p) for p in glob.glob(os.path.join(ROOT, "docs", "plots", "*.png"))}
    found = set()
    for recipe in sorted(glob.glob(os.path.join(ROOT, "Examples", "*.recipe"))):
        out = run(os.path.relpath(recipe, ROOT))[1]
        for png in glob.glob(os.path.join(out, "*.png")):
            name = os.path.basename(png)
            if name in shown:
                shutil.copyfile(png, os.path.join(ROOT, "docs", "plots", name))
                found.add(name)
    print(f"docs/plots: {len(found)} of {len(shown)} plots regenerated" +
          (f"; not written by any example: {', '.join(sorted(shown - found))}" if shown - found else ""))


NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def same(quoted, fresh, tolerance=1e-6):
    """Equal text, numbers equal to a relative `tolerance` (another CPU's BLAS kernels may move
    the last digits; the same machine gives the same bytes)."""
    if NUMBER.sub("#", quoted) != NUMBER.sub("#", fresh):
        return False
    if tolerance == float("inf"):
        return True
    for a, b in zip(NUMBER.findall(quoted), NUMBER.findall(fresh)):
        x, y = float(a), float(b)
        if abs(x - y) > tolerance * max(abs(x), abs(y), 1e-300) and x != y:
            return False
    return True


def check(outputs):
    """`--check DIR`: every output block quoted in the docs against DIR/<recipe name>.out, the
    standard output of a `--seed 1` run (Scripts/test writes them); exits 1 on a difference."""
    bad = 0
    here = blas_core()
    loose = []
    for path in files:
        text = open(path, encoding="utf-8").read()
        # Numbers are compared where the quotes were made with this machine's OpenBLAS kernels. On
        # another kernel family the last digits move, and GPTQ's sequential calibration amplifies
        # them (SmolLM2 GPTQ-3 perplexity 74.1 on Zen, 77.8 on SkylakeX): there the text is
        # compared with its numbers masked, and the docs say which kernels made their numbers.
        made = re.search(r"<!-- outputs made [^>]*OpenBLAS core ([^,>]+)", text)
        tolerance = 1e-6
        if made and made[1].strip() != here:
            tolerance = float("inf")
            loose.append(f"{os.path.relpath(path, ROOT)} ({made[1].strip()})")
        for m in MARK.finditer(text):
            if (m["args"] or "").strip() not in ("", "--seed 1"):
                continue
            name = os.path.join(outputs, os.path.basename(m["recipe"]) + ".out")
            if not os.path.exists(name):
                continue
            fresh = keep(open(name, encoding="utf-8").read(), m["filter"])
            quoted = m["body"].split("\n", 1)[1] if m["body"].startswith("$ ") else m["body"]
            if not same(quoted, fresh, tolerance):
                bad += 1
                print(f"{os.path.relpath(path, ROOT)}: the output of {m['recipe']} quoted there is not what it prints now "
                      f"(Scripts/generate/outputs.py regenerates it):\n--- quoted\n{quoted}--- now\n{fresh}", file=sys.stderr)
    if loose:
        print(f"quoted outputs made on other OpenBLAS kernels than this machine's {here}, compared as text with numbers masked: "
              + ", ".join(loose))
    print(f"quoted outputs: {'all match' if not bad else f'{bad} differ'}")
    sys.exit(1 if bad else 0)


args = sys.argv[1:]
# --sessions: only the session blocks (the recipes' outputs and times stay as they are).
sessions_only = "--sessions" in args
args = [a for a in args if a != "--sessions"]
# --only RECIPE: only that recipe's outputs and times (and the plots it writes) in the named files.
only = None
if "--only" in args:
    i = args.index("--only")
    if i + 1 >= len(args):
        sys.exit("--only needs a recipe, e.g. --only Examples/llm-toolbox.recipe")
    only = args[i + 1]
    del args[i:i + 2]
checking = args[:1] == ["--check"]
if checking:
    args = args[2:] if len(args) > 1 else sys.exit("--check needs the folder of the runs' outputs")
files = [os.path.abspath(f) for f in args] or [os.path.join(ROOT, "README.md")] + [
    os.path.join(ROOT, "docs", f) for f in sorted(os.listdir(os.path.join(ROOT, "docs"))) if f.endswith(".md")]
if checking:
    check(sys.argv[2])
for f in files:
    regenerate(f)
if not args and not sessions_only:
    plots()
elif not sessions_only:
    # Named files: the plots they show (docs/plots/NAME.png) from the recipes their marks ran.
    for f in files:
        for name in re.findall(r"plots/([\w.-]+\.png)", open(f, encoding="utf-8").read()):
            for (_, out, _) in runs.values():
                if os.path.exists(os.path.join(out, name)):
                    shutil.copyfile(os.path.join(out, name), os.path.join(ROOT, "docs", "plots", name))
                    print(f"docs/plots/{name} regenerated")
