"""`nanomind plan`: the chosen placement is the cheapest of every placement the command can be
asked about (each brick forced onto each device through a one-device profile written here and
costed by the same command), the JSON agrees with the text, a memory budget is respected or
refused naming the smallest feasible one, and bad input gets a clear error. Every output says
it is a prediction from a profile."""
import copy
import itertools
import json
import os
import subprocess

import pytest

NANOMIND = os.path.join(os.environ.get("NM_BIN", "."), "nanomind")
SRC = os.environ.get("NM_SOURCE_DIR", ".")


def nm(*args, env=None):
    return subprocess.run([NANOMIND, *args], capture_output=True, text=True, timeout=120, env=env)


def plan_json(*args):
    r = nm("plan", "--json", *args)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.mark.parametrize("profile", ["rk3566", "rk3588", "jetson-orin-nano", "rpi5"])
@pytest.mark.parametrize("objective", ["latency", "energy", "edp"])
def test_json_best_is_no_worse_than_the_runner_up_and_says_prediction(profile, objective):
    j = plan_json("--profile", profile, "--objective", objective)
    assert j["prediction"] is True and j["profile"]["name"] == profile
    best, second = j["best"], j["runner_up"]
    assert best["objective"] <= second["objective"] * (1 + 1e-9)
    key = {"latency": "seconds_per_answer", "energy": "joules_per_answer"}.get(objective)
    value = best[key] if key else best["joules_per_answer"] * best["seconds_per_answer"]
    assert value == pytest.approx(best["objective"], rel=1e-9)
    assert {b["brick"] for b in best["bricks"]} == {"vision", "text"}
    # energy = the devices' joules + the board's power x the time (printed in the text form).
    t = nm("plan", "--profile", profile, "--objective", objective)
    assert t.returncode == 0 and t.stdout.startswith("PREDICTION from device profile " + profile), t.stdout
    assert "not a measurement" in t.stdout and "placement: " + best["placement"] in t.stdout


def one_device_profile(profile_name, device, tmp_path):
    """The shipped profile cut down to one device: plan on it costs the placement that puts
    every brick there, independently of the search."""
    src = os.path.join(SRC, "profiles", profile_name + ".json")
    with open(src) as f:
        p = json.load(f)
    q = copy.deepcopy(p)
    q["devices"] = [d for d in p["devices"] if d["name"] == device]
    q["name"] = profile_name + "-only-" + device.replace(":", "-")
    path = tmp_path / (q["name"] + ".json")
    path.write_text(json.dumps(q))
    return str(path)


@pytest.mark.parametrize("profile", ["rk3588", "rk3566"])
def test_text_question_choice_is_the_cheapest_single_device(profile, tmp_path):
    # A text question has one brick: the plan's choice must equal the minimum over the devices,
    # each costed alone by a profile that has only that device.
    with open(os.path.join(SRC, "profiles", profile + ".json")) as f:
        devices = [d["name"] for d in json.load(f)["devices"]]
    for objective in ("latency", "energy"):
        alone = {}
        for dev in devices:
            j = plan_json("--profile", one_device_profile(profile, dev, tmp_path), "--workload", "text",
                          "--objective", objective, "--residency", "keep")
            alone[dev] = j["best"]["objective"]
        j = plan_json("--profile", profile, "--workload", "text", "--objective", objective, "--residency", "keep")
        assert j["best"]["objective"] == pytest.approx(min(alone.values()), rel=1e-9), (alone, j["best"])
        assert j["candidates"] == len(devices)


def test_memory_budget_is_respected_or_names_the_smallest_feasible():
    r = nm("plan", "--profile", "rk3588", "--mem-budget", "1K")
    assert r.returncode != 0
    assert "smallest feasible budget is" in r.stderr, r.stderr
    smallest = int(r.stderr.split("smallest feasible budget is ")[1].split(" (")[1].split(" bytes")[0])
    j = plan_json("--profile", "rk3588", "--mem-budget", str(smallest))
    assert j["best"]["peak_bytes"] <= smallest
    r = nm("plan", "--profile", "rk3588", "--mem-budget", str(smallest - 1))
    assert r.returncode == 1 and "smallest feasible budget" in r.stderr, r.stderr
    assert j["best"]["residency"] == "on-demand"  # the demo's bricks only fit one at a time
    assert j["over_budget"] > 0


def test_stream_workload_pipelines_and_split_is_considered_when_allowed():
    j = plan_json("--profile", "rk3588", "--workload", "camera:20")
    best = j["best"]
    if best["residency"] == "keep":
        assert best["seconds_per_answer"] <= best["answer_seconds"] * (1 + 1e-9)
    plain = plan_json("--profile", "rk3588", "--workload", "text")["candidates"]
    split = plan_json("--profile", "rk3588", "--workload", "text", "--allow-split")["candidates"]
    assert split > plain  # every device pair and split point of the demo's 4 layers


def test_default_profile_without_a_calibration_says_so(tmp_path):
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path), HOME=str(tmp_path))
    r = nm("plan", env=env)
    assert r.returncode == 0, r.stderr
    first = r.stdout.splitlines()[0]
    assert first.startswith("PREDICTION from device profile"), first
    assert "calibrat" in first  # "no calibration for this machine ..." or a board profile "not calibrated here"


@pytest.mark.parametrize("args,words", [
    (["--objective", "fast"], "expected latency, energy or edp"),
    (["--workload", "video"], "expected text, camera"),
    (["--workload", "camera:0"], "N in [1, 100000]"),
    (["--mem-budget", "lots"], "--mem-budget"),
    (["--mem-budget", "-1G"], "--mem-budget"),
    (["--residency", "sometimes"], "expected auto, keep or on-demand"),
    (["--profile", "nosuchboard"], "nosuchboard"),
    (["-m", "/nonexistent.gguf"], "/nonexistent.gguf"),
])
def test_bad_input_is_a_clear_error(args, words):
    r = nm("plan", *args)
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert words in r.stderr, r.stderr
