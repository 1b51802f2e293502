"""`nanomind assist` with the real Whisper base (scripts/fetch-models.sh) on the demo model:
espeak-ng asks two questions into a WAV microphone, a folder is the camera. Whisper must hear
the questions word for word, and each answer must be the one the typed question gets about
the camera's last frame (`run -p QUESTION --image FRAME --temp 0`), spoken into a non-empty
WAV. Real-weight tier (label "real"): runs where NM_REAL=1 or NM_REAL_REQUIRED=1, as
test_whisper_real_slow.py does; about 30 s here."""
import os
import re
import subprocess
import wave

import pytest

import whisper_helpers as wh
from test_whisper_real_slow import NANOMIND, model, words

QUESTIONS = ["What shape is the red one?", "How many shapes are there?"]


def test_spoken_questions_about_the_camera(tmp_path):
    base = model("whisper-base-ct2")
    mic = wh.spoken_questions(QUESTIONS, tmp_path, 1.0)
    if mic is None:
        pytest.skip("espeak-ng is not installed")
    cam = tmp_path / "cam"
    cam.mkdir()
    frame = cam / "frame-001.png"
    frame.write_bytes(open(os.path.join(wh.SRC, "models", "samples", "scene_11.png"), "rb").read())
    say = tmp_path / "say"
    say.mkdir()
    common = ["--temp", "0", "-n", "8", "-t", "2"]
    r = subprocess.run([NANOMIND, "assist", "--asr", base, "--mic", mic, "--camera", str(cam), "--say", str(say),
                        *common], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    print(r.stdout, r.stderr)
    turns = re.findall(r"^you \(([\d.]+)-([\d.]+) s\): (.*)\nnanomind: (.*)$", r.stdout, re.M)
    assert [words(t[2]) for t in turns] == [words(q) for q in QUESTIONS], r.stdout
    for i, (q, t) in enumerate(zip(QUESTIONS, turns), 1):
        typed = subprocess.run([NANOMIND, "run", "-p", q, "--image", str(frame), *common], capture_output=True, text=True,
                               timeout=600)
        assert typed.returncode == 0, typed.stderr
        assert typed.stdout == t[3] + "\n" and t[3].strip()
        with wave.open(str(say / f"answer-{i}.wav")) as w:
            assert w.getnframes() > w.getframerate() // 10
    assert len(re.findall(r"first audio \d+ ms after the utterance ended", r.stderr)) == 2
