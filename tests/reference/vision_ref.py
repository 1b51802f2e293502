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

Tiling, also from the published descriptions: LLaVA-NeXT's anyres (select_best_resolution,
resize-and-pad to the chosen grid, tiles plus a downscaled overview) and its
"spatial_unpad" packing of the tile features (grid arrangement, unpad_image back to the
image's aspect ratio, image_newline after each row, overview first); Idefics3 / SmolVLM
image splitting (longest edge, round up to tile multiples, tiles + global image, Lanczos).
Image resampling here is Pillow's, the library those processors use.
"""
import math

import numpy as np
from PIL import Image

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
        pp = g("clip.vision.image_grid_pinpoints") or []
        self.pinpoints = [(pp[i], pp[i + 1]) for i in range(0, len(pp), 2)]  # (width, height)
        self.merge = g("clip.vision.mm_patch_merge_type", "flat")
        self.preproc_image_size = g("clip.vision.preproc_image_size", 0)
        self.newline = self.t.get("model.image_newline")
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


# ---- LLaVA-NeXT anyres -------------------------------------------------------------------

def select_best_resolution(w, h, pinpoints):
    """The pinpoint (width, height) that keeps the most of the image, then wastes the least."""
    best, best_eff, best_waste = None, -1, math.inf
    for cw, ch in pinpoints:
        scale = min(cw / w, ch / h)
        eff = min(int(w * scale) * int(h * scale), w * h)
        waste = cw * ch - eff
        if eff > best_eff or (eff == best_eff and waste < best_waste):
            best, best_eff, best_waste = (cw, ch), eff, waste
    return best


def anyres_images(img: Image.Image, tile, pinpoints):
    """[overview, tiles row-major] as Pillow images, and the grid (tiles_x, tiles_y)."""
    w, h = img.size
    bw, bh = select_best_resolution(w, h, pinpoints)
    sx, sy = bw / w, bh / h
    if sx < sy:
        nw, nh = bw, min(math.ceil(h * sx), bh)
    else:
        nw, nh = min(math.ceil(w * sy), bw), bh
    canvas = Image.new("RGB", (bw, bh), (0, 0, 0))
    canvas.paste(img.resize((nw, nh), Image.BICUBIC), ((bw - nw) // 2, (bh - nh) // 2))
    tiles = [canvas.crop((x, y, x + tile, y + tile)) for y in range(0, bh, tile) for x in range(0, bw, tile)]
    return [img.resize((tile, tile), Image.BICUBIC)] + tiles, (bw // tile, bh // tile)


def unpad_image(t, orig_h, orig_w):
    """LLaVA-NeXT: crop a [C, H, W] feature grid back to the original aspect ratio."""
    ch, cw = t.shape[1:]
    if orig_w / orig_h > cw / ch:
        new_h = int(round(orig_h * (cw / orig_w), 7))
        pad = (ch - new_h) // 2
        return t[:, pad: ch - pad, :]
    new_w = int(round(orig_w * (ch / orig_h), 7))
    pad = (cw - new_w) // 2
    return t[:, :, pad: cw - pad]


def pack_anyres(m: Mmproj, feats, grid, orig_w, orig_h):
    """feats: [overview, tiles...] each [side*side, E] -> the merged sequence [N, E]."""
    if m.merge != "spatial_unpad":
        return np.concatenate(feats, 0)
    base = feats[0]
    side = m.image_size // m.patch
    gx, gy = grid
    E = base.shape[1]
    f = np.stack(feats[1:]).reshape(gy, gx, side, side, E)
    f = f.transpose(4, 0, 2, 1, 3).reshape(E, gy * side, gx * side)
    f = unpad_image(f, orig_h, orig_w)
    if m.newline is not None:
        nl = np.broadcast_to(m.newline[:, None, None], (E, f.shape[1], 1))
        f = np.concatenate([f, nl], axis=2)
    return np.concatenate([base, f.reshape(E, -1).T], 0)


def normalise(m: Mmproj, img: Image.Image):
    a = np.asarray(img.convert("RGB"), dtype=np.float64) / 255.0
    return ((a - m.mean) / m.std).transpose(2, 0, 1)


# ---- Idefics3 / SmolVLM image splitting --------------------------------------------------

def idefics3_split(img: Image.Image, tile, longest):
    """(rows, cols, [tiles row-major..., global]) as Hugging Face's Idefics3ImageProcessor."""
    w, h = img.size
    ar = w / h
    if w >= h:
        W, H = longest, int(longest / ar)
        H += H % 2
    else:
        W, H = int(longest * ar), longest
        W += W % 2
    W, H = max(W, 1), max(H, 1)
    img = img.resize((W, H), Image.LANCZOS)
    ar = W / H
    if W >= H:
        W2 = math.ceil(W / tile) * tile
        H2 = math.ceil(int(W2 / ar) / tile) * tile
    else:
        H2 = math.ceil(H / tile) * tile
        W2 = math.ceil(int(H2 * ar) / tile) * tile
    img = img.resize((W2, H2), Image.LANCZOS)
    if W2 <= tile and H2 <= tile:
        return 0, 0, [img]
    rows, cols = math.ceil(H2 / tile), math.ceil(W2 / tile)
    oh, ow = math.ceil(H2 / rows), math.ceil(W2 / cols)
    tiles = [img.crop((c * ow, r * oh, min(c * ow + ow, W2), min(r * oh + oh, H2)))
             for r in range(rows) for c in range(cols)]
    return rows, cols, tiles + [img.resize((tile, tile), Image.LANCZOS)]


def idefics3_prompt(rows, cols, seq_len, image_token="<image>"):
    """Hugging Face's Idefics3 prompt text for one image (rows = cols = 0: not split)."""
    fake, glob = "<fake_token_around_image>", "<global-img>"
    if rows == 0:
        return fake + glob + image_token * seq_len + fake
    s = ""
    for r in range(rows):
        for c in range(cols):
            s += fake + f"<row_{r + 1}_col_{c + 1}>" + image_token * seq_len
        s += "\n"
    return s + "\n" + fake + glob + image_token * seq_len + fake
