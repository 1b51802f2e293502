"""The frozen language model of the default demo VLM in PyTorch, read from the GGUF file.

Loads a llama-architecture GGUF (SmolLM2-135M-Instruct Q4_1 here) with gguf-py, dequantises
every tensor exactly as the file stores it, and evaluates the published LLaMA equations:
RMSNorm, RoPE on adjacent pairs (the file's Q/K rows are in ggml's "normal" RoPE order, so
no permutation is undone), grouped-query causal attention, SwiGLU, tied output embedding.

Two precisions: `dtype=torch.bfloat16` (oneDNN runs bf16 matmuls on AMX / AVX-512 BF16
several times faster than f32, but emulates them ~50x slower on a CPU without those, so
train_vlm.py --precision auto picks float32 there; norms, softmax and the residual stream
stay f32), and `torch.float32`, also for reference answers. A fixed prefix (the chat template's system
turn) is evaluated once with `prefix_cache` and reused by every batch.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class LmConfig:
    n_embd: int
    n_head: int
    n_head_kv: int
    n_ff: int
    n_layer: int
    n_vocab: int
    rms_eps: float
    rope_theta: float


def read_gguf(path: str) -> tuple[LmConfig, dict[str, np.ndarray], "object"]:
    import gguf
    r = gguf.GGUFReader(path)

    def f(key):
        return r.fields[key].contents()
    arch = f("general.architecture")
    c = LmConfig(n_embd=int(f(f"{arch}.embedding_length")), n_head=int(f(f"{arch}.attention.head_count")),
                 n_head_kv=int(f(f"{arch}.attention.head_count_kv")), n_ff=int(f(f"{arch}.feed_forward_length")),
                 n_layer=int(f(f"{arch}.block_count")), n_vocab=0,
                 rms_eps=float(f(f"{arch}.attention.layer_norm_rms_epsilon")),
                 rope_theta=float(f(f"{arch}.rope.freq_base")))
    tensors = {}
    for t in r.tensors:
        a = gguf.quants.dequantize(t.data, t.tensor_type)
        tensors[t.name] = np.asarray(a, dtype=np.float32).reshape([int(x) for x in reversed(t.shape)])
    c.n_vocab = tensors["token_embd.weight"].shape[0]
    return c, tensors, r


class FrozenLM(nn.Module):
    """LLaMA decoder with frozen weights. forward(x, past) takes input embeddings."""

    def __init__(self, path: str, dtype=torch.bfloat16):
        super().__init__()
        c, t, _ = read_gguf(path)
        self.c, self.dtype = c, dtype

        def w(name, dt=dtype):
            return nn.Parameter(torch.from_numpy(t[name]).to(dt), requires_grad=False)
        self.token_embd = w("token_embd.weight", torch.float32)  # f32: inputs are looked up exactly
        self.output = w("output.weight") if "output.weight" in t else None
        self.out_w = self.output if self.output is not None else nn.Parameter(self.token_embd.data.to(dtype),
                                                                             requires_grad=False)
        self.output_norm = w("output_norm.weight", torch.float32)
        self.layers = nn.ModuleList()
        for i in range(c.n_layer):
            L = nn.Module()
            p = f"blk.{i}."
            for n in ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"):
                setattr(L, n, w(p + n + ".weight"))
            L.attn_norm = w(p + "attn_norm.weight", torch.float32)
            L.ffn_norm = w(p + "ffn_norm.weight", torch.float32)
            self.layers.append(L)
        self.requires_grad_(False)

    def rms(self, x, weight):
        x = x.float()
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.c.rms_eps) * weight

    def rope_tables(self, n: int):
        # ggml's normal mode: pairs (2i, 2i+1) rotated by pos * theta^(-2i/d)
        d = self.c.n_embd // self.c.n_head
        inv = 1.0 / (self.c.rope_theta ** (torch.arange(0, d, 2, dtype=torch.float64) / d))
        ang = torch.arange(n, dtype=torch.float64)[:, None] * inv[None, :]
        return torch.polar(torch.ones_like(ang), ang).to(torch.complex64)

    def rope(self, x, rot):
        xc = torch.view_as_complex(x.float().reshape(*x.shape[:-1], -1, 2).contiguous())
        return torch.view_as_real(xc * rot).flatten(-2)

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        return F.embedding(ids, self.token_embd)

    def forward(self, x: torch.Tensor, start: int = 0, past=None, key_mask=None):
        """x: [B, T, n_embd] f32 input embeddings at positions start.. ; past: per layer (k, v)
        of a shared prefix [1, n_head_kv, P, d] (P == start). key_mask: [B, T] bool, False for
        padding keys. Returns (final hidden [B, T, n_embd] f32 after output_norm, new (k, v))."""
        c = self.c
        B, T, _ = x.shape
        d = c.n_embd // c.n_head
        rep = c.n_head // c.n_head_kv
        if not hasattr(self, "_rot") or self._rot.shape[0] < start + T:
            self._rot = self.rope_tables(max(1024, start + T))
        rot = self._rot[start:start + T]
        P = 0 if past is None else past[0][0].shape[2]
        mask = torch.full((T, P + T), float("-inf")).triu(P + 1)
        mask = mask.expand(B, 1, 1, T, P + T)
        if key_mask is not None:
            mask = mask.clone()
            mask[..., P:] = mask[..., P:].masked_fill(~key_mask[:, None, None, None, :], float("-inf"))
        kv_out = []
        x = x.float()
        scale = 1.0 / math.sqrt(d)
        for i, L in enumerate(self.layers):
            h = self.rms(x, L.attn_norm).to(self.dtype)
            q = (h @ L.attn_q.t()).view(B, T, c.n_head, d).transpose(1, 2)
            k = (h @ L.attn_k.t()).view(B, T, c.n_head_kv, d).transpose(1, 2)
            v = (h @ L.attn_v.t()).view(B, T, c.n_head_kv, d).transpose(1, 2)
            q, k = self.rope(q, rot).to(self.dtype), self.rope(k, rot).to(self.dtype)
            kv_out.append((k, v))
            if past is not None:
                pk, pv = past[i]
                k = torch.cat([pk.to(self.dtype).expand(B, -1, -1, -1), k], 2)
                v = torch.cat([pv.to(self.dtype).expand(B, -1, -1, -1), v], 2)
            # grouped query heads: head h reads KV head h // rep
            qg = q.reshape(B, c.n_head_kv, rep, T, d)
            att = (qg @ k.unsqueeze(2).transpose(-1, -2)).float() * scale + mask
            att = torch.softmax(att, dim=-1).to(self.dtype)
            o = (att @ v.unsqueeze(2)).reshape(B, c.n_head, T, d).transpose(1, 2).reshape(B, T, c.n_head * d)
            x = x + (o @ L.attn_output.t()).float()
            h = self.rms(x, L.ffn_norm).to(self.dtype)
            g = h @ L.ffn_gate.t()
            u = h @ L.ffn_up.t()
            x = x + ((F.silu(g) * u) @ L.ffn_down.t()).float()
        return self.rms(x, self.output_norm), kv_out

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return (hidden.to(self.dtype) @ self.out_w.t()).float()

    @torch.no_grad()
    def prefix_cache(self, ids: list[int]):
        x = self.embed(torch.tensor([ids]))
        _, kv = self.forward(x)
        return [(k.detach(), v.detach()) for k, v in kv]
