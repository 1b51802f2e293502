"""Independent numpy reference for the ggml/GGUF block quantisation formats.

Written from the published block layouts (ggml-common.h block structs, GGUF spec) and
ggml's documented reference quantisers for the simple formats. Dequantisation is done in
float64 then rounded once to float32: every product in these formats (f16 scale x small
integer, or f32 scale x int8) is exact in float64, so this matches a float32 evaluation
that rounds once per element. Quantisation of the simple formats is float32 by definition.

Blocks are given as uint8 arrays of shape (n_blocks, type_size).
"""
import numpy as np

# type id -> (block size, type size); ids are ggml_type values.
Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, Q4_K, Q5_K, Q6_K, Q8_K = 2, 3, 6, 7, 8, 9, 12, 13, 14, 15
LAYOUT = {
    Q4_0: (32, 2 + 16), Q4_1: (32, 4 + 16), Q5_0: (32, 2 + 4 + 16), Q5_1: (32, 4 + 4 + 16),
    Q8_0: (32, 2 + 32), Q8_1: (32, 4 + 32),
    Q4_K: (256, 4 + 12 + 128), Q5_K: (256, 4 + 12 + 32 + 128), Q6_K: (256, 128 + 64 + 16 + 2),
    Q8_K: (256, 4 + 256 + 32),
}
NAMES = {Q4_0: "Q4_0", Q4_1: "Q4_1", Q5_0: "Q5_0", Q5_1: "Q5_1", Q8_0: "Q8_0", Q8_1: "Q8_1",
         Q4_K: "Q4_K", Q5_K: "Q5_K", Q6_K: "Q6_K", Q8_K: "Q8_K"}


def _f16(b, off):
    return b[:, off:off + 2].copy().view(np.float16).astype(np.float64)  # (n, 1)


def _nibbles32(qs):
    """16 bytes -> 32 values: element j in the low nibble of byte j, j+16 in the high one."""
    return np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.int64)


def _bit5(qh4):
    """4 little-endian bytes -> bit j of the u32 for element j (0..31)."""
    bits = np.unpackbits(qh4, axis=1, bitorder="little")
    return bits.astype(np.int64)


def _k4_scales(sc):
    """12 packed bytes -> (scales, mins) of 8 sub-blocks, 6 bits each."""
    sc = sc.astype(np.int64)
    d = np.empty((sc.shape[0], 8), np.int64)
    m = np.empty_like(d)
    d[:, :4] = sc[:, 0:4] & 63
    m[:, :4] = sc[:, 4:8] & 63
    d[:, 4:] = (sc[:, 8:12] & 0x0F) | ((sc[:, 0:4] >> 6) << 4)
    m[:, 4:] = (sc[:, 8:12] >> 4) | ((sc[:, 4:8] >> 6) << 4)
    return d, m


def _k_levels(qs, qh=None):
    """Q4_K/Q5_K levels: chunk c (64 elements) uses bytes qs[32c:32c+32]; low nibbles are
    elements 0..31 of the chunk, high nibbles 32..63; Q5_K's 5th bit is qh[l] bit 2c / 2c+1."""
    n = qs.shape[0]
    q = np.empty((n, 256), np.int64)
    for c in range(4):
        b = qs[:, 32 * c:32 * c + 32].astype(np.int64)
        lo, hi = b & 0x0F, b >> 4
        if qh is not None:
            h = qh.astype(np.int64)
            lo = lo + 16 * ((h >> (2 * c)) & 1)
            hi = hi + 16 * ((h >> (2 * c + 1)) & 1)
        q[:, 64 * c:64 * c + 32] = lo
        q[:, 64 * c + 32:64 * c + 64] = hi
    return q


