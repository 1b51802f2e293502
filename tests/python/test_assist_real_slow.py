"""`nanomind assist` with the real Whisper base (scripts/fetch-models.sh) on the demo model:
espeak-ng asks two questions into a WAV microphone, a folder is the camera. Whisper must hear
the questions word for word, and each answer must be the one the typed question gets about
the camera's last frame (`run -p QUESTION --image FRAME --temp 0`), spoken into a non-empty
WAV. Real-weight tier (label "real"): runs where NM_REAL=1 or NM_REAL_REQUIRED=1, as
test_whisper_real_slow.py does; about 30 s here."""
import os
import re
import subprocess
import time
import wave

import numpy as np
import pytest

import whisper_helpers as wh
from proc_usage import cpu_seconds, mapped_rss_bytes
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


# Idle listening: NM_IDLE_TEST_S seconds (10 by default; 60 for issue 16's figure). Not 3 as
# for the idle tests that do nothing: /proc counts CPU time in 10 ms ticks, and listening
# really costs ~0.55% of a core, so 3 s gave 2 or 3 ticks, 0.67% or 1.0%: a failure by
# rounding in one of five runs here. 10 s makes it ~5-6 ticks against a bar of 10.
IDLE_S = float(os.environ.get("NM_IDLE_TEST_S", "10"))


def test_listening_between_questions_is_nearly_idle_and_voice_wakes_it(tmp_path):
    """Issue 16, item 4: in on-demand mode, `assist` waiting for a question holds only Silero
    VAD (Whisper's file is not resident) and costs under 1% of a core, then the question
    wakes it. The microphone is a WAV paced at its real rate (--mic-realtime): a quiet room
    (noise at about -70 dBFS) for IDLE_S + 4 s, a spoken question, a second of room noise.
    Not under a sanitizer: the claim is about the release build's cost."""
    if "asan" in os.environ.get("LD_PRELOAD", ""):
        pytest.skip("the idle cost is a claim about the release build, not an instrumented one")
    base = model("whisper-base-ct2")
    vad = model(os.path.join("silero-vad", "silero_vad_16k.safetensors"))
    q = wh.speak(QUESTIONS[1], tmp_path / "q.wav")
    if q is None:
        pytest.skip("espeak-ng is not installed")
    with wave.open(q) as w:
        rate = w.getframerate()
        speech = np.frombuffer(w.readframes(w.getnframes()), "<i2")
    rng = np.random.default_rng(7)
    room = lambda s: np.clip(rng.normal(0, 10, int(rate * s)), -32768, 32767).astype("<i2")
    mic = tmp_path / "mic.wav"
    with wave.open(str(mic), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.concatenate([room(IDLE_S + 4), speech, room(1.0)]).tobytes())
    cam = tmp_path / "cam"
    cam.mkdir()
    (cam / "frame-001.png").write_bytes(open(os.path.join(wh.SRC, "models", "samples", "scene_11.png"), "rb").read())
    err = tmp_path / "stderr.txt"
    with open(err, "w") as ef:
        p = subprocess.Popen([NANOMIND, "assist", "--asr", base, "--vad", vad, "--mic", str(mic), "--mic-realtime",
                              "--camera", str(cam), "--power-mode", "on-demand", "--temp", "0", "-n", "8", "-t", "2"],
                             stdout=subprocess.PIPE, stderr=ef, text=True)
    try:
        deadline = time.monotonic() + 60
        while "listening on" not in err.read_text():
            assert p.poll() is None and time.monotonic() < deadline, err.read_text()
            time.sleep(0.05)
        time.sleep(1.0)  # past start-up (the detector's first chunks, page faults)
        c0, t0 = cpu_seconds(p.pid), time.monotonic()
        time.sleep(IDLE_S)
        c1, t1 = cpu_seconds(p.pid), time.monotonic()
        whisper_rss = mapped_rss_bytes(p.pid, lambda path: "whisper-base-ct2" in path)
        share = (c1 - c0) / (t1 - t0)
        print(f"listening {t1 - t0:.1f} s: CPU {c1 - c0:.3f} s = {100 * share:.3f}% of one core, "
              f"Whisper resident {whisper_rss} bytes")
        out, _ = p.communicate(timeout=300)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, err.read_text()
    assert share < 0.01, f"{100 * share:.2f}% of a core while listening"
    assert whisper_rss == 0
    turns = re.findall(r"^you \(([\d.]+)-([\d.]+) s\): (.*)\nnanomind: (.*)$", out, re.M)
    assert [words(t[2]) for t in turns] == [words(QUESTIONS[1])], (out, err.read_text())
    assert float(turns[0][0]) >= IDLE_S + 3  # heard when it was said, not before
