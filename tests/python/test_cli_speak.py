"""`nanomind speak`: text to a WAV file with a VITS voice GGUF (a small random one from
tools/make_tiny_vits.py; the real Piper voice is checked in tests/real/test_piper_voice.py)
or espeak-ng's own voice, and bad input: empty text, non-Latin text and emoji, a 10,000-word
text, voice files that are truncated, lack a tensor or have a broken config — clear errors
or sensible speech, never a crash."""
import os
import subprocess
import wave

import numpy as np
import pytest

from make_tiny_vits import random_tensors, tiny_hparams, write_tiny_vits
from vits_gguf import write_vits_gguf

NANOMIND = os.path.join(os.environ.get("NM_BIN", "."), "nanomind")


def nm(*args, stdin=None, timeout=300):
    return subprocess.run([NANOMIND, *args], capture_output=True, text=True, timeout=timeout, input=stdin)


@pytest.fixture(scope="module")
def voice(tmp_path_factory):
    p = str(tmp_path_factory.mktemp("voice") / "tiny.gguf")
    write_tiny_vits(p, seed=3)
    return p


def read_wav(path):
    with wave.open(path) as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2
        return w.getframerate(), np.frombuffer(w.readframes(w.getnframes()), np.int16)


def test_speaks_sentences_into_a_wav(voice, tmp_path):
    out = str(tmp_path / "a.wav")
    r = nm("speak", "-m", voice, "Hello world. How are you?", "-o", out, "-v", "--noise-scale", "0", "--noise-w", "0",
           "--sentence-pause", "0")
    assert r.returncode == 0, r.stderr
    assert "2 sentences" in r.stderr and "sentence 2:" in r.stderr, r.stderr
    rate, pcm = read_wav(out)
    assert rate == 16000 and len(pcm) > 0
    # deterministic with the noise scales at 0
    out2 = str(tmp_path / "b.wav")
    assert nm("speak", "-m", voice, "Hello world. How are you?", "-o", out2, "--noise-scale", "0", "--noise-w", "0",
              "--sentence-pause", "0").returncode == 0
    assert np.array_equal(read_wav(out2)[1], pcm)
    # --speed 2 halves the frames (durations are ceil(exp(logw) * length_scale))
    out3 = str(tmp_path / "c.wav")
    assert nm("speak", "-m", voice, "Hello world. How are you?", "-o", out3, "--noise-scale", "0", "--noise-w", "0",
              "--sentence-pause", "0", "--speed", "2").returncode == 0
    assert len(read_wav(out3)[1]) < len(pcm)


def test_text_from_stdin_and_nothing_to_say(voice, tmp_path):
    out = str(tmp_path / "s.wav")
    r = nm("speak", "-m", voice, "-o", out, stdin="Read from standard input.")
    assert r.returncode == 0, r.stderr
    assert len(read_wav(out)[1]) > 0
    for text in ("", "   ", "...!?"):
        r = nm("speak", "-m", voice, text, "-o", out)
        assert r.returncode == 0, r.stderr
        assert "nothing to say" in r.stderr
        assert len(read_wav(out)[1]) == 0


def test_non_latin_text_and_emoji(voice, tmp_path):
    out = str(tmp_path / "u.wav")
    for text in ("😀🎉 👍", "你好，世界。", "Привет, мир!", "naïve café \u0000 \ufffd end."):
        r = nm("speak", "-m", voice, "-o", out, stdin=text)  # standard input: argv cannot hold NUL
        assert r.returncode == 0, (text, r.stderr)
        read_wav(out)


# Under AddressSanitizer (the sanitizer stage preloads its runtime) 1,000 words take the same
# clause path through espeak-ng and the voice at a tenth of the cost: 10,000 took 150 s there,
# the stage's longest test by far; the release build speaks all 10,000.
LONG_WORDS = 1000 if "asan" in os.environ.get("LD_PRELOAD", "") else 10000


