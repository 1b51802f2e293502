"""Speech in `nanomind serve --asr WHISPER`: input_audio parts of /v1/chat/completions (base64
WAV or MP3, as the official openai client sends them) are transcribed and the transcript joins
the message's text. On the demo model with a tiny random-weight Whisper model
(tools/make_tiny_whisper.py: its transcript is gibberish, but the same gibberish the CLI gets
from the same file) and espeak-ng's speech, sent as WAV and MP3: the answer equals
`nanomind run -p <transcript>` and `nanomind run --audio`, the audio and asr bricks appear in the answer and /metrics,
and hostile audio (truncated, not audio, lying headers, too long, too many parts, bad base64)
gets a 400 naming the part while the server keeps answering. Real Whisper weights are in
test_server_audio_real.py (the real-weight tier)."""
import base64
import os
import struct

import numpy as np
import openai
import pytest

import whisper_helpers as wh
from server_helpers import DEMO_LLM, Server, run_cli

SEED = 2  # the tiny Whisper model's weights (any seed: the tests compare with the CLI's result)
QUESTION = "What shape is the red one?"
# The tiny model's gibberish transcript is hundreds of tokens: a context to hold it.
COMMON = ["--temp", "0", "-t", "2", "-c", "2048"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("audio")
    wav = wh.speak(QUESTION, d / "q.wav")
    if wav is None:
        pytest.skip("espeak-ng is not installed")
    # A text context of 64 tokens bounds each window's decoding (the random model never stops
    # by itself): 1.4-2.3 s per transcription here instead of 6 s with Whisper's 448.
    return {"whisper": wh.make_tiny(d, SEED, "ct2", "float32", n_text_ctx=64), "wav": wav, "dir": d}


@pytest.fixture(scope="module")
def server(files, tmp_path_factory):
    s = Server(["-m", DEMO_LLM, "--asr", files["whisper"], "-t", "2", "-c", "2048", "--max-audio-seconds", "20",
                "--max-audios", "2"],
               tmp_path_factory.mktemp("log") / "server.log")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.url + "/v1", api_key="none", max_retries=0, timeout=300)


def audio_part(data, fmt="wav"):
    return {"type": "input_audio", "input_audio": {"data": base64.b64encode(data).decode(), "format": fmt}}


@pytest.fixture(scope="module")
def heard(files):
    """`nanomind transcribe`'s text for the question (trimmed), as `run --audio` uses it."""
    out = str(files["dir"] / "t")
    rc, _, err = run_cli("transcribe", "-m", files["whisper"], files["wav"], "-t", "2", "--no-prints", "--output-txt",
                         "--output-file", out, timeout=600)
    assert rc == 0, err
    return open(out + ".txt", encoding="utf-8").read().strip()


def test_spoken_question_answers_as_nanomind_run(files, heard, client, server):
    wav = open(files["wav"], "rb").read()
    r = client.chat.completions.create(model="demo", temperature=0, max_tokens=16,
                                       messages=[{"role": "user", "content": [audio_part(wav)]}])
    n = r.model_extra["nanomind"]
    assert n["transcripts"] == [heard]
    rc, typed, err = run_cli("run", "-m", DEMO_LLM, "-p", heard, "-n", "16", *COMMON)
    assert rc == 0, err
    assert r.choices[0].message.content == typed[:-1]
    bricks = {b["brick"]: b for b in n["bricks"]}
    assert bricks["audio"]["unit"] == "seconds" and bricks["audio"]["device"] == "cpu"
    assert bricks["audio"]["tokens"] == pytest.approx(40853 / 22050, abs=0.01)  # espeak's samples at 22.05 kHz
    assert bricks["audio"]["ms"] > 0 and bricks["asr"]["ms"] > 0 and bricks["asr"]["tokens"] >= 1
    assert bricks["asr"]["energy"] == "not measured" and bricks["asr"]["joules"] is None
    _, metrics = server.get("/metrics")
    assert 'nanomind_brick_seconds_total{brick="asr",device="cpu"}' in metrics
    assert 'nanomind_brick_seconds_total{brick="audio",device="cpu"}' in metrics
    assert server.metric("nanomind_audio_parts_total") >= 1
    assert server.metric("nanomind_audio_seconds_total") >= 1.8


