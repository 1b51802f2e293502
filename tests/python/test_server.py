"""`nanomind serve` through the official `openai` Python client on loopback, on a tiny
random-weight model and on the bundled demo model: answers token-identical to `nanomind run`
with the same settings (plain, streamed, with an image, raw completions), stop strings, seeds,
usage, a bad key, an oversized body, the queue's 503, cancellation when a client leaves, the
metrics, and a clean exit on SIGTERM (every server fixture checks it)."""
import base64
import http.client
import json
import os
import time

import openai
import pytest

from server_helpers import DEMO_DIR, DEMO_LLM, DEMO_MMPROJ, Server, make_tiny_model, run_cli

KEY = "test-key-0123456789"
QUESTIONS = ["How many shapes are there?", "Tell me a story about a robot", "What is 2 + 2?"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("m") / "tiny.gguf")


@pytest.fixture(scope="module")
def server(tiny, tmp_path_factory):
    s = Server(["-m", tiny, "--parallel", "2", "--api-key", KEY, "-c", "2048", "--max-body", "65536"],
               tmp_path_factory.mktemp("log") / "server.log")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.url + "/v1", api_key=KEY, max_retries=0, timeout=120)


def cli_answer(model, prompt, n, *extra):
    rc, out, err = run_cli("run", "-m", model, "-p", prompt, "-n", str(n), "--temp", "0", "-c", "2048", *extra)
    assert rc == 0, err
    assert out.endswith("\n")
    return out[:-1]


@pytest.mark.parametrize("question", QUESTIONS)
def test_greedy_answer_equals_nanomind_run(tiny, client, question):
    want = cli_answer(tiny, question, 24)
    r = client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": question}],
                                       temperature=0, max_tokens=24)
    assert r.choices[0].message.content == want
    assert r.choices[0].finish_reason in ("stop", "length")
    assert r.usage.completion_tokens >= 1 and r.usage.prompt_tokens > 4
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    # The same request again reuses the slot's cache for all but the last prompt token.
    again = client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": question}],
                                           temperature=0, max_tokens=24)
    assert again.choices[0].message.content == want


def test_streamed_answer_equals_the_whole_answer(client):
    msgs = [{"role": "user", "content": QUESTIONS[1]}]
    whole = client.chat.completions.create(model="tiny", messages=msgs, temperature=0, max_tokens=30)
    stream = client.chat.completions.create(model="tiny", messages=msgs, temperature=0, max_tokens=30, stream=True,
                                            stream_options={"include_usage": True})
    pieces, finish, usage, n_chunks = [], None, None, 0
    for chunk in stream:
        n_chunks += 1
        if chunk.usage:
            usage = chunk.usage
        for c in chunk.choices:
            if c.delta.content:
                pieces.append(c.delta.content)
            if c.finish_reason:
                finish = c.finish_reason
    assert "".join(pieces) == whole.choices[0].message.content
    assert finish == whole.choices[0].finish_reason
    assert usage is not None and usage.completion_tokens == whole.usage.completion_tokens
    assert usage.prompt_tokens == whole.usage.prompt_tokens
    assert n_chunks >= 3


def test_raw_completion_equals_nanomind_run_raw(tiny, client):
    want = cli_answer(tiny, "Once upon a time", 20, "--raw")
    r = client.completions.create(model="tiny", prompt="Once upon a time", temperature=0, max_tokens=20)
    assert r.choices[0].text == want
    stream = client.completions.create(model="tiny", prompt="Once upon a time", temperature=0, max_tokens=20,
                                       stream=True)
    assert "".join(c.choices[0].text for c in stream if c.choices) == want


def test_stop_strings_end_the_answer_before_them(client):
    msgs = [{"role": "user", "content": QUESTIONS[1]}]
    full = client.chat.completions.create(model="tiny", messages=msgs, temperature=0, max_tokens=40)
    text = full.choices[0].message.content
    if len(text) < 6:
        pytest.skip("the greedy answer is too short to cut: " + repr(text))
    stop = text[len(text) // 2: len(text) // 2 + 3]
    want = text[:text.find(stop)]
    r = client.chat.completions.create(model="tiny", messages=msgs, temperature=0, max_tokens=40, stop=[stop, "\u00a7\u00a7"])
    assert r.choices[0].message.content == want
    assert r.choices[0].finish_reason == "stop"
    streamed = client.chat.completions.create(model="tiny", messages=msgs, temperature=0, max_tokens=40, stop=stop,
                                              stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == want


def test_seeded_sampling_repeats_and_matches_nanomind_run(tiny, client):
    args = dict(model="tiny", messages=[{"role": "user", "content": "Once"}], temperature=1.0, top_p=0.9,
                max_tokens=16, seed=7)
    a = client.chat.completions.create(**args).choices[0].message.content
    b = client.chat.completions.create(**args).choices[0].message.content
    assert a == b
    rc, out, err = run_cli("run", "-m", tiny, "-p", "Once", "-n", "16", "--temp", "1.0", "--top-p", "0.9", "-s", "7",
                           "-c", "2048")
    assert rc == 0 and out[:-1] == a, err


def test_bad_key_is_refused(server):
    bad = openai.OpenAI(base_url=server.url + "/v1", api_key="wrong", max_retries=0, timeout=30)
    with pytest.raises(openai.AuthenticationError) as e:
        bad.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "hi"}])
    assert e.value.status_code == 401
    assert e.value.body["code"] == "invalid_api_key"
    status, _ = server.get("/metrics")
    assert status == 401
    status, body = server.get("/health")  # open, for load balancers
    assert status == 200 and json.loads(body)["status"] == "ok"


