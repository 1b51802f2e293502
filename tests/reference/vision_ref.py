"""Independent numpy float64 reference of an mmproj vision encoder + projector.

Written from the published equations: ViT patch embedding (a stride-P convolution),
CLIP (Radford et al. 2021: class token, pre-LayerNorm, quick-GELU x*sigmoid(1.702x)),
SigLIP (Zhai et al. 2023: no class token, GELU tanh form, post-LayerNorm), pre-norm
transformer blocks with multi-head softmax attention, LLaVA's 2-layer MLP projector
(Linear, GELU, Linear; the tanh form, as llama.cpp evaluates it on these files — Hugging
Face's LlavaMultiModalProjector uses the erf form, at most ~1e-3 apart per element) and Idefics3's pixel shuffle + Linear (Hugging Face
Idefics3Connector). Weights are read with gguf-py and dequantised by gguf-py.
Which block feeds the projector follows llama.cpp's convention: block_count - 1 blocks
for the mlp projector (LLaVA's penultimate layer), all blocks otherwise, unless
clip.vision.feature_layer names it.
"""
import math

import numpy as np

import gguf


class Mmproj:
    def __init__(self, path):
        r = gguf.GGUFReader(path)
        self.kv = {}
        for f in r.fields.values():
            if f.name.startswith("clip."):
                vals = [f.parts[i] for i in f.data]
                if f.types and f.types[0] == gguf.GGUFValueType.STRING:
                    self.kv[f.name] = bytes(vals[0]).decode()
                elif f.types and f.types[0] == gguf.GGUFValueType.ARRAY:
                    self.kv[f.name] = [v.item() for v in vals]
                else:
                    self.kv[f.name] = vals[0].item()
        self.t = {}
        for t in r.tensors:
            a = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float64)
            self.t[t.name] = a.reshape([int(x) for x in reversed(t.shape)]) if a.size == np.prod(t.shape) else a
        g = self.kv.get
        self.projector = g("clip.projector_type", "mlp")
        self.image_size = g("clip.vision.image_size")
        self.patch = g("clip.vision.patch_size")
        self.n_embd = g("clip.vision.embedding_length")
        self.n_head = g("clip.vision.attention.head_count")
        self.n_layer = g("clip.vision.block_count")
        self.eps = g("clip.vision.attention.layer_norm_epsilon", 1e-6)
        self.use_gelu = g("clip.use_gelu", False)
        self.mean = np.array(g("clip.vision.image_mean", [0.5] * 3))
        self.std = np.array(g("clip.vision.image_std", [0.5] * 3))
        self.scale = g("clip.vision.projector.scale_factor", 2)
        fl = g("clip.vision.feature_layer")
        self.n_run = fl[0] if fl else (self.n_layer - 1 if self.projector == "mlp" else self.n_layer)
        self.clip = "v.class_embd" in self.t
        ffn_down = self.t[f"v.blk.0.ffn_down.weight"]
        # torch layout [out, in]: fc1 maps n_embd -> n_ff
        self.legacy_ffn = ffn_down.shape[1] == self.n_embd and ffn_down.shape[0] != self.n_embd


def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


def quick_gelu(x):
    return x / (1 + np.exp(-1.702 * x))


def interp_pos(table, g0, gw, gh):
    """Bilinear resampling of a [g0*g0, E] grid to [gh*gw, E] (half-pixel centres, clamped edges)."""
    grid = table.reshape(g0, g0, -1)

    def taps(n):
        src = np.maximum((np.arange(n) + 0.5) * g0 / n - 0.5, 0)
        i0 = np.minimum(np.floor(src).astype(int), g0 - 1)
        return i0, np.minimum(i0 + 1, g0 - 1), src - i0

    y0, y1, ty = taps(gh)
    x0, x1, tx = taps(gw)
    top = grid[y0][:, x0] * (1 - tx)[None, :, None] + grid[y0][:, x1] * tx[None, :, None]
    bot = grid[y1][:, x0] * (1 - tx)[None, :, None] + grid[y1][:, x1] * tx[None, :, None]
    return (top * (1 - ty)[:, None, None] + bot * ty[:, None, None]).reshape(gh * gw, -1)


def encode(m: Mmproj, chw: np.ndarray) -> np.ndarray:
    """chw: normalised planar image [3, H, W] -> projected embeddings [n_tokens, n_embd_out]."""
    t = m.t
    P, E = m.patch, m.n_embd
    _, H, W = chw.shape
    gh, gw = H // P, W // P
    chw = chw[:, : gh * P, : gw * P]  # a stride-P convolution ignores trailing pixels
    patches = chw.reshape(3, gh, P, gw, P).transpose(1, 3, 0, 2, 4).reshape(gh * gw, 3 * P * P)
    x = patches @ t["v.patch_embd.weight"].reshape(E, -1).T + t["v.patch_embd.bias"]
    pos = t["v.position_embd.weight"]
    g0 = m.image_size // P
    if m.clip:
        x = np.concatenate([t["v.class_embd"][None, :], x], 0)
        grid_pos = pos[1:] if (gw, gh) == (g0, g0) else interp_pos(pos[1:], g0, gw, gh)
        x = x + np.concatenate([pos[:1], grid_pos], 0)
    else:
        x = x + (pos if (gw, gh) == (g0, g0) else interp_pos(pos, g0, gw, gh))
    if "v.pre_ln.weight" in t:
        x = layer_norm(x, t["v.pre_ln.weight"], t["v.pre_ln.bias"], m.eps)
    nh, hd = m.n_head, E // m.n_head
    act = gelu_tanh if m.use_gelu else quick_gelu
    for il in range(m.n_run):
        p = f"v.blk.{il}."
        lin = lambda h, n: h @ t[p + n + ".weight"].T + t[p + n + ".bias"]  # noqa: E731
        h = layer_norm(x, t[p + "ln1.weight"], t[p + "ln1.bias"], m.eps)
        q, k, v = (lin(h, n).reshape(-1, nh, hd).transpose(1, 0, 2) for n in ("attn_q", "attn_k", "attn_v"))
        s = q @ k.transpose(0, 2, 1) / math.sqrt(hd)
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        a = (s @ v).transpose(1, 0, 2).reshape(-1, E)
        x = x + lin(a, "attn_out")
        h = layer_norm(x, t[p + "ln2.weight"], t[p + "ln2.bias"], m.eps)
        fc1, fc2 = ("ffn_down", "ffn_up") if m.legacy_ffn else ("ffn_up", "ffn_down")
        x = x + lin(act(lin(h, fc1)), fc2)
    if "v.post_ln.weight" in t:
        x = layer_norm(x, t["v.post_ln.weight"], t["v.post_ln.bias"], m.eps)
    if m.clip:
        x = x[1:]
    if m.projector == "mlp":
        h = gelu_tanh(x @ t["mm.0.weight"].T + t["mm.0.bias"])
        return h @ t["mm.2.weight"].T + t["mm.2.bias"]
    # Idefics3 pixel shuffle (square grids in the paper's code; row-major for any grid)
    s = m.scale
    x = x.reshape(gh, gw, E)
    x = x.reshape(gh, gw // s, E * s).transpose(1, 0, 2)
    x = x.reshape(gw // s, gh // s, E * s * s).transpose(1, 0, 2)
    x = x.reshape(-1, E * s * s)
    return x @ t["mm.model.fc.weight"].T