def write_mp3(wav_path, mp3_path):
    """The WAV re-encoded as MP3 by libsndfile (through ctypes); None where it cannot write MP3."""
    import ctypes
    import ctypes.util
    import wave

    class SfInfo(ctypes.Structure):
        _fields_ = [("frames", ctypes.c_int64), ("samplerate", ctypes.c_int), ("channels", ctypes.c_int),
                    ("format", ctypes.c_int), ("sections", ctypes.c_int), ("seekable", ctypes.c_int)]
    name = ctypes.util.find_library("sndfile")
    if not name:
        return None
    lib = ctypes.CDLL(name)
    lib.sf_open.restype = ctypes.c_void_p
    lib.sf_write_short.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
    lib.sf_close.argtypes = [ctypes.c_void_p]
    w = wave.open(str(wav_path))
    pcm = np.frombuffer(w.readframes(w.getnframes()), np.int16)
    info = SfInfo(0, w.getframerate(), 1, 0x230000 | 0x0082, 0, 0)  # SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III
    sf = lib.sf_open(str(mp3_path).encode(), 0x20, ctypes.byref(info))  # SFM_WRITE
    if not sf:
        return None
    lib.sf_write_short(sf, pcm.ctypes.data, len(pcm))
    lib.sf_close(sf)
    return str(mp3_path)


def test_mp3_answers_as_nanomind_run(files, client):
    mp3 = write_mp3(files["wav"], files["dir"] / "q.mp3")
    if mp3 is None:
        pytest.skip("this libsndfile cannot write MP3")
    rc, spoken, err = run_cli("run", "-m", DEMO_LLM, "--audio", mp3, "--whisper", files["whisper"], "-n", "8", *COMMON,
                              timeout=600)
    assert rc == 0, err
    r = client.chat.completions.create(model="demo", temperature=0, max_tokens=8, messages=[
        {"role": "user", "content": [audio_part(open(mp3, "rb").read(), "mp3")]}])
    assert r.choices[0].message.content == spoken[:-1]


def test_text_and_audio_join_in_order_and_stream(files, heard, client):
    """A text part, then the audio: the prompt is "text\\ntranscript"; streamed as well."""
    wav = open(files["wav"], "rb").read()
    rc, typed, err = run_cli("run", "-m", DEMO_LLM, "-p", "Listen.\n" + heard, "-n", "12", *COMMON)
    assert rc == 0, err
    stream = client.chat.completions.create(model="demo", temperature=0, max_tokens=12, stream=True, messages=[
        {"role": "user", "content": [{"type": "text", "text": "Listen."}, audio_part(wav)]}])
    pieces, last = [], None
    for chunk in stream:
        for c in chunk.choices:
            if c.delta.content:
                pieces.append(c.delta.content)
            if c.finish_reason:
                last = chunk
    assert "".join(pieces) == typed[:-1]
    assert last.model_extra["nanomind"]["transcripts"] == [heard]


def wav_bytes(samples, rate=16000, channels=1):
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
    return (b"RIFF" + struct.pack("<I", 36 + len(pcm)) + b"WAVEfmt " +
            struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * channels * 2, channels * 2, 16) +
            b"data" + struct.pack("<I", len(pcm)) + pcm)


HOSTILE = ["header only", "a few bytes", "not audio (a PNG)", "random bytes", "4 GB declared", "bad RIFF size",
           "5000 channels", "0 Hz", "4 GHz", "too long"]