def test_oversized_body_is_413(client):
    with pytest.raises(openai.APIStatusError) as e:
        client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "x" * 100000}])
    assert e.value.status_code == 413


def test_bad_requests_name_the_field(client):
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "hi"}], temperature=7)
    assert e.value.body["param"] == "temperature"
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "hi"}], max_tokens=10**7)
    assert e.value.body["param"] == "max_tokens"
    with pytest.raises(openai.BadRequestError) as e:  # the tiny model has no vision encoder
        client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "data:image/png;base64," + base64.b64encode(
                open(os.path.join(DEMO_DIR, "samples", "scene_3.png"), "rb").read()).decode()}},
            {"type": "text", "text": "what is this?"}]}])
    assert "mmproj" in e.value.body["message"]


def test_models_health_and_metrics(server, client):
    models = client.models.list()
    assert [m.id for m in models.data] == ["tiny.gguf"]
    client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "hi"}], max_tokens=4)
    auth = {"Authorization": "Bearer " + KEY}
    assert server.metric("nanomind_generated_tokens_total", auth) >= 1
    assert server.metric("nanomind_slots_total", auth) == 2
    _, text = server.get("/metrics", auth)
    assert 'nanomind_requests_total{endpoint="/v1/chat/completions",status="200"}' in text
    assert 'nanomind_brick_seconds_total{brick="text_decode",device="cpu"}' in text


def stream_request(url, body, key=KEY):
    host, port = url.replace("http://", "").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    conn.request("POST", "/v1/completions", body=json.dumps(body),
                 headers={"Content-Type": "application/json", "Authorization": "Bearer " + key})
    return conn, conn.getresponse()


def test_a_client_that_leaves_cancels_its_answer(server):
    auth = {"Authorization": "Bearer " + KEY}
    before = server.metric("nanomind_answers_cancelled_total", auth)
    for stream in (True, False):
        conn, resp = stream_request(server.url, {"prompt": "Once upon a time", "max_tokens": 2000, "stream": stream,
                                                 "ignore_eos": True})
        assert resp.status == 200
        resp.read(1)
        conn.sock.close()  # leave mid-answer
        conn.close()
        deadline = time.time() + 30
        while time.time() < deadline and server.metric("nanomind_slots_busy", auth) != 0:
            time.sleep(0.05)
        assert server.metric("nanomind_slots_busy", auth) == 0, "the answer went on after its client left"
    assert server.metric("nanomind_answers_cancelled_total", auth) == before + 2


def test_full_queue_answers_503_with_retry_after(tiny, tmp_path):
    s = Server(["-m", tiny, "--parallel", "1", "--queue", "0", "-c", "2048"], tmp_path / "server.log")
    try:
        conn, resp = stream_request(s.url, {"prompt": "Once upon a time", "max_tokens": 2000, "stream": True,
                                            "ignore_eos": True}, key="")
        assert resp.status == 200
        resp.read(1)
        c = openai.OpenAI(base_url=s.url + "/v1", api_key="none", max_retries=0, timeout=30)
        with pytest.raises(openai.APIStatusError) as e:
            c.completions.create(model="tiny", prompt="hi", max_tokens=2)
        assert e.value.status_code == 503
        assert e.value.response.headers["Retry-After"] == "1"
        conn.close()
    finally:
        s.stop()


