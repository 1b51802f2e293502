"""numpy float64 references for the CPU ops, written from the published definitions:
RMSNorm (Zhang & Sennrich 2019), LayerNorm (Ba et al. 2016), RoPE (Su et al. 2021) in
ggml's "normal" (adjacent pairs) and "neox" (halves) layouts, softmax, scaled dot-product
attention (Vaswani et al. 2017) with the full score matrix, GELU (Hendrycks & Gimpel
2016, tanh and erf forms), SiLU, and convolution by its direct sum. Q8_0 is encoded per
the GGUF block spec: 32 values, d = max|x| / 127 stored as f16, q = round(x / d) int8.
"""
import math

import numpy as np


def rms_norm(x, eps, w=None):
    x = x.astype(np.float64)
    y = x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps)
    return y * w if w is not None else y


def layer_norm(x, eps, w=None, b=None):
    x = x.astype(np.float64)
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    y = (x - mu) / np.sqrt(var + eps)
    if w is not None:
        y = y * w
    if b is not None:
        y = y + b
    return y


def rope(x, pos, n_rot, base, freq_scale=1.0, neox=False, freq_factors=None):
    """x [T, H, D]; theta_i = pos * freq_scale * base^(-2i/n_rot) / factor_i."""
    x = x.astype(np.float64)
    y = x.copy()
    half = n_rot // 2
    i = np.arange(half, dtype=np.float64)
    inv = freq_scale * base ** (-2.0 * i / n_rot)
    if freq_factors is not None:
        inv = inv / freq_factors.astype(np.float64)
    theta = pos.astype(np.float64)[:, None] * inv[None, :]  # [T, half]
    c, s = np.cos(theta)[:, None, :], np.sin(theta)[:, None, :]
    if neox:
        i0, i1 = np.arange(half), np.arange(half) + half
    else:
        i0, i1 = 2 * np.arange(half), 2 * np.arange(half) + 1
    a, b = x[..., i0], x[..., i1]
    y[..., i0] = a * c - b * s
    y[..., i1] = a * s + b * c
    return y


def softmax(x, scale, mask=None):
    z = scale * x.astype(np.float64)
    if mask is not None:
        reps = z.shape[0] // mask.shape[0] + 1
        z = z + np.tile(mask.astype(np.float64), (reps, 1))[: z.shape[0]]
    out = np.zeros_like(z)
    for r in range(z.shape[0]):
        m = z[r].max()
        if m == -np.inf:
            continue  # no finite logit: no probability mass
        e = np.exp(z[r] - m)
        out[r] = e / e.sum()
    return out


def attention(q, k, v, pos0, causal, scale, mask=None):
    """q [T, H, D], k/v [N, Hkv, D] (already the values the cache holds), full matrix."""
    T, H, D = q.shape
    N, Hkv, _ = k.shape
    g = H // Hkv
    out = np.zeros((T, H, D))
    for h in range(H):
        kh, vh = k[:, h // g].astype(np.float64), v[:, h // g].astype(np.float64)
        s = scale * (q[:, h].astype(np.float64) @ kh.T)  # [T, N]
        if mask is not None:
            s = s + mask[:, :N].astype(np.float64)
        if causal:
            j = np.arange(N)[None, :]
            i = np.arange(T)[:, None]
            s = np.where(j <= pos0 + i, s, -np.inf)
        out[:, h] = softmax(s, 1.0) @ vh
    return out


def gelu_tanh(x):
    x = x.astype(np.float64)
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


def gelu_erf(x):
    x = x.astype(np.float64)
    return 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))


def sigmoid(x):
    # 1 / (1 + e^-x) keeps relative accuracy for x << 0 (1 + tanh(x/2) would cancel)
    return 1.0 / (1.0 + np.exp(-x))


def gelu_quick(x):
    x = x.astype(np.float64)
    return x * sigmoid(1.702 * x)


def silu(x):
    x = x.astype(np.float64)
    return x * sigmoid(x)


def q8_0_encode(x):
    """f32 [..., n] (n % 32 == 0) -> raw Q8_0 bytes [..., n/32 * 34]."""
    shp = x.shape
    b = x.reshape(-1, 32).astype(np.float32)
    amax = np.abs(b).max(axis=1)
    d = (amax / 127.0).astype(np.float32)
    inv = np.where(d > 0, 1.0 / np.where(d > 0, d, 1), 0.0).astype(np.float32)
    q = np.round(b * inv[:, None]).astype(np.int8)
    raw = np.concatenate([d.astype(np.float16).view(np.uint8).reshape(-1, 2), q.view(np.uint8)], axis=1)
    return raw.reshape(shp[:-1] + (shp[-1] // 32 * 34,))


def q8_0_decode(raw, n):
    b = raw.reshape(-1, 34)
    d = b[:, :2].copy().view(np.float16).astype(np.float64)
    q = b[:, 2:].copy().view(np.int8).astype(np.float64)
    return (d * q).reshape(raw.shape[:-1] + (n,))


def conv2d(x, w, b, stride, pad):
    """x [C, H, W], w [O, C, KH, KW] -> [O, HO, WO] by the direct sum."""
    C, H, W = x.shape
    O, _, KH, KW = w.shape
    xp = np.zeros((C, H + 2 * pad[0], W + 2 * pad[1]))
    xp[:, pad[0]:pad[0] + H, pad[1]:pad[1] + W] = x
    HO = (H + 2 * pad[0] - KH) // stride[0] + 1
    WO = (W + 2 * pad[1] - KW) // stride[1] + 1
    y = np.zeros((O, HO, WO))
    for oy in range(HO):
        for ox in range(WO):
            patch = xp[:, oy * stride[0]:oy * stride[0] + KH, ox * stride[1]:ox * stride[1] + KW]
            y[:, oy, ox] = np.tensordot(w.astype(np.float64), patch, axes=([1, 2, 3], [0, 1, 2]))
    if b is not None:
        y += b[:, None, None]
    return y


def conv1d(x, w, b, stride, pad):
    """x [C, L], w [O, C, K] -> [O, LO]."""
    return conv2d(x[:, None, :], w[:, :, None, :], b, (1, stride), (0, pad))[:, 0, :]
