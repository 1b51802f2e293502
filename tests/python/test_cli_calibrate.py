"""`nanomind calibrate`: writes a calibrated device profile (docs/PROFILES.md) to the user's
cache directory, keyed by the machine; `nanomind devices` then says it exists and how old it
is. Quick mode on the CPU only (a few seconds); the measurements themselves are checked
against a fake device in tests/runtime/calibrate_test.cpp."""
import json
import os
import re
import subprocess

import pytest

NANOMIND = os.path.join(os.environ.get("NM_BIN", "."), "nanomind")


def nm(*args, cache):
    env = dict(os.environ, XDG_CACHE_HOME=str(cache))
    return subprocess.run([NANOMIND, *args], capture_output=True, text=True, timeout=300, env=env)


def test_calibrate_writes_the_profile_and_devices_reports_it(tmp_path):
    r = nm("devices", "--no-measure", cache=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "calibration: none for this machine (run nanomind calibrate" in r.stdout, r.stdout

    r = nm("calibrate", "--quick", "--devices", "cpu", cache=tmp_path)
    assert r.returncode == 0, r.stderr
    m = re.search(r"-> (\S+calibrated-[0-9a-f]{16}\.json)", r.stdout)
    assert m, r.stdout
    path = m.group(1)
    assert path.startswith(str(tmp_path / "nanomind")), path
    assert "[" in r.stderr and "cpu: matmul q4_0" in r.stderr, r.stderr  # progress lines
    assert "no power sensor" in r.stdout or "measured" in r.stdout

    with open(path) as f:
        p = json.load(f)
    assert p["schema"] == "nanomind.device-profile/1"
    assert p["origin"] == "calibrated"
    assert p["calibration"]["created"] > 1.7e9 and p["calibration"]["build"].startswith("nanomind ")
    cpu = p["devices"][0]
    assert cpu["name"] == "cpu"
    shapes = {(e["weight"], e["tokens"]) for e in cpu["matmul"]}
    assert shapes == {("q4_0", 1), ("q4_0", 32), ("q8_0", 1), ("q8_0", 32)}, shapes
    for e in cpu["matmul"]:
        assert e["gflops"]["value"] > 0 and e["gflops"]["source"] == "measured"
    assert cpu["op_us"]["value"] >= 0 and cpu["op_us"]["source"] == "measured", cpu.get("op_us")
    assert "cpu: one op of a graph run: " in r.stderr, r.stderr
    if "active_w" in cpu and cpu["active_w"]["source"] != "measured":  # stand-in power is labelled
        assert cpu["active_w"]["estimate"] is True
        assert cpu["active_w"]["note"].startswith("not measured (no power sensor)")

    r = nm("devices", "--no-measure", cache=tmp_path)
    assert r.returncode == 0, r.stderr
    assert re.search(r"calibration: " + re.escape(path) + r", measured \d+ s ago in [\d.]+ s by nanomind ", r.stdout), r.stdout
    assert "another build" not in r.stdout

    # A damaged profile is reported, never used or crashed on.
    with open(path, "w") as f:
        f.write('{"schema": ')
    r = nm("devices", "--no-measure", cache=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "is unusable" in r.stdout and "calibrate again" in r.stdout, r.stdout


def test_out_and_bad_arguments(tmp_path):
    out = tmp_path / "p.json"
    r = nm("calibrate", "--quick", "--devices", "cpu", "--types", "q4_0", "--out", str(out), cache=tmp_path)
    assert r.returncode == 0, r.stderr
    assert {e["weight"] for e in json.load(open(out))["devices"][0]["matmul"]} == {"q4_0"}
    r = nm("calibrate", "--devices", "tpu", cache=tmp_path)
    assert r.returncode != 0 and "no device 'tpu'" in r.stderr, r.stderr
    r = nm("calibrate", "--types", "q9_9", cache=tmp_path)
    assert r.returncode != 0 and "'q9_9' is not a weight type" in r.stderr, r.stderr
    r = nm("calibrate", "--quick", "--devices", "cpu", "--power-profile", "rk9999", cache=tmp_path)
    assert r.returncode != 0 and "no device profile named 'rk9999'" in r.stderr, r.stderr


NUM = r"([\d.]+(?:e[+-]?\d+)?)"


def test_bench_prints_the_prediction_beside_the_measurement(tmp_path):
    bench = ("bench", "-p", "16", "-n", "4", "-r", "1")  # the bundled demo model
    r = nm(*bench, cache=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "prediction: none (no calibrated profile for this machine: run nanomind calibrate)" in r.stdout, r.stdout
    r = nm("calibrate", "--quick", "--devices", "cpu", "--types", "f32,f16,q8_0,q4_0", cache=tmp_path)
    assert r.returncode == 0, r.stderr
    r = nm(*bench, cache=tmp_path)
    assert r.returncode == 0, r.stderr
    m = re.search(r"^prediction from \S+calibrated-[0-9a-f]{16}\.json \(calibrated \d+ s ago\): (.*)$", r.stdout, re.M)
    assert m, r.stdout
    found = re.findall(r"(pp|tg|image)(\d*) " + NUM + r" (?:t|images)/s \(measured " + NUM + r", error ([+-]\d+)%",
                       m.group(1))
    # The demo has an mmproj: its image encode is predicted too.
    assert [(t, n) for t, n, *_ in found] == [("pp", "16"), ("tg", "4"), ("image", "")], m.group(1)
    table = {t: float(v) for t, v in re.findall(r"^\| (pp|tg)\d+\s+\|\s+" + NUM, r.stdout, re.M)}
    image = re.search(r"^image encode \((\d+)x(\d+), (\d+) tokens out\): " + NUM + r" ± " + NUM + r" images/s, 1 runs$",
                      r.stdout, re.M)
    assert image and image.group(1) == image.group(2) == "96" and image.group(3) == "9", r.stdout  # the demo's 96 px, 9 tokens
    table["image"] = float(image.group(4))
    for test, _, predicted, measured, err in found:
        assert float(predicted) > 0
        assert float(measured) == pytest.approx(table[test], rel=1e-2)  # the table's mean
        # Both figures are printed to 4 significant digits (each off by up to 5e-4 relative), so
        # the error recomputed from them is off by up to 1e-3 x predicted / measured x 100 points
        # (4.4 points at +4380%, seen in a landing run), plus the printed error's own rounding.
        ratio = float(predicted) / float(measured)
        assert int(err) == pytest.approx(100 * (ratio - 1), abs=1 + 0.1 * ratio)
