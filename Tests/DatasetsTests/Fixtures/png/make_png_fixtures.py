"""Writes small PNGs of every colour type and bit depth with Python's zlib (an encoder independent of
libpng), and their expected values in [0, 1], for PNGReadTests. Run from this directory."""
import json, struct, zlib

def chunk(kind, data):
    c = struct.pack(">I", len(data)) + kind + data
    return c + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)

def png(width, height, bit_depth, color_type, rows, extra=b""):
    raw = b"".join(b"\x00" + r for r in rows)   # filter type 0 on every row
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")

expected = {}
W, H = 3, 2
# grey 8-bit
g8 = [[0, 128, 255], [10, 20, 30]]
open("gray8.png", "wb").write(png(W, H, 8, 0, [bytes(r) for r in g8]))
expected["gray8"] = {"shape": [H, W], "values": [v / 255 for r in g8 for v in r]}
# grey 16-bit (no gAMA: read as linear, exactly)
g16 = [[0, 1000, 65535], [32768, 12345, 54321]]
open("gray16.png", "wb").write(png(W, H, 16, 0, [b"".join(struct.pack(">H", v) for v in r) for r in g16]))
expected["gray16"] = {"shape": [H, W], "values": [v / 65535 for r in g16 for v in r]}
# RGB 8-bit
rgb = [[(255, 0, 0), (0, 255, 0), (0, 0, 255)], [(1, 2, 3), (100, 150, 200), (255, 255, 255)]]
open("rgb8.png", "wb").write(png(W, H, 8, 2, [bytes(c for p in r for c in p) for r in rgb]))
expected["rgb8"] = {"shape": [H, W, 3], "values": [c / 255 for r in rgb for p in r for c in p]}
# RGBA 8-bit
rgba = [[(255, 0, 0, 255), (0, 255, 0, 128), (0, 0, 255, 0)], [(10, 20, 30, 40), (50, 60, 70, 80), (90, 100, 110, 255)]]
open("rgba8.png", "wb").write(png(W, H, 8, 6, [bytes(c for p in r for c in p) for r in rgba]))
expected["rgba8"] = {"shape": [H, W, 4], "values": [c / 255 for r in rgba for p in r for c in p]}
# palette 8-bit, three entries, no transparency
pal = [(200, 10, 10), (10, 200, 10), (10, 10, 200)]
idx = [[0, 1, 2], [2, 1, 0]]
open("palette.png", "wb").write(png(W, H, 8, 3, [bytes(r) for r in idx], chunk(b"PLTE", bytes(c for p in pal for c in p))))
expected["palette"] = {"shape": [H, W, 3], "values": [c / 255 for r in idx for i in r for c in pal[i]]}
# grey 1-bit (a checkerboard), expanded to 0 / 1
bits = [[1, 0, 1], [0, 1, 0]]
open("gray1.png", "wb").write(png(W, H, 1, 0, [bytes([sum(b << (7 - i) for i, b in enumerate(r))]) for r in bits]))
expected["gray1"] = {"shape": [H, W], "values": [float(b) for r in bits for b in r]}
json.dump(expected, open("png_expected.json", "w"), indent=1)
