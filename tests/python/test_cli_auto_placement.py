"""Automatic placement (issue 15 item 6): without --device, run places the bricks where the
planner says on this machine's devices. Without a calibration it says once that it used the
built-in estimate; with one (a quick CPU calibration, edited here so that the OpenCL device is
by far the fastest, which the planner must then pick for both bricks) -v names the plan and
the answer is the one --device gives for that placement. --device still overrides."""
import json
import os
import re
import subprocess

import pytest

NANOMIND = os.path.join(os.environ.get("NM_BIN", "."), "nanomind")
SAMPLE = os.path.join(os.environ.get("NM_SOURCE_DIR", "."), "models", "samples")


def nm(*args, cache):
    # PoCL keeps its compiled kernels under XDG_CACHE_HOME: keep them where they are.
    pocl = os.environ.get("POCL_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "pocl")
    env = dict(os.environ, XDG_CACHE_HOME=str(cache), POCL_CACHE_DIR=pocl)
    return subprocess.run([NANOMIND, *args], capture_output=True, text=True, timeout=300, env=env)


def image():
    names = sorted(n for n in os.listdir(SAMPLE) if n.endswith((".png", ".jpg")))
    return os.path.join(SAMPLE, names[0])


ASK = ["-p", "What is this?", "-n", "6", "--temp", "0"]


def test_without_calibration_the_estimate_is_said_once_and_answers_as_the_cpu(tmp_path):
    r = nm("run", "--image", image(), *ASK, cache=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("no calibration for this machine") == 1, r.stderr
    assert "built-in estimate" in r.stderr and "--device overrides" in r.stderr
    cpu = nm("run", "--image", image(), *ASK, "--device", "cpu", cache=tmp_path)
    assert cpu.returncode == 0 and "no calibration" not in cpu.stderr, cpu.stderr
    assert r.stdout == cpu.stdout


def test_a_calibration_that_favours_opencl_moves_the_bricks_there(tmp_path):
    devices = nm("devices", "--no-measure", cache=tmp_path)
    if not re.search(r"^opencl\s", devices.stdout, re.M):
        pytest.skip("no OpenCL device on this machine")
    r = nm("calibrate", "--quick", "--devices", "cpu", "--types", "f32", cache=tmp_path)
    assert r.returncode == 0, r.stderr
    path = re.search(r"-> (\S+calibrated-[0-9a-f]{16}\.json)", r.stdout).group(1)
    with open(path) as f:
        p = json.load(f)
    fast = json.loads(json.dumps(p["devices"][0]))
    fast["name"], fast["api"], fast["kind"] = "opencl", "opencl", "gpu"
    fast.pop("cores", None)
    for key in ("f32_gflops", "read_gbps", "elementwise_gbps"):
        if key in fast:
            fast[key]["value"] *= 1000
    for entry in fast.get("matmul", []) + fast.get("attention", []):
        entry["gflops"]["value"] *= 1000
    if "launch_us" in fast:
        fast["launch_us"]["value"] /= 1000
    p["devices"].append(fast)
    with open(path, "w") as f:
        json.dump(p, f)

    r = nm("run", "--image", image(), *ASK, "-v", cache=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "no calibration" not in r.stderr
    m = re.search(r"bricks placed by the planner \(latency, profile calibrated .*\): (.*)$", r.stderr, re.M)
    assert m, r.stderr
    assert m.group(1) == "vision -> opencl, text -> opencl", m.group(1)
    spec = nm("run", "--image", image(), *ASK, "--device", "vision=opencl,text=opencl", cache=tmp_path)
    assert spec.returncode == 0, spec.stderr
    assert r.stdout == spec.stdout
    # --device overrides: nothing is planned or said.
    cpu = nm("run", "--image", image(), *ASK, "-v", "--device", "cpu", cache=tmp_path)
    assert cpu.returncode == 0 and "placed by the planner" not in cpu.stderr, cpu.stderr
