"""`nanomind transcribe` and the C API's nm_asr_* as a user runs them, on tiny random-weight
Whisper models (tools/make_tiny_whisper.py; their text is gibberish, but it is the same for
the same weights in either file format): output formats, streaming segments, determinism,
and clear errors with a non-zero exit for bad models, bad audio and bad options."""
import json
import os
import re
import subprocess

import numpy as np
import pytest

import nanomind_ctypes as nmc
import whisper_helpers as wh

NANOMIND = os.path.join(os.environ.get("NM_BIN", "."), "nanomind")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("w")
    seed = int(os.environ.get("NM_SEED", np.random.SeedSequence().entropy % (1 << 30)))
    print(f"tiny Whisper seed {seed}")
    return wh.make_tiny(d, seed, "ct2", "float32"), wh.make_tiny(d, seed, "ggml", "f32")


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    d = tmp_path_factory.mktemp("a")
    wav = wh.speak("Hello there, this is a short test of speech recognition.", d / "hello.wav")
    if wav is None:
        pytest.skip("espeak-ng is not installed")
    return wav


def nm(*args):
    return subprocess.run([NANOMIND, *args], capture_output=True, text=True, timeout=300)


def test_both_formats_transcribe_alike_and_outputs_are_written(models, speech, tmp_path):
    ct2, ggml = models
    base = str(tmp_path / "out")
    a = nm("transcribe", "-m", ct2, speech, "--beam-size", "2", "--timestamps", "--output-json", "--output-srt",
           "--output-vtt", "--output-txt", "--output-file", base, "-v")
    # whisper.cpp's short flags for the same options (-bs, -otxt, -oj, -of, -np)
    base_b = str(tmp_path / "out_b")
    b = nm("transcribe", "-m", ggml, "-f", speech, "-bs", "2", "--timestamps", "-otxt", "-oj", "-of", base_b, "-np")
    assert a.returncode == 0, a.stderr
    assert b.returncode == 0, b.stderr
    assert a.stdout == b.stdout
    assert b.stderr == ""  # -np: nothing but the transcript
    assert open(base + ".txt").read() == open(base_b + ".txt").read()
    assert json.load(open(base + ".json"))["segments"] == json.load(open(base_b + ".json"))["segments"]
    assert "CTranslate2" in a.stderr and "real-time factor" in a.stderr
    j = json.load(open(base + ".json"))
    assert j["language"] and isinstance(j["segments"], list)
    # One timestamped line per segment. (A random model's words may hold carriage returns,
    # which text mode reads as line ends: seed 683930464 - so count stamps, not lines.)
    stamp = r"^\[\d\d:\d\d:\d\d\.\d\d\d --> \d\d:\d\d:\d\d\.\d\d\d\]  "
    assert len(re.findall(stamp, a.stdout, re.M)) == len(j["segments"]), a.stdout
    assert a.stdout == "" or re.match(stamp, a.stdout), a.stdout
    for s in j["segments"]:
        assert 0 <= s["start"] <= s["end"] <= 30.0
    srt = open(base + ".srt").read()
    assert srt == "" or re.match(r"1\n\d\d:\d\d:\d\d,\d\d\d --> \d\d:\d\d:\d\d,\d\d\d\n", srt)
    assert open(base + ".vtt").read().startswith("WEBVTT")
    assert os.path.exists(base + ".txt")


def test_c_api_transcribes_pcm_and_files_alike(models, speech, shim):
    lib = nmc.NanoMind(os.environ["NM_LIB"])
    audio = wh.load_audio(shim, speech)
    with nmc.load_asr(lib, models[0], n_threads=2) as asr:
        seen = []
        text_file = asr.transcribe_file(speech, beam_size=1, on_segment=lambda t0, t1, t: seen.append((t0, t1, t)))
        segs = asr.segments()
        assert [s[2] for s in segs] == [s[2] for s in seen]
        assert "".join(s[2] for s in segs) == text_file
        assert asr.language
        # The same samples from memory, as int16 would arrive at 48 kHz stereo: resampled, mixed.
        text_pcm = asr.transcribe_pcm(audio, beam_size=1)
        assert text_pcm == text_file
        # Stopping from the callback ends the transcription with what was decoded so far.
        asr.transcribe_pcm(np.tile(audio, 8), beam_size=1, on_segment=lambda *a: 1)
        assert len(asr.segments()) >= 1


