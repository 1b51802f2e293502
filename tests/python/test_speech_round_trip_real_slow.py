"""Speech out, then speech in (issue 18's round trip): the real Piper voice (en_US-joe-medium,
converted by tools/piper_to_gguf.py) speaks ten known sentences with `nanomind speak`, the real
Whisper base writes them down with `nanomind transcribe`, and the word error rate must stay
under 10%. WER as test_whisper_real_slow.py counts it (lower case, no punctuation, small
numbers spelled out). Real-weight tier (NM_REAL=1 or NM_REAL_REQUIRED=1); the conversion needs
a Python with onnx named by NM_TTS_PYTHON (tools/requirements-tts.txt), as the Piper test does,
and skips without it."""
import os
import subprocess

import pytest

from test_whisper_real_slow import MODELS_DIR, NANOMIND, SENTENCES, model, wer

TOOLS = os.path.join(os.environ.get("NM_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", "..")), "tools")


@pytest.fixture(scope="module")
def joe(tmp_path_factory):
    onnx = model("en_US-joe-medium.onnx")
    py = os.environ.get("NM_TTS_PYTHON")
    if not py or subprocess.run([py, "-c", "import onnx"], capture_output=True).returncode != 0:
        pytest.skip("NM_TTS_PYTHON (a Python with tools/requirements-tts.txt) is not set or lacks onnx")
    gguf = str(tmp_path_factory.mktemp("joe") / "joe.gguf")
    subprocess.run([py, os.path.join(TOOLS, "piper_to_gguf.py"), onnx, "-o", gguf], check=True, capture_output=True)
    return gguf


def test_piper_voice_to_whisper_base(joe, tmp_path):
    base = model("whisper-base-ct2")
    files = []
    for i, s in enumerate(SENTENCES):
        out = str(tmp_path / f"s{i}.wav")
        r = subprocess.run([NANOMIND, "speak", "-m", joe, s, "-o", out, "-t", "2"], capture_output=True, text=True,
                           timeout=600)
        assert r.returncode == 0, r.stderr
        files.append(out)
    # One process for all files (the model loads once): one line of text per file.
    r = subprocess.run([NANOMIND, "transcribe", "-m", base, *files, "-np", "-nt", "-t", "2"], capture_output=True,
                       text=True, timeout=900)
    assert r.returncode == 0, r.stderr
    heard = r.stdout.splitlines()
    assert len(heard) == len(SENTENCES), r.stdout
    rate = wer(SENTENCES, heard)
    print(f"joe -> Whisper base: WER {rate:.3f}")
    for s, h in zip(SENTENCES, heard):
        print(f"  {s!r} -> {h!r}")
    assert rate < 0.10
