"""Reference gradients for LanguageModel.kvGradients (KVQuant's Fisher weights): the mean next-token
loss of a 64-token window of alice29 and its gradients with respect to every layer's k_proj and
v_proj outputs, from Hugging Face `transformers` running SmolLM2 in float32 with torch autograd (the
same GGUF squeeze loads; set up as make_smollm2_fixtures.py says):

    .build-gen/llm/bin/python Tests/ModelsTests/Fixtures/make_kv_gradient_fixtures.py

llama.cpp's converter permutes the rows of each head of W_k (rotary pairs adjacent), so squeeze's
pre-RoPE key channels are a permutation, within each head, of transformers' k_proj outputs: the keys'
gradients are compared by their sums of squares per (token, key/value head), which the permutation
keeps. Values are not permuted and are stored whole for two layers.
"""
import base64, json, os
import numpy as np
import torch
from tokenizers import pre_tokenizers
from transformers import AutoModelForCausalLM, AutoTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.environ.get("SQUEEZE_DATA", os.path.expanduser("~/.cache/squeeze"))
GGUF_DIR, GGUF_FILE = os.path.join(DATA, "smollm2"), "SmolLM2-135M-Instruct.Q4_1.gguf"
TOKENS = 64
WHOLE = [0, 29]
torch.set_num_threads(2)


def f32(a):
    return base64.b64encode(np.asarray(a, dtype="<f4").tobytes()).decode()


def main():
    tok = AutoTokenizer.from_pretrained(GGUF_DIR, gguf_file=GGUF_FILE)
    tok.backend_tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True),
         pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)])
    with open(os.path.join(DATA, "canterbury", "alice29.txt"), "rb") as f:
        ids = tok(f.read().decode("utf-8"), add_special_tokens=True)["input_ids"][:TOKENS]
    model = AutoModelForCausalLM.from_pretrained(GGUF_DIR, gguf_file=GGUF_FILE, torch_dtype=torch.float32)
    model.eval()
    cfg = model.config
    kv_heads, head_dim = cfg.num_key_value_heads, cfg.hidden_size // cfg.num_attention_heads
    captured = {}

    def keep(name):
        def hook(_module, _inputs, output):
            output.retain_grad()
            captured[name] = output
        return hook

    for i, layer in enumerate(model.model.layers):
        layer.self_attn.k_proj.register_forward_hook(keep(("k", i)))
        layer.self_attn.v_proj.register_forward_hook(keep(("v", i)))
    x = torch.tensor([ids])
    loss = model(x, labels=x).loss  # mean over the T − 1 predicted tokens
    loss.backward()
    layers = []
    for i in range(cfg.num_hidden_layers):
        dk = captured[("k", i)].grad[0].double().numpy().reshape(TOKENS, kv_heads, head_dim)
        dv = captured[("v", i)].grad[0].double().numpy()
        entry = {"dk_head_sq": f32((dk * dk).sum(axis=2).reshape(-1)),
                 "dv_token_sq": f32((dv * dv).sum(axis=1))}
        if i in WHOLE:
            entry["dv"] = f32(dv.reshape(-1))
        layers.append(entry)
    out = {"text": "alice29", "ids": ids, "loss": loss.item(), "kv_heads": kv_heads, "whole_values": WHOLE, "layers": layers}
    with open(os.path.join(HERE, "kv_gradients.json"), "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
