"""Speech-synthesis (VITS) kernels of kernels/ops.h against numpy float64 references
written from the equations (tests/reference/vits_ref.py), on fresh random inputs with odd
sizes and 1-3 threads.

Layouts: activations are rows of channels, one row per frame (x[t][c]); the references take
PyTorch's [C, T], so the tests transpose. Tolerances are abs + rel*|ref| from f32 epsilon
(EPS) and the number of terms each output sums (a sum of n terms carries at most about
n * EPS * sum|terms|; random data gives far less): ops that copy or do one rounding are exact
or within EPS.
"""
import ctypes as C
import math

import numpy as np
import pytest

import vits_ref as ref
from conftest import ptr
from test_ops import check, f32  # noqa: F401 (shared helpers, not tests)

EPS = float(np.finfo(np.float32).eps)
F = C.c_float
I64 = C.c_int64


@pytest.mark.parametrize("rows,n", [(1, 1), (3, 7), (17, 96), (5, 1031)])
def test_unary(shim, rng, rows, n):
    x = f32(rng.standard_normal((rows, n)) * 3)
    x64 = x.astype(np.float64)
    slope = np.float32(rng.uniform(0.005, 0.3))
    cases = [(0, x64 * (x64 > 0), 0.0, "relu"),
             (1, np.tanh(x64), 4 * EPS, "tanh"),
             (2, ref.leaky_relu(x64, float(slope)), 0.0, "leaky_relu")]
    for op, want, atol, what in cases:
        y = np.full_like(x, np.nan)
        assert shim.nm_shim_speech_unary(op, ptr(x), ptr(y), I64(rows), I64(n), F(slope), 1 + rows % 3) == 0
        check(y, want, atol, EPS, what)
    y = np.full_like(x, np.nan)
    assert shim.nm_shim_speech_unary(4, ptr(x), ptr(y), I64(rows), I64(n), F(0), 2) == 0
    check(y, x64[:, ::-1], 0.0, 0.0, "flip")


@pytest.mark.parametrize("rows,h", [(1, 1), (5, 3), (33, 192)])
def test_gate_tanh_sigmoid(shim, rng, rows, h):
    x = f32(rng.standard_normal((rows, 2 * h)) * 4)
    y = np.full((rows, h), np.nan, np.float32)
    assert shim.nm_shim_speech_unary(3, ptr(x), ptr(y), I64(rows), I64(h), F(0), 3) == 0
    x64 = x.astype(np.float64)
    want = np.tanh(x64[:, :h]) / (1 + np.exp(-x64[:, h:]))
    check(y, want, 8 * EPS, 8 * EPS, "gate_tanh_sigmoid")


CONVS = [  # c, t, k, stride, pad, dilation
    (1, 1, 1, 1, 0, 1), (3, 10, 3, 1, 1, 1), (5, 17, 5, 1, 4, 2), (7, 40, 7, 1, 36, 12),
    (4, 23, 3, 2, 1, 1), (192, 31, 3, 1, 9, 9), (6, 9, 5, 3, 0, 1)]


@pytest.mark.parametrize("c,t,k,stride,pad,dil", CONVS)
@pytest.mark.parametrize("slope", [1.0, 0.1])
def test_unfold1d_is_conv1d(shim, rng, c, t, k, stride, pad, dil, slope):
    """unfold1d's columns (tap-major) times the weight stored [out, k, in], viewed [k*C, OC],
    is the convolution of leaky_relu(x, slope)."""
    x = f32(rng.standard_normal((t, c)))
    oc = 1 + c % 5
    w = rng.standard_normal((oc, c, k))
    t_out = (t + 2 * pad - dil * (k - 1) - 1) // stride + 1
    cols = np.full((t_out, c * k), np.nan, np.float32)
    dims = (I64 * 6)(c, t, k, stride, pad, dil)
    assert shim.nm_shim_conv1d_rows(0, ptr(x), None, dims, F(slope), ptr(cols), 1 + t % 3) == 0
    # The columns are copies (times a float slope: one rounding): check them through the
    # product in float64.
    got = cols.astype(np.float64) @ w.transpose(0, 2, 1).reshape(oc, k * c).T  # [t_out, oc]
    xa = ref.leaky_relu(x.astype(np.float64), float(np.float32(slope)))
    want = ref.conv1d(xa.T, w, stride=stride, pad=pad, dilation=dil).T
    bound = ref.conv1d(np.abs(xa.T), np.abs(w), stride=stride, pad=pad, dilation=dil).T
    check(got, want, EPS * bound + 1e-12, 1e-12, "unfold1d")


