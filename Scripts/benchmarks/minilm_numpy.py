"""The peer of the MiniLM benchmark: Hugging Face's tokenizers and all-MiniLM-L6-v2's forward pass
in numpy float32 (one padded batch, additive attention mask, erf GELU, mean pooling), as a numpy
user would write it. Prints `seconds cos(e0, e1)` for the sentences in the file given."""
import math, os, sys, time
import numpy as np
from safetensors.numpy import load_file
from scipy.special import erf
from tokenizers import BertWordPieceTokenizer

DATA = os.path.join(os.environ.get("SQUEEZE_DATA", os.path.expanduser("~/.cache/squeeze")), "minilm")
sentences = open(sys.argv[1]).read().splitlines()
W = load_file(os.path.join(DATA, "model.safetensors"))
tok = BertWordPieceTokenizer(os.path.join(DATA, "vocab.txt"), lowercase=True)
tok.enable_truncation(256)


def layer_norm(x, g, b):
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + 1e-12) * g + b


def embed(texts):
    enc = tok.encode_batch(texts)
    L = max(len(e.ids) for e in enc)
    ids = np.zeros((len(enc), L), np.int64); mask = np.zeros((len(enc), L), np.float32)
    for i, e in enumerate(enc):
        ids[i, :len(e.ids)] = e.ids; mask[i, :len(e.ids)] = 1
    B = len(enc)
    x = W["embeddings.word_embeddings.weight"][ids] + W["embeddings.position_embeddings.weight"][:L] + W["embeddings.token_type_embeddings.weight"][0]
    x = layer_norm(x, W["embeddings.LayerNorm.weight"], W["embeddings.LayerNorm.bias"])
    add = ((1 - mask) * np.finfo(np.float32).min)[:, None, None, :]
    for i in range(6):
        p = f"encoder.layer.{i}."
        lin = lambda h, n: h @ W[p + n + ".weight"].T + W[p + n + ".bias"]
        q, k, v = (lin(x, "attention.self." + n).reshape(B, L, 12, 32).transpose(0, 2, 1, 3) for n in ("query", "key", "value"))
        s = q @ k.transpose(0, 1, 3, 2) / np.float32(math.sqrt(32)) + add
        s = np.exp(s - s.max(-1, keepdims=True)); s /= s.sum(-1, keepdims=True)
        ctx = (s @ v).transpose(0, 2, 1, 3).reshape(B, L, 384)
        a = layer_norm(lin(ctx, "attention.output.dense") + x, W[p + "attention.output.LayerNorm.weight"], W[p + "attention.output.LayerNorm.bias"])
        f = lin(a, "intermediate.dense"); f = 0.5 * f * (1 + erf(f / np.float32(math.sqrt(2))))
        x = layer_norm(lin(f, "output.dense") + a, W[p + "output.LayerNorm.weight"], W[p + "output.LayerNorm.bias"])
    e = (x * mask[:, :, None]).sum(1) / mask.sum(1, keepdims=True)
    return e / np.linalg.norm(e, axis=1, keepdims=True)


t = time.perf_counter()
E = embed(sentences)
print(time.perf_counter() - t, round(float(E[0] @ E[1]), 5))
