"""Speech recognition on the real Whisper weights (scripts/fetch-models.sh): espeak-ng speaks
ten known sentences, `nanomind transcribe` writes them down, and the word error rate must
stay under 15% for Whisper base (the issue's bar) and under 25% for tiny.en. Both loaders
run the very same weights: base converted to whisper.cpp's format by tools/whisper_convert.py
gives the identical transcript (and so does its GGUF conversion), and Q8_0 stays under the same bar.

WER = (substitutions + deletions + insertions) / reference words, after lower-casing,
dropping punctuation and spelling out small numbers (Whisper writes "6" for "six").
Part of the real-weight tier (label "real", about 6 minutes here): runs where NM_REAL=1
(`NM_REAL=1 ctest -R whisper_real`) or NM_REAL_REQUIRED=1 (scripts/test.sh); skips without
the model files or espeak-ng, but fails instead of skipping a missing file where
NM_REAL_REQUIRED=1.
"""
import os
import re
import shutil
import subprocess
import sys

import pytest

import whisper_helpers as wh

MODELS_DIR = os.environ.get("NM_MODELS_DIR") or os.path.join(
    os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "nanomind", "models")
NANOMIND = os.path.join(os.environ.get("NM_BIN", "build/bin"), "nanomind")

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Please call Stella and ask her to bring these things with her from the store.",
    "The weather today is sunny with a light breeze from the west.",
    "My phone battery is almost empty, so I need to charge it tonight.",
    "Turn left at the next corner and then walk straight for two blocks.",
    "She bought six apples, three oranges and a loaf of fresh bread.",
    "The meeting has been moved to Thursday afternoon.",
    "Can you tell me what is on the table in front of the camera?",
    "Small computers can run speech recognition without the internet.",
    "We watched the sunset from the top of the hill last summer.",
]
NUMBERS = "zero one two three four five six seven eight nine ten eleven twelve".split()


def words(text):
    text = re.sub(r"\b(\d+)\b", lambda m: NUMBERS[int(m.group(1))] if int(m.group(1)) < len(NUMBERS) else m.group(1),
                  text.lower())
    return re.sub(r"[^\w' ]|_", " ", text).replace("'", "").split()  # letters of any script


def edit_distance(a, b):
    d = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        prev, d[0] = d[0], i
        for j, y in enumerate(b, 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (x != y))
    return d[len(b)]


def wer(refs, hyps):
    errors = sum(edit_distance(words(r), words(h)) for r, h in zip(refs, hyps))
    return errors / sum(len(words(r)) for r in refs)


def model(name):
    if os.environ.get("NM_REAL") != "1" and os.environ.get("NM_REAL_REQUIRED") != "1":
        pytest.skip("the real-weight tier runs with NM_REAL=1 (or NM_REAL_REQUIRED=1, as scripts/test.sh sets)")
    path = os.path.join(MODELS_DIR, name)
    if not os.path.exists(path):
        msg = f"{path} is missing: run scripts/fetch-models.sh"
        if os.environ.get("NM_REAL_REQUIRED") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return path


@pytest.fixture(scope="module")
def spoken(tmp_path_factory):
    if not shutil.which("espeak-ng"):
        pytest.skip("espeak-ng is not installed")
    d = tmp_path_factory.mktemp("speech")
    return [wh.speak(s, d / f"s{i}.wav") for i, s in enumerate(SENTENCES)]


def transcribe(model_path, files, *extra):
    r = subprocess.run([NANOMIND, "transcribe", "-m", model_path, "--no-prints", "-t", "2", *extra, *files],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == len(files), r.stdout
    return lines


@pytest.mark.parametrize("name,bound", [("whisper-base-ct2", 0.15), ("whisper-tiny.en-ct2", 0.25)])
def test_word_error_rate(spoken, name, bound):
    """Also with the encoder fitted to each clip (--audio-ctx -1: 256-320 of the 1500
    positions for these 2-5 s sentences), which is not the reference computation and does
    change the transcripts (measured 2026-12-07: base 6.0% -> 4.3%, tiny.en 4.3% -> 7.7%):
    it must stay under the same bar."""
    hyps = transcribe(model(name), spoken)
    fitted = transcribe(model(name), spoken, "--audio-ctx", "-1")
    rate, rate_fitted = wer(SENTENCES, hyps), wer(SENTENCES, fitted)
    print(f"{name}: WER {rate:.3f}, fitted encoder context {rate_fitted:.3f}")
    for r, h, f in zip(SENTENCES, hyps, fitted):
        print(f"  {r!r}\n  {h!r}\n  {f!r}")
    assert rate < bound
    assert rate_fitted < bound


def test_whisper_cpp_file_of_the_same_weights(spoken, tmp_path):
    base = model("whisper-base-ct2")
    ggml = str(tmp_path / "ggml-base.bin")
    q8 = str(tmp_path / "ggml-base-q8_0.bin")
    tool = os.path.join(wh.TOOLS, "whisper_convert.py")
    subprocess.run([sys.executable, tool, base, ggml, "--type", "f16"], check=True, capture_output=True)
    subprocess.run([sys.executable, tool, base, q8, "--type", "q8_0"], check=True, capture_output=True)
    gguf = str(tmp_path / "whisper-base.gguf")
    subprocess.run([sys.executable, tool, base, gguf, "--type", "f16"], check=True, capture_output=True)
    files = spoken[:4]
    assert transcribe(ggml, files) == transcribe(base, files) == transcribe(gguf, files)
    rate = wer(SENTENCES[:4], transcribe(q8, files))
    print(f"base Q8_0: WER {rate:.3f}")
    assert rate < 0.15


def test_spoken_question_about_a_picture(tmp_path):
    """`run --audio q.wav --image scene.png` on the demo model: the transcript is the question,
    and the answer is the one the typed question gets."""
    base = model("whisper-base-ct2")
    question = "What shape is the red one?"
    wav = wh.speak(question, tmp_path / "q.wav")
    if wav is None:
        pytest.skip("espeak-ng is not installed")
    image = os.path.join(wh.SRC, "models", "samples", "scene_11.png")
    common = ["--image", image, "--temp", "0", "-n", "8", "-t", "2"]
    spoken = subprocess.run([NANOMIND, "run", "--audio", wav, "--whisper", base, "-v", *common],
                            capture_output=True, text=True, timeout=600)
    typed = subprocess.run([NANOMIND, "run", "-p", question, *common], capture_output=True, text=True, timeout=600)
    assert spoken.returncode == 0, spoken.stderr
    assert typed.returncode == 0, typed.stderr
    assert f'heard "{question}"' in spoken.stderr
    assert spoken.stdout == typed.stdout and spoken.stdout.strip()


@pytest.mark.parametrize("voice,text,code", [("de", "Guten Morgen, wie geht es dir heute?", "de"),
                                             ("fr", "Bonjour, je voudrais un café s'il vous plaît.", "fr")])
def test_language_detection(tmp_path, voice, text, code):
    base = model("whisper-base-ct2")
    wav = wh.speak(text, tmp_path / "l.wav", voice=voice)
    if wav is None:
        pytest.skip("espeak-ng is not installed")
    out = str(tmp_path / "out")
    r = subprocess.run([NANOMIND, "transcribe", "-m", base, wav, "--no-prints", "-t", "2", "--output-json",
                        "--output-file", out], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    import json
    j = json.load(open(out + ".json"))
    assert j["language"] == code, j
    assert wer([text], [j["text"]]) < 0.5, j["text"]
