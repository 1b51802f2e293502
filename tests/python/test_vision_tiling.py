"""Multi-tile images through the whole vision brick (ImageEmbedder) against the
independent reference (tests/reference/vision_ref.py): LLaVA-NeXT anyres with
"spatial_unpad" (overview + grid, unpadded, image_newline per row) and "flat" merges,
SmolVLM / Idefics3 image splitting, and the static-shape mode.

Two checks per case, so that resampling differences cannot hide layout errors:
- the encoder's input tiles against the reference's Pillow preprocessing: our resampler
  reproduces Pillow to within one level per resize (test_image_preprocess.py), so at most
  1 level for one resize (anyres, static) and 2 for Idefics3's chained resizes;
- the final embeddings against the reference encoder + merge run on the engine's own
  tiles (so both see identical pixels): F32 weights, 1e-4·|Y| as in test_vision.py.
A wrong tile order, unpad box, newline placement or global-image position moves whole
rows of embeddings (errors ~|Y|) or changes the token count.
"""
import ctypes

import numpy as np
import pytest
from PIL import Image

import vision_ref
from conftest import ptr
from test_vision import check_close, make

PINPOINTS = [32, 64, 64, 32, 64, 64, 96, 32, 32, 96]  # LLaVA-1.6's shapes at tile 32


def shim_tiles(shim, path, rgb, static=(0, 0)):
    h, w, _ = rgb.shape
    out = np.zeros(1 << 22, np.uint8)
    n, tw, th = ctypes.c_int(0), ctypes.c_int(0), ctypes.c_int(0)
    msg = ctypes.create_string_buffer(1024)
    rc = shim.nm_shim_vision_tiles(path.encode(), ptr(rgb), w, h, static[0], static[1], ptr(out),
                                   ctypes.c_int64(out.size), ctypes.byref(n), ctypes.byref(tw), ctypes.byref(th), msg, 1024)
    assert rc == 0, msg.value.decode()
    return out[: n.value * th.value * tw.value * 3].reshape(n.value, th.value, tw.value, 3)


def shim_embed(shim, path, rgb, static=(0, 0)):
    h, w, _ = rgb.shape
    out = np.zeros(1 << 22, np.float32)
    plan = np.zeros(7, np.int32)
    msg = ctypes.create_string_buffer(1024)
    rc = shim.nm_shim_vision_embed_image(path.encode(), ptr(rgb), w, h, static[0], static[1], 2, ptr(out),
                                         ctypes.c_int64(out.size), ptr(plan), msg, 1024)
    assert rc == 0, msg.value.decode()
    return plan, out


def random_image(rng, w, h):
    # Smooth content plus noise: resampling differences stay at rounding level.
    y, x = np.mgrid[0:h, 0:w]
    base = 128 + 60 * np.sin(x[..., None] / 5.0 + np.arange(3)) * np.cos(y[..., None] / 7.0)
    return np.ascontiguousarray(np.clip(base + rng.normal(0, 20, (h, w, 3)), 0, 255).astype(np.uint8))


def check_tiles(ours, ref_imgs, max_levels):
    ref = np.stack([np.asarray(im.convert("RGB")) for im in ref_imgs])
    assert ours.shape == ref.shape, f"tiles {ours.shape} vs reference {ref.shape}"
    diff = np.abs(ours.astype(int) - ref.astype(int))
    assert diff.max() <= max_levels, f"tile pixels differ by up to {diff.max()} levels"


