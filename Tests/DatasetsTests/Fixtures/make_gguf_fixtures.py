#!/usr/bin/env python3
"""Writes model.gguf by hand (struct, no gguf library): metadata of every value type and tensors in
F32, F16, BF16, Q8_0, Q4_0 and Q4_1 with random blocks; the expected dequantized values come from the
`gguf` package's reference dequantizer (GGUFReader + gguf.quants.dequantize). Also damaged copies.
Run from this folder with numpy and gguf installed."""
import json, struct
import numpy as np
import gguf
from gguf import GGUFReader
from gguf.quants import dequantize

rng = np.random.default_rng(11)
def s(x): b = x.encode(); return struct.pack("<Q", len(b)) + b
meta = [
    ("general.architecture", 8, s("toy")),
    ("general.name", 8, s("squeeze fixture")),
    ("toy.block_count", 4, struct.pack("<I", 2)),
    ("toy.eps", 6, struct.pack("<f", 1e-5)),
    ("toy.flag", 7, struct.pack("<B", 1)),
    ("toy.i8", 1, struct.pack("<b", -3)),
    ("toy.u64", 10, struct.pack("<Q", 2**40)),
    ("toy.f64", 12, struct.pack("<d", 0.25)),
    ("toy.tokens", 9, struct.pack("<IQ", 8, 3) + s("a") + s("b") + s("<eos>")),
    ("general.alignment", 4, struct.pack("<I", 32)),
]
def blocks(kind, nblocks):
    out = b""
    for _ in range(nblocks):
        d = np.float16(rng.uniform(0.01, 0.2)).tobytes()
        if kind == "Q8_0": out += d + rng.integers(-128, 128, 32, dtype=np.int8).tobytes()
        if kind == "Q4_0": out += d + rng.integers(0, 256, 16, dtype=np.uint8).tobytes()
        if kind == "Q4_1": out += d + np.float16(rng.uniform(-1, 1)).tobytes() + rng.integers(0, 256, 16, dtype=np.uint8).tobytes()
    return out
# (name, ggml type id, GGUF dims fastest-first, raw bytes)
tensors = [
    ("f32", 0, [4, 3], rng.standard_normal(12).astype("<f4").tobytes()),
    ("f16", 1, [8], rng.standard_normal(8).astype("<f2").tobytes()),
    ("bf16", 30, [4], (rng.standard_normal(4).astype("<f4").view("<u4") >> 16).astype("<u2").tobytes()),
    ("q8_0", 8, [64, 2], blocks("Q8_0", 4)),
    ("q4_0", 2, [32, 3], blocks("Q4_0", 3)),
    ("q4_1", 3, [96], blocks("Q4_1", 3)),
]
head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(meta))
for k, t, v in meta: head += s(k) + struct.pack("<I", t) + v
offset, blob = 0, b""
for name, t, dims, raw in tensors:
    head += s(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims) + struct.pack("<IQ", t, offset)
    pad = (-len(raw)) % 32
    blob += raw + b"\0" * pad
    offset += len(raw) + pad
head += b"\0" * ((-len(head)) % 32)
open("model.gguf", "wb").write(head + blob)
open("gguf_truncated.gguf", "wb").write((head + blob)[:-40])
open("gguf_bad_magic.gguf", "wb").write(b"GGUX" + (head + blob)[4:])

# Expected values from the reference implementation.
expected = {}
reader = GGUFReader("model.gguf")
for t in reader.tensors:
    values = dequantize(t.data, t.tensor_type).astype(np.float64)
    shape = list(reversed([int(x) for x in t.shape]))
    expected[t.name] = {"type": t.tensor_type.name, "shape": shape, "data": values.reshape(-1).tolist()}
json.dump(expected, open("gguf.json", "w"))
print({k: (v["type"], v["shape"]) for k, v in expected.items()})
