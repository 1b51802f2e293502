"""The text brick against an independent numpy float64 LLaMA / Qwen2 / Qwen3 / Gemma 3 (tests/reference/llama_ref.py)
on tiny GGUF models written by tools/make_tiny_llm.py with fresh random weights.

Tolerances, as a fraction of the largest reference logit |L| (about 12 for these models):
- float weights (F32, F16, BF16; the reference dequantises the same stored values) and an
  f32 KV cache: 2e-5·|L|. Every op is f32 (eps 1.2e-7) with sums of at most a few hundred
  terms over 2 layers; measured errors are ~5e-7·|L|.
- f16 KV cache: adds the rounding of K and V to f16 (2^-11 relative): 2e-3·|L|.
- quantised weights: the engine quantises each matmul's activations to 8-bit blocks (Q8_0,
  Q8_1 for Q4_1, Q8_K), as llama.cpp does; the reference does the same rounding
  (llama_ref act_quant, from the published block formats), so for Q8_0/Q4_0/Q5_0 the two
  agree to ~1e-7·|L| unless a value sits on a rounding boundary and flips one 8-bit step
  (measured up to 1.2e-2·|L|); Q4_1 measures 2.4-3.5e-2·|L| (its min term uses the fp16
  block sum s). Bound 1.2e-1·|L|; wrong block layouts or scales give errors of order |L|.
  (Without the emulation a fresh Qwen2/Q4_1 draw, NM_SEED=798705855, reached 0.2·|L|.)
"""
import ctypes
import os
import subprocess
import sys

import numpy as np
import pytest

import llama_ref
from conftest import ptr

