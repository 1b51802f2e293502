"""Whisper encoder and decoder (src/bricks/whisper/) on tiny random-weight models in every file
format — whisper.cpp ggml (F32, F16, Q8_0, Q5_0, Q4_0), CTranslate2 (float32, float16,
int8) and GGUF (F16, Q8_0, Q4_0) — against numpy float64 written from openai/whisper model.py
(tests/reference/whisper_ref.py), reading the same files through tools/whisper_formats.py
(quantised blocks dequantised by gguf-py, int8 rows divided by their scales).

Tolerances, as a fraction of the largest reference value (|states| ~ 4, |logits| ~ 40):
- float weights (F32, F16, float16): f32 arithmetic (eps 1.2e-7) over sums of <= 256
  terms and 2+2 blocks: 1e-4 (measured <= 1e-6);
- 8-bit and lower (Q8_0, Q5_0, Q4_0, int8 as Q8_0): the engine quantises activations to
  8 bits per block of 32 (up to 1/254 of the block's absmax each) as llama.cpp does, over
  ~20 matmuls: 4e-2 (measured ~1e-2). A transposed, mis-split or mis-scaled weight gives
  errors ~1.
Greedy tokens through the KV cache equal the reference's for float weights.
Quantised matrices run from packed CPU copies, as transcribe runs them (checked to happen).
"""
import numpy as np
import pytest

import whisper_ref
import whisper_helpers as wh

CASES = [("ct2", t) for t in wh.CT2_TYPES] + [("ggml", t) for t in wh.GGML_TYPES] + \
    [("gguf", t) for t in ("f16", "q8_0", "q4_0")]
FLOAT = {"float32", "float16", "f32", "f16"}


def tolerance(wtype):
    return 1e-4 if wtype in FLOAT else 4e-2


def prompt_for(m):
    return [m.sot, m.lang_begin, m.transcribe, m.no_timestamps]


@pytest.fixture
def mel(rng):
    audio = rng.normal(0, 10 ** rng.uniform(-3, -0.5), int(16000 * rng.uniform(1, 29)))
    return whisper_ref.log_mel(audio, wh.wf.slaney_mel_filters(80))[:, :3000]


@pytest.mark.parametrize("fmt,wtype", CASES)
def test_encoder_and_logits_match_reference(shim, tmp_path, rng, mel, fmt, wtype):
    path = wh.make_tiny(tmp_path, int(rng.integers(1 << 30)), fmt, wtype)
    ref = whisper_ref.WhisperRef(wh.read_weights(path))
    states_ref = ref.encode(mel)
    tol = tolerance(wtype)
    with wh.Whisper(shim, path) as m:
        states = m.encode(mel)
        err = np.abs(states - states_ref).max() / np.abs(states_ref).max()
        assert err < tol, f"encoder states: {err:.2e} of max"
        if wtype not in FLOAT:  # the packed kernels ran (where this ISA has them)
            assert m.packed_bytes() != 0
        tokens = prompt_for(m) + [int(t) for t in rng.integers(0, m.eot, 6)]
        for kv_f32 in (True, False):
            logits = m.logits(states, tokens, kv_f32)
            want = ref.logits(tokens, states_ref)
            # An f16 KV cache rounds K and V to 11 bits: 2^-11 relative on top.
            bound = tol if kv_f32 else max(tol, 4e-3)
            err = np.abs(logits - want).max() / np.abs(want).max()
            assert err < bound, f"logits (kv {'f32' if kv_f32 else 'f16'}): {err:.2e} of max"


@pytest.mark.parametrize("fmt,wtype", [("ct2", "float32"), ("ggml", "q8_0")])
def test_shorter_encoder_context_matches_reference(shim, tmp_path, rng, mel, fmt, wtype):
    """whisper.cpp's audio_ctx (transcribe --audio-ctx): the encoder on the window's first
    2n mel frames with the first n positional embeddings, the decoder's cross-attention over
    those n states; the reference computes the same equations on the shorter input. After
    it the full window works again (graphs per length, buffers shared)."""
    path = wh.make_tiny(tmp_path, int(rng.integers(1 << 30)), fmt, wtype)
    ref = whisper_ref.WhisperRef(wh.read_weights(path))
    tol = tolerance(wtype)
    with wh.Whisper(shim, path) as m:
        tokens = prompt_for(m) + [int(t) for t in rng.integers(0, m.eot, 4)]
        for n_ctx in (int(rng.integers(1, 64)), int(rng.integers(64, 1500)), 0):
            m.set_audio_ctx(n_ctx)
            frames = 2 * n_ctx if n_ctx else 3000
            states = m.encode(mel[:, :frames])
            states_ref = ref.encode(mel[:, :frames])
            assert states.shape == states_ref.shape
            err = np.abs(states - states_ref).max() / np.abs(states_ref).max()
            assert err < tol, f"encoder states, {n_ctx} positions: {err:.2e} of max"
            want = ref.logits(tokens, states_ref)
            err = np.abs(m.logits(states, tokens) - want).max() / np.abs(want).max()
            assert err < tol, f"logits over {n_ctx} positions: {err:.2e} of max"


