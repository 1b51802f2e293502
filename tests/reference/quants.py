"""Independent numpy reference for the ggml/GGUF block quantisation formats.

Written from the published block layouts (ggml-common.h block structs, GGUF spec) and
ggml's documented reference quantisers for the simple formats. Dequantisation is done in
float64 then rounded once to float32: every product in these formats (f16 scale x small
integer, or f32 scale x int8) is exact in float64, so this matches a float32 evaluation
that rounds once per element. Quantisation of the simple formats is float32 by definition.

K-quant quantisation (quantize_k) follows ggml's published reference scheme (make_qkx2_quants
for Q4_K/Q5_K, make_qx_quants for Q6_K) one float32 operation at a time, in C order.

IQ4_NL quantisation follows ggml's reference quantiser (quantize_row_iq4_nl_ref: nearest grid
value at the scale that maps the block's extreme to -127, then the x^2-weighted least-squares
scale for those levels), float32 step by step across blocks.

Blocks are given as uint8 arrays of shape (n_blocks, type_size).
"""
import numpy as np

# type id -> (block size, type size); ids are ggml_type values.
Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, Q4_K, Q5_K, Q6_K, Q8_K, IQ4_NL = 2, 3, 6, 7, 8, 9, 12, 13, 14, 15, 20
Q2_K, Q3_K = 10, 11
LAYOUT = {
    Q4_0: (32, 2 + 16), Q4_1: (32, 4 + 16), Q5_0: (32, 2 + 4 + 16), Q5_1: (32, 4 + 4 + 16),
    Q8_0: (32, 2 + 32), Q8_1: (32, 4 + 32),
    Q4_K: (256, 4 + 12 + 128), Q5_K: (256, 4 + 12 + 32 + 128), Q6_K: (256, 128 + 64 + 16 + 2),
    Q8_K: (256, 4 + 256 + 32), IQ4_NL: (32, 2 + 16),
    Q2_K: (256, 16 + 64 + 4), Q3_K: (256, 32 + 64 + 12 + 2),
}
NAMES = {Q4_0: "Q4_0", Q4_1: "Q4_1", Q5_0: "Q5_0", Q5_1: "Q5_1", Q8_0: "Q8_0", Q8_1: "Q8_1",
         Q4_K: "Q4_K", Q5_K: "Q5_K", Q6_K: "Q6_K", Q8_K: "Q8_K",
         IQ4_NL: "IQ4_NL", Q2_K: "Q2_K", Q3_K: "Q3_K"}
# The IQ4_NL grid (ggml-common.h kvalues_iq4nl).
IQ4_NL_VALUES = np.array([-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113], np.int64)


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


def _q2_levels(qs):
    """Q2_K/Q3_K low 2 bits: value 128h + 32j + l is bits 2j, 2j+1 of qs[32h + l]."""
    q = np.empty((qs.shape[0], 256), np.int64)
    for h in range(2):
        b = qs[:, 32 * h:32 * h + 32].astype(np.int64)
        for j in range(4):
            q[:, 128 * h + 32 * j:128 * h + 32 * j + 32] = (b >> (2 * j)) & 3
    return q


