#!/usr/bin/env python3
"""Writes .npz files with numpy, a .safetensors file by hand (struct + json, independent of any
safetensors library) holding every dtype of the specification, IDX files plain and gzipped, and
damaged variants of each; expected values go to formats.json. Run from this folder."""
import gzip, json, struct
import numpy as np

expected = {}
def keep(name, arr):
    a = np.asarray(arr, dtype=np.float64)
    expected[name] = {"shape": list(a.shape), "data": a.ravel().tolist()}

# npz: stored and deflated, as numpy writes them
a = np.arange(6, dtype="<f4").reshape(2, 3) / 4
b = np.array([[-3, 7]], dtype=">i2")
s = np.array(1.5, dtype="<f8")
np.savez("arrays.npz", a=a, b=b, s=s)
np.savez_compressed("arrays_c.npz", a=a, b=b, s=s)
keep("npz.a", a); keep("npz.b", b); keep("npz.s", s)

# safetensors, every dtype, written by hand
def f8_e4m3(byte):
    sign = -1.0 if byte & 0x80 else 1.0
    e, m = (byte >> 3) & 0xF, byte & 7
    if e == 0xF and m == 7: return float("nan")
    if e == 0: return sign * m / 8 * 2.0 ** -6
    return sign * (1 + m / 8) * 2.0 ** (e - 7)
def f8_e5m2(byte):
    return float(np.frombuffer(struct.pack("<H", byte << 8), dtype="<f2")[0])

tensors = []   # (name, dtype, shape, raw bytes, expected float values)
vals = np.array([0.5, -1.25, 3.0, 1e-3, 65504.0, -0.0], dtype=np.float64)
tensors.append(("f64", "F64", [2, 3], vals.astype("<f8").tobytes(), vals))
tensors.append(("f32", "F32", [6], vals.astype("<f4").tobytes(), vals.astype("<f4").astype(np.float64)))
tensors.append(("f16", "F16", [3, 2], vals.astype("<f2").tobytes(), vals.astype("<f2").astype(np.float64)))
f32 = vals.astype("<f4")
bf16 = (f32.view("<u4") >> 16).astype("<u2")
tensors.append(("bf16", "BF16", [6], bf16.tobytes(), (bf16.astype("<u4") << 16).view("<f4").astype(np.float64)))
e4 = bytes([0x00, 0x38, 0xB8, 0x7E, 0x01, 0x40])
tensors.append(("f8_e4m3", "F8_E4M3", [6], e4, np.array([f8_e4m3(x) for x in e4])))
e5 = bytes([0x00, 0x3C, 0xBC, 0x7B, 0x01, 0x40])
tensors.append(("f8_e5m2", "F8_E5M2", [6], e5, np.array([f8_e5m2(x) for x in e5])))
ints = np.array([-128, -1, 0, 1, 100, 127], dtype=np.int64)
for name, dt in [("i64", "<i8"), ("i32", "<i4"), ("i16", "<i2"), ("i8", "<i1")]:
    tensors.append((name, name.upper(), [6], ints.astype(dt).tobytes(), ints.astype(np.float64)))
uints = np.array([0, 1, 2, 200, 255, 7], dtype=np.uint64)
for name, dt in [("u64", "<u8"), ("u32", "<u4"), ("u16", "<u2"), ("u8", "<u1")]:
    tensors.append((name, name.upper(), [6], uints.astype(dt).tobytes(), uints.astype(np.float64)))
tensors.append(("bool", "BOOL", [6], bytes([1, 0, 0, 1, 1, 0]), np.array([1, 0, 0, 1, 1, 0], dtype=np.float64)))
tensors.append(("scalar", "F32", [], struct.pack("<f", 2.5), np.array(2.5)))
four = np.arange(16, dtype="<f4").reshape(1, 2, 2, 4)
tensors.append(("four_d", "F32", [1, 2, 2, 4], four.tobytes(), four.astype(np.float64)))
header, blob = {"__metadata__": {"format": "pt", "made_by": "make_format_fixtures.py"}}, b""
for name, dtype, shape, raw, values in tensors:
    header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(blob), len(blob) + len(raw)]}
    blob += raw
    keep("st." + name, np.asarray(values).reshape(shape))
h = json.dumps(header).encode()
h += b" " * (-len(h) % 8)
open("all.safetensors", "wb").write(struct.pack("<Q", len(h)) + h + blob)

# Damaged safetensors
open("st_truncated.safetensors", "wb").write(struct.pack("<Q", len(h)) + h + blob[:-3])
bad = dict(header); bad["f64"] = dict(bad["f64"], data_offsets=[0, 40])
hb = json.dumps(bad).encode()
open("st_overlap.safetensors", "wb").write(struct.pack("<Q", len(hb)) + hb + blob)
open("st_huge_header.safetensors", "wb").write(struct.pack("<Q", 200_000_000) + b"{}")

# IDX: u8 images plain and gzipped, big-endian i16 and f32
img = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
idx = bytes([0, 0, 0x08, 3]) + struct.pack(">3I", 2, 3, 4) + img.tobytes()
open("images-idx3-ubyte", "wb").write(idx)
open("images-idx3-ubyte.gz", "wb").write(gzip.compress(idx, mtime=0))
keep("idx.u8", img)
i16 = np.array([-300, 2, 30000], dtype=">i2")
open("short-idx1.idx", "wb").write(bytes([0, 0, 0x0B, 1]) + struct.pack(">I", 3) + i16.tobytes())
keep("idx.i16", i16)
f = np.array([[1.5, -2.25]], dtype=">f4")
open("float-idx2.idx", "wb").write(bytes([0, 0, 0x0D, 2]) + struct.pack(">2I", 1, 2) + f.tobytes())
keep("idx.f32", f)
open("truncated-idx3.idx", "wb").write(idx[:-5])

# Damaged npz: a flipped byte in a stored member fails its CRC
raw = bytearray(open("arrays.npz", "rb").read())
raw[raw.find(b"\x93NUMPY") + 140] ^= 0xFF
open("npz_bad_crc.npz", "wb").write(bytes(raw))
open("npz_truncated.npz", "wb").write(open("arrays.npz", "rb").read()[:100])
json.dump(expected, open("formats.json", "w"), indent=0)
print("wrote formats.json with", len(expected), "arrays")