def test_ten_thousand_words(voice, tmp_path):
    out = str(tmp_path / "long.wav")
    words = " ".join(["word"] * LONG_WORDS)  # one long sentence: spoken as espeak's clauses
    r = nm("speak", "-m", voice, "-o", out, "--noise-scale", "0", stdin=words + ".", timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    rate, pcm = read_wav(out)
    assert len(pcm) > LONG_WORDS * rate * 0.02, "far less audio than the words ask for (a clause lost?)"


def test_espeak_voice(tmp_path):
    out = str(tmp_path / "e.wav")
    r = nm("speak", "--voice", "espeak", "Hello from espeak.", "-o", out)
    assert r.returncode == 0, r.stderr
    rate, pcm = read_wav(out)
    assert rate > 0 and np.abs(pcm).max() > 1000


def test_bad_voice_files(voice, tmp_path):
    data = open(voice, "rb").read()
    trunc = tmp_path / "trunc.gguf"
    trunc.write_bytes(data[: len(data) // 2])
    r = nm("speak", "-m", str(trunc), "hi", "-o", str(tmp_path / "x.wav"))
    assert r.returncode == 1 and "error:" in r.stderr, r.stderr

    rng = np.random.default_rng(0)
    hp = tiny_hparams()
    t = random_tensors(hp, rng)
    cfg = {"sample_rate": 16000, "noise_scale": 0.667, "length_scale": 1.0, "noise_w": 0.8, "espeak_voice": "en-us",
           "phoneme_id_map": {"_": [0], "^": [1], "$": [2], "a": [3]}}
    missing = dict(t)
    del missing["flow.flows.0.enc.in_layers.1.weight"]
    write_vits_gguf(str(tmp_path / "missing.gguf"), missing, hp, cfg)
    r = nm("speak", "-m", str(tmp_path / "missing.gguf"), "hi", "-o", str(tmp_path / "x.wav"))
    assert r.returncode == 1 and "flow.flows.0.enc.in_layers.1.weight" in r.stderr, r.stderr

    bad_cfg = dict(cfg, phoneme_id_map={"_": [0], "a": [3]})
    write_vits_gguf(str(tmp_path / "nobos.gguf"), t, hp, bad_cfg)
    r = nm("speak", "-m", str(tmp_path / "nobos.gguf"), "hi", "-o", str(tmp_path / "x.wav"))
    assert r.returncode == 1 and "BOS" in r.stderr, r.stderr

    bad_hp = dict(hp, **{"dec.upsample_rates": [4, 2, 2]})
    write_vits_gguf(str(tmp_path / "rates.gguf"), t, bad_hp, cfg)
    r = nm("speak", "-m", str(tmp_path / "rates.gguf"), "hi", "-o", str(tmp_path / "x.wav"))
    assert r.returncode == 1 and "error:" in r.stderr, r.stderr

    r = nm("speak", "hi", "-o", str(tmp_path / "x.wav"))
    assert r.returncode == 1 and "--voice espeak" in r.stderr
    r = nm("speak", "-m", voice, "hi", "-o", str(tmp_path / "no-such-dir" / "x.wav"))
    assert r.returncode == 1 and "cannot create" in r.stderr


@pytest.mark.parametrize("which", ["vits", "espeak"])
def test_run_speaks_the_answer_while_generating(voice, tmp_path, which):
    """`nanomind run --voice V --say out.wav`: the demo model's answer, printed and spoken
    sentence by sentence (runtime/speech_stream.h) into a WAV file."""
    out = str(tmp_path / "answer.wav")
    v = voice if which == "vits" else "espeak"
    r = nm("run", "-p", "How many shapes are there?", "-n", "24", "--voice", v, "--say", out)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip(), "no answer printed"
    assert "spoke " in r.stderr and "first audio" in r.stderr, r.stderr
    rate, pcm = read_wav(out)
    assert rate == (16000 if which == "vits" else 22050) and len(pcm) > 0
    r = nm("run", "-p", "hi", "-n", "4", "--say", out)
    assert r.returncode == 1 and "--say needs --voice" in r.stderr
