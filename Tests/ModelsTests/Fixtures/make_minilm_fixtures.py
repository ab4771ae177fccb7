"""Reference values for the MiniLM tests: token ids from Hugging Face's `tokenizers` (the Rust
BertWordPiece implementation, independent of squeeze's), and sentence embeddings from a plain numpy
forward pass of all-MiniLM-L6-v2 written from the BERT paper and the sentence-transformers pooling
(float64 throughout, so it also bounds squeeze's float32 rounding). Run once when they change:

    python3 -m venv .build-gen/venv && .build-gen/venv/bin/pip install numpy safetensors tokenizers==0.23.3
    .build-gen/venv/bin/python Tests/ModelsTests/Fixtures/make_minilm_fixtures.py

It reads the model from $SQUEEZE_DATA (default ~/.cache/squeeze/minilm, installed by Scripts/setup).
"""
import json, math, os
import numpy as np
from safetensors.numpy import load_file
from tokenizers import BertWordPieceTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(os.environ.get("SQUEEZE_DATA", os.path.expanduser("~/.cache/squeeze")), "minilm")

TRICKY = [
    "Hello, World!",
    "Café déjà vu: naïve façade, Ångström and Øresund.",
    "unbelievably hyperparameterization antidisestablishmentarianism",
    "e-mail me at someone@example.com (or don't!) — thanks…",
    "   tabs\tand\nnewlines   and  spaces  ",
    "The 3.14159 value isn't 22/7; it's π ≈ 3.1416.",
    "日本語のテキスト and 中文 mixed with English",
    "qwzxv fjordkvist blorptastic",
    "snowman ☃ and emoji 🙂x and ∰",
    "Zürich's ﬁnest ½-price résumé",
    "",
]
SENTENCES = [
    "A man is playing a guitar.",
    "Someone is playing an instrument.",
    "The stock market fell sharply today.",
    "Quantization reduces the number of bits per weight.",
    "Café déjà vu: naïve façade.",
    "unbelievably hyperparameterization",
]


def layer_norm(x, g, b, eps=1e-12):
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + eps) * g + b


def gelu(x):
    erf = np.vectorize(math.erf)
    return 0.5 * x * (1 + erf(x / math.sqrt(2)))


def embed(W, ids, layers=6, heads=12):
    f = lambda n: W[n].astype(np.float64)
    L = len(ids)
    x = f("embeddings.word_embeddings.weight")[ids] + f("embeddings.position_embeddings.weight")[:L] + f("embeddings.token_type_embeddings.weight")[0]
    x = layer_norm(x, f("embeddings.LayerNorm.weight"), f("embeddings.LayerNorm.bias"))
    d = x.shape[1] // heads
    for i in range(layers):
        p = f"encoder.layer.{i}."
        lin = lambda h, n: h @ f(p + n + ".weight").T + f(p + n + ".bias")
        q, k, v = (lin(x, "attention.self." + n).reshape(L, heads, d).transpose(1, 0, 2) for n in ("query", "key", "value"))
        s = q @ k.transpose(0, 2, 1) / math.sqrt(d)
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        ctx = (s @ v).transpose(1, 0, 2).reshape(L, heads * d)
        a = layer_norm(lin(ctx, "attention.output.dense") + x, f(p + "attention.output.LayerNorm.weight"), f(p + "attention.output.LayerNorm.bias"))
        o = lin(gelu(lin(a, "intermediate.dense")), "output.dense")
        x = layer_norm(o + a, f(p + "output.LayerNorm.weight"), f(p + "output.LayerNorm.bias"))
    e = x.mean(0)
    return e / np.linalg.norm(e)


def main():
    tok = BertWordPieceTokenizer(os.path.join(DATA, "vocab.txt"), lowercase=True)
    tok.enable_truncation(256)
    W = load_file(os.path.join(DATA, "model.safetensors"))
    tokens = []
    for t in TRICKY + ["word " * 300]:
        enc = tok.encode(t)
        tokens.append({"text": t, "ids": enc.ids, "pieces": enc.tokens})
    embeddings = []
    for s in SENTENCES:
        ids = tok.encode(s).ids
        embeddings.append({"text": s, "ids": ids, "embedding": [round(float(v), 8) for v in embed(W, ids)]})
    json.dump({"tokens": tokens, "embeddings": embeddings}, open(os.path.join(HERE, "minilm_reference.json"), "w"), ensure_ascii=False, indent=0)


if __name__ == "__main__":
    main()
