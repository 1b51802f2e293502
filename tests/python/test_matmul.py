"""matmul() for every weight type x usable ISA against numpy float64.

Integer paths: reference Y = Xq @ Wdeq.T, with Xq the activations quantised exactly as
ggml's reference quantisers do (tests/reference/matmul.py) and Wdeq from gguf-py.
Tolerance per element: fp32 accumulation (nblocks + 8) * 2^-24 * sum|w||xq|, plus two
rounding flips of one activation step (2 * max_k |w_k| d_k: SIMD quantisers may round a
value lying within an ulp of a half the other way), plus for Q4_1 the fp16 rounding of
the Q8_1 block sums (2^-10 * sum_b |m_b| |s_b|); Q5_1 likewise.
Float paths: Y = X @ W.T with W exactly representable; tolerance k * 2^-24 * sum|w||x|.
"""
import ctypes

import numpy as np
import pytest
from gguf import GGMLQuantizationType as T

from conftest import ptr
from matmul import ACT, BLOCKS, dequant_weights, quantize_act, random_blocks

TYPES = [T.F32, T.F16, T.BF16, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0, T.IQ4_NL, T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K]
# (m, blocks of k, n); m not a multiple of any tile, odd n, one and several blocks;
# matrix-vector rows with odd and even block counts, and one longer than the 16384 the
# AVX-512 matrix-vector kernel prepares on its stack.
SHAPES = [(1, 1, 1), (7, 3, 1), (19, 9, 1), (37, 16, 1), (3, 520, 1), (13, 4, 5), (67, 8, 7), (9, 2, 16)]


def isas(shim):
    out = (ctypes.c_int * 8)()
    n = shim.nm_shim_usable_isas(out, 8)
    return list(out[:n])


