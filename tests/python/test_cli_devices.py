"""`--device` on `nanomind run` / `chat`: placement by name, per brick, the default, and clear
errors (unknown device names list the devices this machine has; unknown bricks are named).
Greedy answers must be identical on OpenCL (PoCL here) and on the CPU with F32 weights
(both compute in f32; tests/bricks/brick_devices_test.cpp bounds their logit difference)."""
import os
import re
import subprocess
import sys

import pytest

TOOLS = os.path.join(os.environ.get("NM_SOURCE_DIR", "."), "tools")
NANOMIND = os.path.join(os.environ.get("NM_BIN", "."), "nanomind")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    out = tmp_path_factory.mktemp("m") / "tiny-f32.gguf"
    subprocess.run([sys.executable, os.path.join(TOOLS, "make_tiny_llm.py"), "--preset", "tiny", "--type", "f32",
                    "--out", str(out)], check=True, capture_output=True)
    return str(out)


def nm(*args, stdin=None):
    return subprocess.run([NANOMIND, *args], input=stdin, capture_output=True, text=True, timeout=300)


def has_opencl():
    r = nm("devices", "--no-measure")
    return r.returncode == 0 and re.search(r"^opencl", r.stdout, re.M) is not None


def test_default_runs_on_the_cpu_and_says_so(model):
    r = nm("run", "-m", model, "-p", "Hi", "-n", "4", "--temp", "0", "-v")
    assert r.returncode == 0, r.stderr
    assert "text brick on cpu" in r.stderr, r.stderr


def test_unknown_device_lists_the_available_ones(model):
    r = nm("run", "-m", model, "-p", "Hi", "-n", "4", "--device", "npu:9")
    assert r.returncode != 0
    assert "unknown device 'npu:9'" in r.stderr and "cpu" in r.stderr, r.stderr


def test_unknown_brick_is_named(model):
    r = nm("run", "-m", model, "-p", "Hi", "-n", "4", "--device", "speaker=cpu")
    assert r.returncode != 0
    assert "unknown brick 'speaker'" in r.stderr, r.stderr


def test_opencl_gives_the_cpu_answer_and_names_the_device(model):
    if not has_opencl():
        # Without a platform the CPU is used, with one log line.
        r = nm("run", "-m", model, "-p", "Hi", "-n", "4", "--device", "opencl", "-v")
        assert r.returncode == 0, r.stderr
        assert r.stderr.count("using the CPU") == 1, r.stderr
        pytest.skip("no OpenCL platform: checked the CPU fallback only")
    args = ["run", "-m", model, "-p", "Tell me a story", "-n", "16", "--temp", "0", "-v"]
    cpu, cl = nm(*args), nm(*args, "--device", "opencl")
    assert cpu.returncode == 0 and cl.returncode == 0, cpu.stderr + cl.stderr
    assert cl.stdout == cpu.stdout
    assert "text brick on opencl" in cl.stderr, cl.stderr
    per_brick = nm(*args, "--device", "text=opencl,vision=cpu")
    assert per_brick.returncode == 0 and per_brick.stdout == cpu.stdout, per_brick.stderr


def test_chat_takes_the_device_option(model):
    dev = "opencl" if has_opencl() else "cpu"
    r = nm("chat", "-m", model, "-n", "4", "--temp", "0", "-v", "--device", dev, stdin="hello\nagain\n")
    assert r.returncode == 0, r.stderr
    assert r.stderr.count(f"text brick on {dev}") == 2, r.stderr
