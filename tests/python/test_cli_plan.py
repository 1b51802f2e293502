"""`nanomind plan`: the chosen placement is the cheapest of every placement the command can be
asked about (each brick forced onto each device through a one-device profile written here and
costed by the same command), the JSON agrees with the text, a memory budget is respected or
refused naming the smallest feasible one, and bad input gets a clear error. Every output says
it is a prediction from a profile."""
import copy
import itertools
import json
import os
import re
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


def sim_rows(out):
    rows = {}
    for line in out.splitlines():
        parts = line.split()
        if line.startswith("  ") and parts and parts[0] in ("monolithic", "planned"):
            # name first s per-answer s answers/min J J peak unit placement...
            rows[parts[0]] = dict(first=float(parts[1]), per_answer=float(parts[3]), per_min=float(parts[5]),
                                  joules=float(parts[6]), placement=" ".join(parts[10:]))
    return rows


@pytest.mark.parametrize("profile", ["rk3588", "rk3566"])
def test_simulation_is_labelled_and_its_figures_agree(profile):
    r = nm("plan", "--profile", profile, "--simulate", "camera:6")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert out.startswith("SIMULATION of camera:6 on device profile " + profile) and "not a measurement" in out, out
    rows = sim_rows(out)
    assert set(rows) == {"monolithic", "planned"}, out
    cpu = "cpu:big" if profile == "rk3588" else "cpu"
    assert rows["monolithic"]["placement"] == f"vision -> {cpu}, text -> {cpu}, keep, sequential"
    for row in rows.values():
        assert row["per_min"] == pytest.approx(60 / row["per_answer"], rel=2e-3)
        assert row["first"] <= 6 * row["per_answer"] * (1 + 1e-3)
    m, p = rows["monolithic"], rows["planned"]
    line = [ln for ln in out.splitlines() if ln.startswith("planned vs monolithic")][0]
    latency = float(line.split("time per answer ")[1].split("%")[0])
    energy = float(line.split("energy per answer ")[1].split("%")[0])
    assert latency == pytest.approx(100 * (p["per_answer"] / m["per_answer"] - 1), abs=0.2)
    assert energy == pytest.approx(100 * (p["joules"] / m["joules"] - 1), abs=0.2)
    # The planned placement is the one `plan --workload camera:6` prints.
    j = plan_json("--profile", profile, "--workload", "camera:6")
    assert p["placement"].startswith(j["best"]["placement"])


def test_svg_has_a_lane_per_device_and_says_simulation(tmp_path):
    svg = tmp_path / "plan.svg"
    r = nm("plan", "--profile", "rk3588", "--workload", "camera:3", "--svg", str(svg))
    assert r.returncode == 0, r.stderr
    text = svg.read_text()
    assert text.startswith("<svg") and text.rstrip().endswith("</svg>")
    assert "SIMULATION" in text
    for lane in ("cpu:big", "cpu:little", "gpu", "npu"):
        assert f">{lane}</text>" in text
    assert text.count("<rect") >= 4 + 3 * 3  # lanes, background, a box per brick run


@pytest.mark.parametrize("args,words", [
    (["--simulate", "camera:4", "--allow-split"], "cannot run a layer split"),
    (["--simulate", "camera:4", "--monolithic", "tpu"], "has no device 'tpu'"),
    (["--simulate", "camera:4", "--workload", "text"], "--simulate names the workload"),
    (["--simulate", "movie"], "--simulate"),
])
def test_bad_simulation_input_is_a_clear_error(args, words):
    r = nm("plan", "--profile", "rk3588", *args)
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert words in r.stderr, r.stderr


def test_cost_model_charges_each_runs_ops_counted_from_the_tensor_table(tmp_path):
    """The per-op cost (issue 15 item 7): every op of a run costs the profile's op_us. The ops
    are counted from the files' tensor tables: a matmul or lookup per matrix and an attention
    per text layer, two matmuls per head of a vision layer (the vision graph's attention) and,
    where they exceed 8192 values, a softmax per head and the concats joining the heads; where
    a run's activations exceed 8192 values (smaller element-wise ops run on the calling
    thread of a CPU cluster), also an element-wise op per vector (norm weights, biases) and 10
    per text layer (norms, ropes, residual adds, activation, gate, K and V writes) or 5 per
    vision layer (norms, residual adds, activation). Counted here with gguf's own reader on
    LLaVA-OneVision-0.5B's shapes (large activations) and the demo (small)."""
    import sys

    import gguf

    tool = os.path.join(SRC, "tools", "make_shaped_gguf.py")
    llm, mmproj = str(tmp_path / "qwen2.gguf"), str(tmp_path / "siglip.gguf")
    for preset, out in (("qwen2-0.5b", llm), ("siglip-so400m", mmproj)):
        subprocess.run([sys.executable, tool, "--preset", preset, "--out", out], check=True, capture_output=True)
    with open(os.path.join(SRC, "profiles", "x86-server-vcpu.json")) as f:
        p = json.load(f)
    source = next(iter(p["sources"]))
    p["devices"][0]["op_us"] = {"value": 2.5, "source": source, "estimate": True, "note": "a test's figure"}
    profile = tmp_path / "with-op-cost.json"
    profile.write_text(json.dumps(p))

    def field(r, key):
        return int(r.fields[key].parts[-1][0])

    def counts(path, layers_key):
        r = gguf.GGUFReader(path)
        matrices = sum(1 for t in r.tensors if len(t.shape) >= 2)
        vectors = sum(1 for t in r.tensors if len(t.shape) < 2)
        return matrices, vectors, field(r, layers_key)

    def heads(path):
        return field(gguf.GGUFReader(path), "clip.vision.attention.head_count")

    def ops_per_run(*args):
        r = nm("plan", "--profile", str(profile), "-v", *args)
        assert r.returncode == 0, r.stderr
        found = dict(re.findall(r"^\s+(vision|text prefill|text decode)\s+on cpu .*\(incl\. (\d+) ops per run x 2\.5 us = ",
                                r.stdout, re.M))
        return {k: int(v) for k, v in found.items()}, r.stdout

    m, v, layers = counts(llm, "qwen2.block_count")
    vm, vv, vlayers = counts(mmproj, "clip.vision.block_count")
    got, out = ops_per_run("-m", llm, "--mmproj", mmproj, "--workload", "camera")
    # 729 patches x 1152 and 753 tokens x 896: large activations everywhere but in decode.
    h = heads(mmproj)
    assert got == {"vision": vm + (2 * h + h + h - 1) * vlayers + vv + 5 * vlayers,
                   "text prefill": m + layers + v + 10 * layers, "text decode": m + layers}, out

    demo_llm = os.path.join(SRC, "models", "nanomind-demo-llm.gguf")
    demo_mmproj = os.path.join(SRC, "models", "nanomind-demo-mmproj.gguf")
    m, v, layers = counts(demo_llm, "llama.block_count")
    vm, vv, vlayers = counts(demo_mmproj, "clip.vision.block_count")
    got, out = ops_per_run("-m", demo_llm, "--mmproj", demo_mmproj, "--workload", "camera")
    # 9 patches x 192, 33 tokens x 128: every element-wise op runs inline.
    assert got == {"vision": vm + 2 * heads(demo_mmproj) * vlayers, "text prefill": m + layers,
                   "text decode": m + layers}, out