@pytest.mark.parametrize("fmt,wtype", [("ct2", "float32"), ("ggml", "f16")])
def test_greedy_through_the_cache_equals_reference(shim, tmp_path, rng, mel, fmt, wtype):
    path = wh.make_tiny(tmp_path, int(rng.integers(1 << 30)), fmt, wtype)
    ref = whisper_ref.WhisperRef(wh.read_weights(path))
    with wh.Whisper(shim, path) as m:
        states = m.encode(mel)
        prompt = prompt_for(m) + [int(t) for t in rng.integers(0, m.eot, 3)]
        got = m.greedy(states, prompt, 12)
        want = ref.greedy(prompt, ref.encode(mel), 12)
        assert got == want


def test_sequences_side_by_side_match_reference(shim, tmp_path, rng, mel):
    """Several sequences decoded in one graph (beam search), with their caches reordered:
    each sequence's logits equal the reference's for its own tokens."""
    path = wh.make_tiny(tmp_path, int(rng.integers(1 << 30)), "ct2", "float32")
    ref = whisper_ref.WhisperRef(wh.read_weights(path))
    with wh.Whisper(shim, path) as m:
        states = m.encode(mel)
        states_ref = ref.encode(mel)
        prompt = prompt_for(m)
        n_beams, n_steps = 5, 3
        tokens = rng.integers(0, m.eot, (n_beams, n_steps))
        got = m.beams(states, prompt, tokens)
        for b in range(n_beams):
            want = ref.logits(prompt + [int(t) for t in tokens[b]], states_ref)[-1]
            assert np.abs(got[b] - want).max() / np.abs(want).max() < 1e-4, f"sequence {b}"


def test_both_formats_give_the_same_model(shim, tmp_path, rng, mel):
    """The same float32 weights written as CTranslate2, ggml and GGUF load into identical models."""
    seed = int(rng.integers(1 << 30))
    a = wh.make_tiny(tmp_path, seed, "ct2", "float32")
    for fmt, wtype in [("ggml", "f32"), ("gguf", "f32")]:
        b = wh.make_tiny(tmp_path, seed, fmt, wtype)
        with wh.Whisper(shim, a) as ma, wh.Whisper(shim, b) as mb:
            assert ma.hp == mb.hp
            assert (ma.eot, ma.sot, ma.timestamp_begin) == (mb.eot, mb.sot, mb.timestamp_begin)
            assert np.array_equal(ma.encode(mel), mb.encode(mel))
            assert np.array_equal(ma.mel_filters(), mb.mel_filters())
            text = " hello world, the end"
            assert ma.tokenize(text) == mb.tokenize(text)


def test_tiny_vocabulary_layout(shim, tmp_path, rng):
    path = wh.make_tiny(tmp_path, int(rng.integers(1 << 30)), "ggml", "f32")
    w = wh.read_weights(path)
    with wh.Whisper(shim, path) as m:
        assert m.eot == w.eot and m.sot == w.eot + 1 and m.lang_begin == w.eot + 2
        assert m.translate == m.lang_begin + 99 and m.no_timestamps == m.translate + 5
        assert m.timestamp_begin + 1501 == m.hp["n_vocab"]
        text = " hello world, the end"
        ids = m.tokenize(text)
        assert m.detokenize(ids) == text
        assert len(ids) < len(text.encode())  # merges were used


def test_numpy_reference_matches_transformers(tmp_path, rng, mel):
    """Cross-check of the reference itself against Hugging Face transformers' Whisper on the
    same weights (only where transformers is installed: tools/requirements-dev.txt)."""
    hf = pytest.importorskip("hf_whisper")
    w = wh._tiny_weights(int(rng.integers(1 << 30)))
    ref = whisper_ref.WhisperRef(w)
    tokens = [w.eot + 1, w.eot + 2, w.eot + 2 + 99 + 1] + [int(t) for t in rng.integers(0, w.eot, 5)]
    enc, logits = hf.encode_and_logits(hf.hf_model(w), mel, tokens)
    states = ref.encode(mel)
    # transformers runs in float32 here: the float-weight bound of the engine tests applies.
    assert np.abs(enc - states).max() < 1e-4 * np.abs(states).max()
    want = ref.logits(tokens, states)
    assert np.abs(logits - want).max() < 1e-4 * np.abs(want).max()
