"""GPTQ's quant.py rules in numpy (float32 like torch), shared by the fixture scripts."""
import numpy as np

f32 = np.float32

def find_params(x, bits, sym):
    """find_params(weight=True): one grid per row of x, over [min(x, 0), max(x, 0)]."""
    maxq = f32(2 ** bits - 1)
    xmin = np.minimum(x.min(axis=1), 0).astype(f32); xmax = np.maximum(x.max(axis=1), 0).astype(f32)
    if sym:
        xmax = np.maximum(np.abs(xmin), xmax); xmin = np.where(xmin < 0, -xmax, xmin)
    both0 = (xmin == 0) & (xmax == 0); xmin[both0] = -1; xmax[both0] = 1
    scale = ((xmax - xmin) / maxq).astype(f32)
    zero = np.full_like(scale, (maxq + 1) / 2) if sym else np.round(-xmin / scale).astype(f32)
    return scale, zero

def quant(x, scale, zero, maxq):
    """The reconstruction and the integer codes."""
    q = np.clip(np.round(x / scale) + zero, 0, maxq)
    return (scale * (q - zero)).astype(f32), q
