"""response_format json_object on a real instruction model (the real-weight tier: NM_REAL=1 or
NM_REAL_REQUIRED=1). Qwen2.5-Coder 0.5B asked for a JSON object answers with a ```json fence
around it; the server's answer is exactly the object (as Python's JSON decoder finds it in
`nanomind run`'s unconstrained greedy answer), it parses, and the answer ends where the object
closes (finish_reason "stop")."""
import json

import openai

from server_helpers import Server, run_cli
from test_server import json_cut
from test_whisper_real_slow import model

QUESTION = "Return a JSON object with the keys name and age for a person called Alice who is 30."


def test_json_object_on_a_real_model(tmp_path):
    llm = model("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf")
    rc, free, err = run_cli("run", "-m", llm, "-p", QUESTION, "--temp", "0", "-n", "64", "-t", "2", "-c", "1024",
                            timeout=600)
    assert rc == 0, err
    want = json_cut(free)
    assert want is not None, f"the model wrote no JSON object: {free!r}"
    s = Server(["-m", llm, "-t", "2", "-c", "1024"], tmp_path / "server.log")
    try:
        c = openai.OpenAI(base_url=s.url + "/v1", api_key="none", max_retries=0, timeout=600)
        r = c.chat.completions.create(model="qwen", temperature=0, max_tokens=64, response_format={"type": "json_object"},
                                      messages=[{"role": "user", "content": QUESTION}])
    finally:
        s.stop()
    got = r.choices[0].message.content
    print("unconstrained:", repr(free), "\njson_object:", repr(got), r.model_extra["nanomind"]["json_object"])
    assert got == want
    assert json.loads(got)["name"] == "Alice"
    info = r.model_extra["nanomind"]["json_object"]
    # Dropped: the fence before the object, and what its closing token carried after the '}'.
    assert info["valid"] and info["started"] and info["closed"] and info["dropped_bytes"] >= free.find("{")
    assert r.choices[0].finish_reason == "stop"