def make_weights(rng, wtype, m, k):
    if wtype == T.F32:
        w = rng.standard_normal((m, k)).astype(np.float32)
        return w, w.astype(np.float64), None
    if wtype == T.F16:
        w = rng.standard_normal((m, k)).astype(np.float16)
        return w, w.astype(np.float64), None
    if wtype == T.BF16:
        bits = (rng.standard_normal((m, k)).astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
        return bits, (bits.astype(np.uint32) << 16).view(np.float32).astype(np.float64), None
    raw = random_blocks(rng, wtype, m, k)
    mins = None
    if wtype in (T.Q4_1, T.Q5_1):  # the blocks' fp16 mins, bytes 2-3
        size = BLOCKS[wtype][1]
        mins = np.abs(raw.reshape(m, k // 32, size)[:, :, 2:4].copy().view(np.float16)[..., 0].astype(np.float64))
    return raw, dequant_weights(wtype, raw, k), mins


def run(shim, isa, wtype, w, m, k, x, threads=2):
    n = x.shape[0]
    y = np.full((n, m + 3), np.nan, np.float32)  # padded rows: checks y_stride
    rc = shim.nm_shim_matmul(isa, int(wtype), ptr(w), ctypes.c_int64(w.shape[1] * w.itemsize),
                             ctypes.c_int64(m), ctypes.c_int64(k), ptr(x), ctypes.c_int64(x.shape[1]),
                             ctypes.c_int64(n), ptr(y), ctypes.c_int64(m + 3), threads)
    assert rc == 0
    assert np.all(np.isnan(y[:, m:])), "wrote past m"
    assert not np.isnan(y[:, :m]).any(), "an output was not written"  # NaN would pass err > tol
    return y[:, :m].astype(np.float64)


def reference(wtype, wd, mins, x, k, bs, packed=False):
    """Y and its per-element tolerance (see the module docstring). Packed Q4_1 / Q5_1 take
    the activation sums in float (exact), not as Q8_1's fp16 s: no tolerance for that."""
    if wtype in ACT:
        xq, dq, sabs = quantize_act(ACT[wtype], x)
        ref = xq @ wd.T
        mag = np.abs(xq) @ np.abs(wd).T
        tol = (k / bs + 8) * 2.0**-24 * mag
        tol += 2 * np.max(dq[:, None, :] * np.abs(wd)[None, :, :], axis=-1)
        if wtype in (T.Q4_1, T.Q5_1) and not packed:
            tol += 2.0**-10 * (sabs @ mins.T)
    else:
        ref = x.astype(np.float64) @ wd.T
        tol = k * 2.0**-24 * (np.abs(x).astype(np.float64) @ np.abs(wd).T)
    return ref, tol


@pytest.mark.parametrize("wtype", TYPES, ids=lambda t: t.name)
def test_matmul_matches_reference(shim, rng, wtype):
    bs = BLOCKS[wtype][0] if wtype in BLOCKS else 32
    for isa in isas(shim):
        for m, nbk, n in SHAPES:
            k = bs * nbk + (5 if wtype in (T.F32, T.F16, T.BF16) else 0)  # float paths: odd k tail
            w, wd, mins = make_weights(rng, wtype, m, k)
            x_rows = rng.standard_normal((n, k + 3)).astype(np.float32)  # padded rows: x_stride
            x = x_rows[:, :k]
            y = run(shim, isa, wtype, w, m, k, x_rows, threads=1 + (m % 3))
            ref, tol = reference(wtype, wd, mins, x, k, bs)
            err = np.abs(y - ref)
            bad = err > tol + 1e-30
            assert not bad.any(), (f"isa {isa} {wtype.name} m={m} k={k} n={n}: "
                                   f"max err {err.max():.3g}, tol there {tol[bad][0]:.3g}")


# Packed (row-interleaved) weights: rows a multiple of 16; one and several row chunks of 64,
# activation tiles of 8 and column chunks of 64 with tails, a row longer than 16384.
PACKED_SHAPES = [(16, 1, 1), (32, 9, 1), (48, 16, 1), (16, 520, 1), (64, 4, 5), (80, 8, 17), (16, 2, 16),
                 (128, 3, 70)]


# K-quants (blocks of 256): the same row and column splits, 2 and 3 columns (the matrix-vector
# sums split per sub-block), and a row of 35 super-blocks (Qwen2.5-1.5B's ffn_down).
PACKED_SHAPES_K = [(16, 1, 1), (32, 3, 1), (48, 35, 1), (32, 2, 2), (16, 3, 3), (64, 2, 5), (80, 2, 17), (16, 1, 16),
                   (128, 1, 70)]


PACKED_TYPES = [T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.IQ4_NL, T.Q8_0, T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K]


@pytest.mark.parametrize("wtype", PACKED_TYPES, ids=lambda t: t.name)
def test_packed_matmul_matches_reference(shim, rng, wtype):
    ran = 0
    bs = BLOCKS[wtype][0]
    for isa in isas(shim):
        for m, nbk, n in PACKED_SHAPES if bs == 32 else PACKED_SHAPES_K:
            k = bs * nbk
            w, wd, mins = make_weights(rng, wtype, m, k)
            x_rows = rng.standard_normal((n, k + 3)).astype(np.float32)
            x = x_rows[:, :k]
            y = np.full((n, m + 3), np.nan, np.float32)
            rc = shim.nm_shim_matmul_packed(isa, int(wtype), ptr(w), ctypes.c_int64(w.shape[1]),
                                            ctypes.c_int64(m), ctypes.c_int64(k), ptr(x_rows),
                                            ctypes.c_int64(k + 3), ctypes.c_int64(n), ptr(y),
                                            ctypes.c_int64(m + 3), 1 + (n % 3))
            if rc == 2:
                continue
            assert rc == 0
            assert np.all(np.isnan(y[:, m:])), "wrote past m"
            ref, tol = reference(wtype, wd, mins, x, k, bs, packed=True)
            err = np.abs(y[:, :m].astype(np.float64) - ref)
            bad = err > tol + 1e-30
            assert not bad.any(), (f"packed isa {isa} {wtype.name} m={m} k={k} n={n}: "
                                   f"max err {err.max():.3g}, tol there {tol[bad][0]:.3g}")
            ran += 1
    if ran == 0:
        pytest.skip(f"no packed {wtype.name} kernel on this CPU")


@pytest.mark.parametrize("m,n", [(96, 9), (16 * 23, 1)])  # 16 * 23 x 1: six matrix-vector chunks
def test_packed_matmul_same_bits_for_any_thread_count(shim, rng, m, n):
    k = 32 * 12
    w, _, _ = make_weights(rng, T.Q4_0, m, k)
    x = rng.standard_normal((n, k)).astype(np.float32)
    outs = []
    for threads in (1, 2, 3, 5):
        y = np.full((n, m), np.nan, np.float32)  # a chunk no thread computed stays NaN
        rc = shim.nm_shim_matmul_packed(isas(shim)[-1], int(T.Q4_0), ptr(w), ctypes.c_int64(w.shape[1]),
                                        ctypes.c_int64(m), ctypes.c_int64(k), ptr(x), ctypes.c_int64(k),
                                        ctypes.c_int64(n), ptr(y), ctypes.c_int64(m), threads)
        if rc == 2:
            pytest.skip("no packed Q4_0 kernel on this CPU")
        assert rc == 0
        assert not np.isnan(y).any(), threads
        outs.append(y)
    assert all(np.array_equal(outs[0], o) for o in outs[1:])


# f32 weights with n >= 8 activation rows take the packed-panel GEMM (kernels/gemm_f32.h):
# partial last panels (m % 16), a lone panel beside pairs (AVX-512 takes two at a time), row
# tails of every micro-kernel height, k of 1, and k so long that W is packed in several
# blocks of columns (k = 9000: 32 columns per 1 MiB block, m = 70 -> three blocks).
GEMM_SHAPES = [(16, 1, 8), (9, 7, 13), (40, 33, 50), (48, 192, 97), (70, 9000, 20), (130, 300, 61)]


def test_f32_gemm_matches_reference_and_threads_agree(shim, rng):
    for isa in isas(shim):
        for m, k, n in GEMM_SHAPES:
            w_rows = rng.standard_normal((m, k + 2)).astype(np.float32)  # padded rows: w_stride
            x_rows = rng.standard_normal((n, k + 3)).astype(np.float32)
            ref, tol = reference(T.F32, w_rows[:, :k].astype(np.float64), None, x_rows[:, :k], k, 1)
            outs = []
            for threads in (1, 2, 3):
                y = run(shim, isa, T.F32, w_rows, m, k, x_rows, threads=threads)
                err = np.abs(y - ref)
                bad = err > tol + 1e-30
                assert not bad.any(), (f"gemm isa {isa} m={m} k={k} n={n} threads={threads}: "
                                       f"max err {err.max():.3g}, tol there {tol[bad][0]:.3g}")
                outs.append(y)
            assert all(np.array_equal(outs[0], o) for o in outs[1:]), f"isa {isa} m={m} k={k} n={n}"


def test_matmul_rejects_bad_k(shim):
    w = np.zeros((2, 18), np.uint8)
    x = np.zeros((1, 16), np.float32)
    y = np.zeros((1, 2), np.float32)
    assert shim.nm_shim_matmul(0, int(T.Q4_0), ptr(w), ctypes.c_int64(18), ctypes.c_int64(2),
                               ctypes.c_int64(16), ptr(x), ctypes.c_int64(16), ctypes.c_int64(1),
                               ptr(y), ctypes.c_int64(2), 1) != 0
