#!/usr/bin/env python3
"""Regenerates the recipe outputs quoted in README.md and docs/*.md from a run of the current code,
so quoted numbers cannot drift from what squeeze prints.

A quoted block is marked in the Markdown as

    <!-- output: Examples/quickstart.recipe [--seed 1] [| lines matching REGEX] -->
    ```
    …replaced…
    ```

The recipe runs with the release binary (`Scripts/squeeze`), `--seed 1` unless the marker gives
one, writing into a temporary folder with no history. A `|` filter keeps only the lines that match
the regular expression. The line after the last marker of a file says when and where the outputs
were made.   Scripts/generate/outputs.py [FILE.md …]"""
import datetime
import os
import platform
import re
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MARK = re.compile(r"<!-- output: (?P<recipe>\S+)(?P<args>(?: --?\S+(?: \S+)?)*?)(?: \| (?P<filter>.+?))? -->\n```[a-z]*\n(?P<body>.*?)```",
                  re.S)
STAMP = re.compile(r"<!-- outputs made .*? -->")


def run(recipe, args, keep):
    out = tempfile.mkdtemp(prefix="squeeze-outputs-")
    argv = [os.path.join(ROOT, "Scripts", "squeeze"), "run", os.path.join(ROOT, recipe), "--out", out, "--no-history",
            "--quiet"] + (args.split() if args.strip() else ["--seed", "1"])
    text = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    span = re.fullmatch(r"lines (\d+)-(\d+)", keep or "")
    if span:
        text = "".join(line + "\n" for line in text.splitlines()[int(span[1]) - 1:int(span[2])])
    elif keep:
        text = "".join(line + "\n" for line in text.splitlines() if re.search(keep, line))
    return text


def machine():
    cores = os.cpu_count()
    return f"{platform.node()}, {cores} cores, {platform.system()} {platform.release()}"


def regenerate(path):
    text = open(path, encoding="utf-8").read()
    count = 0

    def replace(m):
        nonlocal count
        count += 1
        body = run(m["recipe"], m["args"] or "", m["filter"])
        if m["body"].startswith("$ "):   # a shown command line stays
            body = m["body"].split("\n", 1)[0] + "\n" + body
        return m.group(0)[: m.start("body") - m.start(0)] + body + "```"

    new = MARK.sub(replace, text)
    if count:
        stamp = f"<!-- outputs made {datetime.date.today().isoformat()} by Scripts/generate/outputs.py on {machine()} -->"
        new = STAMP.sub(stamp, new) if STAMP.search(new) else new
    if new != text:
        open(path, "w", encoding="utf-8").write(new)
    print(f"{os.path.relpath(path, ROOT)}: {count} output block{'s' if count != 1 else ''} regenerated")


files = sys.argv[1:] or [os.path.join(ROOT, "README.md")] + [
    os.path.join(ROOT, "docs", f) for f in sorted(os.listdir(os.path.join(ROOT, "docs"))) if f.endswith(".md")]
for f in files:
    regenerate(f)