def dequantize(blocks, qtype):
    """uint8 (n_blocks, type_size) -> float32 (n_blocks * block_size,)."""
    b = np.ascontiguousarray(blocks, dtype=np.uint8)
    n = b.shape[0]
    if qtype == Q4_0:
        y = _f16(b, 0) * (_nibbles32(b[:, 2:18]) - 8)
    elif qtype == Q4_1:
        y = _f16(b, 0) * _nibbles32(b[:, 4:20]) + _f16(b, 2)
    elif qtype == Q5_0:
        y = _f16(b, 0) * (_nibbles32(b[:, 6:22]) + 16 * _bit5(b[:, 2:6]) - 16)
    elif qtype == Q5_1:
        y = _f16(b, 0) * (_nibbles32(b[:, 8:24]) + 16 * _bit5(b[:, 4:8])) + _f16(b, 2)
    elif qtype == Q8_0:
        y = _f16(b, 0) * b[:, 2:34].view(np.int8).astype(np.float64)
    elif qtype == Q8_1:
        y = _f16(b, 0) * b[:, 4:36].view(np.int8).astype(np.float64)
    elif qtype in (Q4_K, Q5_K):
        d, dmin = _f16(b, 0), _f16(b, 2)
        sc, mn = _k4_scales(b[:, 4:16])
        if qtype == Q4_K:
            q = _k_levels(b[:, 16:144])
        else:
            q = _k_levels(b[:, 48:176], b[:, 16:48])
        sub = np.arange(256) // 32
        y = (d * sc[:, sub]) * q - dmin * mn[:, sub]
    elif qtype == Q6_K:
        ql, qh = b[:, 0:128].astype(np.int64), b[:, 128:192].astype(np.int64)
        sc = b[:, 192:208].view(np.int8).astype(np.float64)
        d = _f16(b, 208)
        q = np.empty((n, 256), np.int64)
        for h in range(2):  # halves of 128: 4 groups of 32 share ql/qh bytes
            L, H = ql[:, 64 * h:64 * h + 64], qh[:, 32 * h:32 * h + 32]
            base = 128 * h
            q[:, base + 0:base + 32] = (L[:, :32] & 0x0F) | (((H >> 0) & 3) << 4)
            q[:, base + 32:base + 64] = (L[:, 32:] & 0x0F) | (((H >> 2) & 3) << 4)
            q[:, base + 64:base + 96] = (L[:, :32] >> 4) | (((H >> 4) & 3) << 4)
            q[:, base + 96:base + 128] = (L[:, 32:] >> 4) | (((H >> 6) & 3) << 4)
        y = (d * sc[:, np.arange(256) // 16]) * (q - 32)
    elif qtype == Q8_K:
        d = b[:, 0:4].copy().view(np.float32).astype(np.float64)
        y = d * b[:, 4:260].view(np.int8).astype(np.float64)
    else:
        raise NotImplementedError(qtype)
    return y.astype(np.float32).reshape(-1)


# ---- quantisation of the simple formats (float32 arithmetic, as ggml's reference) ----

def _signed_absmax(x):
    i = np.abs(x).argmax(axis=1)  # first index of the largest magnitude
    return x[np.arange(x.shape[0]), i][:, None]


def _inv(d):
    with np.errstate(divide="ignore"):
        return np.where(d == 0, np.float32(0), np.float32(1) / d).astype(np.float32)


def _h(v):
    return v.astype(np.float32).astype(np.float16).view(np.uint8).reshape(-1, 2)


def _pack_nibbles(q):
    return (q[:, :16] | (q[:, 16:] << 4)).astype(np.uint8)


def _pack_qh(q):
    return np.packbits((q >> 4) & 1, axis=1, bitorder="little").astype(np.uint8)


def _round_half_away(v):
    """C roundf: nearest, ties away from zero (exact for float32 inputs)."""
    return np.sign(v) * np.floor(np.abs(v).astype(np.float64) + 0.5)


def _round_half_even(v):
    return np.rint(v.astype(np.float64))


def quantize(x, qtype):
    """float32 values (multiple of block size) -> uint8 (n_blocks, type_size)."""
    x = np.asarray(x, np.float32)
    bs, _ = LAYOUT[qtype]
    x = x.reshape(-1, bs)
    f32 = np.float32
    if qtype in (Q4_0, Q5_0):
        nmax, off = (8, 8.5) if qtype == Q4_0 else (16, 16.5)
        d = (_signed_absmax(x) / f32(-nmax)).astype(f32)
        q = np.trunc(x * _inv(d) + f32(off)).astype(np.int64)  # value is >= 0 here
        q = np.minimum(q, 2 * nmax - 1)
        if qtype == Q4_0:
            return np.concatenate([_h(d), _pack_nibbles(q)], axis=1)
        return np.concatenate([_h(d), _pack_qh(q), _pack_nibbles(q & 15)], axis=1)
    if qtype in (Q4_1, Q5_1):
        nmax = 15 if qtype == Q4_1 else 31
        lo, hi = x.min(axis=1, keepdims=True), x.max(axis=1, keepdims=True)
        d = ((hi - lo) / f32(nmax)).astype(f32)
        q = np.minimum(np.trunc((x - lo) * _inv(d) + f32(0.5)).astype(np.int64), nmax)
        if qtype == Q4_1:
            return np.concatenate([_h(d), _h(lo), _pack_nibbles(q)], axis=1)
        return np.concatenate([_h(d), _h(lo), _pack_qh(q), _pack_nibbles(q & 15)], axis=1)
    if qtype in (Q8_0, Q8_1):
        d = (np.abs(x).max(axis=1, keepdims=True) / f32(127)).astype(f32)
        q = _round_half_away(x * _inv(d)).astype(np.int8)
        if qtype == Q8_0:
            return np.concatenate([_h(d), q.view(np.uint8)], axis=1)
        s = (q.astype(np.int64).sum(axis=1, keepdims=True).astype(f32) * d).astype(f32)
        return np.concatenate([_h(d), _h(s), q.view(np.uint8)], axis=1)
    if qtype == Q8_K:
        mx = _signed_absmax(x)
        zero = (mx == 0)
        with np.errstate(divide="ignore"):
            iscale = np.where(zero, f32(0), f32(-127) / np.where(zero, f32(1), mx)).astype(f32)
        q = np.minimum(_round_half_even(iscale * x), 127).astype(np.int8)
        with np.errstate(divide="ignore"):
            d = np.where(zero, f32(0), f32(1) / np.where(zero, f32(1), iscale)).astype(f32)
        bsums = q.astype(np.int64).reshape(-1, 16, 16).sum(axis=2).astype(np.int16)
        return np.concatenate([d.view(np.uint8), q.view(np.uint8), bsums.view(np.uint8)], axis=1)
    raise NotImplementedError(f"reference quantisation for {NAMES[qtype]}")
