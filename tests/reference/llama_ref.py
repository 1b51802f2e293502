"""Independent numpy float64 forward pass of LLaMA / Qwen2 / Qwen3 / Gemma 3 GGUF models,
from the published equations (RMSNorm, RoPE, grouped-query causal attention, SwiGLU /
GeGLU), reading weights with gguf-py. Used as ground truth for the C++ text brick; it
knows nothing of our C++.

RoPE layout: GGUF "llama" tensors were permuted by llama.cpp's converter so rotated pairs
are adjacent (x[2i], x[2i+1]) ("normal" mode); "qwen2", "qwen3" and "gemma3" use neox
mode, pairs (x[i], x[i + d/2]). Frequencies theta_i = base^(-2i/d), divided by
rope_freqs.weight[i] when that tensor is present (LLaMA 3.1 scaling).

Qwen3 (modeling_qwen3.py): RMSNorm of each head of q and k (weights attn_{q,k}_norm,
[head_dim]) before RoPE; no biases.
Gemma 3 text (modeling_gemma3.py, Gemma3DecoderLayer): embeddings times sqrt(n_embd); per
layer x += post_attention_norm(attn(input_layernorm(x))), x += post_ffw_norm(mlp(
pre_feedforward_layernorm(x))); QK-norm as Qwen3; MLP down(gelu_tanh(gate(x)) * up(x));
scores scaled by query_pre_attn_scalar^-0.5 (= head_dim here); layers with
(i + 1) % 6 != 0 are sliding-window layers (a query at p sees keys k with p - k < window)
with rope base 10000, the others global with the file's base. Gemma's RMSNorm multiplies by
(1 + w); llama.cpp's converter stores 1 + w in the GGUF, so the norms here multiply by the
stored value as for every other architecture.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

import gguf
from gguf import GGMLQuantizationType as QT

from matmul import ACT, quantize_act

NEOX_ARCHS = {"qwen2", "qwen3", "gemma3"}
GEMMA_SWA_PATTERN = 6


def _field(reader: gguf.GGUFReader, key: str, default=None):
    f = reader.fields.get(key)
    if f is None:
        return default
    return f.contents()


def tensor_f64(t) -> np.ndarray:
    """Dequantise one ReaderTensor to float64, numpy shape = reversed GGUF ne."""
    shape = tuple(int(x) for x in reversed(t.shape))
    if t.tensor_type in (QT.F32, QT.F16, QT.F64):
        return np.asarray(t.data, dtype=np.float64).reshape(shape)
    return gguf.quants.dequantize(np.asarray(t.data), t.tensor_type).astype(np.float64) \
        .reshape(shape)


class LazyTensors(Mapping):
    """name -> float64 array, dequantised on every access and not kept: a forward pass over
    all tokens at once reads each matrix once, and a 1.5B-parameter file then needs one
    matrix in float64 at a time instead of 12 GB."""

    def __init__(self, reader: gguf.GGUFReader):
        self._t = {t.name: t for t in reader.tensors}

    def __getitem__(self, name):
        return tensor_f64(self._t[name])

    def __iter__(self):
        return iter(self._t)

    def __len__(self):
        return len(self._t)


class LlamaRef:
    """Loads all weights into float64 at construction (lazy=True: on use, see LazyTensors).
    Not thread-safe (plain object)."""

    def __init__(self, path: str, act_quant: bool = False, lazy: bool = False):
        """act_quant: round the input of every quantised-weight product to the 8-bit
        activation blocks GGML pairs with that weight type (Q8_0 / Q8_1 / Q8_K), as CPU
        engines do, so that only float rounding separates an engine from this reference."""
        r = gguf.GGUFReader(path)
        self.act_quant = act_quant
        self.types = {t.name: t.tensor_type for t in r.tensors}
        self.arch = _field(r, "general.architecture")
        a = self.arch
        self.n_embd = int(_field(r, f"{a}.embedding_length"))
        self.n_layer = int(_field(r, f"{a}.block_count"))
        self.n_ff = int(_field(r, f"{a}.feed_forward_length"))
        self.n_head = int(_field(r, f"{a}.attention.head_count"))
        self.n_head_kv = int(_field(r, f"{a}.attention.head_count_kv", self.n_head))
        self.eps = float(_field(r, f"{a}.attention.layer_norm_rms_epsilon"))
        self.rope_base = float(_field(r, f"{a}.rope.freq_base", 10000.0))
        self.head_dim = int(_field(r, f"{a}.attention.key_length", self.n_embd // self.n_head))
        self.n_rot = int(_field(r, f"{a}.rope.dimension_count", self.head_dim))
        self.gemma = a == "gemma3"
        self.n_swa = int(_field(r, f"{a}.attention.sliding_window", 0)) if self.gemma else 0
        self.rope_base_swa = float(_field(r, f"{a}.rope.freq_base_swa", 10000.0))
        self.ctx = int(_field(r, f"{a}.context_length"))
        self.neox = a in NEOX_ARCHS
        self.w = LazyTensors(r) if lazy else {t.name: tensor_f64(t) for t in r.tensors}
        self.tied = "output.weight" not in self.w
        self.vocab = int(next(t.shape[1] for t in r.tensors if t.name == "token_embd.weight"))
        self.bos = _field(r, "tokenizer.ggml.bos_token_id")
        self.eos = _field(r, "tokenizer.ggml.eos_token_id")

    # --- building blocks -------------------------------------------------------------
    def rms_norm(self, x, w):
        return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + self.eps) * w

    def gelu_tanh(self, x):
        return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x ** 3)))

    def is_swa(self, layer):
        return self.n_swa > 0 and (layer + 1) % GEMMA_SWA_PATTERN != 0

    def rope(self, x, pos, base=None):
        """x: [T, H, head_dim]; pos: [T] absolute positions."""
        d = self.n_rot
        inv = (base or self.rope_base) ** (-np.arange(0, d, 2, dtype=np.float64) / d)
        if "rope_freqs.weight" in self.w:
            inv = inv / self.w["rope_freqs.weight"]
        ang = np.asarray(pos, dtype=np.float64)[:, None] * inv[None, :]   # [T, d/2]
        c, s = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
        out = x.copy()
        if self.neox:
            a, b = x[..., : d // 2], x[..., d // 2: d]
            out[..., : d // 2] = a * c - b * s
            out[..., d // 2: d] = a * s + b * c
        else:
            a, b = x[..., 0:d:2], x[..., 1:d:2]
            out[..., 0:d:2] = a * c - b * s
            out[..., 1:d:2] = a * s + b * c
        return out

    def _act(self, weight_name, x):
        kind = ACT.get(self.types[weight_name]) if self.act_quant else None
        return x if kind is None else quantize_act(kind, x)[0]

    def _lin(self, name, x):
        y = self._act(name + ".weight", x) @ self.w[name + ".weight"].T
        b = self.w.get(name + ".bias")
        return y if b is None else y + b

    # --- forward ---------------------------------------------------------------------
    def forward(self, tokens, cache=None):
        """Logits [T, vocab] (float64) for `tokens`, continuing after `cache` (a dict
        returned/updated in place: per-layer K/V and the position count) if given."""
        tokens = np.asarray(tokens, dtype=np.int64)
        if tokens.min() < 0 or tokens.max() >= self.vocab:
            raise ValueError("token id out of range")
        if cache is None:
            cache = {"n": 0, "k": [None] * self.n_layer, "v": [None] * self.n_layer}
        T, n0 = len(tokens), cache["n"]
        pos = np.arange(n0, n0 + T)
        H, Hk, D = self.n_head, self.n_head_kv, self.head_dim
        x = self.w["token_embd.weight"][tokens]
        if self.gemma:
            x = x * np.sqrt(self.n_embd)
        for i in range(self.n_layer):
            p = f"blk.{i}."
            base = self.rope_base_swa if self.is_swa(i) else None
            h = self.rms_norm(x, self.w[p + "attn_norm.weight"])
            q = self._lin(p + "attn_q", h).reshape(T, H, D)
            k = self._lin(p + "attn_k", h).reshape(T, Hk, D)
            if p + "attn_q_norm.weight" in self.w:
                q = self.rms_norm(q, self.w[p + "attn_q_norm.weight"])
                k = self.rms_norm(k, self.w[p + "attn_k_norm.weight"])
            q, k = self.rope(q, pos, base), self.rope(k, pos, base)
            v = self._lin(p + "attn_v", h).reshape(T, Hk, D)
            if cache["k"][i] is not None:
                k = np.concatenate([cache["k"][i], k])
                v = np.concatenate([cache["v"][i], v])
            cache["k"][i], cache["v"][i] = k, v
            S = k.shape[0]
            g = H // Hk
            kk, vv = np.repeat(k, g, axis=1), np.repeat(v, g, axis=1)     # [S, H, D]
            sc = np.einsum("thd,shd->hts", q, kk) / np.sqrt(D)
            dist = (n0 + np.arange(T))[:, None] - np.arange(S)[None, :]    # query pos - key pos
            mask = dist < 0                                                  # future keys
            if self.is_swa(i):
                mask |= dist >= self.n_swa
            sc = np.where(mask[None], -np.inf, sc)
            sc = np.exp(sc - sc.max(-1, keepdims=True))
            sc /= sc.sum(-1, keepdims=True)
            att = np.einsum("hts,shd->thd", sc, vv).reshape(T, H * D)
            o = self._lin(p + "attn_output", att)
            if self.gemma:
                o = self.rms_norm(o, self.w[p + "post_attention_norm.weight"])
            x = x + o
            h = self.rms_norm(x, self.w[p + "ffn_norm.weight"])
            gt = self._lin(p + "ffn_gate", h)
            act = self.gelu_tanh(gt) if self.gemma else gt / (1.0 + np.exp(-gt))
            ff = self._lin(p + "ffn_down", act * self._lin(p + "ffn_up", h))
            if self.gemma:
                ff = self.rms_norm(ff, self.w[p + "post_ffw_norm.weight"])
            x = x + ff
        cache["n"] = n0 + T
        x = self.rms_norm(x, self.w["output_norm.weight"])
        out = "token_embd.weight" if self.tied else "output.weight"
        return self._act(out, x) @ self.w[out].T

    def generate(self, prompt, n_steps: int, use_cache: bool = True):
        """Greedy decoding: returns the list of n_steps new token ids."""
        cache = {"n": 0, "k": [None] * self.n_layer, "v": [None] * self.n_layer}
        seq = list(prompt)
        logits = self.forward(seq, cache if use_cache else None)
        out = []
        for _ in range(n_steps):
            t = int(np.argmax(logits[-1]))
            out.append(t)
            seq.append(t)
            logits = self.forward([t], cache) if use_cache else self.forward(seq)
        return out


def load(path: str, act_quant: bool = False) -> LlamaRef:
    return LlamaRef(path, act_quant)


def logits(path: str, tokens) -> np.ndarray:
    return LlamaRef(path).forward(tokens)
