"""Hostile files: decompression bombs, headers that claim more than the file holds, zip-slip member
names, nesting bombs. Each file is written here from first principles (no squeeze code) and loaded
by a one-line recipe under a 256 MiB memory budget; the load must end in a diagnostic that names
the file, never a trap, a hang, or an allocation beyond the budget (the process runs under a 2 GiB
address-space limit, so an unchecked allocation fails loudly)."""

import gzip
import json
import os
import struct
import zlib

from common import Case, hash_tree, run, write

BUDGET = "256M"


# PNG -------------------------------------------------------------------------------------------

def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png(width, height, idat, color=0, depth=8, crc_ok=True):
    ihdr = struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, 0)
    body = chunk(b"IHDR", ihdr)
    if not crc_ok:
        body = body[:-4] + b"\0\0\0\0"
    return b"\x89PNG\r\n\x1a\n" + body + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def png_zero_image(width, height):
    """A real, valid all-black grey image: tiny on disk, width × height bytes decoded."""
    raw = zlib.compressobj(9)
    out = []
    row = b"\0" * (width + 1)
    for _ in range(height):
        out.append(raw.compress(row))
    out.append(raw.flush())
    return png(width, height, b"".join(out))


# zip / npz ------------------------------------------------------------------------------------

def npy_bytes(shape, dtype="<f4", payload=None):
    header = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (
        dtype, "".join(f"{d}, " for d in shape) if len(shape) != 1 else f"{shape[0]},")
    pad = 64 - (10 + len(header) + 1) % 64
    header = header + " " * pad + "\n"
    if payload is None:
        n = 1
        for d in shape:
            n *= d
        payload = b"\0" * (n * 4)
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + payload


def zip_archive(members, method=8, claim_size=None, flags=0):
    """members: [(name, bytes)]. claim_size overrides the uncompressed size fields."""
    local, central, offset = [], [], 0
    for name, data in members:
        comp = data
        if method == 8:
            c = zlib.compressobj(9, zlib.DEFLATED, -15)
            comp = c.compress(data) + c.flush()
        crc = zlib.crc32(data) & 0xFFFFFFFF
        size = len(data) if claim_size is None else claim_size
        nb = name.encode()
        lh = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, flags, method, 0, 0, crc, len(comp), size, len(nb), 0) + nb
        local.append(lh + comp)
        central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, flags, method, 0, 0, crc, len(comp),
                                   size, len(nb), 0, 0, 0, 0, 0, offset) + nb)
        offset += len(lh) + len(comp)
    cd = b"".join(central)
    eocd = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(cd), offset, 0)
    return b"".join(local) + cd + eocd


# safetensors / GGUF ---------------------------------------------------------------------------

def safetensors(header_bytes, data=b"", length=None):
    n = len(header_bytes) if length is None else length
    return struct.pack("<Q", n) + header_bytes + data


def gguf(n_tensors, kvs=b"", n_kv=0, tensors=b"", tail=b""):
    return b"GGUF" + struct.pack("<IQQ", 3, n_tensors, n_kv) + kvs + tensors + tail