def hostile_audio(files):
    wav = open(files["wav"], "rb").read()
    png = open(os.path.join(wh.SRC, "models", "samples", "scene_3.png"), "rb").read()
    one_second = wav_bytes(np.sin(np.arange(16000) * 0.05) * 0.3)
    lying_length = bytearray(one_second)
    struct.pack_into("<I", lying_length, 40, 0xFFFFFFF0)  # data chunk: 4 GB declared (37 hours at 16 kHz)
    lying_riff = bytearray(one_second)
    struct.pack_into("<I", lying_riff, 4, 0xFFFFFFFF)
    many_channels = bytearray(one_second)
    struct.pack_into("<H", many_channels, 22, 5000)
    zero_rate = bytearray(one_second)
    struct.pack_into("<I", zero_rate, 24, 0)
    huge_rate = bytearray(one_second)
    struct.pack_into("<I", huge_rate, 24, 0xFFFFFFFF)
    thirty_seconds = wav_bytes(np.zeros(16000 * 30))  # over --max-audio-seconds 20
    return {
        "header only": wav[:44],
        "a few bytes": wav[:10],
        "not audio (a PNG)": png,
        "random bytes": np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8).tobytes(),
        "4 GB declared": bytes(lying_length),
        "bad RIFF size": bytes(lying_riff),
        "5000 channels": bytes(many_channels),
        "0 Hz": bytes(zero_rate),
        "4 GHz": bytes(huge_rate),
        "too long": thirty_seconds,
    }


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_audio_is_a_400_naming_the_part(files, client, server, name):
    data = hostile_audio(files)[name]
    try:
        r = client.chat.completions.create(model="demo", max_tokens=4, temperature=0, messages=[
            {"role": "user", "content": [{"type": "text", "text": "hi"}, audio_part(data)]}])
    except openai.BadRequestError as e:
        assert e.body["param"].startswith("messages[0].content[1]"), e.body
        assert e.body["message"]
        return
    # libsndfile reads a WAV's data chunk only as far as the file goes, whatever its header
    # declares: those two are one second of sound, transcribed and answered.
    assert name in ("4 GB declared", "bad RIFF size"), f"{name}: answered {r.choices[0].message.content!r}"
    assert r.model_extra["nanomind"]["bricks"][0]["tokens"] == pytest.approx(1.0, abs=0.01)


def test_audio_request_errors(files, client):
    wav = open(files["wav"], "rb").read()
    cases = [
        ([{"type": "input_audio", "input_audio": {"data": "@@not base64@@", "format": "wav"}}], "data"),
        ([{"type": "input_audio", "input_audio": {"data": base64.b64encode(wav).decode(), "format": "aiff"}}], "format"),
        ([{"type": "input_audio", "input_audio": "abc"}], "input_audio"),
        ([{"type": "input_audio", "input_audio": {"format": "wav"}}], "data"),
        ([{"type": "input_audio", "input_audio": {"data": ""}}], "data"),
        ([audio_part(wav), audio_part(wav), audio_part(wav)], "content[2]"),  # --max-audios 2
    ]
    for content, param in cases:
        with pytest.raises(openai.BadRequestError) as e:
            client.chat.completions.create(model="demo", max_tokens=4, messages=[{"role": "user", "content": content}])
        assert param in e.value.body["param"], (content[0], e.value.body)
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="demo", max_tokens=4, messages=[
            {"role": "user", "content": "hi"}, {"role": "assistant", "content": [audio_part(wav)]}])
    assert "only user messages" in e.value.body["message"]


def test_still_healthy_and_correct_after_hostile_audio(client, server):
    assert server.get("/health")[0] == 200
    rc, out, err = run_cli("run", "-m", DEMO_LLM, "-p", QUESTION, "-n", "8", *COMMON)
    assert rc == 0, err
    r = client.chat.completions.create(model="demo", temperature=0, max_tokens=8,
                                       messages=[{"role": "user", "content": QUESTION}])
    assert r.choices[0].message.content == out[:-1]


def test_without_asr_audio_is_refused_with_the_flag_named(files, tmp_path):
    s = Server(["-m", DEMO_LLM], tmp_path / "server.log")
    try:
        c = openai.OpenAI(base_url=s.url + "/v1", api_key="none", max_retries=0, timeout=60)
        with pytest.raises(openai.BadRequestError) as e:
            c.chat.completions.create(model="demo", max_tokens=4, messages=[
                {"role": "user", "content": [audio_part(open(files["wav"], "rb").read())]}])
        assert "--asr" in e.value.body["message"]
    finally:
        s.stop()


def test_a_bad_asr_model_exits_non_zero_before_listening(tmp_path):
    bad = tmp_path / "ggml-bad.bin"
    bad.write_bytes(b"lmgg" + b"\0" * 64)
    rc, out, err = run_cli("serve", "-m", DEMO_LLM, "--asr", str(bad), "--port", "0", timeout=60)
    assert rc != 0
    assert "listening" not in err and "error" in err and "ggml-bad.bin" in err