# conv1d_rows (kernels/conv1d_gemm.h, the implicit GEMM): the unfold shapes, and the decoder's
# own (32..256 channels, 3/7/11 taps, dilations 1/3/5, outputs not a multiple of 16 or 32).
# (the first two take several passes of conv1d_gemm.cpp's kPassBytes)
GEMM_CONVS = CONVS + [(32, 5000, 7, 1, 18, 3), (16, 20000, 5, 2, 2, 1), (32, 300, 11, 1, 25, 5), (64, 61, 7, 1, 3, 1),
                      (24, 50, 3, 1, 3, 3), (192, 40, 5, 1, 2, 1)]


@pytest.mark.parametrize("c,t,k,stride,pad,dil", GEMM_CONVS)
def test_conv1d_rows_gemm(shim, rng, c, t, k, stride, pad, dil):
    """The implicit GEMM on every usable ISA, with a leaky ReLU, a bias and a residual (and
    without), against the float64 convolution; 1, 2 and 3 threads give the same bits."""
    oc = [1, 16, 40, 32, 7, 48][c % 6] if c < 32 else c
    x = f32(rng.standard_normal((t, c)))
    w = f32(rng.standard_normal((oc, c, k)))
    w_rows = np.ascontiguousarray(w.transpose(0, 2, 1).reshape(oc, k * c))  # [oc][j*c + ch]
    bias = f32(rng.standard_normal(oc))
    t_out = (t + 2 * pad - dil * (k - 1) - 1) // stride + 1
    res = f32(rng.standard_normal((t_out, oc)))
    dims = (I64 * 6)(c, t, k, stride, pad, dil)
    out = C.c_int * 8
    isas = out()
    n_isa = shim.nm_shim_usable_isas(isas, 8)
    for isa in list(isas[:n_isa]):
        for slope, b in ((1.0, None), (0.1, bias)):
            xa = ref.leaky_relu(x.astype(np.float64), float(np.float32(slope)))
            want = ref.conv1d(xa.T, w.astype(np.float64), b, stride=stride, pad=pad, dilation=dil).T
            bound = ref.conv1d(np.abs(xa.T), np.abs(w.astype(np.float64)), None if b is None else np.abs(b),
                               stride=stride, pad=pad, dilation=dil).T
            r = None if b is None else res
            if r is not None:
                want = want + r.astype(np.float64)
                bound = bound + np.abs(r.astype(np.float64))
            got = []
            for nth in (1, 2, 3):
                y = np.full((t_out, oc), np.nan, np.float32)
                assert shim.nm_shim_conv1d_gemm(isa, ptr(x), ptr(w_rows), None if b is None else ptr(b),
                                                None if r is None else ptr(r), dims, I64(oc), F(slope), ptr(y),
                                                nth) == 0
                check(y, want, (c * k + 1) * EPS * bound + 1e-12, 0.0, f"conv1d_rows isa {isa} slope {slope}")
                got.append(y)
            assert all(np.array_equal(got[0], g) for g in got[1:]), f"isa {isa}: threads disagree"


@pytest.mark.parametrize("c,t,k,stride,pad,dil", CONVS)
def test_conv1d_depthwise(shim, rng, c, t, k, stride, pad, dil):
    x = f32(rng.standard_normal((t, c)))
    w = f32(rng.standard_normal((c, 1, k)))
    t_out = (t + 2 * pad - dil * (k - 1) - 1) // stride + 1
    y = np.full((t_out, c), np.nan, np.float32)
    dims = (I64 * 6)(c, t, k, stride, pad, dil)
    assert shim.nm_shim_conv1d_rows(1, ptr(x), ptr(w), dims, F(1.0), ptr(y), 1 + c % 3) == 0
    want = ref.conv1d(x.T.astype(np.float64), w.astype(np.float64), dilation=dil, pad=pad, stride=stride, groups=c).T
    # each output sums k products: bound k * EPS * sum|terms|
    terms = ref.conv1d(np.abs(x.T.astype(np.float64)), np.abs(w.astype(np.float64)), dilation=dil, pad=pad,
                       stride=stride, groups=c).T
    check(y, want, (k + 1) * EPS * terms, 0.0, "conv1d_depthwise")


@pytest.mark.parametrize("ic,oc,t,k,stride", [(1, 1, 1, 1, 1), (3, 2, 5, 4, 2), (16, 8, 11, 16, 8),
                                              (12, 6, 7, 8, 4), (5, 3, 6, 3, 5)])
