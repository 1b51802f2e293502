#!/usr/bin/env python3
"""NanoMind's logits against llama.cpp's on the same GGUF file and prompt.

Both engines tokenize the prompt (the token ids must be identical), then evaluate it:
llama.cpp in one batch with every position's logits kept; NanoMind, through the C API's
shared library, prefills the first --prefill tokens and decodes the rest one at a time, so
both its prefill and its decode path are compared. For each compared position it prints
max |diff| / max |logit|, whether the top token agrees, and the KL divergence of the two
softmax distributions (llama.cpp's as the reference). llama.cpp comes from PyPI's
llama-cpp-python (see compare_llama_cpp.py); run this with that venv's python:

    /tmp/llvenv/bin/python bench/compare_llama_cpp_logits.py -m model.gguf --lib build/lib/libnanomind.so

Both use an f16 KV cache. Differences to expect: quantised weights multiply 8-bit rounded
activations in both engines, but sums run in a different order, so an activation near a
rounding midpoint can land one step apart, and the step it makes moves later activations
across other midpoints: on wide models the two engines end up as far apart as either is
from an exact evaluation of the same equations. --reference (needs PyPI's gguf in the same
venv) therefore also prints each engine's distance to the numpy float64 reference of the
tests (tests/reference/llama_ref.py, with the same 8-bit activation rounding). With F16
weights llama.cpp also rounds the activations and attention inputs to f16 (NanoMind keeps
them f32).
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import nanomind_ctypes as nmc  # noqa: E402

DEFAULT_PROMPT = ("The quick brown fox jumps over the lazy dog. Über den Wolken muss die Freiheit wohl "
                  "grenzenlos sein. 東京は日本の首都です。 1234567 + 89 = ?")


def log_softmax(x):
    x = x.astype(np.float64)
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def rel_diff(x, ref):
    """Per position: max |x - ref| over the vocabulary / max |ref|."""
    return np.abs(x - ref).max(axis=1) / np.abs(ref).max(axis=1)


def llama_cpp_logits(model, prompt, threads):
    from llama_cpp import Llama
    llm = Llama(model_path=model, n_ctx=max(64, len(prompt.encode()) + 64), n_threads=threads,
                n_threads_batch=threads, logits_all=True, verbose=False)
    tokens = llm.tokenize(prompt.encode(), add_bos=True, special=True)
    llm.eval(tokens)
    return tokens, np.array(llm.scores[: len(tokens)], dtype=np.float32)


def nanomind_logits(lib_path, model, prompt, threads, n_prefill):
    lib = nmc.NanoMind(lib_path)
    with lib.load(model, n_threads=threads) as m, m.session(n_ctx=max(64, len(prompt.encode()) + 64)) as s:
        tokens = m.tokenize(prompt)
        n_prefill = min(max(1, n_prefill), len(tokens))
        s.eval(tokens[:n_prefill])
        rows = [s.logits()]
        for t in tokens[n_prefill:]:
            s.eval([t])
            rows.append(s.logits())
    return tokens, n_prefill, np.array(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-m", "--model", required=True)
    ap.add_argument("--lib", default="build/lib/libnanomind.so")
    ap.add_argument("-p", "--prompt", default=DEFAULT_PROMPT)
    ap.add_argument("--prefill", type=int, default=16, help="tokens NanoMind prefills before decoding one by one")
    ap.add_argument("-t", type=int, default=2)
    ap.add_argument("--reference", action="store_true", help="also hold both against the numpy float64 reference")
    a = ap.parse_args()

    theirs_tokens, theirs = llama_cpp_logits(a.model, a.prompt, a.t)
    ours_tokens, n_prefill, ours = nanomind_logits(a.lib, a.model, a.prompt, a.t, a.prefill)
    if list(theirs_tokens) != list(ours_tokens):
        print(f"tokenizations differ:\n  llama.cpp {list(theirs_tokens)}\n  nanomind  {list(ours_tokens)}")
        return 1
    theirs = theirs[n_prefill - 1:]
    rel = rel_diff(ours, theirs)
    top1 = ours.argmax(axis=1) == theirs.argmax(axis=1)
    lp, lq = log_softmax(theirs), log_softmax(ours)
    kl = (np.exp(lp) * (lp - lq)).sum(axis=1)
    print(f"model {a.model}: {len(ours_tokens)} prompt tokens, identical token ids; NanoMind prefilled "
          f"{n_prefill} and decoded {len(ours_tokens) - n_prefill} one by one")
    print(f"compared positions: {len(rel)} (the prefill's last, then each decode step)")
    print(f"max |diff| / max |logit|: mean {rel.mean():.2e}, max {rel.max():.2e} (prefill row {rel[0]:.2e})")
    print(f"top-1 token agrees: {int(top1.sum())}/{len(top1)}")
    print(f"KL(llama.cpp || nanomind): mean {kl.mean():.2e}, max {kl.max():.2e} nats")
    if a.reference:
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "reference"))
        import llama_ref
        ref = llama_ref.load(a.model, act_quant=True).forward(list(ours_tokens))[n_prefill - 1:]
        print(f"max |diff| / max |logit| against the float64 reference (mean over positions): "
              f"llama.cpp {rel_diff(theirs, ref).mean():.2e}, nanomind {rel_diff(ours, ref).mean():.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
