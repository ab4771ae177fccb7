"""Copies numpy's own loader test files (numpy/lib/tests/data, BSD-3-Clause, numpy developers) here,
so squeeze's loader is tested on files from the wild: a Python 2 / Windows header with `(2L,)` and
object arrays from Python 2 and 3. Run from this folder: python3 copy_numpy_test_files.py"""
import os
import shutil

import numpy

source = os.path.join(os.path.dirname(numpy.__file__), "lib", "tests", "data")
for name in ["python3.npy", "win64python2.npy", "py3-objarr.npy", "py2-objarr.npy", "py2-np0-objarr.npy",
             "py3-objarr.npz", "py2-objarr.npz"]:
    shutil.copy(os.path.join(source, name), name)
    print("copied", name, "from numpy", numpy.__version__)
