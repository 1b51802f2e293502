"""`nanomind serve --asr` with real Whisper weights (the real-weight tier: runs where NM_REAL=1
or NM_REAL_REQUIRED=1; skips without them, fails on a missing file where NM_REAL_REQUIRED=1).
espeak-ng speaks a question about a picture; the official openai client sends it as an
input_audio part beside the picture: Whisper base hears the question word for word, and the
demo model's answer equals `nanomind run -p <question> --image <picture>`."""
import base64
import os

import openai
import pytest

import whisper_helpers as wh
from server_helpers import DEMO_LLM, DEMO_MMPROJ, Server, run_cli
from test_whisper_real_slow import model

QUESTION = "What shape is the red one?"


def test_spoken_question_about_a_picture(tmp_path):
    base = model("whisper-base-ct2")
    wav = wh.speak(QUESTION, tmp_path / "q.wav")
    if wav is None:
        pytest.skip("espeak-ng is not installed")
    image = os.path.join(wh.SRC, "models", "samples", "scene_11.png")
    s = Server(["-m", DEMO_LLM, "--mmproj", DEMO_MMPROJ, "--asr", base, "-t", "2"], tmp_path / "server.log")
    try:
        c = openai.OpenAI(base_url=s.url + "/v1", api_key="none", max_retries=0, timeout=600)
        uri = "data:image/png;base64," + base64.b64encode(open(image, "rb").read()).decode()
        r = c.chat.completions.create(model="demo", temperature=0, max_tokens=16, messages=[{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": uri}},
            {"type": "input_audio", "input_audio": {"data": base64.b64encode(open(wav, "rb").read()).decode(),
                                                    "format": "wav"}}]}])
    finally:
        s.stop()
    assert r.model_extra["nanomind"]["transcripts"] == [QUESTION]
    rc, typed, err = run_cli("run", "-m", DEMO_LLM, "--mmproj", DEMO_MMPROJ, "--image", image, "-p", QUESTION,
                             "--temp", "0", "-n", "16", "-t", "2", timeout=600)
    assert rc == 0, err
    assert r.choices[0].message.content == typed[:-1] and typed.strip()
    print("answer:", typed.strip(), "| bricks:", [(b["brick"], round(b["ms"])) for b in r.model_extra["nanomind"]["bricks"]])
