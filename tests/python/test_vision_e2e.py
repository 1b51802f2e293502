"""End to end: tiny LLM + tiny mmproj + random images give the same greedy tokens as the
float64 reference pipeline (tests/reference/vision_ref.py for the encoder and projector,
tests/reference/llama_ref.py for the decoder, image embeddings spliced in place of the
image markers), and prompts split at the chat template's image marker.

Both models use F32 weights and the engine uses an F32 KV cache, so logits agree to
~1e-6 relative; greedy tokens are compared only while the reference's top-2 logit gap
exceeds 1e-3·|L| (a near-tie may legitimately flip).
"""
import ctypes
import os
import subprocess
import sys

import numpy as np
import pytest

import llama_ref
import vision_ref
from conftest import ptr
from test_vision import make as make_mmproj

TOOLS = os.path.join(os.environ.get("NM_SOURCE_DIR", "."), "tools")


def make_llm(tmp_path, rng):
    seed = int(rng.integers(0, 2**31))
    out = tmp_path / f"llm-{seed}.gguf"
    subprocess.run([sys.executable, os.path.join(TOOLS, "make_tiny_llm.py"), "--preset", "tiny", "--seed", str(seed),
                    "--tied", "no", "--out", str(out)], check=True, capture_output=True)
    return str(out)


def reference_greedy(llm_path, mm_path, prompt, images, n_gen):
    """prompt: token ids with -1 for each image; images: list of chw arrays."""
    ref = llama_ref.load(llm_path)
    mm = vision_ref.Mmproj(mm_path)
    n_vocab = ref.vocab
    table = [ref.w["token_embd.weight"]]
    ids, next_id, it = [], n_vocab, iter(images)
    for t in prompt:
        if t >= 0:
            ids.append(t)
            continue
        emb = vision_ref.encode(mm, next(it))
        table.append(emb)
        ids += list(range(next_id, next_id + len(emb)))
        next_id += len(emb)
    # Image embeddings become extra rows of the (untied) input table.
    ref.w = dict(ref.w)
    ref.w["token_embd.weight"] = np.concatenate(table, 0)
    ref.vocab = next_id
    cache = {"n": 0, "k": [None] * ref.n_layer, "v": [None] * ref.n_layer}
    logits = ref.forward(ids, cache)[-1]
    out, gaps = [], []
    for _ in range(n_gen):
        top = np.sort(logits)[-2:]
        gaps.append((top[1] - top[0]) / np.abs(logits).max())
        t = int(np.argmax(logits))
        out.append(t)
        logits = ref.forward([t], cache)[-1]
    return out, gaps


@pytest.mark.parametrize("kind", ["clip-mlp", "siglip-idefics3"])
def test_greedy_tokens_match_reference_pipeline(shim, rng, tmp_path, kind):
    llm = make_llm(tmp_path, rng)
    mm = make_mmproj(tmp_path, rng, kind, "f32", n_embd_llm=64)
    m = vision_ref.Mmproj(mm)
    images = [rng.standard_normal((3, m.image_size, m.image_size)).astype(np.float32) for _ in range(2)]
    text = [int(x) for x in rng.integers(3, 400, 12)]
    prompt = [1] + text[:4] + [-1] + text[4:8] + [-1] + text[8:]
    n_gen = 12
    out = np.zeros(n_gen, np.int32)
    p = np.array(prompt, np.int32)
    chw = np.ascontiguousarray(np.stack(images))
    msg = ctypes.create_string_buffer(1024)
    rc = shim.nm_shim_vision_greedy(llm.encode(), mm.encode(), ptr(p), len(p), ptr(chw), len(images), m.image_size,
                                    m.image_size, n_gen, 2, ptr(out), msg, 1024)
    assert rc == 0, msg.value.decode()
    ref, gaps = reference_greedy(llm, mm, prompt, [im.astype(np.float64) for im in images], n_gen)
    for i in range(n_gen):
        assert out[i] == ref[i], f"step {i}: engine {out[i]} vs reference {ref[i]} (gap {gaps[i]:.2e})"
        if gaps[i] < 1e-3:
            break  # a near-tie: later tokens may legitimately diverge


