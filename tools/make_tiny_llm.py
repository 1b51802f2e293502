#!/usr/bin/env python3
"""Write small random LLaMA- / Qwen2-shaped GGUF models laid out exactly as llama.cpp's
convert_hf_to_gguf.py writes them, for tests and benchmarks (no downloads needed).

Layout facts (llama.cpp convert_hf_to_gguf.py / src/llama-model.cpp):
- arch "llama": HF stores Q/K rows in rotate_half ("neox") order; convert permutes Q and K
  (LlamaModel.permute: reshape(n_head, 2, head_dim/2, n_in).swapaxes(1, 2)) so the GGUF
  uses rope type NORM: rotated pairs are ADJACENT elements (x[2i], x[2i+1]).
- arch "qwen2": no permutation; rope type NEOX: pairs are (x[i], x[i + head_dim/2]).
  Qwen2 has q/k/v biases (blk.N.attn_{q,k,v}.bias) and small models tie output to
  token_embd (no output.weight tensor).
- LLaMA 3.1 rope scaling: F32 tensor rope_freqs.weight [head_dim/2]; llama.cpp divides
  each rotation frequency by its factor (theta_i = pos * base^(-2i/d) / factor_i).
- arch "qwen3": as qwen2 without biases, plus blk.N.attn_{q,k}_norm.weight [head_dim]
  (RMSNorm of each head of q and k before rope); head_dim (attention.key_length) may
  differ from n_embd / n_head.
- arch "gemma3": neox rope, QK-norm, blk.N.post_attention_norm / post_ffw_norm, GeGLU,
  tied embeddings, attention.sliding_window; norm weights are stored as Gemma's 1 + w
  (convert_hf_to_gguf adds the 1), so they are drawn around 1 here like every other norm.
  Its SentencePiece vocab starts <pad> <eos> <bos> <unk> <start_of_turn> <end_of_turn>
  (Gemma's ids 0-3 and turn markers), with no space prefix.
- GGUF matrices have ne0 = input features, ne1 = output features (numpy shape [out, in]).
Random weights: since we write GGUF directly, we draw them in GGUF layout; the layout
facts above only matter for anyone converting to/from HF (see tests/reference).
"""
from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np

import gguf
from gguf import GGMLQuantizationType as QT

TYPES = {
    "f32": QT.F32, "f16": QT.F16, "bf16": QT.BF16, "q8_0": QT.Q8_0, "q4_0": QT.Q4_0,
    "q4_1": QT.Q4_1, "q5_0": QT.Q5_0, "q5_1": QT.Q5_1, "q4_k": QT.Q4_K, "q5_k": QT.Q5_K,
    "q6_k": QT.Q6_K, "iq4_nl": QT.IQ4_NL, "q2_k": QT.Q2_K, "q3_k": QT.Q3_K,
}
# Types gguf-py 0.x cannot quantise: we write random *valid* blocks instead (random
# quant bits and scales, super-block scale d/dmin rescaled to the requested std).
RANDOM_BLOCK_TYPES = {QT.Q2_K, QT.Q3_K, QT.Q4_K, QT.Q5_K, QT.Q6_K, QT.IQ4_NL}

PRESETS = {
    "tinyllama": dict(arch="llama", tokenizer="llama", n_embd=2048, n_layer=22, n_ff=5632,
                      n_head=32, n_head_kv=4, vocab=32000, ctx=2048, rope_base=10000.0),
    "tiny": dict(arch="llama", tokenizer="llama", n_embd=64, n_layer=2, n_ff=128, n_head=4,
                 n_head_kv=2, vocab=400, ctx=256, rope_base=10000.0),
    # Gemma 3 270M's proportions (head_dim > n_embd / n_head, one KV head) at test size; 7
    # layers so that layer 5 is global and the rest slide over 8 positions.
    "tiny-gemma3": dict(arch="gemma3", tokenizer="gemma", n_embd=64, n_layer=7, n_ff=128,
                        n_head=4, n_head_kv=1, head_dim=32, vocab=400, ctx=256,
                        rope_base=1000000.0, sliding_window=8),
    "tiny-qwen3": dict(arch="qwen3", tokenizer="qwen2", n_embd=64, n_layer=2, n_ff=128,
                       n_head=4, n_head_kv=2, head_dim=32, vocab=400, ctx=256,
                       rope_base=1000000.0),
}

