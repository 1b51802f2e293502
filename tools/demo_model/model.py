"""PyTorch definition of the NanoMind demo vision-language model.

SigLIP-style ViT (patch conv, learned position embeddings, pre-LN blocks, tanh-GELU MLP,
post-LN, no class token) -> 2-layer MLP projector (Linear, GELU, Linear) or Idefics3's pixel
shuffle + Linear (Config.projector = "idefics3") -> image embeddings spliced in place of the <image> token of a small LLaMA decoder (RMSNorm, RoPE in the
Hugging Face rotate-half layout, SwiGLU, causal GQA attention). The layout mirrors what
llama.cpp's clip "mlp" projector and "llama" architecture compute, so export.py can write
the weights into mmproj / LLM GGUF files unchanged (Q/K permuted for llama.cpp's RoPE).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# SigLIP normalisation: pixel/255, then (x - 0.5) / 0.5 per channel.
IMAGE_MEAN = (0.5, 0.5, 0.5)
IMAGE_STD = (0.5, 0.5, 0.5)


@dataclass
class Config:
    # 32-pixel patches: one patch per cell of the scenes' 3x3 grid, so the decoder reads only
    # 9 image embeddings (training on a shared 2-core CPU is dominated by decoder tokens).
    image_size: int = 96
    patch_size: int = 32
    v_embd: int = 192
    v_head: int = 4
    v_ff: int = 768
    v_layer: int = 3
    v_eps: float = 1e-6
    vocab: int = 384
    n_embd: int = 128
    n_head: int = 4
    n_head_kv: int = 2
    n_ff: int = 384
    n_layer: int = 4
    rms_eps: float = 1e-5
    rope_theta: float = 10000.0
    n_ctx: int = 256
    # "mlp": one image embedding per patch. "idefics3": each scale_factor x scale_factor block
    # of patches becomes one embedding (pixel shuffle, then one Linear without bias), the
    # layout of SmolVLM's mmproj files, so small patches need not mean many decoder tokens.
    projector: str = "mlp"
    scale_factor: int = 1

    @property
    def grid(self) -> int:
        return self.image_size // self.patch_size

    @property
    def n_patches(self) -> int:
        """Encoder tokens."""
        return self.grid ** 2

    @property
    def n_image_tokens(self) -> int:
        """Image embeddings the decoder reads."""
        return self.n_patches // self.scale_factor ** 2 if self.projector == "idefics3" else self.n_patches

    def to_dict(self) -> dict:
        return asdict(self)


def gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    # ggml_gelu is the tanh approximation.
    return F.gelu(x, approximate="tanh")


def preprocess(images_u8: np.ndarray) -> torch.Tensor:
    """uint8 [B, H, W, 3] images already at image_size -> normalised float [B, 3, H, W]."""
    x = torch.from_numpy(np.ascontiguousarray(images_u8)).float().div_(255.0)
    mean = torch.tensor(IMAGE_MEAN).view(1, 1, 1, 3)
    std = torch.tensor(IMAGE_STD).view(1, 1, 1, 3)
    return ((x - mean) / std).permute(0, 3, 1, 2).contiguous()


class VisionBlock(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        self.n_head = c.v_head
        self.ln1 = nn.LayerNorm(c.v_embd, eps=c.v_eps)
        self.attn_q = nn.Linear(c.v_embd, c.v_embd)
        self.attn_k = nn.Linear(c.v_embd, c.v_embd)
        self.attn_v = nn.Linear(c.v_embd, c.v_embd)
        self.attn_out = nn.Linear(c.v_embd, c.v_embd)
        self.ln2 = nn.LayerNorm(c.v_embd, eps=c.v_eps)
        self.ffn_up = nn.Linear(c.v_embd, c.v_ff)
        self.ffn_down = nn.Linear(c.v_ff, c.v_embd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        h = self.ln1(x)
        dh = d // self.n_head
        q = self.attn_q(h).view(b, n, self.n_head, dh).transpose(1, 2)
        k = self.attn_k(h).view(b, n, self.n_head, dh).transpose(1, 2)
        v = self.attn_v(h).view(b, n, self.n_head, dh).transpose(1, 2)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dh), dim=-1)
        x = x + self.attn_out((att @ v).transpose(1, 2).reshape(b, n, d))
        return x + self.ffn_down(gelu_tanh(self.ffn_up(self.ln2(x))))


def pixel_shuffle(feats: torch.Tensor, grid: int, s: int) -> torch.Tensor:
    """[B, grid*grid, E] patches in raster order -> [B, (grid/s)^2, s*s*E]: each s x s block
    becomes one token (blocks in raster order) whose features are the block's patches in
    raster order, concatenated; what NanoMind's idefics3 graph (src/bricks/vision/
    vision_graph.cpp) and tests/reference/vision_ref.py compute."""
    b, n, e = feats.shape
    g = grid // s
    x = feats.reshape(b, g, s, g, s, e).permute(0, 1, 3, 2, 4, 5)  # [B, yb, xb, dy, dx, E]
    return x.reshape(b, g * g, s * s * e)


class VisionTower(nn.Module):
    """ViT encoder plus the projector: image -> [B, n_image_tokens, n_embd] LLM embeddings."""

    def __init__(self, c: Config):
        super().__init__()
        if c.projector not in ("mlp", "idefics3") or (c.projector == "idefics3" and c.grid % c.scale_factor):
            raise ValueError(f"projector {c.projector!r} with scale factor {c.scale_factor} on a {c.grid}-patch grid")
        self.c = c
        self.patch_embd = nn.Conv2d(3, c.v_embd, c.patch_size, stride=c.patch_size)
        self.position_embd = nn.Parameter(torch.randn(c.n_patches, c.v_embd) * 0.02)
        self.blocks = nn.ModuleList(VisionBlock(c) for _ in range(c.v_layer))
        self.post_ln = nn.LayerNorm(c.v_embd, eps=c.v_eps)
        if c.projector == "idefics3":
            self.mm_fc = nn.Linear(c.v_embd * c.scale_factor ** 2, c.n_embd, bias=False)
        else:
            self.mm0 = nn.Linear(c.v_embd, c.n_embd)
            self.mm2 = nn.Linear(c.n_embd, c.n_embd)

    def features(self, pixels: torch.Tensor) -> torch.Tensor:
        """Encoder output after post_ln: [B, n_patches, v_embd]."""
        x = self.patch_embd(pixels).flatten(2).transpose(1, 2)  # raster order of patches
        x = x + self.position_embd
        for blk in self.blocks:
            x = blk(x)
        return self.post_ln(x)

    def project(self, feats: torch.Tensor) -> torch.Tensor:
        if self.c.projector == "idefics3":
            return self.mm_fc(pixel_shuffle(feats, self.c.grid, self.c.scale_factor))
        return self.mm2(gelu_tanh(self.mm0(feats)))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.project(self.features(pixels))


class RMSNorm(nn.Module):
    def __init__(self, d: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_tables(c: Config, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    dh = c.n_embd // c.n_head
    inv = 1.0 / (c.rope_theta ** (torch.arange(0, dh, 2, dtype=torch.float64) / dh))
    ang = torch.arange(n, dtype=torch.float64)[:, None] * inv[None, :]
    ang = torch.cat([ang, ang], dim=-1)
    return ang.cos().float(), ang.sin().float()


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


class DecoderBlock(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        self.c = c
        dh = c.n_embd // c.n_head
        self.attn_norm = RMSNorm(c.n_embd, c.rms_eps)
        self.attn_q = nn.Linear(c.n_embd, c.n_head * dh, bias=False)
        self.attn_k = nn.Linear(c.n_embd, c.n_head_kv * dh, bias=False)
        self.attn_v = nn.Linear(c.n_embd, c.n_head_kv * dh, bias=False)
        self.attn_output = nn.Linear(c.n_head * dh, c.n_embd, bias=False)
        self.ffn_norm = RMSNorm(c.n_embd, c.rms_eps)
        self.ffn_gate = nn.Linear(c.n_embd, c.n_ff, bias=False)
        self.ffn_up = nn.Linear(c.n_embd, c.n_ff, bias=False)
        self.ffn_down = nn.Linear(c.n_ff, c.n_embd, bias=False)

    def forward(self, x, cos, sin, mask):
        c = self.c
        b, n, d = x.shape
        dh = d // c.n_head
        h = self.attn_norm(x)
        q = self.attn_q(h).view(b, n, c.n_head, dh).transpose(1, 2)
        k = self.attn_k(h).view(b, n, c.n_head_kv, dh).transpose(1, 2)
        v = self.attn_v(h).view(b, n, c.n_head_kv, dh).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = c.n_head // c.n_head_kv
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(dh) + mask
        att = torch.softmax(att, dim=-1)
        x = x + self.attn_output((att @ v).transpose(1, 2).reshape(b, n, d))
        h = self.ffn_norm(x)
        return x + self.ffn_down(F.silu(self.ffn_gate(h)) * self.ffn_up(h))


class DemoVLM(nn.Module):
    def __init__(self, c: Config, image_token_id: int):
        super().__init__()
        self.c = c
        self.image_token_id = image_token_id
        self.vision = VisionTower(c)
        self.token_embd = nn.Embedding(c.vocab, c.n_embd)
        self.blocks = nn.ModuleList(DecoderBlock(c) for _ in range(c.n_layer))
        self.output_norm = RMSNorm(c.n_embd, c.rms_eps)
        self.output = nn.Linear(c.n_embd, c.vocab, bias=False)
        self.apply(self._init)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)

    def embed(self, ids: torch.Tensor, pixels: torch.Tensor,
              img: torch.Tensor | None = None) -> torch.Tensor:
        """Token embeddings with the single <image> token (same column in every row) replaced
        by the n_patches image embeddings (computed from pixels unless given as img)."""
        where = (ids == self.image_token_id).nonzero()
        col = int(where[0, 1])
        assert where.shape[0] == ids.shape[0] and bool((where[:, 1] == col).all())
        if img is None:
            img = self.vision(pixels)
        return torch.cat([self.token_embd(ids[:, :col]), img, self.token_embd(ids[:, col + 1:])], 1)

    def forward(self, ids: torch.Tensor, pixels: torch.Tensor,
                img: torch.Tensor | None = None) -> torch.Tensor:
        """Logits [B, T', vocab] over the spliced sequence (T' = T - 1 + n_patches)."""
        x = self.embed(ids, pixels, img)
        n = x.shape[1]
        cos, sin = rope_tables(self.c, n)
        mask = torch.full((n, n), float("-inf")).triu(1)
        for blk in self.blocks:
            x = blk(x, cos, sin, mask)
        return self.output(self.output_norm(x))