TOOLS = os.path.join(os.environ.get("NM_SOURCE_DIR", "."), "tools")
FLOAT_TYPES = ["f32", "f16", "bf16"]
QUANT_TYPES = ["q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "iq4_nl"]
KV_F16, KV_Q8_0, KV_F32 = 0, 1, 2


def make_model(tmp_path, rng, preset="tiny", **kw):
    seed = int(rng.integers(0, 2**31))
    out = tmp_path / f"model-{seed}.gguf"
    args = [sys.executable, os.path.join(TOOLS, "make_tiny_llm.py"), "--preset", preset, "--seed", str(seed), "--out", str(out)]
    for k, v in kw.items():
        if v is True:
            args.append("--" + k.replace("_", "-"))
        else:
            args += ["--" + k.replace("_", "-"), str(v)]
    subprocess.run(args, check=True, capture_output=True)
    return str(out)


def engine_logits(shim, path, tokens, n_prefill, kv=KV_F32, threads=2, isa=-1):
    toks = np.ascontiguousarray(tokens, dtype=np.int32)
    n_vocab = llama_ref.load(path).vocab
    out = np.zeros((len(toks), n_vocab), np.float32)
    rc = shim.nm_shim_text_logits(path.encode(), ptr(toks), len(toks), n_prefill, threads, kv, isa, ptr(out))
    assert rc == 0, f"engine failed with code {rc}"
    return out


def check_close(ours, ref, frac, what):
    scale = np.abs(ref).max()
    err = np.abs(ours - ref).max()
    assert np.isfinite(ours).all(), f"{what}: non-finite logits"
    print(f"{what}: max |diff| {err / scale:.2e} of max |logit|")
    assert err <= frac * scale, f"{what}: max |diff| {err:.3g} > {frac} * {scale:.3g}"


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
@pytest.mark.parametrize("wtype", FLOAT_TYPES + QUANT_TYPES)
def test_logits_match_reference(shim, rng, tmp_path, arch, wtype):
    path = make_model(tmp_path, rng, arch=arch, type=wtype)
    ref = llama_ref.load(path, act_quant=True)
    tokens = rng.integers(0, ref.vocab, 37)
    want = ref.forward(tokens.tolist())
    ours = engine_logits(shim, path, tokens, n_prefill=len(tokens))
    check_close(ours, want, 2e-5 if wtype in FLOAT_TYPES else 1.2e-1, f"{arch}/{wtype}")


# Qwen3 (QK-norm, head_dim 32 != n_embd / n_head) and Gemma 3 (QK-norm, post-norms, GeGLU,
# embedding scale, one KV head, layers 0-4 and 6 sliding over 8 positions with rope base 1e4,
# layer 5 global with 1e6): 37 tokens cross the window several times.
@pytest.mark.parametrize("preset", ["tiny-gemma3", "tiny-qwen3"])
@pytest.mark.parametrize("wtype", ["f32", "f16", "q8_0", "q4_1"])
def test_qwen3_and_gemma3_match_reference(shim, rng, tmp_path, preset, wtype):
    path = make_model(tmp_path, rng, preset=preset, type=wtype)
    ref = llama_ref.load(path, act_quant=True)
    tokens = rng.integers(0, ref.vocab, 37)
    want = ref.forward(tokens.tolist())
    # prefill 20, then one token at a time: the sliding-window mask of decode steps too
    ours = engine_logits(shim, path, tokens, n_prefill=20)
    check_close(ours, want, 2e-5 if wtype in FLOAT_TYPES else 1.2e-1, f"{preset}/{wtype}")



@pytest.mark.parametrize("tokenizer", ["llama", "llama-bpe"])
def test_llama3_rope_scaling_and_tokenizers(shim, rng, tmp_path, tokenizer):
    path = make_model(tmp_path, rng, arch="llama", type="f32", tokenizer=tokenizer, rope_llama3=True)
    ref = llama_ref.load(path)
    tokens = rng.integers(0, ref.vocab, 29)
    check_close(engine_logits(shim, path, tokens, len(tokens)), ref.forward(tokens.tolist()), 2e-5, "llama3 rope")


def test_prefill_then_decode_equals_one_prefill(shim, rng, tmp_path):
    path = make_model(tmp_path, rng, arch="qwen2", type="q8_0")
    tokens = rng.integers(0, llama_ref.load(path).vocab, 80)
    whole = engine_logits(shim, path, tokens, len(tokens))  # crosses the 64-token batch chunks
    split = engine_logits(shim, path, tokens, 30)
    one_by_one = engine_logits(shim, path, tokens, 0)
    # Same arithmetic per row whatever the batch: only matmul tiling may reorder sums.
    np.testing.assert_allclose(split, whole, rtol=0, atol=1e-4 * np.abs(whole).max())
    np.testing.assert_allclose(one_by_one, whole, rtol=0, atol=1e-4 * np.abs(whole).max())


@pytest.mark.parametrize("kv,frac", [(KV_F16, 2e-3), (KV_Q8_0, 1e-1)])
def test_kv_cache_types(shim, rng, tmp_path, kv, frac):
    # q8_0 KV: 8-bit rounding of K and V (up to 1/254 of each 32-block's absmax), the same
    # rounding as the 8-bit activations of quantised weights, hence a like bound (measured
    # up to 2e-2·|L| over the layers; fresh draws have tails).
    path = make_model(tmp_path, rng, arch="llama", type="f32", n_embd=128, n_head=4, n_head_kv=2)
    ref = llama_ref.load(path)
    tokens = rng.integers(0, ref.vocab, 33)
    check_close(engine_logits(shim, path, tokens, 20, kv=kv), ref.forward(tokens.tolist()), frac, f"kv {kv}")


@pytest.mark.parametrize("preset,wtype", [("tiny", "f32"), ("tiny", "f16"), ("tiny-gemma3", "f32")])
def test_greedy_tokens_identical_over_32_steps(shim, rng, tmp_path, preset, wtype):
    path = make_model(tmp_path, rng, preset=preset, type=wtype)
    ref = llama_ref.load(path)
    prompt = rng.integers(0, ref.vocab, 7).astype(np.int32)
    want = ref.generate(prompt.tolist(), 32)
    out = np.zeros(32, np.int32)
    assert shim.nm_shim_text_greedy(path.encode(), ptr(prompt), len(prompt), 32, 2, KV_F32, ptr(out)) == 0
    assert out.tolist() == want


# Q4_1 / Q5_1 are left out: their file layout takes the activation sums as Q8_1's fp16 s and
# the packed kernels in float, which moves logits by up to 4e-2*|L| (15 seeds); the packed
# path is what test_logits_match_reference runs against the float64 reference (~1e-7*|L|).
@pytest.mark.parametrize("wtype", ["q4_0", "q8_0", "q5_0", "iq4_nl", "q2_k", "q3_k", "q4_k", "q5_k", "q6_k"])
def test_packed_weights_agree_with_the_file_layout(shim, rng, tmp_path, wtype):
    # The packed copies change only the order of float sums (same activation quantiser), but
    # a changed sum can move a later 8-bit activation across a rounding midpoint, one step of
    # its block's scale. Measured over NM_SEED=1000..1999: 95% (q4_0) and 94% (q8_0) of the
    # draws agree to 2e-7*|L| (sum order alone); the rest differ by up to 1.2e-2 (q4_0) and
    # 3.7e-2*|L| (q8_0), and NM_SEED=4 gives 1.6e-2 for q4_0. A wrong or misplaced packed weight
    # gives errors of order |L|.
    # K-quants: rows of whole 256-value super-blocks
    dims = dict(n_embd=256, n_ff=512) if wtype.endswith("_k") else {}
    path = make_model(tmp_path, rng, arch="llama", type=wtype, **dims)
    n_vocab = llama_ref.load(path).vocab
    tokens = np.ascontiguousarray(rng.integers(0, n_vocab, 19), dtype=np.int32)
    out = {}
    for pack in (0, 1):
        logits = np.zeros((len(tokens), n_vocab), np.float32)
        packed = ctypes.c_int64(-1)
        assert shim.nm_shim_text_logits_layout(path.encode(), ptr(tokens), len(tokens), pack, 2, ptr(logits),
                                               ctypes.byref(packed)) == 0
        out[pack] = (logits, packed.value)
    assert out[0][1] == 0
    if out[1][1] == 0:
        pytest.skip("no packed kernels on this CPU")
    check_close(out[1][0], out[0][0], 6e-2, f"packed {wtype} ({out[1][1]} bytes packed)")


def test_contexts_of_one_model_share_the_packed_weights(shim, rng, tmp_path):
    path = make_model(tmp_path, rng, arch="llama", type="q4_0")
    tokens = np.ascontiguousarray(rng.integers(0, llama_ref.load(path).vocab, 5), dtype=np.int32)
    shared, one = ctypes.c_int64(-1), ctypes.c_int64(-1)
    assert shim.nm_shim_text_shared_packing(path.encode(), ptr(tokens), len(tokens), ctypes.byref(shared),
                                            ctypes.byref(one)) == 0
    if one.value == 0:
        pytest.skip("no packed kernels on this CPU")
    assert shared.value == one.value, "two contexts packed the model twice"


def test_thread_counts_give_identical_logits(shim, rng, tmp_path):
    path = make_model(tmp_path, rng, arch="llama", type="q4_0")
    tokens = rng.integers(0, llama_ref.load(path).vocab, 21)
    one = engine_logits(shim, path, tokens, 10, threads=1)
    for t in (2, 3):
        np.testing.assert_array_equal(engine_logits(shim, path, tokens, 10, threads=t), one)