def _q3_scales(sc):
    """Q3_K: 12 bytes -> 16 signed scales: low 4 bits in bytes 0..7 (low nibble for scale s < 8,
    high nibble of byte s - 8 after), high 2 bits in bytes 8..11 (byte 8 + s % 4, bits 2 (s / 4))."""
    sc = sc.astype(np.int64)
    out = np.empty((sc.shape[0], 16), np.int64)
    for s in range(16):
        lo = (sc[:, s] if s < 8 else sc[:, s - 8] >> 4) & 15
        hi = (sc[:, 8 + s % 4] >> (2 * (s // 4))) & 3
        out[:, s] = (lo | (hi << 4)) - 32
    return out


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
    elif qtype == Q2_K:  # scales[16] (scale | min << 4), qs[64], d, dmin
        sc = b[:, 0:16].astype(np.int64)
        sub = np.arange(256) // 16
        y = _f16(b, 80) * (sc & 15)[:, sub] * _q2_levels(b[:, 16:80]) - _f16(b, 82) * (sc >> 4)[:, sub]
    elif qtype == Q3_K:  # hmask[32], qs[64], scales[12], d
        hm = b[:, 0:32].astype(np.int64)
        hbit = np.stack([(hm >> j) & 1 for j in range(8)], axis=1).reshape(n, 256)  # value 32j + l
        q = _q2_levels(b[:, 32:96]) + 4 * hbit - 4
        y = _f16(b, 108) * _q3_scales(b[:, 96:108])[:, np.arange(256) // 16] * q
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
    elif qtype == IQ4_NL:
        y = _f16(b, 0) * IQ4_NL_VALUES[_nibbles32(b[:, 2:18])]
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
    if qtype == IQ4_NL:
        return _quantize_iq4_nl(x)
    raise NotImplementedError(f"reference quantisation for {NAMES[qtype]}")


def _nearest_grid_index(v):
    """Index of the IQ4_NL grid value nearest to each float32 v (the lower on a tie)."""
    g = IQ4_NL_VALUES.astype(np.float32)
    hi = np.clip(np.searchsorted(g, v, side="right"), 1, 15)  # g[hi - 1] <= v < g[hi] inside
    lower = (v - g[hi - 1]).astype(np.float32) < (g[hi] - v).astype(np.float32)
    idx = np.where(lower, hi - 1, hi)
    return np.where(v <= g[0], 0, np.where(v >= g[15], 15, idx))


def _quantize_iq4_nl(x):
    f32 = np.float32
    i = np.abs(x).argmax(axis=1)
    mx = x[np.arange(x.shape[0]), i]
    zero = np.abs(mx) < f32(1e-15)
    d0 = (mx / f32(-127)).astype(f32)
    inv = (f32(1) / np.where(zero, f32(1), d0)).astype(f32)
    q = np.zeros(x.shape, np.int64)
    sumqx = np.zeros(x.shape[0], f32)
    sumq2 = np.zeros(x.shape[0], f32)
    for j in range(32):  # sequential float32 sums, as the C reference
        xj = x[:, j]
        q[:, j] = _nearest_grid_index((inv * xj).astype(f32))
        v = IQ4_NL_VALUES[q[:, j]].astype(f32)
        w = (xj * xj).astype(f32)
        sumqx = (sumqx + ((w * v).astype(f32) * xj).astype(f32)).astype(f32)
        sumq2 = (sumq2 + ((w * v).astype(f32) * v).astype(f32)).astype(f32)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.where(zero, f32(0), sumqx / np.where(zero, f32(1), sumq2)).astype(f32)
    q[zero] = 0
    return np.concatenate([_h(d[:, None]), _pack_nibbles(q)], axis=1)


# ---- K-quant quantisation: ggml's published reference scheme, evaluated step by step in
# float32 (sequential sums, as the C reference), slow; meant for a few super-blocks. ----

_F = np.float32


def _nearest(v):
    """ggml nearest_int: round half to even (|v| < 2^22)."""
    return int(np.rint(np.float64(_F(v))))


def _qkx2(x, w, nmax, rmin, rdelta, nstep):
    """Sub-block scale/min search (make_qkx2_quants, squared error). Returns (scale, -min, L)."""
    n = len(x)
    mn, mx = x[0], x[0]
    sum_w = w[0]
    sum_x = _F(sum_w * x[0])
    for i in range(1, n):
        mn = x[i] if x[i] < mn else mn
        mx = x[i] if x[i] > mx else mx
        sum_w = _F(sum_w + w[i])
        sum_x = _F(sum_x + _F(w[i] * x[i]))
    if mn > 0:
        mn = _F(0)
    if mx == mn:
        return _F(0), _F(-mn), [0] * n
    iscale = _F(_F(nmax) / _F(mx - mn))
    scale = _F(_F(1) / iscale)
    L = [max(0, min(nmax, _nearest(_F(iscale * _F(x[i] - mn))))) for i in range(n)]
    best = _F(0)
    for i in range(n):
        diff = _F(_F(_F(scale * _F(L[i])) + mn) - x[i])
        best = _F(best + _F(w[i] * _F(diff * diff)))
    for step in range(nstep + 1):
        iscale = _F(_F(_F(rmin + _F(_F(rdelta) * _F(step))) + _F(nmax)) / _F(mx - mn))
        La = [max(0, min(nmax, _nearest(_F(iscale * _F(x[i] - mn))))) for i in range(n)]
        sl = sl2 = sxl = _F(0)
        for i in range(n):
            wl = _F(w[i] * _F(La[i]))
            sl = _F(sl + wl)
            sl2 = _F(sl2 + _F(wl * _F(La[i])))
            sxl = _F(sxl + _F(wl * x[i]))
        D = _F(_F(sum_w * sl2) - _F(sl * sl))
        if D > 0:
            this_scale = _F(_F(_F(sum_w * sxl) - _F(sum_x * sl)) / D)
            this_min = _F(_F(_F(sl2 * sum_x) - _F(sl * sxl)) / D)
            if this_min > 0:
                this_min = _F(0)
                this_scale = _F(sxl / sl2)
            cur = _F(0)
            for i in range(n):
                diff = _F(_F(_F(this_scale * _F(La[i])) + this_min) - x[i])
                cur = _F(cur + _F(w[i] * _F(diff * diff)))
            if cur < best:
                L, best, scale, mn = La, cur, this_scale, this_min
    return scale, _F(-mn), L


def _k4_quantize_block(x, nmax, rmin, nstep):
    """One Q4_K/Q5_K super-block: returns (d f16 bits, dmin f16 bits, 12 scale bytes, levels)."""
    scales, mins, L = [], [], []
    for j in range(8):
        xs = [_F(v) for v in x[32 * j:32 * j + 32]]
        s2 = _F(0)
        for v in xs:
            s2 = _F(s2 + _F(v * v))
        av = _F(np.sqrt(_F(s2 / _F(32))))
        w = [_F(av + _F(abs(v))) for v in xs]
        sc, m, l = _qkx2(xs, w, nmax, _F(rmin), _F(0.1), nstep)
        scales.append(sc); mins.append(m); L += l
    max_scale = max([_F(0)] + [s for s in scales if s > 0])
    max_min = max([_F(0)] + [m for m in mins if m > 0])
    inv_s = _F(_F(63) / max_scale) if max_scale > 0 else _F(0)
    inv_m = _F(_F(63) / max_min) if max_min > 0 else _F(0)
    ls = [min(63, _nearest(_F(inv_s * s))) for s in scales]
    lm = [min(63, _nearest(_F(inv_m * m))) for m in mins]
    packed = np.zeros(12, np.int64)
    for j in range(8):
        if j < 4:
            packed[j], packed[j + 4] = ls[j], lm[j]
        else:
            packed[j + 4] = (ls[j] & 15) | ((lm[j] & 15) << 4)
            packed[j - 4] |= (ls[j] >> 4) << 6
            packed[j] |= (lm[j] >> 4) << 6
    d = np.float16(_F(max_scale / _F(63)))
    dmin = np.float16(_F(max_min / _F(63)))
    sc, mn = _k4_scales(packed.astype(np.uint8)[None, :])
    for j in range(8):
        dj = _F(_F(d) * _F(sc[0, j]))
        if dj == 0:
            continue
        dm = _F(_F(dmin) * _F(mn[0, j]))
        for i in range(32 * j, 32 * j + 32):
            L[i] = max(0, min(nmax, _nearest(_F(_F(_F(x[i]) + dm) / dj))))
    return d, dmin, packed.astype(np.uint8), np.array(L, np.int64)


def _qx(x, nmax):
    """Signed sub-block scale search (make_qx_quants, weights x^2). Returns (scale, L+nmax)."""
    n = len(x)
    mx, amax = _F(0), _F(0)
    for v in x:
        if abs(v) > amax:
            amax, mx = _F(abs(v)), v
    if amax < _F(1e-15):
        return _F(0), [0] * n

    def trial(iscale):
        ls = [max(-nmax, min(nmax - 1, _nearest(_F(iscale * v)))) for v in x]
        slx = sl2 = _F(0)
        for v, l in zip(x, ls):
            w = _F(v * v)
            slx = _F(slx + _F(_F(w * v) * _F(l)))
            sl2 = _F(sl2 + _F(_F(w * _F(l)) * _F(l)))
        return ls, slx, sl2

    ls, slx, sl2 = trial(_F(_F(-nmax) / mx))
    L = [l + nmax for l in ls]
    scale = _F(slx / sl2) if sl2 != 0 else _F(0)
    best = _F(scale * slx)
    for step in range(-9, 10):
        if step == 0:
            continue
        ls, slx, sl2 = trial(_F(-_F(_F(nmax) + _F(_F(0.1) * _F(step))) / mx))
        if sl2 > 0 and _F(slx * slx) > _F(best * sl2):
            L = [l + nmax for l in ls]
            scale = _F(slx / sl2)
            best = _F(scale * slx)
    return scale, L


def quantize_k(x, qtype):
    """Q4_K / Q5_K / Q6_K reference quantisation of float32 values (multiple of 256)."""
    x = np.asarray(x, np.float32).reshape(-1, 256)
    out = []
    for xb in x:
        if qtype in (Q4_K, Q5_K):
            nmax, rmin, nstep = (15, -1.0, 20) if qtype == Q4_K else (31, -0.5, 15)
            d, dmin, packed, L = _k4_quantize_block(xb, nmax, rmin, nstep)
            head = np.concatenate([np.array([d, dmin], np.float16).view(np.uint8), packed])
            lo = np.concatenate([L[64 * c:64 * c + 32] & 15 | (L[64 * c + 32:64 * c + 64] & 15) << 4 for c in range(4)])
            if qtype == Q4_K:
                out.append(np.concatenate([head, lo.astype(np.uint8)]))
            else:
                qh = np.zeros(32, np.int64)
                for c in range(4):
                    qh |= (L[64 * c:64 * c + 32] >> 4) << (2 * c)
                    qh |= (L[64 * c + 32:64 * c + 64] >> 4) << (2 * c + 1)
                out.append(np.concatenate([head, qh.astype(np.uint8), lo.astype(np.uint8)]))
            continue
        xs = [_F(v) for v in xb]
        scales, L = [], []
        for ib in range(16):
            s, l = _qx(xs[16 * ib:16 * ib + 16], 32)
            scales.append(s); L += l
        max_scale, max_abs = _F(0), _F(0)
        for s in scales:
            if abs(s) > max_abs:
                max_abs, max_scale = _F(abs(s)), s
        if max_abs < _F(1e-15):
            out.append(np.zeros(210, np.uint8))
            continue
        iscale = _F(_F(-128) / max_scale)
        d = np.float16(_F(_F(1) / iscale))
        sc = [min(127, _nearest(_F(iscale * s))) for s in scales]
        for j in range(16):
            dj = _F(_F(d) * _F(sc[j]))
            if dj == 0:
                continue
            for i in range(16 * j, 16 * j + 16):
                L[i] = max(-32, min(31, _nearest(_F(xs[i] / dj)))) + 32
        L = np.array(L, np.int64)
        ql = np.zeros(128, np.int64)
        qh = np.zeros(64, np.int64)
        for h in range(2):
            g = [L[128 * h + 32 * k:128 * h + 32 * k + 32] for k in range(4)]
            ql[64 * h:64 * h + 32] = (g[0] & 15) | (g[2] & 15) << 4
            ql[64 * h + 32:64 * h + 64] = (g[1] & 15) | (g[3] & 15) << 4
            qh[32 * h:32 * h + 32] = (g[0] >> 4) | (g[1] >> 4) << 2 | (g[2] >> 4) << 4 | (g[3] >> 4) << 6
        out.append(np.concatenate([ql.astype(np.uint8), qh.astype(np.uint8), np.array(sc, np.int8).view(np.uint8),
                                   np.array([d], np.float16).view(np.uint8)]))
    return np.stack(out)
