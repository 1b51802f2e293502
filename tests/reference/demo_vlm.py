"""numpy float64 reference forward of a clip "mlp" mmproj GGUF and a llama GGUF decoder.

Written from the published equations and llama.cpp's documented GGUF layout (not from the
PyTorch trainer): ViT with pre-LN blocks, tanh-GELU MLP, post-LN, no class token, then
mm.0 -> GELU -> mm.2; LLaMA with RMSNorm, GGML "normal" RoPE (adjacent pairs rotated, which
is why converters permute Q/K rows), SwiGLU and grouped-query causal attention.
Tensors are read with gguf-py; the numpy arrays have the PyTorch [out, in] shapes.
"""
from __future__ import annotations

import math

import numpy as np
import gguf


def read_gguf(path: str) -> tuple[dict, dict]:
    """(key -> value, tensor name -> float64 array) of a GGUF file."""
    r = gguf.GGUFReader(path)
    kv = {k: f.contents() for k, f in r.fields.items() if not k.startswith("GGUF.")}
    tensors = {}
    for t in r.tensors:
        shape = tuple(int(x) for x in reversed(t.shape.tolist()))
        tensors[t.name] = np.asarray(t.data, dtype=np.float64).reshape(shape)
    return kv, tensors


def gelu_tanh(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def encode_image(kv: dict, t: dict, image_u8: np.ndarray) -> np.ndarray:
    """uint8 [H, W, 3] image (already image_size) -> [n_patches, projection_dim] embeddings."""
    p = kv["clip.vision.patch_size"]
    n_head = kv["clip.vision.attention.head_count"]
    eps = kv["clip.vision.attention.layer_norm_epsilon"]
    mean = np.array(kv["clip.vision.image_mean"])
    std = np.array(kv["clip.vision.image_std"])
    x = (image_u8.astype(np.float64) / 255.0 - mean) / std  # [H, W, 3]
    g = x.shape[0] // p
    # patches in raster order, each flattened as [channel, row, col] like the conv kernel
    patches = x.reshape(g, p, g, p, 3).transpose(0, 2, 4, 1, 3).reshape(g * g, 3 * p * p)
    w = t["v.patch_embd.weight"].reshape(t["v.patch_embd.weight"].shape[0], -1)
    h = patches @ w.T + t["v.patch_embd.bias"] + t["v.position_embd.weight"]
    n, d = h.shape
    dh = d // n_head
    for i in range(kv["clip.vision.block_count"]):
        def lin(name, a):
            return a @ t[f"v.blk.{i}.{name}.weight"].T + t[f"v.blk.{i}.{name}.bias"]
        a = layer_norm(h, t[f"v.blk.{i}.ln1.weight"], t[f"v.blk.{i}.ln1.bias"], eps)
        q = lin("attn_q", a).reshape(n, n_head, dh).transpose(1, 0, 2)
        k = lin("attn_k", a).reshape(n, n_head, dh).transpose(1, 0, 2)
        v = lin("attn_v", a).reshape(n, n_head, dh).transpose(1, 0, 2)
        o = softmax(q @ k.transpose(0, 2, 1) / math.sqrt(dh)) @ v
        h = h + lin("attn_out", o.transpose(1, 0, 2).reshape(n, d))
        a = layer_norm(h, t[f"v.blk.{i}.ln2.weight"], t[f"v.blk.{i}.ln2.bias"], eps)
        h = h + lin("ffn_down", gelu_tanh(lin("ffn_up", a)))
    h = layer_norm(h, t["v.post_ln.weight"], t["v.post_ln.bias"], eps)
    h = gelu_tanh(h @ t["mm.0.weight"].T + t["mm.0.bias"])
    return h @ t["mm.2.weight"].T + t["mm.2.bias"]


def rms_norm(x, w, eps):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w


def rope_pairs(x: np.ndarray, base: float) -> np.ndarray:
    """x [n_head, n, dh]; rotates (x[2i], x[2i+1]) by pos * base^(-2i/dh)."""
    n, dh = x.shape[1], x.shape[2]
    theta = np.arange(n)[:, None] * base ** (-np.arange(0, dh, 2) / dh)[None, :]
    c, s = np.cos(theta), np.sin(theta)
    x0, x1 = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x)
    out[..., 0::2] = x0 * c - x1 * s
    out[..., 1::2] = x0 * s + x1 * c
    return out


def llama_logits(kv: dict, t: dict, embeddings: np.ndarray) -> np.ndarray:
    """[n, n_embd] input embeddings at positions 0..n-1 -> [n, vocab] logits."""
    n_head = kv["llama.attention.head_count"]
    n_kv = kv["llama.attention.head_count_kv"]
    eps = kv["llama.attention.layer_norm_rms_epsilon"]
    base = kv["llama.rope.freq_base"]
    h = embeddings.astype(np.float64)
    n, d = h.shape
    dh = d // n_head
    mask = np.triu(np.full((n, n), -np.inf), 1)
    for i in range(kv["llama.block_count"]):
        a = rms_norm(h, t[f"blk.{i}.attn_norm.weight"], eps)
        q = (a @ t[f"blk.{i}.attn_q.weight"].T).reshape(n, n_head, dh).transpose(1, 0, 2)
        k = (a @ t[f"blk.{i}.attn_k.weight"].T).reshape(n, n_kv, dh).transpose(1, 0, 2)
        v = (a @ t[f"blk.{i}.attn_v.weight"].T).reshape(n, n_kv, dh).transpose(1, 0, 2)
        q, k = rope_pairs(q, base), rope_pairs(k, base)
        kv_of = np.arange(n_head) // (n_head // n_kv)
        o = softmax(q @ k[kv_of].transpose(0, 2, 1) / math.sqrt(dh) + mask) @ v[kv_of]
        h = h + o.transpose(1, 0, 2).reshape(n, d) @ t[f"blk.{i}.attn_output.weight"].T
        a = rms_norm(h, t[f"blk.{i}.ffn_norm.weight"], eps)
        gate = a @ t[f"blk.{i}.ffn_gate.weight"].T
        up = a @ t[f"blk.{i}.ffn_up.weight"].T
        h = h + (gate / (1.0 + np.exp(-gate)) * up) @ t[f"blk.{i}.ffn_down.weight"].T
    return rms_norm(h, t["output_norm.weight"], eps) @ t["output.weight"].T


def splice(t: dict, prompt_ids: list[int], image_token_id: int, image_emb: np.ndarray) -> np.ndarray:
    """Token embeddings with the image marker token replaced by the image embeddings."""
    rows = []
    for tok in prompt_ids:
        rows.append(image_emb if tok == image_token_id else t["token_embd.weight"][tok][None, :])
    return np.concatenate(rows, 0)
