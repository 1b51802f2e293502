"""Voice activity detection: Silero VAD v6 (src/bricks/vad/silero_vad.cpp) against numpy
float64 written from the published model (tests/reference/silero_ref.py) — on random weights
in Silero's layout (always) and on the real file (scripts/fetch-models.sh) — and, where onnx
and onnxruntime are installed, against onnxruntime running the package's ONNX graph with the
safetensors weights put in (the package's .onnx file holds another checkpoint).
Then speech spans on espeak-ng speech between silences, for Silero and the energy detector.

Tolerance: probabilities are sigmoids of f32 sums over <= 33k products (the STFT kernel);
|dp| <= 1e-4 (measured ~1e-6). A wrong gate order, missing context or reflection gives
errors ~0.1-1.
"""
import ctypes
import os

import numpy as np
import pytest

import silero_ref
import whisper_helpers as wh
from conftest import ptr

MODELS_DIR = os.environ.get("NM_MODELS_DIR") or os.path.join(
    os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "nanomind", "models")
REAL = os.path.join(MODELS_DIR, "silero-vad", "silero_vad_16k.safetensors")
# The 16 kHz-only export: its weights are plain initializers (silero_vad.onnx nests them in If branches).
ONNX = os.path.join(MODELS_DIR, "silero-vad", "silero_vad_16k_op15.onnx")


