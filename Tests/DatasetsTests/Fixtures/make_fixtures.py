#!/usr/bin/env python3
"""Writes small .npy files with numpy itself, plus expected.json with their values as float64 lists.
Run from this folder: python3 make_fixtures.py"""
import json
import numpy as np

base = np.array([[1.5, -2.0, 3.25], [0.0, 7.0, -8.5]])
cases = {
    "f4_c": base.astype("<f4"),
    "f8_big": base.astype(">f8"),
    "f2": base.astype("<f2"),
    "i2_big": np.array([[-3, 300], [7, -32768]], dtype=">i2"),
    "i8": np.array([-(2 ** 40), 5, -1], dtype="<i8"),
    "u1": np.array([0, 255, 17], dtype="u1"),
    "b1": np.array([True, False, True]),
    "fortran": np.asfortranarray(np.arange(24, dtype="<f4").reshape(2, 3, 4)),
    "scalar": np.array(2.5, dtype="<f4"),
    "empty": np.zeros((0, 3), dtype="<f4"),
}
expected = {}
for name, arr in cases.items():
    np.save(f"{name}.npy", arr)
    expected[name] = {"shape": list(arr.shape), "data": np.ascontiguousarray(arr).astype(np.float64).ravel().tolist()}
# Versions 2.0 and 3.0 of the format
np.lib.format.write_array(open("v2.npy", "wb"), base.astype("<f4"), version=(2, 0))
expected["v2"] = {"shape": [2, 3], "data": base.ravel().tolist()}
np.lib.format.write_array(open("v3.npy", "wb"), base.astype("<f4"), version=(3, 0))
expected["v3"] = {"shape": [2, 3], "data": base.ravel().tolist()}
# Refused: object dtype, structured dtype
np.save("object.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
np.save("structured.npy", np.zeros(2, dtype=[("x", "<f4"), ("y", "<i4")]))
json.dump(expected, open("expected.json", "w"), indent=0)
print("wrote", len(cases) + 4, "files")