def test_col2im1d_is_conv_transpose1d(shim, rng, ic, oc, t, k, stride):
    """cols = x . w (per input frame, [oc*k]) then col2im1d is PyTorch's ConvTranspose1d."""
    pad = (k - stride) // 2 if k >= stride else 0
    x = rng.standard_normal((t, ic))
    w = rng.standard_normal((ic, oc, k))
    cols = f32(x @ w.reshape(ic, oc * k))  # [t, oc*k], element o*k + j
    t_out = (t - 1) * stride - 2 * pad + k
    y = np.full((t_out, oc), np.nan, np.float32)
    assert shim.nm_shim_col2im1d(ptr(cols), I64(t), I64(oc), I64(k), I64(stride), I64(pad), ptr(y), 1 + t % 3) == 0
    want = ref.conv_transpose1d(x.T, w, stride=stride, pad=pad).T  # float64 from x, w
    # the columns were rounded to f32 (EPS * |col|) and up to ceil(k/stride) of them summed
    n = -(-k // stride)
    absc = np.abs(cols.astype(np.float64))
    bound = ref.conv_transpose1d(np.abs(x.T), np.abs(w), stride=stride, pad=pad).T
    check(y, want, (n + 2) * EPS * bound + 1e-30 * absc.max(), 0.0, "col2im1d")


@pytest.mark.parametrize("t,heads,d,window", [(1, 1, 1, 0), (2, 2, 3, 4), (9, 2, 96, 4), (37, 3, 16, 2),
                                              (130, 2, 8, 4), (189, 2, 96, 4)])
def test_rel_attention(shim, rng, t, heads, d, window):
    """Every usable ISA against the float64 reference; 1, 2 and 3 threads give the same bits."""
    c = heads * d
    q, k, v = (f32(rng.standard_normal((t, c))) for _ in range(3))
    ek, ev = (f32(rng.standard_normal((2 * window + 1, d))) for _ in range(2))
    f = lambda a: a.T.astype(np.float64)  # noqa: E731
    want = ref.rel_attention(f(q), f(k), f(v), ek.astype(np.float64), ev.astype(np.float64), heads, window).T
    # scores: 2d products of O(1) values -> error ~ 2d EPS * |score terms|; softmax turns an
    # absolute score error e into relative weight error e; outputs sum t weighted rows.
    score_err = (2 * d + 4) * EPS * math.sqrt(d) * 4
    vmax = max(np.abs(v).max(), np.abs(ev).max()) * 2
    isas = (C.c_int * 8)()
    for isa in list(isas[:shim.nm_shim_usable_isas(isas, 8)]):
        got = []
        for nth in (1, 2, 3):
            out = np.full((t, c), np.nan, np.float32)
            assert shim.nm_shim_rel_attention(isa, ptr(q), ptr(k), ptr(v), ptr(ek), ptr(ev), ptr(out), I64(t),
                                              I64(heads), I64(d), I64(window), nth) == 0
            check(out, want, (score_err + (t + 4) * EPS) * vmax, 0.0, f"rel_attention isa {isa}")
            got.append(out)
        assert all(np.array_equal(got[0], g) for g in got[1:]), f"isa {isa}: threads disagree"


@pytest.mark.parametrize("t,bins,bound", [(1, 10, 5.0), (7, 10, 5.0), (64, 4, 2.0), (33, 1, 3.0)])
def test_spline_coupling(shim, rng, t, bins, bound):
    z = rng.standard_normal((t, 2)) * bound * 0.7
    z[0, 1] = bound * 1.5  # a tail value (identity)
    if t > 2:
        z[1, 1] = -bound  # the boundary
    z = f32(z)
    h = f32(rng.standard_normal((t, 3 * bins - 1)) * 3)
    scale = np.float32(1 / math.sqrt(192))
    y = np.full_like(z, np.nan)
    assert shim.nm_shim_spline_coupling(ptr(z), ptr(h), ptr(y), I64(t), I64(bins), F(bound), F(scale),
                                        1 + t % 3) == 0
    h64 = h.astype(np.float64)
    want1 = ref.rq_spline_inverse(z[:, 1].astype(np.float64), h64[:, :bins] * float(scale),
                                  h64[:, bins:2 * bins] * float(scale), h64[:, 2 * bins:], bound)
    check(y[:, 0], z[:, 0].astype(np.float64), 0.0, 0.0, "spline channel 0")
    # computed in double and rounded once to f32
    check(y[:, 1], want1, 1e-12, EPS, "spline")
