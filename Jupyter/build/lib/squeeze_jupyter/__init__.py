"""Jupyter helpers for squeeze's kernel (`squeeze kernel install` installs the kernel itself).

- `squeeze_jupyter.lexer.SqueezeLexer`: Pygments highlighting of recipes (nbconvert's HTML, Sphinx),
  registered as the Pygments lexer "squeeze" the kernel names in its language_info.
- `squeeze_jupyter.papermill`: papermill's parameter translator for the squeeze language, and the
  `squeeze-papermill` command (papermill's own, with the translator registered).
"""
