"""CPU ops (kernels/ops.h) against numpy float64 references (tests/reference/ops.py),
every op x every usable Isa, on fresh random inputs with odd sizes and 1-3 threads.

Tolerances are abs + rel*|ref| derived from f32 epsilon (EPS = 2^-23 ~ 1.19e-7) and the
number of terms each output sums: a sum of n products carries a rounding error that grows
like sqrt(n)*EPS on random data (the bound used is (c + 2 sqrt(n)) EPS times the sum of
|terms|); SIMD exp/sigmoid polynomials add a few EPS. Ops that are a single correctly
rounded f32 operation (add, mul, scale, copies) must match exactly.
"""
import ctypes as C
import math

import numpy as np
import pytest

import ops as ref
from conftest import ptr

EPS = float(np.finfo(np.float32).eps)
F = C.c_float
I64 = C.c_int64


def isas(shim):
    buf = (C.c_int * 8)()
    n = shim.nm_shim_usable_isas(buf, 8)
    return [buf[i] for i in range(n)]


def f32(a):
    return np.ascontiguousarray(a, dtype=np.float32)


def check(out, want, atol, rtol, what):
    out = out.astype(np.float64)
    assert np.all(np.isfinite(out)), f"{what}: non-finite output"
    err = np.abs(out - want)
    lim = atol + rtol * np.abs(want)
    worst = np.argmax(err - lim)
    assert np.all(err <= lim), (f"{what}: |err| {err.flat[worst]:.3g} > {lim.flat[worst]:.3g} "
                                f"at {np.unravel_index(worst, err.shape)} (ref {want.flat[worst]:.6g})")


@pytest.mark.parametrize("rows,n", [(1, 1), (3, 7), (5, 67), (4, 1024), (2, 4099)])
def test_rms_norm(shim, rng, rows, n):
    x = f32(rng.standard_normal((rows, n)) * 3)
    w = f32(rng.standard_normal(n))
    for isa in isas(shim):
        for wt in (None, w):
            y = np.empty_like(x)
            assert shim.nm_shim_rms_norm(ptr(x), ptr(y), ptr(wt) if wt is not None else None,
                                         I64(rows), I64(n), F(1e-5), isa, 1 + isa % 3) == 0
            want = ref.rms_norm(x, 1e-5, wt)
            # scale factor: sum of n squares (~sqrt(n) EPS) then sqrt/div; times x and w.
            check(y, want, 0.0, (8 + 2 * math.sqrt(n)) * EPS, f"rms_norm isa={isa}")


@pytest.mark.parametrize("rows,n", [(1, 2), (3, 9), (6, 768), (2, 1283)])
def test_layer_norm(shim, rng, rows, n):
    x = f32(rng.standard_normal((rows, n)) * 2 + 0.5)
    w, b = f32(rng.standard_normal(n)), f32(rng.standard_normal(n))
    for isa in isas(shim):
        y = np.empty_like(x)
        assert shim.nm_shim_layer_norm(ptr(x), ptr(y), ptr(w), ptr(b), I64(rows), I64(n), F(1e-5),
                                       isa, 2) == 0
        want = ref.layer_norm(x, 1e-5, w, b)
        # (x - mean) is rounded relative to |x| (not |x - mean|), so the abs term scales with |x|/sigma.
        sig = np.sqrt(x.astype(np.float64).var(axis=1, keepdims=True) + 1e-5)
        atol = (8 + 2 * math.sqrt(n)) * EPS * (np.abs(x) / sig * np.abs(w) + np.abs(b))
        check(y, want, atol, (8 + 2 * math.sqrt(n)) * EPS, f"layer_norm isa={isa}")


