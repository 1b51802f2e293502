"""Block quantisation formats: our scalar reference vs an independent numpy reference
(tests/reference/quants.py) and vs gguf-py's gguf.quants where it implements the type."""
import ctypes

import numpy as np
import pytest
import gguf

import quants as ref
from conftest import ptr

ALL = [ref.Q4_0, ref.Q4_1, ref.Q5_0, ref.Q5_1, ref.Q8_0, ref.Q8_1, ref.Q4_K, ref.Q5_K, ref.Q6_K, ref.Q8_K, ref.IQ4_NL]
DEQUANT_ONLY = [ref.Q2_K, ref.Q3_K]  # no quantiser (files are read, not written)
SIMPLE = [ref.Q4_0, ref.Q4_1, ref.Q5_0, ref.Q5_1, ref.Q8_0, ref.Q8_1, ref.Q8_K, ref.IQ4_NL]
KQ = [ref.Q4_K, ref.Q5_K, ref.Q6_K]
# f16 scale fields (byte offsets) per type; Q8_K has an f32 scale at 0.
F16_FIELDS = {ref.Q4_0: [0], ref.Q4_1: [0, 2], ref.Q5_0: [0], ref.Q5_1: [0, 2], ref.Q8_0: [0],
              ref.Q8_1: [0, 2], ref.Q4_K: [0, 2], ref.Q5_K: [0, 2], ref.Q6_K: [208], ref.IQ4_NL: [0],
              ref.Q2_K: [80, 82], ref.Q3_K: [108]}


def _ids(t):
    return ref.NAMES[t]


def _gguf_type(t):
    return gguf.GGMLQuantizationType(t)