def test_width_mismatch_is_a_clear_error(shim, rng, tmp_path):
    llm = make_llm(tmp_path, rng)
    mm = make_mmproj(tmp_path, rng, "clip-mlp", "f32", n_embd_llm=96)
    p = np.array([1, 5, -1], np.int32)
    chw = np.zeros((1, 3, 32, 32), np.float32)
    out = np.zeros(1, np.int32)
    msg = ctypes.create_string_buffer(1024)
    rc = shim.nm_shim_vision_greedy(llm.encode(), mm.encode(), ptr(p), 3, ptr(chw), 1, 32, 32, 1, 1, ptr(out), msg, 1024)
    assert rc == 1 and "96" in msg.value.decode() and "64" in msg.value.decode()


def split(shim, llm, text, n_images, add_bos=True, idefics3=False, rows=0, cols=0, tile_tokens=1):
    out = np.zeros(4096, np.int32)
    n = ctypes.c_int(0)
    msg = ctypes.create_string_buffer(1024)
    rc = shim.nm_shim_vision_split(llm.encode(), text.encode(), n_images, int(add_bos), int(idefics3), rows, cols,
                                   tile_tokens, ptr(out), 4096, ctypes.byref(n), msg, 1024)
    return rc, list(out[: n.value]), msg.value.decode()


def test_prompt_split_at_image_markers(shim, rng, tmp_path):
    llm = make_llm(tmp_path, rng)
    rc, whole, _ = split(shim, llm, "hello world", 0)
    assert rc == 0 and -1 not in whole
    rc, toks, _ = split(shim, llm, "<__image__>hello world", 1)
    assert rc == 0 and toks.count(-1) == 1
    bos_run = toks[: toks.index(-1)]
    assert len(bos_run) <= 1  # BOS (if the vocab adds one) before the image, nothing else
    rc, toks, _ = split(shim, llm, "a b<__image__>c d<__image__>", 2)
    # LLaVA layout: each image is followed by "\n" (a token or two, by vocabulary), even at
    # the end of the text.
    assert rc == 0 and toks.count(-1) == 2
    last = len(toks) - 1 - toks[::-1].index(-1)
    assert 1 <= len(toks) - 1 - last <= 2
    rc, _, msg = split(shim, llm, "one <__image__> marker", 2)
    assert rc == 1 and "1 image marker" in msg and "2 image" in msg


def test_idefics3_image_wrap(shim, rng, tmp_path):
    llm = make_llm(tmp_path, rng)
    rc, toks, _ = split(shim, llm, "look<__image__>now", 1, idefics3=True)
    assert rc == 0 and toks.count(-1) == 1
    i = toks.index(-1)
    _, before, _ = split(shim, llm, "look<fake_token_around_image><global-img>", 0)
    _, after, _ = split(shim, llm, "<fake_token_around_image>now", 0, add_bos=False)
    assert toks[:i] == before and toks[i + 1:] == after
    _, plain, _ = split(shim, llm, "look<__image__>now", 1)
    assert len(plain) < len(toks)


def test_idefics3_split_markers_match_the_processor_prompt(shim, rng, tmp_path):
    # Hugging Face's Idefics3 prompt for a 2 x 3 split (vision_ref.idefics3_prompt), cut at
    # the image-token runs: the engine's text runs must tokenize to the same pieces, with
    # each tile's embeddings (then the global image's) where the runs of image tokens are.
    llm = make_llm(tmp_path, rng)
    tile = 4
    hf = "look" + vision_ref.idefics3_prompt(2, 3, tile, image_token="\x00") + "now"
    runs = [r for r in hf.split("\x00" * tile)]
    expect = []
    for i, run in enumerate(runs):
        _, toks, _ = split(shim, llm, run, 0, add_bos=(i == 0))
        expect += toks
        if i + 1 < len(runs):
            expect.append(-(i * tile + 1))
    rc, ours, msg = split(shim, llm, "look<__image__>now", 1, idefics3=True, rows=2, cols=3, tile_tokens=tile)
    assert rc == 0, msg
    assert ours == expect
