#!/usr/bin/env python3
"""Writes Examples/quickstart.ipynb from Examples/quickstart.recipe (nbformat 4.5, outputs stripped).

Each `# %% Title` cell of the recipe becomes a Markdown cell (the title) and a code cell (its
statements); what precedes the first marker is the first code cell, tagged `parameters` when it
declares a `param` (papermill's convention). The kernel test checks the notebook is up to date.

  python3 Scripts/generate/notebooks.py           write the notebook
  python3 Scripts/generate/notebooks.py --check   exit 1 if it differs from what would be written
"""
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
PAIRS = [("Examples/quickstart.recipe", "Examples/quickstart.ipynb")]


def lines(text):
    parts = text.split("\n")
    return [p + "\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def notebook(recipe_text, name):
    cells = []
    chunks = [[]]
    titles = [None]
    for line in recipe_text.split("\n"):
        if line.startswith("# %%"):
            chunks.append([])
            titles.append(line[4:].strip())
        else:
            chunks[-1].append(line)
    for k, (title, body) in enumerate(zip(titles, chunks)):
        code = "\n".join(body).strip("\n")
        if title:
            cells.append({"cell_type": "markdown", "id": f"title-{k}", "metadata": {}, "source": lines(f"## {title}")})
        if not code.strip():
            continue
        meta = {}
        if k == 0 and any(l.lstrip().startswith("param ") for l in body):
            meta = {"tags": ["parameters"]}
        cells.append({"cell_type": "code", "id": f"cell-{k}", "metadata": meta, "execution_count": None,
                      "outputs": [], "source": lines(code)})
    meta = {
        "kernelspec": {"name": "squeeze", "display_name": "squeeze", "language": "squeeze"},
        "language_info": {"name": "squeeze", "file_extension": ".recipe", "mimetype": "text/x-squeeze-recipe",
                          "pygments_lexer": "squeeze", "codemirror_mode": "python"},
        "squeeze": {"generated_from": name},
    }
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": meta, "cells": cells}, indent=1,
                      ensure_ascii=False) + "\n"


def main():
    check = "--check" in sys.argv[1:]
    stale = []
    for recipe, target in PAIRS:
        text = notebook((ROOT / recipe).read_text(), recipe)
        path = ROOT / target
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(target)
        else:
            path.write_text(text)
            print(f"wrote {target}")
    if stale:
        print("stale (run python3 Scripts/generate/notebooks.py): " + ", ".join(stale), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
