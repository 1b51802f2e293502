"""Joules per answer from `nanomind serve` (issue 16 item 2): each answer's per-brick joules in
the response's `nanomind` block and in /metrics, labelled measured or estimated. Without a power
sensor (NM_SYSFS_ROOT at an empty folder) they are estimated from the x86-server-vcpu profile:
3.125 W per busy thread x the time each brick ran. With a fake INA226 rail at a constant 5 W
they are measured, and an answer generated alone costs exactly 5 W x its time. With
`--power-profile none` nothing is reported."""
import os

import openai
import pytest

from server_helpers import Server, make_tiny_model

W_PER_THREAD = 350 / 112  # x86-server-vcpu: TDP / hardware threads


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("m") / "tiny.gguf")


def serve(tiny, tmp_path, env, *args):
    old = dict(os.environ)
    os.environ.pop("NM_POWER_PROFILE", None)
    os.environ.update(env)
    try:
        return Server(["-m", tiny, *args], tmp_path / "server.log")
    finally:
        os.environ.clear()
        os.environ.update(old)


def ask(server, question="Tell me a story about a robot", n=16):
    c = openai.OpenAI(base_url=server.url + "/v1", api_key="none", max_retries=0, timeout=120)
    r = c.chat.completions.create(model="tiny", messages=[{"role": "user", "content": question}], temperature=0,
                                  max_tokens=n)
    return r.model_extra["nanomind"]


def bricks(nb):
    return {b["brick"]: b for b in nb["bricks"]}


def decode_joules_metric(server):
    _, text = server.get("/metrics")
    for line in text.splitlines():
        if line.startswith('nanomind_brick_joules_total{brick="text_decode",device="cpu",how="'):
            return line.split('how="')[1].split('"')[0], float(line.rsplit(" ", 1)[1])
    return None, None


def test_estimated_without_a_sensor(tiny, tmp_path):
    s = serve(tiny, tmp_path, {"NM_SYSFS_ROOT": str(tmp_path)})
    try:
        decode_total = 0.0
        for question in ["Tell me a story about a robot", "What is 2 + 2?"]:
            nb = ask(s, question)
            e = nb["energy"]
            assert e["how"] == "estimated" and "x86-server-vcpu" in e["source"], e
            b = bricks(nb)
            for name in ("text prefill", "text decode"):
                assert b[name]["energy"] == "estimated", b[name]
                assert b[name]["joules"] > 0, b[name]
                assert b[name]["joules_per_token"] == pytest.approx(b[name]["joules"] / b[name]["tokens"], rel=1e-9)
            assert e["joules"] == pytest.approx(b["text prefill"]["joules"] + b["text decode"]["joules"], rel=1e-9)
            # Prefill: W per busy thread x threads x its time (the threads are a whole number).
            w = b["text prefill"]["joules"] / (b["text prefill"]["ms"] / 1000)
            threads = w / W_PER_THREAD
            assert round(threads) >= 1 and threads == pytest.approx(round(threads), rel=0.15), (w, b)
            # Decode is charged per step: never more than its threads' power over its time.
            wd = b["text decode"]["joules"] / (b["text decode"]["ms"] / 1000)
            assert 0 < wd <= round(threads) * W_PER_THREAD * 1.05, (wd, b)
            decode_total += b["text decode"]["joules"]
        how, total = decode_joules_metric(s)
        assert how == "estimated" and total == pytest.approx(decode_total, rel=1e-9)
    finally:
        s.stop()


def test_measured_with_a_power_sensor(tiny, tmp_path):
    hw = tmp_path / "sys" / "class" / "hwmon" / "hwmon0"
    hw.mkdir(parents=True)
    (hw / "name").write_text("ina226\n")
    (hw / "in1_input").write_text("5000\n")   # 5 V
    (hw / "curr1_input").write_text("1000\n")  # 1 A
    s = serve(tiny, tmp_path, {"NM_SYSFS_ROOT": str(tmp_path)})
    try:
        nb = ask(s)
        e = nb["energy"]
        assert e["how"] == "measured" and "ina226" in e["source"], e
        # Alone, an answer's phases are charged the whole machine's 5 W while they ran.
        assert e["joules"] == pytest.approx(5.0 * e["seconds"], rel=1e-3), e
        assert all(b["energy"] == "measured" for b in nb["bricks"]), nb
        how, total = decode_joules_metric(s)
        assert how == "measured" and total == pytest.approx(bricks(nb)["text decode"]["joules"], rel=1e-9)
    finally:
        s.stop()


def test_nothing_without_a_profile(tiny, tmp_path):
    s = serve(tiny, tmp_path, {"NM_SYSFS_ROOT": str(tmp_path)}, "--power-profile", "none")
    try:
        nb = ask(s)
        assert "energy" not in nb
        assert all(b["joules"] is None and b["energy"] == "not measured" for b in nb["bricks"]), nb
        assert decode_joules_metric(s) == (None, None)
    finally:
        s.stop()
