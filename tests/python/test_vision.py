"""The vision brick (mmproj encoder + projector) against an independent numpy float64
reference (tests/reference/vision_ref.py) on tiny mmproj files written by
tools/make_tiny_mmproj.py with fresh random weights and random normalised images.

Tolerances, as a fraction of the largest reference output |Y| (O(1) here):
- F32 weights: every op in f32 (eps 1.2e-7), sums of <= 256 terms, 3 blocks: 1e-4·|Y|
  (measured ~1e-6).
- F16 weights: the reference dequantises the same stored f16 values and the engine keeps
  f32 activations, so the F32 bound holds: 1e-4·|Y| (measured ~2e-7).
- Q8_0 weights: the engine quantises activations to 8 bits per block of 32 (relative
  rounding up to 1/254 of the block absmax), as llama.cpp does, over ~10 matmuls:
  4e-2·|Y| (measured ~1.1e-2). A wrong layout
  (transposed patch kernel, swapped heads, mis-shuffled tokens) gives errors ~|Y|.
"""
import ctypes
import os
import subprocess
import sys

import numpy as np
import pytest

import vision_ref
from conftest import ptr

TOOLS = os.path.join(os.environ.get("NM_SOURCE_DIR", "."), "tools")
KINDS = ["clip-mlp", "siglip-mlp", "siglip-idefics3"]
TOL = {"f32": 1e-4, "f16": 1e-4, "q8_0": 4e-2}


def make(tmp_path, rng, kind, wtype="f32", **kw):
    seed = int(rng.integers(0, 2**31))
    out = tmp_path / f"mmproj-{kind}-{wtype}-{seed}.gguf"
    args = [sys.executable, os.path.join(TOOLS, "make_tiny_mmproj.py"), "--kind", kind, "--type", wtype,
            "--seed", str(seed), "--out", str(out)]
    for k, v in kw.items():
        flag = "--" + k.replace("_", "-")
        if v is True:
            args.append(flag)
        elif isinstance(v, (list, tuple)):
            args += [flag] + [str(x) for x in v]
        else:
            args += [flag, str(v)]
    subprocess.run(args, check=True, capture_output=True)
    return str(out)


def encode(shim, path, chw, static_shape=True, threads=2):
    chw = np.ascontiguousarray(chw, dtype=np.float32)
    _, h, w = chw.shape
    out = np.zeros(1 << 20, np.float32)
    n_tok, n_out = ctypes.c_int(0), ctypes.c_int(0)
    msg = ctypes.create_string_buffer(1024)
    rc = shim.nm_shim_vision_encode(path.encode(), ptr(chw), w, h, int(static_shape), threads, -1, ptr(out),
                                    ctypes.c_int64(out.size), ctypes.byref(n_tok), ctypes.byref(n_out), msg, 1024)
    return rc, out[: n_tok.value * n_out.value].reshape(n_tok.value, n_out.value), msg.value.decode()


def check_error(shim, path, n_embd_llm=0):
    msg = ctypes.create_string_buffer(1024)
    rc = shim.nm_shim_vision_check(path.encode(), n_embd_llm, msg, 1024)
    return rc, msg.value.decode()


def check_close(ours, ref, frac, what):
    assert ours.shape == ref.shape, f"{what}: shape {ours.shape} != {ref.shape}"
    assert np.isfinite(ours).all(), f"{what}: non-finite output"
    scale = np.abs(ref).max()
    err = np.abs(ours - ref).max()
    print(f"{what}: max |diff| {err:.3g} = {err / scale:.2e}·|Y|")
    assert err <= frac * scale, f"{what}: max |diff| {err:.3g} > {frac} * {scale:.3g}"