CHAT_TEMPLATES = {
    # Llama 2 chat (Hugging Face meta-llama/Llama-2-7b-chat-hf tokenizer_config.json)
    "llama2": (
        "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
        "{% set system_message = messages[0]['content'] %}{% else %}"
        "{% set loop_messages = messages %}{% set system_message = false %}{% endif %}"
        "{% for message in loop_messages %}"
        "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
        "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
        "{% endif %}{% if loop.index0 == 0 and system_message != false %}"
        "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
        "{% else %}{% set content = message['content'] %}{% endif %}"
        "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
        "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}"
        "{% endif %}{% endfor %}"),
    # Llama 3 instruct (meta-llama/Meta-Llama-3-8B-Instruct)
    "llama3": (
        "{% set loop_messages = messages %}{% for message in loop_messages %}"
        "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'"
        "+ message['content'] | trim + '<|eot_id|>' %}"
        "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}"
        "{{ content }}{% endfor %}{% if add_generation_prompt %}"
        "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"),
    # Gemma 3 instruct (google/gemma-3-*-it tokenizer_config.json)
    "gemma": (
        "{{ bos_token }}\n{%- if messages[0]['role'] == 'system' -%}\n"
        "    {%- if messages[0]['content'] is string -%}\n"
        "        {%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}\n"
        "    {%- else -%}\n"
        "        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\n\n' -%}\n"
        "    {%- endif -%}\n    {%- set loop_messages = messages[1:] -%}\n{%- else -%}\n"
        "    {%- set first_user_prefix = \"\" -%}\n    {%- set loop_messages = messages -%}\n"
        "{%- endif -%}\n{%- for message in loop_messages -%}\n"
        "    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}\n"
        "        {{ raise_exception(\"Conversation roles must alternate user/assistant/user/assistant/...\") }}\n"
        "    {%- endif -%}\n    {%- if (message['role'] == 'assistant') -%}\n"
        "        {%- set role = \"model\" -%}\n    {%- else -%}\n"
        "        {%- set role = message['role'] -%}\n    {%- endif -%}\n"
        "    {{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else \"\") }}\n"
        "    {%- if message['content'] is string -%}\n        {{ message['content'] | trim }}\n"
        "    {%- elif message['content'] is iterable -%}\n"
        "        {%- for item in message['content'] -%}\n"
        "            {%- if item['type'] == 'image' -%}\n                {{ '<start_of_image>' }}\n"
        "            {%- elif item['type'] == 'text' -%}\n                {{ item['text'] | trim }}\n"
        "            {%- endif -%}\n        {%- endfor -%}\n    {%- else -%}\n"
        "        {{ raise_exception(\"Invalid content type\") }}\n    {%- endif -%}\n"
        "    {{ '<end_of_turn>\n' }}\n{%- endfor -%}\n{%- if add_generation_prompt -%}\n"
        "    {{'<start_of_turn>model\n'}}\n{%- endif -%}\n"),
    # ChatML as used by Qwen2-Instruct
    "chatml": (
        "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
        "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}"
        "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
        "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"),
}


