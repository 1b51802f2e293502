"""`nanomind run --camera DIR --watch` on the bundled demo model: after the frames already in
the folder, the assistant sleeps until a new file arrives (or a line on standard input asks
about the latest frame again) and ends with its input. Idle really idle: over the idle
window (NM_IDLE_TEST_S, 3 s by default; 60 s for the figure) the process uses under 1% of
one core, measured from /proc/PID/stat, in on-demand mode with no byte of either model file
resident (/proc/PID/smaps), and in parallel mode too (threads asleep, weights kept)."""
import os
import re
import select
import shutil
import subprocess
import time

import pytest

from proc_usage import cpu_seconds, demo_model_rss_bytes

NANOMIND = os.path.join(os.environ.get("NM_BIN", "."), "nanomind")
MODELS = os.path.join(os.environ.get("NM_SOURCE_DIR", "."), "models")
QUESTION = "How many shapes are there?"
LINE = re.compile(r"^frame (\d+) \(([^)]*)\) \[(parallel|throttled|on-demand)\]: (.*)$")
IDLE_S = float(os.environ.get("NM_IDLE_TEST_S", "3"))


def read_answer(p, timeout=120):
    """The next answer line. Read from the pipe's descriptor with our own buffer: select() on
    p.stdout saw only the descriptor, so a readline() that had taken two answers written back
    to back (parallel mode) left the second in Python's buffer and the next select waited
    120 s for bytes already read (CI and a lead's run, 2026-12-07)."""
    pending = getattr(p, "pending", b"")
    end = time.monotonic() + timeout
    while b"\n" not in pending:
        ready, _, _ = select.select([p.stdout.fileno()], [], [], max(0.0, end - time.monotonic()))
        assert ready, "no answer within the time limit"
        data = os.read(p.stdout.fileno(), 65536)
        assert data, "the process ended without an answer"
        pending += data
    raw, p.pending = pending.split(b"\n", 1)
    line = raw.decode()
    m = LINE.match(line)
    assert m, f"unexpected output line: {line!r}"
    return int(m.group(1)), m.group(2), m.group(3), m.group(4)


@pytest.mark.parametrize("mode", ["on-demand", "parallel"])
def test_idle_between_frames_is_asleep_and_wakes_on_a_file_and_a_line(tmp_path, mode):
    d = tmp_path / "camera"
    d.mkdir()
    for i, s in enumerate(["scene_3", "scene_7"]):
        shutil.copy(os.path.join(MODELS, "samples", s + ".png"), d / f"f{i}.png")
    env = dict(os.environ, NANOMIND_MODELS=MODELS)
    p = subprocess.Popen([NANOMIND, "run", "--camera", str(d), "--watch", "--power-mode", mode, "-p", QUESTION,
                          "-n", "8", "--temp", "0"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, bufsize=1, env=env)
    try:
        first = [read_answer(p) for _ in range(2)]
        assert [(a[0], a[1], a[2]) for a in first] == [(0, "f0.png", mode), (1, "f1.png", mode)]
        time.sleep(0.2)  # let the answer's last steps (printing, freeing) finish
        c0, t0 = cpu_seconds(p.pid), time.monotonic()
        time.sleep(IDLE_S)
        c1, t1 = cpu_seconds(p.pid), time.monotonic()
        share = (c1 - c0) / (t1 - t0)
        print(f"{mode}: idle {t1 - t0:.1f} s, CPU {c1 - c0:.3f} s = {100 * share:.3f}% of one core, "
              f"model files resident {demo_model_rss_bytes(p.pid)} bytes")
        assert share < 0.01, f"{100 * share:.2f}% of a core while idle"
        if mode == "on-demand":
            assert demo_model_rss_bytes(p.pid) == 0
        else:
            assert demo_model_rss_bytes(p.pid) > 0  # kept: the point of on-demand is the difference

        # A new picture wakes it: written under a hidden name, then moved in complete.
        shutil.copy(os.path.join(MODELS, "samples", "scene_7.png"), d / ".new.png")
        os.rename(d / ".new.png", d / "new.png")
        woke = read_answer(p)
        assert woke[:3] == (2, "new.png", mode)
        assert woke[3] == first[1][3]  # the same picture as f1.png: the same answer
        # A line on standard input asks about the latest frame again.
        p.stdin.write("and now?\n")
        p.stdin.flush()
        assert read_answer(p) == (3, "new.png, asked again", mode, woke[3])
        p.stdin.close()  # the end of input ends the stream
        assert p.wait(timeout=60) == 0, p.stderr.read()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_watch_needs_a_camera_folder(tmp_path):
    env = dict(os.environ, NANOMIND_MODELS=MODELS)
    r = subprocess.run([NANOMIND, "run", "-p", QUESTION, "--watch"], capture_output=True, text=True, timeout=120,
                       env=env)
    assert r.returncode == 1 and "--camera" in r.stderr, r.stderr
    f = tmp_path / "f.png"
    shutil.copy(os.path.join(MODELS, "samples", "scene_3.png"), f)
    r = subprocess.run([NANOMIND, "run", "--camera", str(f), "--watch", "-p", QUESTION], capture_output=True,
                       text=True, timeout=120, env=env, stdin=subprocess.DEVNULL)
    assert r.returncode == 1 and "not a folder" in r.stderr, r.stderr
