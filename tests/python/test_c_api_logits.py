"""The C API through its shared library (build/lib/libnanomind.so, loaded with ctypes as a
user's program would): nm_session_eval + nm_session_get_logits against the numpy float64
reference (tests/reference/llama_ref.py) on a tiny model with fresh random weights, and the
function's errors. Tolerance: F32 weights and an f32 KV cache, as in test_text_model.py
(2e-5 of the largest reference logit)."""
import numpy as np
import pytest

import llama_ref
import nanomind_ctypes as nmc
from test_text_model import check_close, make_model


def test_logits_after_prefill_and_each_decode_step_match_the_reference(lib, rng, tmp_path):
    path = make_model(tmp_path, rng, arch="qwen2", type="f32")
    ref = llama_ref.load(path)
    tokens = rng.integers(0, ref.vocab, 12).tolist()
    want = ref.forward(tokens)  # every position's logits
    with lib.load(path, n_threads=2) as model, model.session(n_ctx=64, kv_type=nmc.KV_F32) as s:
        assert model.n_vocab == ref.vocab
        s.eval(tokens[:8])  # batched prefill, then one token at a time
        got = [s.logits()]
        for t in tokens[8:]:
            s.eval([t])
            got.append(s.logits())
        assert s.n_past == len(tokens)
    check_close(np.array(got), want[7:], 2e-5, "C API logits after prefill and each decode step")


def test_logits_errors(lib, rng, tmp_path):
    path = make_model(tmp_path, rng, arch="llama", type="q8_0")
    with lib.load(path, n_threads=1) as model, model.session(n_ctx=32) as s:
        with pytest.raises(nmc.NanoMindError, match="nothing evaluated") as e:
            s.logits()
        assert e.value.status == nmc.INVALID_ARGUMENT
        s.eval([1, 2, 3])
        with pytest.raises(nmc.NanoMindError, match="out holds 10") as e:
            s.logits(10)
        assert e.value.status == nmc.OUT_OF_RANGE
        first = s.logits()
        assert np.isfinite(first).all() and np.abs(first).max() > 0
        s.reset()  # the position those logits belonged to is gone
        with pytest.raises(nmc.NanoMindError, match="nothing evaluated"):
            s.logits()
        s.eval([1, 2, 3])  # the same tokens from scratch give the same logits
        np.testing.assert_array_equal(s.logits(), first)