# ----------------------------------------------------------------------------- tokenizers
def training_text(seed: int, n_words: int) -> list[str]:
    """Deterministic varied text: syllable pseudo-words, English words, digits, punctuation."""
    rng = np.random.default_rng(seed)
    onsets = ["", "b", "c", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v",
              "w", "st", "tr", "pl", "ch", "sh", "th", "gr", "br"]
    nuclei = ["a", "e", "i", "o", "u", "ai", "ou", "ee", "oo", "y"]
    codas = ["", "", "n", "r", "s", "t", "l", "m", "ng", "ck", "st"]
    common = ("the of and to in is that it was for on are with as be at by this from or "
              "have an they which one you had not but what all were when we there can "
              "model token layer weight hello world quick brown fox jumps over lazy dog "
              "Paris London river mountain music number seven twenty 2026 café naïve").split()
    lex = []
    for _ in range(max(64, n_words // 6)):
        k = int(rng.integers(1, 4))
        lex.append("".join(onsets[rng.integers(len(onsets))] + nuclei[rng.integers(len(nuclei))]
                           + codas[rng.integers(len(codas))] for _ in range(k)))
    lex += common
    punct = [".", ",", "!", "?", ";", ":", " -", "'s", "\n"]
    lines, words = [], []
    for i in range(n_words):
        r = rng.random()
        if r < 0.03:
            w = str(int(rng.integers(0, 10000)))
        else:
            w = lex[int(rng.zipf(1.3)) % len(lex)]
            if rng.random() < 0.08:
                w = w.capitalize()
        words.append(w)
        if rng.random() < 0.1:
            words[-1] += punct[rng.integers(len(punct))]
        if len(words) >= 12 or i == n_words - 1:
            lines.append(" ".join(words))
            words = []
    return lines


def _pad(tokens, types, scores, n_vocab, tok_type_normal):
    """Fill the vocabulary to n_vocab with unique placeholder tokens (type UNUSED)."""
    i = 0
    while len(tokens) < n_vocab:
        tokens.append(f"[PAD{i}]")
        types.append(gguf.TokenType.UNUSED)
        scores.append(-1e9)
        i += 1


GEMMA_SPECIALS = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"]


def build_spm_tokenizer(n_vocab: int, seed: int, gemma: bool = False):
    """SentencePiece-style ('llama') vocab: <unk>,<s>,</s> (Gemma: GEMMA_SPECIALS), 256
    <0xXX> byte tokens, then BPE pieces with '▁' for spaces; score = -merge rank (higher
    merges first)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    specials = GEMMA_SPECIALS if gemma else ["<unk>", "<s>", "</s>"]
    n_fixed = len(specials) + 256
    if n_vocab < n_fixed + 16:
        raise ValueError(f"llama tokenizer needs --vocab >= {n_fixed + 16}")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    trainer = trainers.BpeTrainer(vocab_size=n_vocab - n_fixed, show_progress=False,
                                  initial_alphabet=[], special_tokens=[])
    tok.train_from_iterator(training_text(seed, max(4000, n_vocab * 8)), trainer)
    vocab = sorted(tok.get_vocab().items(), key=lambda kv: kv[1])
    tokens = specials + [f"<0x{b:02X}>" for b in range(256)]
    types = [gguf.TokenType.UNKNOWN if t in ("<unk>",) else gguf.TokenType.CONTROL
             for t in specials] + [gguf.TokenType.BYTE] * 256
    scores = [0.0] * len(specials) + [0.0] * 256
    seen = set(tokens)
    for piece, rank in vocab:
        if piece in seen or len(tokens) >= n_vocab:
            continue
        seen.add(piece)
        tokens.append(piece)
        types.append(gguf.TokenType.NORMAL)
        scores.append(-float(rank))
    _pad(tokens, types, scores, n_vocab, gguf.TokenType.NORMAL)
    if gemma:
        return dict(model="llama", pre="default", tokens=tokens, types=types, scores=scores,
                    merges=None, bos=2, eos=1, unk=3, add_bos=True, template="gemma",
                    add_space_prefix=False)
    return dict(model="llama", pre=None, tokens=tokens, types=types, scores=scores,
                merges=None, bos=1, eos=2, unk=0, add_bos=True, template="llama2")


BPE_SPECIALS = {
    "llama-bpe": (["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
                   "<|end_header_id|>", "<|eot_id|>"], 0, 4, "llama3", True),
    "qwen2": (["<|endoftext|>", "<|im_start|>", "<|im_end|>"], 0, 2, "chatml", False),
}


def build_bpe_tokenizer(n_vocab: int, seed: int, pre: str):
    """Byte-level BPE ('gpt2') vocab + merges, special tokens appended at the end (as in
    Llama 3 and Qwen2, whose control tokens follow the regular vocabulary)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    specials, bos_i, eos_i, template, add_bos = BPE_SPECIALS[pre]
    n_regular = n_vocab - len(specials)
    if n_regular < 256 + 16:
        raise ValueError(f"gpt2 tokenizer needs --vocab >= {256 + 16 + len(specials)}")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=n_regular, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(training_text(seed, max(4000, n_vocab * 8)), trainer)
    vocab = sorted(tok.get_vocab().items(), key=lambda kv: kv[1])
    tokens = [p for p, _ in vocab][:n_regular]
    import json
    merges = json.loads(tok.to_str())["model"]["merges"]
    merges = [m if isinstance(m, str) else " ".join(m) for m in merges]
    types = [gguf.TokenType.NORMAL] * len(tokens)
    scores = [0.0] * len(tokens)
    _pad(tokens, types, scores, n_regular, gguf.TokenType.NORMAL)
    first_special = len(tokens)
    tokens += specials
    types += [gguf.TokenType.CONTROL] * len(specials)
    scores += [0.0] * len(specials)
    return dict(model="gpt2", pre=pre, tokens=tokens, types=types, scores=None, merges=merges,
                bos=first_special + bos_i, eos=first_special + eos_i, unk=None,
                add_bos=add_bos, template=template)


def build_tokenizer(kind: str, n_vocab: int, seed: int):
    if kind in ("llama", "gemma"):
        return build_spm_tokenizer(n_vocab, seed, gemma=kind == "gemma")
    if kind in BPE_SPECIALS:
        return build_bpe_tokenizer(n_vocab, seed, kind)
    raise ValueError(f"unknown tokenizer {kind!r}: use llama, gemma, llama-bpe or qwen2")


ARCHS = ("llama", "qwen2", "qwen3", "gemma3")


# ----------------------------------------------------------------------------- weights
def llama3_rope_factors(head_dim: int, base: float, factor=8.0, low_freq_factor=1.0,
                        high_freq_factor=4.0, old_ctx=8192) -> np.ndarray:
    """rope_freqs.weight as convert_hf_to_gguf.py computes it for rope_type 'llama3'."""
    freqs = 1.0 / (base ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim))
    low_wl, high_wl = old_ctx / low_freq_factor, old_ctx / high_freq_factor
    out = []
    for f in freqs:
        wl = 2 * math.pi / f
        if wl < high_wl:
            out.append(1.0)
        elif wl > low_wl:
            out.append(factor)
        else:
            smooth = (old_ctx / wl - low_freq_factor) / (high_freq_factor - low_freq_factor)
            out.append(1.0 / ((1 - smooth) / factor + smooth))
    return np.array(out, dtype=np.float32)


def _f16_bytes(x: float) -> np.ndarray:
    return np.array([x], dtype=np.float16).view(np.uint8)


def random_k_blocks(rng, qtype: QT, shape: tuple[int, int], std: float) -> np.ndarray:
    """Random valid K-quant super-blocks (or IQ4_NL blocks), scaled so the dequantised std is
    about `std`."""
    block_elems, block_bytes = gguf.GGML_QUANT_SIZES[qtype]
    rows, cols = shape
    nb = rows * cols // block_elems
    raw = rng.integers(0, 256, size=(nb, block_bytes), dtype=np.uint8)
    one = _f16_bytes(1.0)
    # layout: Q4_K/Q5_K start with d, dmin (f16); Q3_K/Q6_K end with d (f16), Q2_K with d, dmin;
    # IQ4_NL starts with d
    if qtype in (QT.Q3_K, QT.Q6_K):
        raw[:, -2:] = one
    elif qtype == QT.Q2_K:
        raw[:, -4:-2] = one
        raw[:, -2:] = _f16_bytes(0.0)
    elif qtype == QT.IQ4_NL:
        raw[:, 0:2] = one
    else:
        raw[:, 0:2] = one
        raw[:, 2:4] = _f16_bytes(0.0)  # dmin=0 first: measure d's part
    w = gguf.quants.dequantize(raw, qtype).astype(np.float64)
    if qtype in (QT.Q2_K, QT.Q4_K, QT.Q5_K):
        w = w - w.mean()
    s = std / max(float(w.std()), 1e-30)
    d = _f16_bytes(s)
    if qtype in (QT.Q3_K, QT.Q6_K):
        raw[:, -2:] = d
    elif qtype == QT.Q2_K:
        raw[:, -4:-2] = d
        raw[:, -2:] = _f16_bytes(s * 1.5)  # mean level 1.5: the mins roughly centre the values
    elif qtype == QT.IQ4_NL:
        raw[:, 0:2] = d
    else:
        raw[:, 0:2] = d
        # dmin chosen so the per-block minimum offset roughly centres the values
        raw[:, 2:4] = _f16_bytes(s * 7.5 * (1.0 if qtype == QT.Q4_K else 2.0))
    return raw.reshape(rows, cols // block_elems * block_bytes)


def encode_matrix(rng, qtype: QT, shape: tuple[int, int], std: float):
    """Random [out, in] matrix stored as qtype; returns (array, raw_dtype or None)."""
    rows, cols = shape
    block_elems = gguf.GGML_QUANT_SIZES[qtype][0]
    if cols % block_elems:
        raise ValueError(f"{qtype.name} needs rows that are a multiple of {block_elems} "
                         f"values, got {cols}; pick dimensions divisible by {block_elems}")
    if qtype in RANDOM_BLOCK_TYPES:
        return random_k_blocks(rng, qtype, shape, std), qtype
    w = (rng.standard_normal(shape, dtype=np.float32) * np.float32(std))
    if qtype == QT.F32:
        return w, None
    if qtype == QT.F16:
        return w.astype(np.float16), None
    return gguf.quants.quantize(w, qtype), qtype


def add_tensor(writer, name, arr, raw_dtype):
    if raw_dtype is None:
        writer.add_tensor(name, arr)
    else:
        writer.add_tensor(name, arr, raw_dtype=raw_dtype)


def write_model(out: str, arch: str = "llama", wtype: str = "f32", tokenizer: str | None = None,
                n_embd: int = 64, n_layer: int = 2, n_head: int = 4, n_head_kv: int = 2,
                n_ff: int = 128, vocab: int = 400, ctx: int = 256, seed: int = 0,
                rope_base: float | None = None, rms_eps: float | None = None,
                rope_llama3: bool = False, tied: bool | None = None,
                head_dim: int | None = None, sliding_window: int | None = None,
                name: str = "nanomind-tiny") -> dict:
    """Write a random GGUF model; returns the hyper-parameters used (dict)."""
    if arch not in ARCHS:
        raise ValueError(f"unknown arch {arch!r}: use one of {', '.join(ARCHS)}")
    qtype = TYPES[wtype.lower()]
    tokenizer = tokenizer or {"llama": "llama", "gemma3": "gemma"}.get(arch, "qwen2")
    tied = (arch != "llama") if tied is None else tied
    if arch == "gemma3" and not tied:
        raise ValueError("gemma3 always ties the output to token_embd")
    rope_base = rope_base or (10000.0 if arch == "llama" else 1000000.0)
    rms_eps = rms_eps or (1e-5 if arch == "llama" else 1e-6)
    if n_embd % n_head or n_head % n_head_kv:
        raise ValueError("n_embd must divide by n_head and n_head by n_head_kv")
    head_dim = head_dim or n_embd // n_head
    if head_dim != n_embd // n_head and arch in ("llama", "qwen2"):
        raise ValueError(f"{arch} needs head_dim = n_embd / n_head")
    if sliding_window and arch != "gemma3":
        raise ValueError("--sliding-window is a gemma3 parameter")
    n_q = head_dim * n_head
    if head_dim % 2:
        raise ValueError("head dimension must be even for RoPE")
    rng = np.random.default_rng(seed)
    tok = build_tokenizer(tokenizer, vocab, seed)

    w = gguf.GGUFWriter(out, arch)
    w.add_name(name)
    ftype = {QT.F32: 0, QT.F16: 1, QT.Q4_0: 2, QT.Q4_1: 3, QT.Q8_0: 7, QT.Q5_0: 8,
             QT.Q5_1: 9, QT.Q2_K: 10, QT.Q3_K: 12, QT.Q4_K: 15, QT.Q5_K: 17, QT.Q6_K: 18, QT.IQ4_NL: 25, QT.BF16: 32}[qtype]
    w.add_file_type(ftype)
    w.add_context_length(ctx)
    w.add_embedding_length(n_embd)
    w.add_block_count(n_layer)
    w.add_feed_forward_length(n_ff)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_head_kv)
    w.add_layer_norm_rms_eps(rms_eps)
    w.add_rope_freq_base(rope_base)
    w.add_rope_dimension_count(head_dim)
    if head_dim != n_embd // n_head:
        w.add_key_length(head_dim)
        w.add_value_length(head_dim)
    if arch == "gemma3":
        w.add_sliding_window(sliding_window or 512)
    w.add_vocab_size(vocab)
    w.add_tokenizer_model(tok["model"])
    if tok["pre"]:
        w.add_tokenizer_pre(tok["pre"])
    w.add_token_list(tok["tokens"])
    w.add_token_types([int(t) for t in tok["types"]])
    if tok["scores"] is not None:
        w.add_token_scores(tok["scores"])
    if tok["merges"] is not None:
        w.add_token_merges(tok["merges"])
    w.add_bos_token_id(tok["bos"])
    w.add_eos_token_id(tok["eos"])
    if tok["unk"] is not None:
        w.add_unk_token_id(tok["unk"])
    w.add_add_bos_token(tok["add_bos"])
    w.add_add_eos_token(False)
    if "add_space_prefix" in tok:
        w.add_add_space_prefix(tok["add_space_prefix"])
    w.add_chat_template(CHAT_TEMPLATES[tok["template"]])

    # Scales: embeddings ~N(0,1) so RMSNorm input is O(1); projections 1/sqrt(fan_in)
    # keep activations O(1); norms around 1 with some spread so they are not trivial.
    emb_std = 3.0 / math.sqrt(n_embd) if tied else 1.0  # tied: logits std ~ 3
    add_tensor(w, "token_embd.weight", *encode_matrix(rng, qtype, (vocab, n_embd), emb_std))
    if rope_llama3:
        w.add_tensor("rope_freqs.weight", llama3_rope_factors(head_dim, rope_base))
    kv_dim = head_dim * n_head_kv

    def norm_vec(n):
        return (1.0 + 0.1 * rng.standard_normal(n)).astype(np.float32)

    for i in range(n_layer):
        p = f"blk.{i}."
        s_in, s_ff = 1.0 / math.sqrt(n_embd), 1.0 / math.sqrt(n_ff)
        w.add_tensor(p + "attn_norm.weight", norm_vec(n_embd))
        add_tensor(w, p + "attn_q.weight", *encode_matrix(rng, qtype, (n_q, n_embd), s_in * 2))
        add_tensor(w, p + "attn_k.weight", *encode_matrix(rng, qtype, (kv_dim, n_embd), s_in * 2))
        add_tensor(w, p + "attn_v.weight", *encode_matrix(rng, qtype, (kv_dim, n_embd), s_in))
        if arch == "qwen2":
            for nm_, dim in (("attn_q.bias", n_embd), ("attn_k.bias", kv_dim),
                             ("attn_v.bias", kv_dim)):
                w.add_tensor(p + nm_, (0.1 * rng.standard_normal(dim)).astype(np.float32))
        if arch in ("qwen3", "gemma3"):
            w.add_tensor(p + "attn_q_norm.weight", norm_vec(head_dim))
            w.add_tensor(p + "attn_k_norm.weight", norm_vec(head_dim))
        add_tensor(w, p + "attn_output.weight",
                   *encode_matrix(rng, qtype, (n_embd, n_q), 1.0 / math.sqrt(n_q)))
        if arch == "gemma3":
            w.add_tensor(p + "post_attention_norm.weight", norm_vec(n_embd))
            w.add_tensor(p + "post_ffw_norm.weight", norm_vec(n_embd))
        w.add_tensor(p + "ffn_norm.weight", norm_vec(n_embd))
        add_tensor(w, p + "ffn_gate.weight", *encode_matrix(rng, qtype, (n_ff, n_embd), s_in))
        add_tensor(w, p + "ffn_up.weight", *encode_matrix(rng, qtype, (n_ff, n_embd), s_in))
        add_tensor(w, p + "ffn_down.weight", *encode_matrix(rng, qtype, (n_embd, n_ff), s_ff))
    w.add_tensor("output_norm.weight", norm_vec(n_embd))
    if not tied:
        # logits std ~ 3: softmax neither flat nor one-hot
        add_tensor(w, "output.weight",
                   *encode_matrix(rng, qtype, (vocab, n_embd), 3.0 / math.sqrt(n_embd)))

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return dict(arch=arch, type=wtype, tokenizer=tokenizer, n_embd=n_embd, n_layer=n_layer,
                n_head=n_head, n_head_kv=n_head_kv, head_dim=head_dim, n_ff=n_ff, vocab=vocab,
                ctx=ctx, seed=seed, rope_base=rope_base, rms_eps=rms_eps,
                rope_llama3=rope_llama3, tied=tied, sliding_window=sliding_window)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", choices=sorted(PRESETS))
    ap.add_argument("--arch", choices=list(ARCHS))
    ap.add_argument("--type", default="f32", choices=sorted(TYPES),
                    help="storage type of the 2-D matrices (norms/biases stay F32)")
    ap.add_argument("--tokenizer", choices=["llama", "gemma", "llama-bpe", "qwen2"],
                    help="llama/gemma = SentencePiece-style; llama-bpe/qwen2 = byte-level BPE "
                         "(default: llama for arch llama, gemma for gemma3, qwen2 otherwise)")
    for k in ("n-embd", "n-layer", "n-head", "n-head-kv", "n-ff", "vocab", "ctx", "head-dim",
              "sliding-window"):
        ap.add_argument("--" + k, type=int)
    ap.add_argument("--rope-base", type=float)
    ap.add_argument("--rope-llama3", action="store_true",
                    help="add LLaMA 3.1 rope_freqs.weight (factor 8, orig ctx 8192)")
    ap.add_argument("--tied", choices=["yes", "no"],
                    help="omit output.weight (default: no for llama, yes for the others)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    cfg = dict(PRESETS.get(a.preset, PRESETS["tiny"]))
    if a.arch:
        cfg["arch"] = a.arch
        if not a.preset or a.arch != PRESETS[a.preset]["arch"]:
            cfg["tokenizer"] = None
            cfg["rope_base"] = None
    for k in ("tokenizer", "n_embd", "n_layer", "n_head", "n_head_kv", "n_ff", "vocab", "ctx",
              "rope_base", "head_dim", "sliding_window"):
        v = getattr(a, k)
        if v is not None:
            cfg[k] = v
    if TYPES[a.type] in RANDOM_BLOCK_TYPES:
        print(f"make_tiny_llm: gguf-py cannot quantise {a.type}; writing random valid blocks",
              file=sys.stderr)
    t0 = time.time()
    try:
        hp = write_model(a.out, wtype=a.type, seed=a.seed, rope_llama3=a.rope_llama3,
                         tied=None if a.tied is None else a.tied == "yes", **cfg)
    except ValueError as e:
        print(f"make_tiny_llm: {e}", file=sys.stderr)
        return 2
    print(f"wrote {a.out} in {time.time() - t0:.1f} s: {hp}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