@pytest.mark.parametrize("neox", [False, True])
@pytest.mark.parametrize("nt,nh,hd,n_rot", [(1, 1, 2, 2), (5, 3, 64, 64), (7, 2, 80, 32), (3, 4, 128, 128)])
def test_rope(shim, rng, neox, nt, nh, hd, n_rot):
    x = f32(rng.standard_normal((nt, nh, hd)))
    pos = rng.integers(0, 8192, nt).astype(np.int32)
    factors = f32(rng.uniform(1, 8, n_rot // 2))
    for isa in isas(shim):
        for ff, fs in ((None, 1.0), (factors, 0.25)):
            y = np.empty_like(x)
            assert shim.nm_shim_rope(ptr(x), ptr(y), ptr(pos), I64(nt), I64(nh), I64(hd), int(neox), n_rot,
                                     F(500000.0), F(fs), ptr(ff) if ff is not None else None, isa, 3) == 0
            want = ref.rope(x, pos, n_rot, 500000.0, fs, neox, ff)
            # cos/sin rounded to f32 (1 EPS each) and two products + a sum: ~4 EPS of |a|+|b|.
            mag = np.abs(x).max(axis=-1, keepdims=True)
            check(y, want, 6 * EPS * mag, 0.0, f"rope isa={isa} neox={neox}")


def test_rope_rejects_bad_n_rot(shim):
    x = np.zeros((1, 1, 8), np.float32)
    pos = np.zeros(1, np.int32)
    for n_rot in (3, 10, 0):
        assert shim.nm_shim_rope(ptr(x), ptr(x), ptr(pos), I64(1), I64(1), I64(8), 0, n_rot,
                                 F(1e4), F(1.0), None, 0, 1) != 0


@pytest.mark.parametrize("rows,n", [(1, 1), (4, 33), (9, 100), (3, 4097)])
def test_softmax(shim, rng, rows, n):
    x = f32(rng.standard_normal((rows, n)) * 4)
    mask = f32(np.where(rng.random((2, n)) < 0.3, -np.inf, rng.standard_normal((2, n))))
    mask[1, :] = -np.inf  # every odd row is fully masked
    for isa in isas(shim):
        for m in (None, mask):
            y = np.empty_like(x)
            assert shim.nm_shim_softmax(ptr(x), ptr(y), ptr(m) if m is not None else None, I64(2), I64(rows),
                                        I64(n), F(0.7), isa, 2) == 0
            want = ref.softmax(x, 0.7, m)
            # exp of an argument with |arg| ~ 0.7*|x|+|mask| rounded to EPS*|arg|; polynomial
            # exp a few EPS; normalising sum of n terms ~ sqrt(n) EPS.
            arg = 0.7 * np.abs(x).max() + 4
            check(y, want, 1e-30, (16 + arg + 2 * math.sqrt(n)) * EPS, f"softmax isa={isa}")


def _kv(rng, kv_type, n, hkv, d):
    k = f32(rng.standard_normal((n, hkv, d)))
    v = f32(rng.standard_normal((n, hkv, d)))
    if kv_type == 0:
        return k, v, k.astype(np.float64), v.astype(np.float64)
    if kv_type == 1:
        kh, vh = k.astype(np.float16), v.astype(np.float16)
        return kh, vh, kh.astype(np.float64), vh.astype(np.float64)
    kq, vq = ref.q8_0_encode(k), ref.q8_0_encode(v)
    return kq, vq, ref.q8_0_decode(kq, d), ref.q8_0_decode(vq, d)


@pytest.mark.parametrize("kv_type", [0, 1, 8])  # F32, F16, Q8_0
@pytest.mark.parametrize("nt,nh,nhkv,d,pos0,causal", [
    (1, 1, 1, 32, 0, True), (7, 4, 2, 64, 5, True), (5, 6, 3, 96, 0, False), (9, 8, 1, 128, 30, True),
    (4, 2, 2, 32, 61, True), (40, 8, 2, 64, 50, True), (20, 4, 4, 72, 0, False)])
def test_attention(shim, rng, kv_type, nt, nh, nhkv, d, pos0, causal):
    if kv_type == 8 and d % 32:
        pytest.skip("q8_0 KV rows need head_dim % 32 == 0")  # d = 72: rows padded to whole vectors
    n_kv = pos0 + nt + (0 if causal else 3)
    q = f32(rng.standard_normal((nt, nh, d)))
    k, v, k64, v64 = _kv(rng, kv_type, n_kv, nhkv, d)
    scale = 1 / math.sqrt(d)
    mask = f32(rng.standard_normal((nt, n_kv + 2)))
    mask[0, :] = -np.inf  # query 0 sees nothing: must give zeros
    mask[1 % nt, : n_kv // 2] = -np.inf
    mask[2 % nt, n_kv // 3:] = -np.inf  # a hidden tail: the kernel stops at the last visible key
    for isa in isas(shim):
        for m in (None, mask):
            out = np.full_like(q, np.nan)
            assert shim.nm_shim_attention(ptr(q), ptr(k), ptr(v), ptr(out), I64(nt), I64(nh), I64(nhkv), I64(d),
                                          I64(n_kv), I64(pos0), int(causal), F(scale), kv_type,
                                          ptr(m) if m is not None else None, I64(n_kv + 2), isa, 1 + isa % 3) == 0
            want = ref.attention(q, k64, v64, pos0, causal, scale, m)
            # The reference uses exactly the K/V values the cache holds (f16 / q8_0 decoded), so only
            # f32 arithmetic differs: each score carries ~(4+2 sqrt d) EPS * scale*sum|q k|, which moves
            # the weights by that relative amount; the weighted sum of n_kv rows adds (4+2 sqrt n) EPS.
            qk = scale * max((np.abs(q[:, h]) @ np.abs(k64[:, h * nhkv // nh]).T).max() for h in range(nh))
            atol = ((4 + 2 * math.sqrt(d)) * EPS * qk * 2 + (8 + 2 * math.sqrt(n_kv)) * EPS) * np.abs(v64).max()
            check(out, want, atol, 0.0, f"attention isa={isa} kv={kv_type}")
            if m is not None:
                assert np.all(out[0] == 0)


def test_attention_rejects_bad_shapes(shim):
    z = np.zeros(64, np.float32)
    o = np.zeros(64, np.float32)
    # n_head not a multiple of n_head_kv; q8_0 with head_dim 16; unsupported kv type (Q4_0)
    for nh, nhkv, d, t in ((3, 2, 16, 0), (1, 1, 16, 8), (1, 1, 16, 2)):
        assert shim.nm_shim_attention(ptr(z), ptr(z), ptr(z), ptr(o), I64(1), I64(nh), I64(nhkv), I64(d),
                                      I64(1), I64(0), 1, F(1.0), t, None, I64(0), 0, 1) != 0


@pytest.mark.parametrize("n", [1, 7, 64, 1001])
def test_activations(shim, rng, n):
    x = f32(np.concatenate([rng.standard_normal(n) * 4, [0.0, -30.0, 30.0, -100.0, 100.0]]))
    b = f32(rng.standard_normal(len(x)))
    refs = {0: ref.gelu_tanh, 1: ref.gelu_erf, 2: ref.gelu_quick, 3: ref.silu}
    for isa in isas(shim):
        for act, fn in refs.items():
            y = np.empty_like(x)
            assert shim.nm_shim_activation(act, ptr(x), ptr(y), I64(len(x)), isa, 3) == 0
            # 1 + tanh(z) cancels for z << 0: its error is EPS of 1, i.e. abs 4 EPS*|x|.
            check(y, fn(x), 4 * EPS * np.abs(x) + 1e-37, 16 * EPS, f"act {act} isa={isa}")
        y = np.empty_like(x)
        assert shim.nm_shim_swiglu(ptr(x), ptr(b), ptr(y), I64(len(x)), isa, 2) == 0
        check(y, ref.silu(x) * b, 1e-37, 16 * EPS, f"swiglu isa={isa}")


@pytest.mark.parametrize("rows,n,b_rows", [(1, 1, 1), (6, 33, 3), (5, 130, 1), (4, 7, 4)])
def test_binary_and_scale_exact(shim, rng, rows, n, b_rows):
    a = f32(rng.standard_normal((rows, n)))
    b = f32(rng.standard_normal((b_rows, n)))
    bb = np.tile(b, (rows // b_rows, 1))
    for isa in isas(shim):
        y = np.empty_like(a)
        assert shim.nm_shim_binary(0, ptr(a), ptr(b), ptr(y), I64(rows), I64(n), I64(b_rows), isa, 2) == 0
        np.testing.assert_array_equal(y, (a.astype(np.float64) + bb).astype(np.float32))
        assert shim.nm_shim_binary(1, ptr(a), ptr(b), ptr(y), I64(rows), I64(n), I64(b_rows), isa, 3) == 0
        np.testing.assert_array_equal(y, (a.astype(np.float64) * bb).astype(np.float32))
        assert shim.nm_shim_scale(ptr(a), ptr(y), I64(rows * n), F(0.3), isa, 2) == 0
        np.testing.assert_array_equal(y, (a.astype(np.float64) * np.float64(np.float32(0.3))).astype(np.float32))


@pytest.mark.parametrize("type_id,np_conv", [(0, None), (1, np.float16), (30, "bf16")])
def test_get_rows(shim, rng, type_id, np_conv):
    n_src, n = 11, 37
    x = f32(rng.standard_normal((n_src, n)))
    if np_conv is None:
        src, want = x, x.astype(np.float64)
    elif np_conv is np.float16:
        src = x.astype(np.float16)
        want = src.astype(np.float64)
    else:  # bfloat16 = top 16 bits of the f32 pattern (truncate here: any bf16 value will do)
        src = (x.view(np.uint32) >> 16).astype(np.uint16)
        want = (src.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    ids = rng.integers(0, n_src, 13).astype(np.int32)
    dst = np.empty((13, n), np.float32)
    assert shim.nm_shim_get_rows(ptr(src), type_id, I64(n_src), I64(n), ptr(ids), I64(13), ptr(dst), 3) == 0
    np.testing.assert_array_equal(dst, want[ids])
    bad = np.array([0, n_src], np.int32)
    assert shim.nm_shim_get_rows(ptr(src), type_id, I64(n_src), I64(n), ptr(bad), I64(2), ptr(dst), 1) != 0


@pytest.mark.parametrize("dim", [0, 1, 2, 3])
def test_concat(shim, rng, dim):
    ne_a = [5, 3, 2, 2]
    ne_b = list(ne_a)
    ne_b[dim] = 4
    a = f32(rng.standard_normal(ne_a[::-1]))  # numpy shape is outermost first
    b = f32(rng.standard_normal(ne_b[::-1]))
    want = np.concatenate([a, b], axis=3 - dim)
    dst = np.empty_like(want)
    na, nb = np.array(ne_a, np.int64), np.array(ne_b, np.int64)
    assert shim.nm_shim_concat(ptr(a), ptr(na), ptr(b), ptr(nb), dim, ptr(dst), 2) == 0
    np.testing.assert_array_equal(dst, want)


@pytest.mark.parametrize("c,h,w,o,kh,kw,st,pd", [(3, 16, 16, 8, 4, 4, 4, 0), (2, 9, 7, 3, 3, 3, 1, 1),
                                                 (1, 5, 6, 2, 2, 3, 2, 1)])
def test_conv2d(shim, rng, c, h, w, o, kh, kw, st, pd):
    x = f32(rng.standard_normal((c, h, w)))
    wt = f32(rng.standard_normal((o, c, kh, kw)))
    bias = f32(rng.standard_normal(o))
    ho, wo = (h + 2 * pd - kh) // st + 1, (w + 2 * pd - kw) // st + 1
    scratch = np.empty(ho * wo * c * kh * kw, np.float32)
    y = np.empty((o, ho, wo), np.float32)
    dims = np.array([c, h, w, o, kh, kw, st, st, pd, pd], np.int64)
    assert shim.nm_shim_conv2d(ptr(x), ptr(wt), ptr(bias), ptr(dims), ptr(scratch), ptr(y)) == 0
    want = ref.conv2d(x, wt, bias, (st, st), (pd, pd))
    mag = ref.conv2d(np.abs(x), np.abs(wt), np.abs(bias), (st, st), (pd, pd))
    k = c * kh * kw
    check(y, want, (4 + 2 * math.sqrt(k)) * EPS * mag, 0.0, "conv2d")


@pytest.mark.parametrize("c,l,o,k,st,pd", [(80, 301, 16, 3, 1, 1), (16, 301, 8, 3, 2, 1), (3, 10, 2, 5, 3, 2)])
def test_conv1d(shim, rng, c, l, o, k, st, pd):
    x = f32(rng.standard_normal((c, l)))
    wt = f32(rng.standard_normal((o, c, k)))
    bias = f32(rng.standard_normal(o))
    lo = (l + 2 * pd - k) // st + 1
    y = np.empty((o, lo), np.float32)
    dims = np.array([c, l, o, k, st, pd], np.int64)
    assert shim.nm_shim_conv1d(ptr(x), ptr(wt), ptr(bias), ptr(dims), ptr(y), 3) == 0
    want = ref.conv1d(x, wt, bias, st, pd)
    mag = ref.conv1d(np.abs(x), np.abs(wt), np.abs(bias), st, pd)
    check(y, want, (4 + 2 * math.sqrt(c * k)) * EPS * mag, 0.0, "conv1d")
    bad = np.array([c, l, o, l + 2 * pd + 1, st, pd], np.int64)
    assert shim.nm_shim_conv1d(ptr(x), ptr(wt), ptr(bias), ptr(bad), ptr(y), 1) != 0
