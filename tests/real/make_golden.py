#!/usr/bin/env python3
"""Writes the golden files of the real-weight test tier (tests/real/golden/*.json): for each
real model and each prompt below, llama.cpp's prompt tokens, its greedy tokens and, at every
step, every token whose logit is within MARGIN of the top one (with the logits), so that
tests/real/test_real_models.py can hold NanoMind to the rule "same greedy token, or a
near-tie: NanoMind's token within 0.1 of llama.cpp's top logit" without running llama.cpp.

Run with the python of a venv holding PyPI's llama-cpp-python (0.3.36 made the committed
files; its wheel compiles llama.cpp here) and jinja2, after scripts/fetch-models.sh:

    /work/llvenv/bin/python tests/real/make_golden.py [--models DIR] [name ...]

Chat prompts are rendered with the file's own chat template (jinja2), or Gemma 3's published
template for the Gemma file (its GGUF carries none), and tokenized without adding BOS (the
template writes it); raw prompts get the BOS the file asks for. llama.cpp runs on 2 threads
with an f16 KV cache and its extra CPU buffer types off: this build's AMX matrix
multiplication (the CPU here has AMX) crashes on batches of these files (SIGSEGV in
ggml_backend_amx_mul_mat), so the plain CPU kernels made the goldens.

A rewritten golden has no float64 references at its noise ties: run
tests/real/reference_ties.py on it afterwards (see test_real_models.py).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))
import make_tiny_llm  # noqa: E402  (the published Gemma 3 chat template)

MARGIN = 0.5      # tokens within this of the top logit are stored (the rule needs 0.1)
MAX_STORED = 32   # per step; more within the margin is recorded as "cut"
N_STEPS = 16

MODELS = {
    "smollm2": "smollm2-135m-instruct-q4_1.gguf",
    "qwen2.5-coder-0.5b": "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    "qwen2.5-coder-1.5b": "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    "gemma3-270m": "gemma-3-270m-q4_k_m.gguf",
}


def long_text() -> str:
    """About 700 Gemma tokens of varied text, so that a prompt outruns Gemma 3's 512-token
    sliding window and the local layers really slide."""
    parts = []
    for i in range(1, 41):
        parts.append(f"Entry {i}: the {['red', 'green', 'blue', 'amber'][i % 4]} station logged "
                     f"{i * 37 % 101} readings at {6 + i % 12}:{(i * 7) % 60:02d}.")
    return " ".join(parts) + "\nSummary of the log above:"


# name, kind, content[, the one model it is for]: chat prompts are message lists, raw prompts text.
PROMPTS = [
    ("capital", "chat", [{"role": "user", "content": "What is the capital of France? Answer in one sentence."}]),
    ("fibonacci", "chat", [{"role": "user", "content":
                            "Write a Python function that returns the n-th Fibonacci number."}]),
    ("german", "chat", [{"role": "user", "content": "Erkläre in zwei Sätzen, warum der Himmel blau ist."}]),
    ("french-math", "chat", [{"role": "user", "content": "Quelle est la racine carrée de 144 ?"}]),
    ("japanese", "chat", [{"role": "user", "content": "日本の首都はどこですか？"}]),
    ("chinese", "chat", [{"role": "user", "content": "请用一句话介绍一下你自己。"}]),
    ("spanish-system", "chat", [{"role": "system", "content": "You are a terse assistant."},
                                {"role": "user", "content": "¿Cuántos días tiene un año bisiesto?"}]),
    ("arithmetic", "chat", [{"role": "user", "content": "Compute 37 * 43 and show your steps."}]),
    ("multi-turn", "chat", [{"role": "user", "content": "My name is Ada and I was born in 1815."},
                            {"role": "assistant", "content": "Nice to meet you, Ada!"},
                            {"role": "user", "content": "How old would I be in 1852?"}]),
    ("fox-digits", "raw", "The quick brown fox jumps over the lazy dog. 1234567 + 89 ="),
    ("quicksort", "raw", "def quicksort(arr):\n    if len(arr) <= 1:\n        return arr\n"),
    ("c-main", "raw", "#include <stdio.h>\n\nint main(void) {\n    int total = 0;\n"),
    ("multilingual", "raw", "Über den Wolken muss die Freiheit wohl grenzenlos sein. 東京は日本の首都です。 "
                            "Москва — столица России."),
    # only where a sliding window needs it: 820 tokens of prefill cost the others time for nothing
    ("long-log", "raw", long_text(), "gemma3-270m"),
]


# Random tokenizer inputs: pieces of many scripts, digits, whitespace runs, code and the
# special-token texts of all four vocabularies, joined at random.
TOKENIZE_POOLS = [
    "the quick brown fox", "Hello, World!", "don't", "I'M", "we'll", "3.14159", "1234567890", "2026-12-06",
    "  ", "   ", "\n", "\n\n", "\t", " \n ", "\r\n", "\u00a0", "\u3000",
    "Über", "straße", "café naïve", "¿Qué?", "Москва", "αβγ", "東京は日本の首都です", "请用一句话", "한국어",
    "مرحبا", "नमस्ते", "😀🤖👍🏽", "e\u0301", "½²Ⅻ", "٣٤٥",
    "def f(x):", "    return x", "{'a': [1, 2]}", "#include <stdio.h>", "x += 1;", "<html>", "</div>",
    "<start_of_turn>", "<end_of_turn>", "<|im_start|>", "<|im_end|>", "<bos>", "<|endoftext|>",
]
N_TOKENIZE = 300


def tokenize_texts(seed: int = 13) -> list[str]:
    rng = np.random.default_rng(seed)
    texts = []
    for _ in range(N_TOKENIZE):
        n = int(rng.integers(1, 12))
        parts = [TOKENIZE_POOLS[i] for i in rng.integers(0, len(TOKENIZE_POOLS), n)]
        seps = ["", " ", "  ", "\n"]
        texts.append("".join(p + seps[int(rng.integers(0, len(seps)))] for p in parts))
    return texts


def sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def open_llama(path: str, n_ctx: int):
    import llama_cpp
    import llama_cpp.llama as llama_module
    default = llama_cpp.llama_model_default_params

    def plain_cpu_params():
        p = default()
        p.use_extra_bufts = False  # see the header: AMX crashes on these files
        return p

    llama_module.llama_cpp.llama_model_default_params = plain_cpu_params
    try:
        return llama_cpp.Llama(model_path=path, n_ctx=n_ctx, n_batch=512, n_threads=2, n_threads_batch=2,
                               logits_all=True, verbose=False)
    finally:
        llama_module.llama_cpp.llama_model_default_params = default


def chat_text(llm, family_template: str | None, messages) -> str:
    import jinja2

    def raise_exception(msg):
        raise ValueError(msg)

    meta = llm.metadata
    tpl = meta.get("tokenizer.chat_template") or family_template
    bos = llm.detokenize([llm.token_bos()], special=True).decode()
    eos = llm.detokenize([llm.token_eos()], special=True).decode()
    env = jinja2.Environment(trim_blocks=False, lstrip_blocks=False)
    return env.from_string(tpl).render(messages=messages, add_generation_prompt=True, bos_token=bos,
                                       eos_token=eos, raise_exception=raise_exception)


def step_record(logits: np.ndarray) -> dict:
    top = float(logits.max())
    near = np.nonzero(logits >= top - MARGIN)[0]
    near = near[np.argsort(-logits[near], kind="stable")]
    rec = {"token": int(np.argmax(logits)), "top": [[int(i), float(logits[i])] for i in near[:MAX_STORED]]}
    if len(near) > MAX_STORED:
        rec["cut"] = True
    return rec


def golden_for(path: str, name: str) -> dict:
    import llama_cpp
    gemma_tpl = make_tiny_llm.CHAT_TEMPLATES["gemma"]
    out = {"model": os.path.basename(path), "sha256": sha256(path),
           "made_by": f"llama-cpp-python {llama_cpp.__version__}, 2 threads, f16 KV cache, use_extra_bufts off",
           "margin": MARGIN, "prompts": []}
    llm = open_llama(path, 1024)
    eog = {llm.token_eos()}
    for tok_text in ("<|im_end|>", "<end_of_turn>", "<|endoftext|>"):
        ids = llm.tokenize(tok_text.encode(), add_bos=False, special=True)
        if len(ids) == 1:
            eog.add(ids[0])
    for pname, kind, content, *only in PROMPTS:
        if only and only[0] != name:
            continue
        if kind == "chat":
            text = chat_text(llm, gemma_tpl if "gemma" in name else None, content)
            tokens = llm.tokenize(text.encode(), add_bos=False, special=True)
        else:
            text = content
            tokens = llm.tokenize(text.encode(), add_bos=True, special=True)
        llm.reset()
        llm.eval(tokens)
        steps = []
        for _ in range(N_STEPS):
            logits = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32)
            rec = step_record(logits)
            steps.append(rec)
            if rec["token"] in eog:
                break
            llm.eval([rec["token"]])
        answer = llm.detokenize([s["token"] for s in steps]).decode(errors="replace")
        print(f"{name}/{pname}: {len(tokens)} prompt tokens -> {answer!r}", file=sys.stderr)
        entry = {"name": pname, "kind": kind, "text": text, "tokens": tokens, "steps": steps}
        if kind == "chat":
            entry["messages"] = content
        out["prompts"].append(entry)
    out["tokenize"] = tokenize_golden(llm)
    return out


def tokenize_golden(llm) -> list:
    """[text, llama.cpp's ids] pairs: no BOS added, special-token texts parsed."""
    return [[t, llm.tokenize(t.encode(), add_bos=False, special=True)] for t in tokenize_texts()]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=os.environ.get("NM_MODELS_DIR", os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "nanomind", "models")))
    ap.add_argument("--tokenize-only", action="store_true",
                    help="only (re)write the random-text tokenizations of existing golden files")
    ap.add_argument("--out", default=os.path.join(HERE, "golden"), help="directory of the golden files")
    ap.add_argument("names", nargs="*", default=list(MODELS))
    a = ap.parse_args()
    for name in a.names:
        path = os.path.join(a.models, MODELS[name])
        dest = os.path.join(a.out, name + ".json")
        if a.tokenize_only:
            with open(os.path.join(HERE, "golden", name + ".json"), encoding="utf-8") as f:
                golden = json.load(f)
            golden["tokenize"] = tokenize_golden(open_llama(path, 64))
        else:
            golden = golden_for(path, name)
        with open(dest, "w", encoding="utf-8") as f:
            json.dump(golden, f, ensure_ascii=False, indent=None, separators=(",", ":"))
            f.write("\n")
        print(f"wrote {dest}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
