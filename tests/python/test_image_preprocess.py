"""Image decoding and resampling against Pillow on real photographs.

Pillow is the independent reference: Hugging Face image processors resize with it, so
this is what vision encoders saw in training. Tolerance: at most 1 level (of 255) per
channel, for rounding of the fixed-point filter weights; in practice most pixels are exact.
"""
import ctypes
import os

import numpy as np
import pytest
from PIL import Image

from conftest import ptr

PHOTOS = os.path.join(os.environ.get("NM_SOURCE_DIR", "."), "tests", "data", "photos")
NAMES = ["astronaut.png", "chelsea.png", "coffee.png"]
FILTERS = {"bilinear": (1, Image.BILINEAR), "bicubic": (2, Image.BICUBIC), "lanczos": (3, Image.LANCZOS)}


def load(shim, path):
    w, h = ctypes.c_int(), ctypes.c_int()
    buf = np.empty(4096 * 4096 * 3, np.uint8)
    assert shim.nm_shim_load_image(path.encode(), ptr(buf), ctypes.c_int64(buf.size), ctypes.byref(w), ctypes.byref(h)) == 0
    return buf[: w.value * h.value * 3].reshape(h.value, w.value, 3)


@pytest.mark.parametrize("name", NAMES)
def test_png_decodes_like_pillow(shim, name):
    path = os.path.join(PHOTOS, name)
    ours = load(shim, path)
    ref = np.asarray(Image.open(path).convert("RGB"))
    np.testing.assert_array_equal(ours, ref)


def test_jpeg_and_bmp_decode_close_to_pillow(shim, tmp_path):
    src = Image.open(os.path.join(PHOTOS, "chelsea.png")).convert("RGB")
    src.save(tmp_path / "c.bmp")
    np.testing.assert_array_equal(load(shim, str(tmp_path / "c.bmp")), np.asarray(src))
    src.save(tmp_path / "c.jpg", quality=90)
    ours = load(shim, str(tmp_path / "c.jpg")).astype(int)
    ref = np.asarray(Image.open(tmp_path / "c.jpg").convert("RGB")).astype(int)
    # JPEG decoders may differ in IDCT and chroma upsampling: a few levels, rarely.
    assert np.abs(ours - ref).mean() < 1.0
    assert np.abs(ours - ref).max() <= 40


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("filt", sorted(FILTERS))
def test_resize_matches_pillow(shim, rng, name, filt):
    src = np.asarray(Image.open(os.path.join(PHOTOS, name)).convert("RGB"))
    h, w, _ = src.shape
    sizes = [(384, 384), (224, 224), (int(rng.integers(17, 2 * w)), int(rng.integers(17, 2 * h))), (w, 100)]
    for ow, oh in sizes:
        out = np.empty((oh, ow, 3), np.uint8)
        s = np.ascontiguousarray(src)
        assert shim.nm_shim_resize(ptr(s), w, h, ow, oh, FILTERS[filt][0], ptr(out)) == 0
        ref = np.asarray(Image.fromarray(src).resize((ow, oh), FILTERS[filt][1]))
        diff = np.abs(out.astype(int) - ref.astype(int))
        assert diff.max() <= 1, f"{name} -> {ow}x{oh} {filt}: max diff {diff.max()}"