def test_c_api_bad_input_is_a_clear_error(models, tmp_path):
    lib = nmc.NanoMind(os.environ["NM_LIB"])
    with pytest.raises(nmc.NanoMindError, match="no such file"):
        nmc.load_asr(lib, str(tmp_path / "missing.bin"))
    with nmc.load_asr(lib, models[1], n_threads=1) as asr:
        for pcm, rate, ch, words in [(np.zeros(0, np.float32), 16000, 1, "no samples"),
                                     (np.full(1000, np.nan, np.float32), 16000, 1, "not a finite number"),
                                     (np.zeros(100, np.float32), 0, 1, "sample rate"),
                                     (np.zeros(100, np.float32), 16000, 0, "channels")]:
            with pytest.raises(nmc.NanoMindError, match=words):
                asr.transcribe_pcm(pcm, sample_rate=rate, channels=max(ch, 1) if ch else 1) if ch else \
                    asr._run(asr.c.nm_asr_transcribe_pcm, pcm.ctypes.data_as(nmc.ctypes.POINTER(nmc.ctypes.c_float)),
                             pcm.size, 0, rate)
        with pytest.raises(nmc.NanoMindError, match="unknown language"):
            asr.transcribe_pcm(np.zeros(1600, np.float32), language="xx")
        with pytest.raises(nmc.NanoMindError, match="beam size"):
            asr.transcribe_pcm(np.zeros(1600, np.float32), beam_size=0)
        (tmp_path / "text.wav").write_text("not audio\n")
        with pytest.raises(nmc.NanoMindError, match="not an audio file"):
            asr.transcribe_file(tmp_path / "text.wav")
        # One sample of audio is valid input (Whisper pads it to 30 s).
        asr.transcribe_pcm(np.array([0.1], np.float32), beam_size=1)


def test_cli_errors(models, speech, tmp_path):
    ct2, ggml = models
    r = nm("transcribe", "-m", str(tmp_path / "nope.bin"), speech)
    assert r.returncode == 1 and "no such file" in r.stderr
    (tmp_path / "bad.bin").write_bytes(b"GGUF" + b"\0" * 100)  # read as GGUF: a broken one
    r = nm("transcribe", "-m", str(tmp_path / "bad.bin"), speech)
    assert r.returncode == 1 and "GGUF version" in r.stderr
    (tmp_path / "text.bin").write_bytes(b"hello" * 100)
    r = nm("transcribe", "-m", str(tmp_path / "text.bin"), speech)
    assert r.returncode == 1 and "not a whisper.cpp model" in r.stderr
    llm = [f for f in os.listdir(os.path.join(wh.SRC, "models")) if f.endswith(".gguf")][0]
    r = nm("transcribe", "-m", os.path.join(wh.SRC, "models", llm), speech)  # an LLM, not Whisper
    assert r.returncode == 1 and "not a Whisper model" in r.stderr
    r = nm("transcribe", "-m", ggml, str(tmp_path / "missing.wav"))
    assert r.returncode == 1 and "cannot open audio" in r.stderr
    r = nm("transcribe", "-m", ggml, speech, "-l", "klingon")
    assert r.returncode == 1 and "unknown language" in r.stderr
    r = nm("transcribe", "-m", ggml, speech, "--beam-size", "99")
    assert r.returncode != 0
    r = nm("transcribe", "-m", ggml)
    assert r.returncode == 1 and "no audio file" in r.stderr
    r = nm("transcribe", "-m", ggml, "/dev/zero")
    assert r.returncode == 1 and "not a regular file" in r.stderr


def alsa_file_source(tmp_path, samples16k):
    """An ALSA capture device ("nmtest") that plays samples16k (then silence) through ALSA's
    file plugin: the microphone code path without a microphone. Returns the environment."""
    raw = tmp_path / "mic.raw"
    raw.write_bytes((np.clip(samples16k, -1, 1) * 32767).astype("<i2").tobytes())
    home = tmp_path / "home"
    home.mkdir()
    (home / ".asoundrc").write_text(
        f'pcm.nmtest {{\n type file\n slave.pcm "null"\n file "/dev/null"\n infile "{raw}"\n format "raw"\n}}\n')
    return dict(os.environ, HOME=str(home))


def test_live_microphone_through_alsa(models, speech, shim, tmp_path):
    """--mic reads ALSA (here its file plugin, which delivers the speech and then endless
    silence at once), the energy detector cuts the utterance and the transcriber decodes it.
    Not exercised here: a real capture card's timing, overruns and plughw rate conversion."""
    audio = np.concatenate([np.zeros(8000, np.float32), wh.load_audio(shim, speech), np.zeros(16000 * 3, np.float32)])
    env = alsa_file_source(tmp_path, audio)
    r = subprocess.run([NANOMIND, "transcribe", "-m", models[1], "--mic", "nmtest", "--duration", "8", "--beam-size", "1"],
                       capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr
    assert "listening on 'nmtest'" in r.stderr and "energy detector" in r.stderr
    # Through the C API: the utterance was found and decoded (whatever the random model says).
    old = os.environ.get("HOME")
    os.environ["HOME"] = env["HOME"]
    try:
        lib = nmc.NanoMind(os.environ["NM_LIB"])
        with nmc.load_asr(lib, models[0], n_threads=2) as asr:
            asr.transcribe_mic("nmtest", duration_s=8.0, beam_size=1, timestamps=0)
            t = asr.timings()
            assert t["n_windows"] == 1, t  # one utterance, one 30 s window
            with pytest.raises(nmc.NanoMindError, match="cannot open microphone"):
                asr.transcribe_mic("no_such_device_here", duration_s=1.0)
    finally:
        os.environ["HOME"] = old
