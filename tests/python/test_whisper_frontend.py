"""Whisper's log-mel front end (src/bricks/whisper/log_mel.cpp) against numpy float64 written
from openai/whisper audio.py (tests/reference/whisper_ref.py), on espeak-ng speech (decoded
and resampled to 16 kHz by NanoMind's audio input) and on noise, for 80 and 128 mel bins.

Tolerance: the engine's FFT is float32. A bin of power P in a frame of total power P_tot
carries an absolute error ~2·eps32·sqrt(P·P_tot); bins within the 8-decade clamp
(P >= 1e-8·P_max) thus move by at most ~2·eps32·1e4/ln(10) ~ 1e-3 in log10 units, 3e-4
after the /4 scaling. Bound 1e-3 (measured <= 3e-5; a wrong window, hop, padding or
filter orientation moves values by >= 0.1).
"""
import numpy as np
import pytest

import whisper_ref
import whisper_helpers as wh

TOL = 1e-3


@pytest.mark.parametrize("n_mels", [80, 128])
def test_mel_filters_are_librosas(shim, n_mels):
    ref = wh.wf.slaney_mel_filters(n_mels).astype(np.float64)
    got = np.zeros((n_mels, 201), np.float32)
    shim.nm_shim_mel_filters(n_mels, wh.ptr(got))
    # Both evaluate the formula in double and round once to float: within one float ulp.
    assert np.all(np.abs(got - ref) <= np.spacing(np.abs(ref).astype(np.float32)) + 1e-12)
    # Slaney normalisation: each triangle's area (in Hz) is 1 (up to the grid's sampling).
    assert np.all(got.sum(1) > 0)


@pytest.mark.parametrize("n_mels", [80, 128])
def test_log_mel_on_speech(shim, tmp_path, rng, n_mels):
    wav = wh.speak("The quick brown fox jumps over the lazy dog, then sleeps.", tmp_path / "s.wav",
                   speed=int(rng.integers(120, 200)))
    if wav is None:
        pytest.skip("espeak-ng is not installed")
    audio = wh.load_audio(shim, wav)
    filters = wh.wf.slaney_mel_filters(n_mels)
    got = wh.log_mel(shim, audio, filters)
    ref = whisper_ref.log_mel(audio, filters)
    assert got.shape == ref.shape == (n_mels, len(audio) // 160 + 3000)
    err = np.abs(got - ref)
    assert err.max() < TOL, f"max error {err.max():.2e}"


@pytest.mark.parametrize("n", [1, 159, 160, 401, 16000 * 3 + 77, 480000])
def test_log_mel_on_noise(shim, rng, n):
    audio = (rng.normal(0, 10 ** rng.uniform(-4, 0), n)).astype(np.float32)
    filters = wh.wf.slaney_mel_filters(80)
    got = wh.log_mel(shim, audio, filters)
    ref = whisper_ref.log_mel(audio, filters)
    assert got.shape == ref.shape
    assert np.abs(got - ref).max() < TOL


def test_numpy_reference_matches_transformers_feature_extractor(rng):
    """Cross-check of the reference itself against Hugging Face's WhisperFeatureExtractor
    (only where transformers is installed: see tools/requirements-dev.txt)."""
    transformers = pytest.importorskip("transformers")
    audio = rng.normal(0, 0.1, 16000 * 7).astype(np.float32)
    fe = transformers.WhisperFeatureExtractor(feature_size=80)
    hf = fe(audio, sampling_rate=16000, return_tensors="np").input_features[0]
    ref = whisper_ref.log_mel(audio, wh.wf.slaney_mel_filters(80))[:, :3000]
    # HF normalises over its padded 30 s chunk, the reference over audio + 30 s: both
    # windows hold the same frames here, so they agree to float32 rounding.
    assert np.abs(hf - ref).max() < 1e-4