@pytest.mark.parametrize("merge", ["spatial_unpad", "flat"])
def test_anyres_matches_reference(shim, rng, tmp_path, merge):
    path = make(tmp_path, rng, "clip-mlp", "f32", pinpoints=PINPOINTS, merge=merge, image_newline=True)
    m = vision_ref.Mmproj(path)
    # wide (3 x 1 grid, rows unpadded), tall (1 x 3, columns unpadded), square (2 x 2),
    # odd sizes whose unpad padding is not symmetric in the exact size
    for w, h in [(50, 20), (20, 70), (40, 40), (61, 37), (45, 60)]:
        rgb = random_image(rng, w, h)
        tiles = shim_tiles(shim, path, rgb)
        ref_imgs, grid = vision_ref.anyres_images(Image.fromarray(rgb), m.image_size, m.pinpoints)
        check_tiles(tiles, ref_imgs, 1)
        plan, out = shim_embed(shim, path, rgb)
        assert plan[0] == 1 and (plan[4], plan[5]) == grid, (w, h, plan)
        feats = [vision_ref.encode(m, vision_ref.normalise(m, Image.fromarray(t))) for t in tiles]
        ref = vision_ref.pack_anyres(m, feats, grid, w, h)
        assert plan[1] == len(ref), f"{w}x{h}: {plan[1]} tokens, reference {len(ref)}"
        check_close(out[: ref.size].reshape(ref.shape), ref, 1e-4, f"anyres {merge} {w}x{h}")


def test_idefics3_split_matches_reference(shim, rng, tmp_path):
    path = make(tmp_path, rng, "siglip-idefics3", "f32", preproc_image_size=96)
    m = vision_ref.Mmproj(path)
    for w, h in [(64, 48), (20, 70), (30, 30), (100, 10), (16, 16)]:
        rgb = random_image(rng, w, h)
        tiles = shim_tiles(shim, path, rgb)
        rows, cols, ref_imgs = vision_ref.idefics3_split(Image.fromarray(rgb), m.image_size, m.preproc_image_size)
        check_tiles(tiles, ref_imgs, 2)
        plan, out = shim_embed(shim, path, rgb)
        assert plan[0] == 2 and (plan[5], plan[4]) == (rows, cols), (w, h, plan)
        feats = [vision_ref.encode(m, vision_ref.normalise(m, Image.fromarray(t))) for t in tiles]
        ref = np.concatenate(feats, 0)
        assert plan[1] == len(ref) == (rows * cols + 1) * plan[2]
        check_close(out[: ref.size].reshape(ref.shape), ref, 1e-4, f"idefics3 split {w}x{h}")


def test_static_shape_fits_pads_and_skips_tiling(shim, rng, tmp_path):
    path = make(tmp_path, rng, "clip-mlp", "f32", pinpoints=PINPOINTS, merge="spatial_unpad", image_newline=True)
    m = vision_ref.Mmproj(path)
    rgb = random_image(rng, 50, 20)
    tiles = shim_tiles(shim, path, rgb, static=(48, 24))
    # fit 50x20 into 48x24 keeping the aspect ratio (48 x ceil(19.2) = 20), centered on the
    # normalisation mean colour
    fill = tuple(int(round(c * 255)) for c in m.mean)
    canvas = Image.new("RGB", (48, 24), fill)
    canvas.paste(Image.fromarray(rgb).resize((48, 20), Image.BICUBIC), (0, 2))
    check_tiles(tiles, [canvas], 1)
    plan, out = shim_embed(shim, path, rgb, static=(48, 24))
    # one encoder call of 12 x 6 patches, then LLaVA-NeXT's newline (its single-image case)
    assert plan[0] == 0 and plan[3] == 1 and plan[1] == 12 * 6 + 1
    ref = vision_ref.encode(m, vision_ref.normalise(m, Image.fromarray(tiles[0])))
    ref = np.concatenate([ref, m.newline[None]], 0)
    check_close(out[: ref.size].reshape(ref.shape), ref, 1e-4, "static 48x24")
    msg = ctypes.create_string_buffer(1024)
    plan = np.zeros(7, np.int32)
    out = np.zeros(1 << 16, np.float32)
    # a static size smaller than one patch is a clear error, not a crash
    rc = shim.nm_shim_vision_embed_image(path.encode(), ptr(rgb), 50, 20, 2, 24, 1, ptr(out), ctypes.c_int64(out.size),
                                         ptr(plan), msg, 1024)
    assert rc != 0 and "2x24" in msg.value.decode(), msg.value.decode()
