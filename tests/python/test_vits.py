"""The tts brick (bricks/tts/, runtime/speech_synth.h) against the numpy float64 VITS
reference (tests/reference/vits_ref.py) on small random voices (tools/make_tiny_vits.py)
with every module of a Piper voice: the encoder graph (prior stats, log-durations through
the stochastic duration predictor's spline flows), the decoder graph (flow in reverse +
HiFi-GAN) on the same latent frames, and whole utterances with the noise scales at 0.
Fresh random ids and weights each run (NM_SEED replays one).

Tolerance: f32 against float64 through ~40 layers. Each layer adds rounding of about
sqrt(K) * EPS relative to its output's scale (K = the longest dot product, here <= 200)
and the layers' gains carry it on; we allow 2000 * EPS (2.4e-4) of the output's largest
magnitude, measured errors are ~10x below (printed).
"""
import ctypes as C

import numpy as np
import pytest

import vits_ref
from make_tiny_vits import write_tiny_vits
from vits_gguf import read_vits_gguf

EPS = float(np.finfo(np.float32).eps)
TOL = 2000 * EPS
I64 = C.c_int64


@pytest.fixture
def voice(shim, rng, tmp_path):
    shim.nm_shim_tts_open.restype = C.c_void_p
    shim.nm_shim_tts_open.argtypes = [C.c_char_p, C.c_float, C.c_float, C.c_float, C.c_int]
    shim.nm_shim_tts_free.argtypes = [C.c_void_p]
    shim.nm_shim_tts_encoder.argtypes = [C.c_void_p, C.c_void_p, I64, C.c_void_p, C.c_void_p]
    shim.nm_shim_tts_decoder.argtypes = [C.c_void_p, C.c_void_p, I64, C.c_void_p]
    shim.nm_shim_tts_synthesize.argtypes = [C.c_void_p, C.c_void_p, I64, C.c_void_p, I64, C.c_void_p]
    shim.nm_shim_tts_synthesize.restype = I64
    shim.nm_shim_tts_hop.argtypes = [C.c_void_p]
    shim.nm_shim_tts_last_error.restype = C.c_char_p
    path = str(tmp_path / "tiny.gguf")
    write_tiny_vits(path, seed=int(rng.integers(1 << 31)))
    tensors, hp, cfg = read_vits_gguf(path)
    h = shim.nm_shim_tts_open(path.encode(), 0.0, 1.0, 0.0, int(rng.integers(1, 4)))
    assert h, shim.nm_shim_tts_last_error().decode()
    yield h, vits_ref.Vits(tensors, hp), hp
    shim.nm_shim_tts_free(h)


def close(got, want, what):
    scale = np.abs(want).max()
    err = np.abs(got.astype(np.float64) - want).max()
    print(f"{what}: max |err| {err:.3g}, scale {scale:.3g}, ratio {err / scale:.3g}")
    assert np.all(np.isfinite(got)), what
    assert err <= TOL * scale, f"{what}: max |err| {err:.3g} > {TOL:.3g} x {scale:.3g}"


def random_ids(rng, hp, n):
    return np.ascontiguousarray(rng.integers(0, hp["vocab_size"], n), dtype=np.int32)


@pytest.mark.parametrize("n", [1, 3, 17, 60])
def test_encoder(shim, rng, voice, n):
    h, ref, hp = voice
    ids = random_ids(rng, hp, n)
    stats = np.zeros((n, 2 * hp["inter_channels"]), np.float32)
    logw = np.zeros(n, np.float32)
    assert shim.nm_shim_tts_encoder(h, ids.ctypes.data, n, stats.ctypes.data, logw.ctypes.data) == 0, \
        shim.nm_shim_tts_last_error().decode()
    x, m, logs = ref.text_encoder(ids)
    want_logw = ref.duration_predictor(x)
    close(stats, np.concatenate([m, logs]).T, "stats")
    close(logw, want_logw, "logw")


@pytest.mark.parametrize("frames", [1, 5, 40])
def test_decoder(shim, rng, voice, frames):
    h, ref, hp = voice
    z = np.ascontiguousarray(rng.standard_normal((frames, hp["inter_channels"])), dtype=np.float32)
    hop = shim.nm_shim_tts_hop(h)
    audio = np.full(frames * hop, np.nan, np.float32)
    assert shim.nm_shim_tts_decoder(h, z.ctypes.data, frames, audio.ctypes.data) == 0, \
        shim.nm_shim_tts_last_error().decode()
    want = ref.decoder(ref.flow_reverse(z.T.astype(np.float64)))
    close(audio, want, "audio")


def test_utterance(shim, rng, voice):
    """Ids -> waveform with noise 0; durations are compared where no phoneme's exp(logw) lies
    within the tolerance of an integer (ceil would flip on rounding)."""
    h, ref, hp = voice
    for _ in range(5):
        n = int(rng.integers(2, 30))
        ids = random_ids(rng, hp, n)
        want, dur, st = ref.synthesize(ids)
        w = np.exp(st["logw"])
        if np.any(np.abs(w - np.round(w)) < 1e-4 * np.maximum(w, 1)):
            continue
        cap = len(want) + 10
        audio = np.zeros(cap, np.float32)
        got_dur = np.zeros(n, np.int32)
        ns = shim.nm_shim_tts_synthesize(h, ids.ctypes.data, n, audio.ctypes.data, cap, got_dur.ctypes.data)
        assert ns >= 0, shim.nm_shim_tts_last_error().decode()
        np.testing.assert_array_equal(got_dur, dur)
        assert ns == len(want)
        close(audio[:ns], want, "utterance")
        return
    pytest.skip("every draw had a duration on an integer boundary")


def test_bad_ids(shim, voice):
    h, _, hp = voice
    ids = np.array([0, hp["vocab_size"]], np.int32)
    stats = np.zeros((2, 2 * hp["inter_channels"]), np.float32)
    logw = np.zeros(2, np.float32)
    assert shim.nm_shim_tts_encoder(h, ids.ctypes.data, 2, stats.ctypes.data, logw.ctypes.data) == 1
    assert b"outside the voice's vocabulary" in shim.nm_shim_tts_last_error()
    assert shim.nm_shim_tts_encoder(h, ids.ctypes.data, 0, stats.ctypes.data, logw.ctypes.data) == 1
