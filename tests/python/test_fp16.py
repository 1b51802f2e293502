"""Half and bfloat16 conversions against numpy (IEEE round-to-nearest-even)."""
import numpy as np

from conftest import ptr


def _interesting_floats(rng, n):
    x = np.concatenate([
        rng.standard_normal(n).astype(np.float32) * 10.0 ** rng.integers(-9, 6, n),
        np.array([0.0, -0.0, 65504.0, 65519.0, 65520.0, 1e-8, 5.96e-8, 2.98e-8, np.inf, -np.inf], np.float32),
    ]).astype(np.float32)
    return x


def test_fp32_to_fp16_matches_numpy(shim, rng):
    x = _interesting_floats(rng, 100000)
    out = np.empty(x.shape, np.uint16)
    assert shim.nm_shim_fp32_to_fp16(ptr(x), ptr(out), len(x)) == 0
    np.testing.assert_array_equal(out, x.astype(np.float16).view(np.uint16))


def test_fp16_to_fp32_is_exact_for_every_half(shim):
    h = np.arange(65536, dtype=np.uint16)
    out = np.empty(h.shape, np.float32)
    assert shim.nm_shim_fp16_to_fp32(ptr(h), ptr(out), len(h)) == 0
    ref = h.view(np.float16).astype(np.float32)
    finite = np.isfinite(ref)
    np.testing.assert_array_equal(out[finite], ref[finite])
    assert np.all(np.isnan(out[np.isnan(ref)]))
    np.testing.assert_array_equal(out[np.isinf(ref)], ref[np.isinf(ref)])


def test_fp32_to_bf16_rounds_to_nearest_even(shim, rng):
    x = _interesting_floats(rng, 100000)
    out = np.empty(x.shape, np.uint16)
    assert shim.nm_shim_fp32_to_bf16(ptr(x), ptr(out), len(x)) == 0
    # Reference from the definition: keep the top 16 bits after adding half an ulp (ties to even).
    bits = x.view(np.uint32).astype(np.uint64)
    ref = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
    np.testing.assert_array_equal(out, ref)
