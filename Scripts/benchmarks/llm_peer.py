"""The peers of Scripts/bench's `llm` benchmark on the same GGUF file: Hugging Face transformers
(float32, torch on two threads) and llama.cpp (llama-cpp-python, its own Q4_1 kernels, two threads).
Prints `seconds quality` like the other peers.

    llm_peer.py transformers|llamacpp prefill TEXT TOKENS    (perplexity over windows of 512, all predictions)
    llm_peer.py transformers|llamacpp generate PROMPT TOKENS (greedy continuation)"""
import math, os, sys, time

DATA = os.environ.get("SQUEEZE_DATA", os.path.expanduser("~/.cache/squeeze"))
DIR, FILE = os.path.join(DATA, "smollm2"), "SmolLM2-135M-Instruct.Q4_1.gguf"
engine, mode, arg, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
CTX = 512


def nll_sum(logits, ids):
    """Σ −log softmax(logits[i])[ids[i+1]] in float64 (numpy)."""
    import numpy as np
    z = logits[:-1].astype(np.float64)
    mx = z.max(1, keepdims=True)
    lse = mx[:, 0] + np.log(np.exp(z - mx).sum(1))
    return float((lse - z[np.arange(len(ids) - 1), ids[1:]]).sum())


if engine == "transformers":
    import torch
    torch.set_num_threads(2)
    from transformers import AutoModelForCausalLM, AutoTokenizer
    import transformers
    transformers.logging.set_verbosity_error()
    tok = AutoTokenizer.from_pretrained(DIR, gguf_file=FILE)
    model = AutoModelForCausalLM.from_pretrained(DIR, gguf_file=FILE, dtype=torch.float32).eval()
    if mode == "prefill":
        # Bytes as they are (alice29 has CRLF line ends; text mode would turn them into LF).
        ids = tok(open(arg, "rb").read().decode("utf-8"))["input_ids"][:count]
        with torch.no_grad():
            model(torch.tensor([ids[:CTX]]))   # warm-up
            t0 = time.perf_counter()
            total, n = 0.0, 0
            for w in range(len(ids) // CTX):
                window = ids[w * CTX:(w + 1) * CTX]
                logits = model(torch.tensor([window])).logits[0].numpy()
                total += nll_sum(logits, window); n += CTX - 1
            t = time.perf_counter() - t0
        print(t, round(math.exp(total / n), 4))
    else:
        ids = tok(arg)["input_ids"]
        with torch.no_grad():
            model.generate(torch.tensor([ids]), max_new_tokens=4, do_sample=False, attention_mask=torch.ones(1, len(ids)))
            t0 = time.perf_counter()
            out = model.generate(torch.tensor([ids]), max_new_tokens=count, min_new_tokens=count, do_sample=False,
                                 attention_mask=torch.ones(1, len(ids)))
            t = time.perf_counter() - t0
        print(t, len(out[0]) - len(ids))
elif engine == "llamacpp":
    import numpy as np
    from llama_cpp import Llama
    llm = Llama(model_path=os.path.join(DIR, FILE), n_ctx=CTX, n_batch=CTX, n_threads=2, n_threads_batch=2,
                logits_all=(mode == "prefill"), verbose=False)
    if mode == "prefill":
        ids = llm.tokenize(open(arg, "rb").read(), add_bos=False, special=False)[:count]
        llm.reset(); llm.eval(ids[:CTX])   # warm-up
        t0 = time.perf_counter()
        total, n = 0.0, 0
        for w in range(len(ids) // CTX):
            window = ids[w * CTX:(w + 1) * CTX]
            llm.reset()
            llm.eval(window)
            total += nll_sum(np.array(llm.scores[:CTX]), window); n += CTX - 1
        t = time.perf_counter() - t0
        print(t, round(math.exp(total / n), 4))
    else:
        llm.create_completion(arg, max_tokens=4, temperature=0)
        t0 = time.perf_counter()
        out = llm.create_completion(arg, max_tokens=count, temperature=0)
        t = time.perf_counter() - t0
        print(t, out["usage"]["completion_tokens"])
else:
    sys.exit(f"unknown engine {engine}")