def probs(shim, path, audio):
    a = np.ascontiguousarray(audio, np.float32)
    out = np.zeros(len(a) // 512 + 2, np.float32)
    msg = ctypes.create_string_buffer(1024)
    n = shim.nm_shim_vad_probs(str(path).encode(), ptr(a), ctypes.c_int64(len(a)), ptr(out), msg, 1024)
    if n < 0:
        raise RuntimeError(msg.value.decode())
    return out[:n]


def spans(shim, path, audio):
    a = np.ascontiguousarray(audio, np.float32)
    out = np.zeros(256, np.int64)
    msg = ctypes.create_string_buffer(1024)
    n = shim.nm_shim_vad_spans(str(path).encode(), ptr(a), ctypes.c_int64(len(a)), ptr(out), 128, msg, 1024)
    assert n >= 0, msg.value.decode()
    return [(int(out[2 * i]), int(out[2 * i + 1])) for i in range(n)]


def real_file(path):
    if not os.path.exists(path):
        msg = f"{path} is missing: run scripts/fetch-models.sh"
        if os.environ.get("NM_REAL_REQUIRED") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return path


def test_silero_random_weights_match_reference(shim, tmp_path, rng):
    path = tmp_path / "vad.safetensors"
    silero_ref.write_random(str(path), rng)
    audio = rng.normal(0, 10 ** rng.uniform(-3, 0), int(rng.integers(512 * 3, 512 * 40))).astype(np.float32)
    got = probs(shim, path, audio)
    want = silero_ref.SileroRef(silero_ref.load_safetensors(str(path))).probs(audio)
    assert len(got) == len(want)
    assert np.abs(got - want).max() < 1e-4


def test_silero_real_weights_match_reference_and_onnxruntime(shim, tmp_path, rng):
    path = real_file(REAL)
    wav = wh.speak("Turn the lights off in the kitchen please.", tmp_path / "s.wav")
    speech = wh.load_audio(shim, wav) if wav else rng.normal(0, 0.1, 16000).astype(np.float32)
    audio = np.concatenate([np.zeros(8000, np.float32), speech, rng.normal(0, 1e-3, 8000).astype(np.float32)])
    got = probs(shim, path, audio)
    want = silero_ref.SileroRef(silero_ref.load_safetensors(path)).probs(audio)
    assert np.abs(got - want).max() < 1e-4
    # onnxruntime running Silero's own ONNX graph: the package's .onnx holds other weights
    # than its safetensors (another checkpoint; only the STFT basis is shared), so the
    # safetensors weights are put into the graph first, by name. Dev venv only
    # (tools/requirements-dev.txt: onnx, onnxruntime).
    ort = pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")
    from onnx import numpy_helper
    model = onnx.load(real_file(ONNX))
    names = {"model.stft.forward_basis_buffer": "stft_conv.weight", "model.decoder.rnn.weight_ih": "lstm_cell.weight_ih",
             "model.decoder.rnn.weight_hh": "lstm_cell.weight_hh", "model.decoder.rnn.bias_ih": "lstm_cell.bias_ih",
             "model.decoder.rnn.bias_hh": "lstm_cell.bias_hh", "model.decoder.decoder.2.weight": "final_conv.weight",
             "model.decoder.decoder.2.bias": "final_conv.bias"}
    for i in range(4):
        for part in ("weight", "bias"):
            names[f"model.encoder.{i}.reparam_conv.{part}"] = f"conv{i + 1}.{part}"
    weights = silero_ref.load_safetensors(path)
    replaced = 0
    for init in model.graph.initializer:
        if init.name in names:
            init.CopyFrom(numpy_helper.from_array(weights[names[init.name]].astype(np.float32), init.name))
            replaced += 1
    assert replaced == len(names), replaced
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    state, context, ref = np.zeros((2, 1, 128), np.float32), np.zeros((1, 64), np.float32), []
    a = np.pad(audio, (0, (-len(audio)) % 512))
    for i in range(0, len(a), 512):
        x = np.concatenate([context, a[None, i:i + 512]], axis=1)
        out, state = sess.run(None, {"input": x, "state": state, "sr": np.array(16000, np.int64)})
        context = x[:, -64:]
        ref.append(float(out[0, 0]))
    assert np.abs(got - np.array(ref)).max() < 1e-4


@pytest.mark.parametrize("detector", ["silero", "energy"])
def test_speech_spans_between_silences(shim, tmp_path, rng, detector):
    path = real_file(REAL) if detector == "silero" else ""
    wav = wh.speak("Hello, this is the first sentence.", tmp_path / "a.wav")
    wav2 = wh.speak("And here comes another one, after a pause.", tmp_path / "b.wav")
    if wav is None:
        pytest.skip("espeak-ng is not installed")
    a, b = wh.load_audio(shim, wav), wh.load_audio(shim, wav2)
    gap = 16000 * 2
    noise = lambda n: rng.normal(0, 3e-4, n).astype(np.float32)  # quiet room
    audio = np.concatenate([noise(gap), a, noise(gap), b, noise(gap)])
    got = spans(shim, path, audio)
    truth = [(gap, gap + len(a)), (2 * gap + len(a), 2 * gap + len(a) + len(b))]
    # Every span lies in an utterance (espeak leaves ~100 ms of silence at both ends; spans
    # are padded by 30 ms; a comma's pause may split an utterance), and spans cover >= 80%
    # of each utterance.
    slack = int(0.35 * 16000)
    for g0, g1 in got:
        assert any(t0 - slack <= g0 and g1 <= t1 + slack for t0, t1 in truth), (got, truth)
    for t0, t1 in truth:
        covered = sum(max(0, min(g1, t1) - max(g0, t0)) for g0, g1 in got)
        assert covered >= 0.8 * (t1 - t0), (got, truth)
    assert spans(shim, path, noise(16000 * 3)) == []


def test_bad_vad_files(shim, tmp_path, rng):
    p = tmp_path / "bad.safetensors"
    p.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    with pytest.raises(RuntimeError, match="JSON"):
        probs(shim, p, np.zeros(512, np.float32))
    good = tmp_path / "good.safetensors"
    silero_ref.write_random(str(good), rng)
    data = good.read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[:len(data) // 2])
    with pytest.raises(RuntimeError, match="truncated|missing"):
        probs(shim, tmp_path / "cut.safetensors", np.zeros(512, np.float32))
    with pytest.raises(RuntimeError):
        probs(shim, tmp_path / "missing.safetensors", np.zeros(512, np.float32))
    # The package's ONNX export given instead of its safetensors file: named as such.
    onnx = tmp_path / "silero_vad.onnx"
    onnx.write_bytes(b"\x08\x08\x12\x07pytorch" + bytes(64))  # ir_version 8, producer_name
    with pytest.raises(RuntimeError, match="looks like an ONNX model.*silero_vad_16k.safetensors"):
        probs(shim, onnx, np.zeros(512, np.float32))