def gguf_string(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def cases():
    c = []

    def add(name, filename, data, expect):
        c.append((name, filename, data, expect))

    big = "memory budget|more than|exceeds|limit|not supported|claims"
    # PNG
    add("png-huge-dimensions", "huge.png", png(1_000_000, 1_000_000, zlib.compress(b"\0" * 100)), "not supported|too large|pixels|claims")
    add("png-claims-more-than-data", "claim.png", png(16384, 16384, zlib.compress(b"\0" * 100), color=6, depth=16), big)
    add("png-bomb", "bomb.png", png_zero_image(12000, 12000), big)
    add("png-truncated", "trunc.png", png_zero_image(64, 64)[:60], "PNG|truncat|end")
    add("png-bad-crc", "crc.png", png(4, 4, zlib.compress(b"\0" * 20), crc_ok=False), "PNG|CRC|checksum")
    add("png-empty", "empty.png", b"", "PNG|empty|short")
    add("png-zero-width", "zero.png", png(0, 4, zlib.compress(b"\0" * 4)), "PNG|not supported|width|IHDR")
    # npz
    add("npz-deflate-bomb", "bomb.npz", zip_archive([("x.npy", npy_bytes((100_000_000,)))]), big)
    add("npz-claimed-size", "claim.npz", zip_archive([("x.npy", npy_bytes((4,)))], claim_size=0xFFFFFFF0), big + "|decompressed|archive says")
    add("npz-zip-slip", "slip.npz", zip_archive([("../../evil.npy", npy_bytes((2,)))]), "member name|not a plain")
    add("npz-absolute-name", "abs.npz", zip_archive([("/etc/evil.npy", npy_bytes((2,)))]), "member name|not a plain")
    add("npz-duplicate", "dup.npz", zip_archive([("x.npy", npy_bytes((2,))), ("x.npy", npy_bytes((3,)))]), "twice|duplicate")
    add("npz-bzip2", "bz.npz", zip_archive([("x.npy", npy_bytes((2,)))], method=12), "compression method")
    add("npz-encrypted", "enc.npz", zip_archive([("x.npy", npy_bytes((2,)))], method=0, flags=1), "encrypt")
    add("npz-object-dtype", "obj.npz", zip_archive([("x.npy", npy_bytes((2,), dtype="|O", payload=b"\0" * 16))]), "object|dtype|pickle")
    add("npz-count-lies", "count.npz", zip_archive([("x.npy", npy_bytes((2,)))])[:-22] + struct.pack(
        "<IHHHHIIH", 0x06054B50, 0, 0, 65535, 65535, 10**6, 0, 0), "central directory|corrupt|zip")
    # npy
    add("npy-huge-shape", "huge.npy", npy_bytes((10**12,), payload=b"\0" * 16), big + "|bytes|follow|short|end")
    add("npy-overflow-shape", "over.npy", npy_bytes((2**40, 2**40), payload=b""), big + "|overflow|bytes|count")
    add("npy-header-garbage", "garbage.npy", b"\x93NUMPY\x01\x00\xff\xff" + b"{" * 65535, "header")
    add("npy-object", "obj.npy", npy_bytes((2,), dtype="|O", payload=b"\0" * 16), "object|dtype|pickle")
    # IDX
    idx_head = bytes([0, 0, 8, 2]) + struct.pack(">II", 10, 10)
    add("idx-gzip-bomb", "bomb-idx.gz", gzip.compress(idx_head + b"\0" * 400_000_000, 9), "more data|header says|more than|trailing")
    add("idx-claims-more", "claim.idx", bytes([0, 0, 8, 3]) + struct.pack(">III", 60000, 28, 28) + b"\0" * 10, "bytes|follow")
    add("idx-gzip-truncated", "trunc-idx.gz", gzip.compress(idx_head + b"\1" * 100)[:20], "truncat|ends early|corrupt")
    # safetensors
    add("st-header-2^63", "len.safetensors", safetensors(b"{}", length=2**63 - 1), "header")
    add("st-header-200MB", "big.safetensors", safetensors(b"{}", length=200 << 20), "header")
    add("st-offsets-past-end", "off.safetensors",
        safetensors(json.dumps({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}).encode(), b"\0" * 8), "offset|past|end|bytes")
    add("st-overlap", "overlap.safetensors",
        safetensors(json.dumps({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}).encode(), b"\0" * 12), "overlap")
    add("st-nesting-bomb", "nest.safetensors", safetensors(b"[" * 200_000 + b"]" * 200_000), "header|JSON|nest|object")
    add("st-shape-overflow", "shape.safetensors",
        safetensors(json.dumps({"w": {"dtype": "F32", "shape": [2**40, 2**40], "data_offsets": [0, 4]}}).encode(), b"\0" * 4), "shape|overflow|bytes|match")
    add("st-unknown-dtype", "dtype.safetensors",
        safetensors(json.dumps({"w": {"dtype": "Q7", "shape": [1], "data_offsets": [0, 4]}}).encode(), b"\0" * 4), "dtype")
    # GGUF
    add("gguf-tensor-count", "count.gguf", gguf(2**62), "tensor|count|more|end")
    add("gguf-string-length", "str.gguf", gguf(0, struct.pack("<Q", 2**60) + b"key", n_kv=1), "string|length|end|past")
    nested = gguf_string("k") + struct.pack("<I", 9)
    for _ in range(100_000):
        nested += struct.pack("<IQ", 9, 1)
    add("gguf-nested-arrays", "nest.gguf", gguf(0, nested, n_kv=1), "nest|array|deep|end")
    add("gguf-offset-past-end", "off.gguf",
        gguf(1, tensors=gguf_string("w") + struct.pack("<I", 1) + struct.pack("<Q", 4) + struct.pack("<I", 0) + struct.pack("<Q", 1 << 40)),
        "offset|past|end|extent")
    add("gguf-many-dims", "dims.gguf",
        gguf(1, tensors=gguf_string("w") + struct.pack("<I", 1000) + b"\1" * 8000), "dimension|rank|dims")
    # CSV
    add("csv-binary", "bin.csv", bytes(range(256)) * 64, "CSV|number|UTF|field|line")
    add("csv-unclosed-quote", "quote.csv", b'a,b\n"1,2\n3,4\n', "quote|CSV|line")
    add("csv-ragged", "ragged.csv", b"1,2,3\n4,5\n", "fields|columns|line")
    return c


def run_suite(binary, root, verbose=False):
    os.makedirs(os.path.join(root, "out"), exist_ok=True)
    tried = passed = crashes = 0
    failures = []
    for i, (name, filename, data, expect) in enumerate(cases()):
        tried += 1
        path = os.path.join(root, filename)
        write(path, data)
        recipe = os.path.join(root, f"case{i:03d}.recipe")
        write(recipe, f'x = load("{filename}")\n'.encode())
        before = hash_tree(root, skip=(os.path.join(root, "out"),))
        r = run(binary, ["run", recipe, "--out", os.path.join(root, "out"), "--no-history"],
                env={"SQUEEZE_MAX_MEMORY": BUDGET}, timeout=60, limit_gb=2)
        after = hash_tree(root, skip=(os.path.join(root, "out"),))
        verdict = Case(name, "", expect).judge(r)
        if verdict == "crash":
            crashes += 1
        if verdict == "refused" and before == after:
            passed += 1
        else:
            failures.append(f"{name}: {verdict}; exit {r.returncode}\n    {r.stderr.strip()[-500:]}")
        if verbose:
            first = r.stderr.strip().splitlines()[0][:120] if r.stderr.strip() else ""
            print(f"  {name:26s} {verdict:12s} {first}")
        os.remove(path)
    return {"suite": "hostile files", "tried": tried, "passed": passed, "crashes": crashes, "bytes_lost": 0,
            "failures": failures}
