"""Independent references for the matmul kernels (numpy float64), from ggml's published
formats: weights are dequantised with gguf-py; activations are quantised per row to the
8-bit format the integer kernels use (Q8_0 / Q8_1 / Q8_K, ggml reference rounding)."""
import numpy as np
from gguf import GGMLQuantizationType as T
from gguf.quants import dequantize

# weight type -> (block size, bytes per block, fp16 scale byte offsets)
BLOCKS = {
    T.Q4_0: (32, 18, [0]),
    T.Q4_1: (32, 20, [0, 2]),
    T.Q5_0: (32, 22, [0]),
    T.Q5_1: (32, 24, [0, 2]),
    T.IQ4_NL: (32, 18, [0]),
    T.Q8_0: (32, 34, [0]),
    T.Q2_K: (256, 84, [80, 82]),
    T.Q3_K: (256, 110, [108]),
    T.Q4_K: (256, 144, [0, 2]),
    T.Q5_K: (256, 176, [0, 2]),
    T.Q6_K: (256, 210, [208]),
}
ACT = {T.Q4_0: "q8_0", T.Q5_0: "q8_0", T.Q8_0: "q8_0", T.IQ4_NL: "q8_0", T.Q4_1: "q8_1", T.Q5_1: "q8_1",
       T.Q2_K: "q8_k", T.Q3_K: "q8_k", T.Q4_K: "q8_k", T.Q5_K: "q8_k", T.Q6_K: "q8_k"}


def random_blocks(rng, wtype, m, k):
    """m rows of random but valid blocks (random bits, sane fp16 scales)."""
    bs, size, scale_offsets = BLOCKS[wtype]
    raw = rng.integers(0, 256, size=(m, k // bs, size), dtype=np.uint8)
    for off in scale_offsets:
        d = (rng.uniform(0.5, 1.5, size=(m, k // bs)) * 1e-2).astype(np.float16)
        raw[:, :, off:off + 2] = d.view(np.uint8).reshape(m, k // bs, 2)
    return raw.reshape(m, -1)


def dequant_weights(wtype, raw, k):
    return dequantize(raw, wtype).astype(np.float64).reshape(raw.shape[0], k)


def quantize_act(kind, x):
    """Returns (xq dequantised as the kernel sees it, per-element |d| of its block, extra)
    where extra is, for q8_1, the per-block s error scale |sum q| * d."""
    n, k = x.shape
    if kind in ("q8_0", "q8_1"):
        b = x.reshape(n, k // 32, 32).astype(np.float32)
        d = np.abs(b).max(axis=-1, keepdims=True) / np.float32(127)
        inv = np.where(d == 0, 0, 1 / np.where(d == 0, 1, d)).astype(np.float32)
        v = b * inv
        q = np.sign(v) * np.floor(np.abs(v) + 0.5)  # round half away from zero
        d16 = d.astype(np.float16).astype(np.float64)
        xq = (q * d16).reshape(n, k)
        dq = np.broadcast_to(d16, b.shape).reshape(n, k)
        sabs = (np.abs(q.sum(axis=-1)) * d[..., 0]).astype(np.float64)  # (n, k/32)
        return xq, dq, sabs
    b = x.reshape(n, k // 256, 256).astype(np.float32)
    idx = np.abs(b).argmax(axis=-1)
    mx = np.take_along_axis(b, idx[..., None], axis=-1)
    iscale = np.where(mx == 0, 0, np.float32(-127) / np.where(mx == 0, 1, mx)).astype(np.float32)
    q = np.minimum(127, np.rint(iscale * b))
    d = np.where(iscale == 0, 0, 1 / np.where(iscale == 0, 1, iscale)).astype(np.float32).astype(np.float64)
    return (q * d).reshape(n, k), np.broadcast_to(np.abs(d), b.shape).reshape(n, k), None