@pytest.mark.parametrize("wtype", ["f32", "f16", "q8_0"])
@pytest.mark.parametrize("kind", KINDS)
def test_features_match_reference(shim, rng, tmp_path, kind, wtype):
    path = make(tmp_path, rng, kind, wtype)
    m = vision_ref.Mmproj(path)
    chw = rng.standard_normal((3, m.image_size, m.image_size))
    rc, ours, msg = encode(shim, path, chw)
    assert rc == 0, msg
    ref = vision_ref.encode(m, chw.astype(np.float32).astype(np.float64))
    n_expect = (m.image_size // m.patch) ** 2 // (m.scale**2 if kind.endswith("idefics3") else 1)
    assert ours.shape[0] == n_expect
    check_close(ours, ref, TOL[wtype], f"{kind} {wtype}")


@pytest.mark.parametrize("kind", ["clip-mlp", "siglip-idefics3"])
def test_other_input_size_interpolates_positions(shim, rng, tmp_path, kind):
    path = make(tmp_path, rng, kind, "f32")
    m = vision_ref.Mmproj(path)
    chw = rng.standard_normal((3, 48, 24))  # 12 x 6 patches vs the trained 8 x 8
    rc, _, msg = encode(shim, path, chw, static_shape=True)
    assert rc != 0 and "static-shape" in msg
    rc, ours, msg = encode(shim, path, chw, static_shape=False)
    assert rc == 0, msg
    check_close(ours, vision_ref.encode(m, chw.astype(np.float32).astype(np.float64)), TOL["f32"], f"{kind} 24x48")


def test_image_size_not_a_multiple_of_the_patch(shim, rng, tmp_path):
    # SigLIP-so400m style: 384 / 14 -> 27 x 27 patches; here 30 / 4 -> 7 x 7, trailing pixels dropped
    path = make(tmp_path, rng, "siglip-mlp", "f32", image_size=30)
    m = vision_ref.Mmproj(path)
    chw = rng.standard_normal((3, 30, 30))
    rc, ours, msg = encode(shim, path, chw)
    assert rc == 0, msg
    assert ours.shape[0] == 49
    check_close(ours, vision_ref.encode(m, chw.astype(np.float32).astype(np.float64)), TOL["f32"], "30x30 patch 4")


def test_feature_layer_and_legacy_ffn_names(shim, rng, tmp_path):
    path = make(tmp_path, rng, "clip-mlp", "f32", feature_layer=1, legacy_ffn_names=True, n_ff=96)
    m = vision_ref.Mmproj(path)
    assert m.n_run == 1 and m.legacy_ffn
    chw = rng.standard_normal((3, m.image_size, m.image_size))
    rc, ours, msg = encode(shim, path, chw)
    assert rc == 0, msg
    check_close(ours, vision_ref.encode(m, chw.astype(np.float32).astype(np.float64)), TOL["f32"], "feature layer 1")


def test_bad_files_give_clear_errors(shim, rng, tmp_path):
    rc, msg = check_error(shim, make(tmp_path, rng, "clip-mlp", no_vision=True))
    assert rc == 1 and "no vision encoder" in msg
    rc, msg = check_error(shim, make(tmp_path, rng, "siglip-mlp", drop_tensor="v.blk.1.attn_k.weight"))
    assert rc == 1 and "v.blk.1.attn_k.weight" in msg
    rc, msg = check_error(shim, make(tmp_path, rng, "siglip-idefics3", drop_tensor="mm.model.fc.weight"))
    assert rc == 1 and "mm.model.fc.weight" in msg
    good = make(tmp_path, rng, "clip-mlp", n_embd_llm=64)
    assert check_error(shim, good, 64)[0] == 0
    rc, msg = check_error(shim, good, 96)
    assert rc == 1 and "64" in msg and "96" in msg
    rc, msg = check_error(shim, str(tmp_path / "missing.gguf"))
    assert rc == 1 and msg
    trunc = tmp_path / "trunc.gguf"
    trunc.write_bytes(open(good, "rb").read()[:1000])
    rc, msg = check_error(shim, str(trunc))
    assert rc == 1 and msg
    # a text-only model is not an mmproj file
    llm = tmp_path / "llm.gguf"
    subprocess.run([sys.executable, os.path.join(TOOLS, "make_tiny_llm.py"), "--preset", "tiny", "--out", str(llm)],
                   check=True, capture_output=True)
    rc, msg = check_error(shim, str(llm))
    assert rc == 1 and "no vision encoder" in msg


def test_bad_input_sizes(shim, rng, tmp_path):
    path = make(tmp_path, rng, "siglip-idefics3")
    for h, w in ((28, 32), (32, 36), (2, 2)):  # patch grid not divisible by the scale factor, or empty
        rc, _, msg = encode(shim, path, np.zeros((3, h, w)), static_shape=False)
        assert rc != 0 and msg, (h, w)