def _ours_quantize(shim, t, x, n_rows=1):
    bs, ts = ref.LAYOUT[t]
    x = np.ascontiguousarray(x, np.float32)
    out = np.zeros((x.size // bs, ts), np.uint8)
    rc = shim.nm_shim_quantize_rows(t, ptr(x), ptr(out), ctypes.c_int64(n_rows), ctypes.c_int64(x.size // n_rows))
    assert rc == 0
    return out


def _ours_dequantize(shim, t, blocks, n_rows=1):
    bs, _ = ref.LAYOUT[t]
    blocks = np.ascontiguousarray(blocks, np.uint8)
    out = np.full(blocks.shape[0] * bs, np.nan, np.float32)
    rc = shim.nm_shim_dequantize_rows(t, ptr(blocks), ptr(out), ctypes.c_int64(n_rows),
                                      ctypes.c_int64(out.size // n_rows))
    assert rc == 0
    return out


def _random_f16(rng, n):
    """Finite halves of every exponent, subnormals and zeros included."""
    h = rng.integers(0, 0x10000, n, dtype=np.uint32).astype(np.uint16)
    bad = (h & 0x7C00) == 0x7C00
    h[bad] &= 0xBFFF  # clear the top exponent bit: finite
    return h


def _random_blocks(rng, t, n_blocks):
    _, ts = ref.LAYOUT[t]
    b = rng.integers(0, 256, (n_blocks, ts), dtype=np.uint8)
    if t == ref.Q8_K:
        d = (rng.standard_normal(n_blocks) * 10.0 ** rng.integers(-20, 20, n_blocks)).astype(np.float32)
        b[:, 0:4] = d.view(np.uint8).reshape(-1, 4)
    else:
        for off in F16_FIELDS[t]:
            b[:, off:off + 2] = _random_f16(rng, n_blocks).view(np.uint8).reshape(-1, 2)
    return b


def _bits(a):
    return np.ascontiguousarray(a, np.float32).view(np.uint32)


@pytest.mark.parametrize("t", ALL + DEQUANT_ONLY, ids=_ids)
def test_dequantize_random_blocks_bit_exact(shim, rng, t):
    blocks = _random_blocks(rng, t, 512)
    ours = _ours_dequantize(shim, t, blocks, n_rows=4)
    want = ref.dequantize(blocks, t)
    assert np.all(np.isfinite(ours))
    np.testing.assert_array_equal(_bits(ours), _bits(want))
    try:
        theirs = gguf.quants.dequantize(blocks, _gguf_type(t)).reshape(-1)
    except NotImplementedError:
        return  # gguf-py has no dequantiser for this type (Q8_1, Q8_K)
    np.testing.assert_array_equal(ours, theirs)


def _rows(rng, kind, n):
    """Test distributions; values stay where f16 scales neither overflow nor underflow to 0
    with a non-zero block (|x| in [1e-7, 1e4]) or are exactly zero."""
    if kind == "normal":
        return rng.standard_normal(n)
    if kind == "uniform_pos":
        return rng.uniform(0.5, 3.0, n)
    if kind == "outliers":
        x = rng.standard_normal(n)
        idx = rng.choice(n, n // 50, replace=False)
        x[idx] *= rng.uniform(20, 200, idx.size)
        return x
    if kind == "zeros":
        x = rng.standard_normal(n)
        x[: n // 2] = 0.0  # whole zero blocks (n//2 is a multiple of 256)
        x[rng.random(n) < 0.2] = 0.0
        return x
    if kind == "tiny":
        return rng.standard_normal(n) * 1e-6
    if kind == "scaled":
        return rng.standard_normal(n) * 10.0 ** rng.integers(-4, 4, n // 256).repeat(256)
    if kind == "constant":
        return np.repeat(rng.standard_normal(n // 32), 32)
    if kind == "discrete":
        return rng.integers(-3, 4, n).astype(np.float64) * 0.25
    raise ValueError(kind)


KINDS = ["normal", "uniform_pos", "outliers", "zeros", "tiny", "scaled", "constant", "discrete"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("t", SIMPLE, ids=_ids)
def test_quantize_simple_formats_bit_exact(shim, rng, t, kind):
    x = _rows(rng, kind, 4096).astype(np.float32)
    ours = _ours_quantize(shim, t, x, n_rows=2)
    np.testing.assert_array_equal(ours, ref.quantize(x, t))
    try:
        theirs = gguf.quants.quantize(x.reshape(2, -1), _gguf_type(t)).reshape(ours.shape)
    except NotImplementedError:
        return  # gguf-py has no quantiser for Q8_1 / Q8_K
    np.testing.assert_array_equal(ours, theirs)


def test_q8_k_bsums_and_q8_1_sum(shim, rng):
    x = rng.standard_normal(1024).astype(np.float32)
    qk = _ours_quantize(shim, ref.Q8_K, x)
    qs = qk[:, 4:260].view(np.int8).astype(np.int64)
    np.testing.assert_array_equal(qk[:, 260:].copy().view(np.int16), qs.reshape(-1, 16, 16).sum(axis=2))
    q1 = _ours_quantize(shim, ref.Q8_1, x)
    d = q1[:, 0:2].copy().view(np.float16).astype(np.float64)[:, 0]
    s = q1[:, 2:4].copy().view(np.float16).astype(np.float64)[:, 0]
    want = d * q1[:, 4:].view(np.int8).astype(np.int64).sum(axis=1)
    # s = f16(d32 * sum) while the stored d = f16(d32): each carries one f16 rounding (2^-11)
    np.testing.assert_allclose(s, want, rtol=2.0 ** -10 + 2.0 ** -20, atol=0)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("t", KQ, ids=_ids)
def test_quantize_k_quants_bit_exact_with_stepwise_reference(shim, rng, t, kind):
    # The reference evaluates ggml's published scheme one float32 operation at a time
    # (slow), so only two super-blocks per case.
    x = _rows(rng, kind, 512).astype(np.float32)
    np.testing.assert_array_equal(_ours_quantize(shim, t, x), ref.quantize_k(x, t))


# K-quants: gguf-py 0.19 implements only their dequantisation, so besides the step-wise
# reference above, quantisation of many blocks is checked by bounds. Per 256-element super-block, with span S = max(x) - min(min(x), 0) for Q4_K/Q5_K
# (levels 0..nmax above a min <= 0) or S = max|x| for Q6_K (levels -32..31):
#   max|err| <= 1.25 * S / nmax + abs_f16,   nmax = 15 (Q4_K), 31 (Q5_K), 32 (Q6_K).
# Ideal rounding gives S / (2 nmax); the weighted search may clip a sub-block's ends and the
# 6-bit (Q4_K/Q5_K) or 8-bit (Q6_K) sub-block scales add up to about another half step.
# Measured worst over 20 seeds x all distributions: 0.85 (Q4_K), 0.95 (Q5_K), 0.85 (Q6_K) of
# S / nmax. abs_f16: the super-block scales are f16 with absolute resolution 2^-24, so a
# rounding error of 2^-25 times the largest sub-block scale (63, or 128 for Q6_K) times the
# largest level: 2^-25 * 63 * (nmax + 1) for Q4_K/Q5_K, 2^-25 * 128 * 32 for Q6_K.
K_BOUND = {ref.Q4_K: ("range", 15, 2.0 ** -25 * 63 * 16), ref.Q5_K: ("range", 31, 2.0 ** -25 * 63 * 32),
           ref.Q6_K: ("absmax", 32, 2.0 ** -25 * 128 * 32)}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("t", KQ, ids=_ids)
def test_k_quant_error_bounds_and_stability(shim, rng, t, kind):
    x = _rows(rng, kind, 8192).astype(np.float32)
    q = _ours_quantize(shim, t, x, n_rows=4)
    y = _ours_dequantize(shim, t, q, n_rows=4)
    np.testing.assert_array_equal(_bits(y), _bits(ref.dequantize(q, t)))
    assert np.all(np.isfinite(y))
    xb, yb = x.reshape(-1, 256).astype(np.float64), y.reshape(-1, 256).astype(np.float64)
    how, steps, abs_f16 = K_BOUND[t]
    if how == "range":
        span = xb.max(axis=1) - np.minimum(xb.min(axis=1), 0.0)
    else:
        span = np.abs(xb).max(axis=1)
    err = np.abs(yb - xb).max(axis=1)
    bound = 1.25 * span / steps + abs_f16
    worst = np.argmax(err / bound)
    assert np.all(err <= bound), f"block {worst}: err {err[worst]} > bound {bound[worst]}"
    zero_blocks = np.all(xb == 0, axis=1)
    assert np.all(yb[zero_blocks] == 0)
    # Re-quantising the reconstruction stays within the same budget (the scale search may
    # pick slightly different scales for values already on a grid; measured worst 0.6 of it).
    y2 = _ours_dequantize(shim, t, _ours_quantize(shim, t, y, n_rows=4), n_rows=4)
    drift = np.abs(y2.reshape(-1, 256).astype(np.float64) - yb).max(axis=1)
    assert np.all(drift <= bound), f"max drift/bound {np.max(drift / bound)}"


# Round-trip rmse for N(0, 1) data, 64 x 4096 values. Measured over 10 seeds (spread < 1%):
# Q4_0 .0862 Q4_1 .0784 Q5_0 .0429 Q5_1 .0380 Q8_0/Q8_1 .00537 Q4_K .0716 Q5_K .0362
# Q6_K .0178 Q8_K .0070 IQ4_NL .0785-.0789 (its grid beats Q4_0's even without a scale
# search); bounds are ~10% above, which a wrong rounding rule (trunc instead
# of nearest: ~+70%) or a lost scale bit exceeds.
RMSE_BOUND = {ref.Q4_0: 0.095, ref.Q4_1: 0.087, ref.Q5_0: 0.048, ref.Q5_1: 0.042, ref.Q8_0: 0.006,
              ref.Q8_1: 0.006, ref.Q4_K: 0.079, ref.Q5_K: 0.040, ref.Q6_K: 0.020, ref.Q8_K: 0.0078,
              ref.IQ4_NL: 0.087}


@pytest.mark.parametrize("t", ALL, ids=_ids)
def test_round_trip_rmse(shim, rng, t):
    x = rng.standard_normal(64 * 4096).astype(np.float32)
    y = _ours_dequantize(shim, t, _ours_quantize(shim, t, x, n_rows=64), n_rows=64)
    rmse = float(np.sqrt(np.mean((y.astype(np.float64) - x) ** 2)))
    print(f"{ref.NAMES[t]} rmse {rmse:.5f} (bound {RMSE_BOUND[t]})")
    assert rmse <= RMSE_BOUND[t]


def test_errors_reported(shim):
    x = np.zeros(256, np.float32)
    out = np.zeros(1024, np.uint8)
    INVALID_ARGUMENT, UNSUPPORTED = 1, 3
    assert shim.nm_shim_quantize_rows(ref.Q4_K, ptr(x), ptr(out), ctypes.c_int64(1), ctypes.c_int64(100)) == INVALID_ARGUMENT
    assert shim.nm_shim_quantize_rows(99, ptr(x), ptr(out), ctypes.c_int64(1), ctypes.c_int64(256)) == UNSUPPORTED
