"""`nanomind battery`: the printed arithmetic is self-consistent (each mode's hours equal the
capacity over its mean power, and the mean power is the sum it prints), the work per event
follows the roofline it prints, every output says it is an estimate from a profile, and bad
input gets a clear error. The demo model's costs are recomputed here from its GGUF header with
gguf-py, independently of the C++ (matrix weights x tokens)."""
import os
import re
import subprocess

import pytest

NANOMIND = os.path.join(os.environ.get("NM_BIN", "."), "nanomind")
MODELS = os.path.join(os.environ.get("NM_SOURCE_DIR", "."), "models")


def nm(*args):
    return subprocess.run([NANOMIND, *args], capture_output=True, text=True, timeout=120)


def battery(*extra):
    return nm("battery", "--capacity", "2000mAh", "--voltage", "3.7", "--duty", "camera question every 60s", *extra)


@pytest.mark.parametrize("profile", ["rk3566", "rk3588", "jetson-orin-nano", "rpi5"])
def test_arithmetic_is_consistent(profile):
    r = battery("--profile", profile)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert out.startswith("ESTIMATE from device profile " + profile), out
    assert "not a measurement" in out
    assert "7.40 Wh = 26640 J" in out
    rows = re.findall(r"^  (parallel|throttled|on-demand)\s+([\d.]+) h .*?([\d.]+) W \+ ([\d.]+) W \+ ([\d.]+) J / 60 s = "
                      r"([\d.]+) W; 26640 J / ([\d.]+) W = ([\d.]+) h$", out, re.M)
    assert [r[0] for r in rows] == ["parallel", "throttled", "on-demand"], out
    for name, hours, base, stream, event_j, mean, mean2, hours2 in rows:
        assert float(mean) == pytest.approx(float(base) + float(stream) + float(event_j) / 60, abs=2e-3), name
        assert float(hours) == pytest.approx(26640 / float(mean) / 3600, rel=2e-3), name
        assert hours == hours2 and mean == mean2
    # On demand never streams; the auto mode lies between its extremes.
    on_demand = [r for r in rows if r[0] == "on-demand"][0]
    assert float(on_demand[3]) == 0
    auto = float(re.search(r"^  auto\s+([\d.]+) h", out, re.M).group(1))
    hours = [float(r[1]) for r in rows]
    assert min(hours) - 0.01 <= auto <= max(hours) + 0.01
    if profile == "rk3566":
        assert "18.8-20.8 h" in out and "~2.4 h" in out


def test_work_lines_follow_the_roofline():
    r = battery("--profile", "rk3566")
    assert r.returncode == 0, r.stderr
    num = r"([\d.]+(?:e[+-]\d+)?)"
    pattern = (r"^  (\S.*?) on (\S+)\s+(?:(\d+) x )?" + num + r" GFLOP at (\d+)% of " + num + r" G\w+/s = " + num +
               r" s, " + num + r" MB at " + num + r" GB/s = " + num + r" s -> (\w+)-bound: " + num + r" s x " + num +
               r" W = " + num + r" J$")
    lines = re.findall(pattern, r.stdout, re.M)
    assert len(lines) == 3, r.stdout
    for (_, _, runs, gflop, eff, rate, t_c, mb, gbps, t_m, bound, t, watts, joules) in lines:
        runs = int(runs or 1)
        assert float(t_c) == pytest.approx(float(gflop) / (float(rate) * int(eff) / 100), rel=2e-3)
        assert float(t_m) == pytest.approx(float(mb) / 1000 / float(gbps), rel=2e-3)
        assert bound == ("memory" if float(t_m) > float(t_c) else "compute")
        assert float(t) == pytest.approx(runs * max(float(t_c), float(t_m)), rel=2e-3)
        assert float(joules) == pytest.approx(float(t) * float(watts), rel=2e-3)


def test_demo_model_costs_match_its_header():
    gguf = pytest.importorskip("gguf")
    r = battery("--profile", "rk3566")
    assert r.returncode == 0, r.stderr
    m = re.search(r"text: llama, ([\d.]+) M matrix weights", r.stdout)
    assert m, r.stdout
    reader = gguf.GGUFReader(os.path.join(MODELS, "nanomind-demo-llm.gguf"))
    names = {t.name for t in reader.tensors}
    tied = "output.weight" not in names
    elements = sum(int(t.n_elements) for t in reader.tensors
                   if len(t.shape) >= 2 and (t.name != "token_embd.weight" or tied))
    assert float(m.group(1)) == pytest.approx(elements / 1e6, abs=0.05)


def test_bad_input_is_a_clear_error():
    cases = [
        (["--capacity", "2000mA", "--profile", "rk3566"], "unknown unit"),
        (["--capacity", "2000mAh", "--profile", "rk9999"], "no device profile named 'rk9999'"),
        (["--capacity", "2000mAh", "--profile", "rk3566", "--duty", "camera question"], "--duty"),
        (["--capacity", "2000mAh", "--profile", "rk3566", "--place", "vision=tpu"], "no device 'tpu'"),
        (["--capacity", "2000mAh", "--profile", "rk3566", "--t-high", "10", "--t-low", "20"], "T_low"),
        (["--capacity", "2000mAh", "--profile", "/nonexistent/p.json"], "cannot open"),
    ]
    for args, needle in cases:
        r = nm("battery", *args)
        assert r.returncode != 0, args
        assert needle in r.stderr, (args, r.stderr)
