"""`nanomind run --camera DIR --replan` (issue 15 item 8) on the bundled demo model: with the
bricks on declared CPU clusters and no calibration, re-planning runs on the built-in
estimate, says under -v which profile it uses and that the declared clusters are taken as
the profile's cpu, and the answers are those of the same stream without re-planning (moves,
if the machine's load causes any, change no token). The C API refuses a bad `replan` value.
Moving a brick on an injected slowdown is tests/runtime/stream_replan_test.cpp's."""
import os
import re
import shutil
import subprocess

import pytest

NANOMIND = os.path.join(os.environ.get("NM_BIN", "."), "nanomind")
MODELS = os.path.join(os.environ.get("NM_SOURCE_DIR", "."), "models")
QUESTION = "How many shapes are there?"
LINE = re.compile(r"^frame (\d+) \(([^)]*)\): (.*)$")


def nm(*args, env):
    return subprocess.run([NANOMIND, *args], capture_output=True, text=True, timeout=300, env=env)


def answers(stdout):
    out = []
    for line in stdout.splitlines():
        m = LINE.match(line)
        assert m, f"unexpected output line: {line!r}"
        out.append((int(m.group(1)), m.group(3)))
    return out


@pytest.mark.skipif(not os.cpu_count() or os.cpu_count() < 2, reason="needs two CPUs to declare two clusters")
def test_replanning_on_declared_clusters_changes_no_answer(tmp_path):
    d = tmp_path / "frames"
    d.mkdir()
    for i, s in enumerate(["scene_3", "scene_7", "scene_11", "scene_21", "scene_42"] * 2):
        shutil.copy(os.path.join(MODELS, "samples", s + ".png"), d / f"f{i:02d}.png")
    # No calibration in an empty cache: the built-in estimate.
    env = dict(os.environ, NANOMIND_MODELS=MODELS, NM_CPU_CLUSTERS="0|1", XDG_CACHE_HOME=str(tmp_path / "cache"))
    common = ["run", "--camera", str(d), "-p", QUESTION, "-n", "8", "--temp", "0", "--device", "vision=cpu:0,text=cpu:1"]
    plain = nm(*common, env=env)
    assert plain.returncode == 0, plain.stderr
    replanned = nm(*common, "--replan", "-v", env=env)
    assert replanned.returncode == 0, replanned.stderr
    assert answers(replanned.stdout) == answers(plain.stdout)
    assert [f for f, _ in answers(replanned.stdout)] == list(range(10))
    assert re.search(r"nanomind: re-planning on the \S+ profile \(built-in estimate \S+\)", replanned.stderr), replanned.stderr
    assert "names no cpu:0: taken as its cpu (an estimate)" in replanned.stderr, replanned.stderr
    # Without -v the decisions are not printed.
    quiet = nm(*common, "--replan", env=env)
    assert quiet.returncode == 0 and "re-plan" not in quiet.stderr, quiet.stderr
    assert answers(quiet.stdout) == answers(plain.stdout)