def test_demo_model_with_an_image_answers_as_nanomind_run(tmp_path):
    s = Server(["-m", DEMO_LLM, "--mmproj", DEMO_MMPROJ], tmp_path / "server.log")
    try:
        c = openai.OpenAI(base_url=s.url + "/v1", api_key="none", max_retries=0, timeout=120)
        for scene, question in [("scene_3.png", "How many shapes are there?"),
                                ("scene_11.png", "What shape is the red one?")]:
            path = os.path.join(DEMO_DIR, "samples", scene)
            rc, out, err = run_cli("run", "-m", DEMO_LLM, "--mmproj", DEMO_MMPROJ, "--image", path, "-p", question,
                                   "--temp", "0", "-n", "32")
            assert rc == 0, err
            uri = "data:image/png;base64," + base64.b64encode(open(path, "rb").read()).decode()
            r = c.chat.completions.create(model="demo", temperature=0, max_tokens=32, messages=[{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": uri}}, {"type": "text", "text": question}]}])
            assert r.choices[0].message.content == out[:-1]
        # A follow-up that sends the first picture's conversation again: the slot's KV cache
        # still holds that picture's rows (an equal picture keeps its id), so they are
        # reused and the vision brick does not run again.
        path = os.path.join(DEMO_DIR, "samples", "scene_3.png")
        uri = "data:image/png;base64," + base64.b64encode(open(path, "rb").read()).decode()
        first = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": uri}},
                                              {"type": "text", "text": "How many shapes are there?"}]}]
        a = c.chat.completions.create(model="demo", temperature=0, max_tokens=16, messages=first)
        b = c.chat.completions.create(model="demo", temperature=0, max_tokens=16, messages=first + [
            {"role": "assistant", "content": a.choices[0].message.content},
            {"role": "user", "content": "What colour is the largest one?"}])
        na, nb = a.model_extra["nanomind"], b.model_extra["nanomind"]
        assert nb["prompt_tokens_reused"] >= a.usage.prompt_tokens - 2, (na, nb, a.usage, b.usage)
        assert [x["ms"] for x in nb["bricks"] if x["brick"] == "vision"] == [0], nb
        # Text only on the demo model, too.
        rc, out, _ = run_cli("run", "-m", DEMO_LLM, "-p", "Describe the scene.", "--temp", "0", "-n", "32")
        r = c.chat.completions.create(model="demo", temperature=0, max_tokens=32,
                                      messages=[{"role": "user", "content": "Describe the scene."}])
        assert rc == 0 and r.choices[0].message.content == out[:-1]
    finally:
        s.stop()


def test_local_files_only_under_the_allowed_folder(tmp_path):
    s = Server(["-m", DEMO_LLM, "--mmproj", DEMO_MMPROJ, "--allow-local-files", os.path.join(DEMO_DIR, "samples")],
               tmp_path / "server.log")
    try:
        c = openai.OpenAI(base_url=s.url + "/v1", api_key="none", max_retries=0, timeout=120)
        ok = os.path.join(DEMO_DIR, "samples", "scene_3.png")
        r = c.chat.completions.create(model="demo", temperature=0, max_tokens=8, messages=[{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "file://" + ok}}, {"type": "text", "text": "How many shapes are there?"}]}])
        assert r.choices[0].message.content
        for outside in ["/etc/passwd", os.path.join(DEMO_DIR, "samples", "..", "nanomind-demo-llm.gguf")]:
            with pytest.raises(openai.BadRequestError):
                c.chat.completions.create(model="demo", max_tokens=8, messages=[{"role": "user", "content": [
                    {"type": "image_url", "image_url": {"url": "file://" + outside}}, {"type": "text", "text": "?"}]}])
    finally:
        s.stop()


def test_a_bad_model_exits_non_zero_before_listening(tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 64)
    rc, out, err = run_cli("serve", "-m", str(bad), "--port", "0", timeout=60)
    assert rc != 0
    assert "listening" not in err and "error" in err


def json_cut(text):
    """The first JSON object in text, as the server's json_object mode must cut it: from the
    first '{' to where Python's own JSON decoder says that object ends; None when no valid
    object starts there."""
    start = text.find("{")
    if start < 0:
        return None
    try:
        _, end = json.JSONDecoder().raw_decode(text, start)
    except json.JSONDecodeError:
        return None
    return text[start:end]


@pytest.mark.parametrize("question", ["Reply in JSON: what is 2 + 2?", "Give me a json object about robots"])
def test_json_object_mode_cuts_the_answer_to_its_first_object(tiny, client, question):
    """Grammar-free json_object mode: the answer is the unconstrained greedy answer cut to its
    first JSON object (or nothing where it writes none), and the nanomind object says whether
    that parses. The tiny random model seldom writes '{': test_server_json_real.py has a model
    that does."""
    free = cli_answer(tiny, question, 40)
    r = client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": question}], temperature=0,
                                       max_tokens=40, response_format={"type": "json_object"})
    got = r.choices[0].message.content
    info = r.model_extra["nanomind"]["json_object"]
    assert info["started"] == ("{" in free)
    if not info["started"]:
        assert got == "" and info["dropped_bytes"] == len(free.encode())
    else:
        start = free.find("{")
        assert free[start:].startswith(got)
        want = json_cut(free)
        if want is not None and info["closed"]:
            assert got == want and info["valid"] and r.choices[0].finish_reason == "stop"
    assert info["valid"] == (info["closed"] and json_cut(got) == got)


def test_json_object_mode_needs_json_in_the_messages(client):
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "hi"}],
                                       response_format={"type": "json_object"})
    assert e.value.body["param"] == "response_format" and "JSON" in e.value.body["message"]
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "json please"}],
                                       response_format={"type": "json_schema", "json_schema": {"name": "x"}})
    assert e.value.body["param"] == "response_format"
