"""Reference values for the SmolLM2 tests, from Hugging Face `transformers` loading the same GGUF
file squeeze loads (dequantized to float32 by the `gguf` package; transformers undoes llama.cpp's
Q/K row permutation and runs its own Llama code in float32). The tests read the JSON this writes and
never need torch. Run once when they change:

    python3 -m venv .build-gen/llm && .build-gen/llm/bin/pip install torch transformers gguf accelerate numpy
    .build-gen/llm/bin/python Tests/ModelsTests/Fixtures/make_smollm2_fixtures.py

(On this machine kind a CPU-only torch wheel is in pip's find-links folder; elsewhere use
`--index-url https://download.pytorch.org/whl/cpu`.) It reads $SQUEEZE_DATA (default ~/.cache/squeeze),
which Scripts/setup fills.

The tokenizer: transformers builds a plain GPT-2 byte-level tokenizer from the GGUF's vocabulary and
merges, without this model's pre-tokenizer. SmolLM2's own tokenizer.json (and llama.cpp's "smollm"
pre-tokenizer) first isolates every digit, then applies the GPT-2 split; the two differ on whitespace
before a digit ("a  1"). The reference here is the model's own: the same vocabulary and merges with
pre_tokenizer = Sequence([Digits(individual_digits=True), ByteLevel(add_prefix_space=False)]). How many
tokens the plain converter would differ by on each text is recorded (`plain_converter_differs`).
"""
import base64, hashlib, json, math, os
import numpy as np
import torch
from tokenizers import pre_tokenizers
from transformers import AutoModelForCausalLM, AutoTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.environ.get("SQUEEZE_DATA", os.path.expanduser("~/.cache/squeeze"))
GGUF_DIR, GGUF_FILE = os.path.join(DATA, "smollm2"), "SmolLM2-135M-Instruct.Q4_1.gguf"
torch.set_num_threads(2)

TRICKY = [
    "The capital of France is",
    " leading space and  two spaces   three",
    "Numbers: 1 12 123 1234567890 and 3.14159, 1,000,000; a  1 and a\t2",
    "don't, won't, I'm, you're, we've, they'll, he'd, it's DON'T",
    "emoji 👍🏽 family 👨‍👩‍👧 flag 🇫🇷 ok",
    "中文 日本語のテキスト 한국어",
    "CRLF line\r\nends\r\n\r\nand tabs\tin\t\ttext",
    "pneumonoultramicroscopicsilicovolcanoconiosis antidisestablishmentarianism",
    "Ünïcödé àccents and ligatures ﬁ ﬂ, math ∑∫√ and ½",
    "<|im_start|>user\nHello<|im_end|>",
    "trailing spaces   ",
    "\n\n\nnewlines first",
    "",
]
PROMPTS = [
    "The capital of France is",
    "Alice was beginning to get very tired of sitting by her sister on the bank,",
    "def fibonacci(n):\n    ",
    "In 1492, Columbus sailed",
    "Quantization reduces the number of bits",
]
GREEDY = ["The capital of France is", "Once upon a time,", "The three primary colors are"]
EVAL = ["alice29", "lcet10"]


def text(name):
    with open(os.path.join(DATA, "canterbury", name + ".txt"), "rb") as f:
        return f.read().decode("utf-8")


def f32(a):
    return base64.b64encode(np.asarray(a, dtype="<f4").tobytes()).decode()


def digest(ids):
    return hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()


def main():
    tok = AutoTokenizer.from_pretrained(GGUF_DIR, gguf_file=GGUF_FILE)
    plain = AutoTokenizer.from_pretrained(GGUF_DIR, gguf_file=GGUF_FILE)
    tok.backend_tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True),
         pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)])
    enc = lambda t: tok(t, add_special_tokens=True)["input_ids"]
    model = AutoModelForCausalLM.from_pretrained(GGUF_DIR, gguf_file=GGUF_FILE, torch_dtype=torch.float32)
    model.eval()
    out = {"config": {k: getattr(model.config, k) for k in [
        "num_hidden_layers", "hidden_size", "num_attention_heads", "num_key_value_heads", "intermediate_size",
        "rms_norm_eps", "rope_theta", "vocab_size", "max_position_embeddings", "tie_word_embeddings"] if hasattr(model.config, k)}}
    out["tokens"] = [{"text": t, "ids": enc(t), "pieces": tok.convert_ids_to_tokens(enc(t)),
                      "plain_ids": plain(t)["input_ids"]} for t in TRICKY]
    out["texts"] = []
    for name in EVAL:
        ids = enc(text(name))
        plain_ids = plain(text(name))["input_ids"]
        out["texts"].append({"name": name, "count": len(ids), "sha256": digest(ids), "first": ids[:10000],
                             "plain_converter_differs": int(len(plain_ids) != len(ids) or plain_ids != ids)})
        if name == "alice29":
            alice = ids
    with torch.no_grad():
        out["logits"] = []
        for p in PROMPTS:
            ids = enc(p)
            logits = model(torch.tensor([ids])).logits[0]
            out["logits"].append({"text": p, "ids": ids, "last": f32(logits[-1].numpy()),
                                  "first_row_head": logits[0, :16].tolist()})
        # Perplexity of 8 windows of 512 tokens of alice29 by each preset, from the per-position
        # log-probabilities of each window run alone (the KV cache cleared between windows).
        ctx, windows = 512, 8
        nll_rows = []
        for w in range(windows):
            ids = alice[w * ctx:(w + 1) * ctx]
            logp = torch.log_softmax(model(torch.tensor([ids])).logits[0].double(), dim=-1)
            nll = -logp[:-1].gather(1, torch.tensor(ids[1:]).unsqueeze(1)).squeeze(1)
            nll_rows.append(nll.numpy())  # nll_rows[w][i] predicts token i+1 of the window
        def stats(values):
            v = np.concatenate(values)
            mean = v.mean()
            var = (v * v).mean() - mean * mean
            return {"ppl": math.exp(mean), "nll": float(mean), "scored": int(v.size),
                    "stderr": math.exp(mean) * math.sqrt(max(var, 0) / (v.size - 1))}
        first = ctx // 2
        out["perplexity"] = {
            "context": ctx, "windows": windows, "text": "alice29", "limit": ctx * windows,
            # add_bos_token is false for this file: no BOS is added or substituted in any preset.
            "gptq": stats(nll_rows), "all": stats(nll_rows),
            "llama.cpp": stats([r[first:] for r in nll_rows]),
        }
        out["generate"] = []
        for p in GREEDY:
            ids = enc(p)
            g = model.generate(torch.tensor([ids]), max_new_tokens=20, do_sample=False, attention_mask=torch.ones(1, len(ids)))
            new = g[0, len(ids):].tolist()
            out["generate"].append({"prompt": p, "ids": new, "text": tok.decode(new)})
    with open(os.path.join(HERE, "smollm2_reference.json"), "w") as f:
        json.dump(out, f, ensure_ascii=False)


if __name__ == "__main__":
    main()
