#!/usr/bin/env python3
"""Each power mode on a camera stream, from a full simulated battery to an empty one (issue 16's
figure): how many answers the battery buys, mean estimated power, peak resident memory, and the
process's CPU while it waits idle for the next frame.

    python3 bench/power_modes.py [--bin build/bin/nanomind] [--answers 40] [--idle-s 60]

The battery is sized from this machine: a parallel run without a battery measures the joules of
one answer (the profile's estimate where no sensor exists, as here), and the simulated battery
holds --answers of them. Then, for each mode (forced parallel, throttled, on-demand, and auto,
the policy choosing by the level), `nanomind run --camera DIR --battery sim:...,start=100%`
answers frames until the battery is empty; "answers to 5%" counts those asked while the level
read before them was at least 5%. Peak resident memory is the process's own (wait4's ru_maxrss).
Idle: a second run per mode with `--watch` answers four frames, then waits for a new file; its CPU
time over --idle-s seconds of that wait is read from /proc/PID/stat, and the resident bytes of
the model files from /proc/PID/smaps. Every answer is checked against the parallel run without a
battery, frame by frame (throttled asks fewer frames, not other answers). Joules are labelled as
nanomind labels them (ESTIMATED without a sensor)."""
import argparse
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUESTION = "How many shapes are there?"
SCENES = ["scene_3", "scene_7", "scene_11", "scene_21", "scene_42", "scene_77"]
LINE = re.compile(r"^frame (\d+) \(([^)]*)\) \[(parallel|throttled|on-demand)(?:, battery ([0-9.]+)%)?\]: (.*)$")
NUM = r"([\d.]+(?:e[+-]\d+)?)"  # printed with %.3g
POWER = re.compile(r"\[power: .*?\| parallel (\d+) answers, " + NUM + r" J (\w+) in " + NUM + r" s \| throttled (\d+) "
                   r"answers \((\d+) frames skipped\), " + NUM + r" J in " + NUM + r" s \| on-demand (\d+) answers, " + NUM +
                   r" J in " + NUM + r" s")
MODES = ["parallel", "throttled", "on-demand", "auto"]


def run(nanomind, args, env):
    """Runs to the end; (returncode, stdout, stderr, peak resident KiB of that process, wall s)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.monotonic()
        p = subprocess.Popen([nanomind, *args], stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.monotonic() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return (p.returncode, out.read().decode(errors="replace"), err.read().decode(errors="replace"), usage.ru_maxrss,
                wall)


def power_summary(stderr):
    m = POWER.search(stderr)
    if not m:
        sys.exit(f"no [power: ...] summary in:\n{stderr}")
    g = m.groups()
    answers = int(g[0]) + int(g[4]) + int(g[8])
    joules = float(g[1]) + float(g[6]) + float(g[9])
    seconds = float(g[3]) + float(g[7]) + float(g[10])
    return answers, joules, seconds, g[2]


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def model_rss_kib(pid, names):
    total, inside = 0, False
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                inside = any(line.rstrip().endswith(n) for n in names)
            elif inside and line.startswith("Rss:"):
                total += int(line.split()[1])
    return total


def idle(nanomind, frames_dir, mode, idle_s, env, model_names):
    """CPU % of one core and model-file KiB resident while `--watch` waits after its answers to
    four frames (forced throttled, at alpha 0.5 without a battery, asks every second one)."""
    d = tempfile.mkdtemp(prefix="nm-idle-")
    for i in range(4):
        shutil.copy(os.path.join(frames_dir, sorted(os.listdir(frames_dir))[i]), os.path.join(d, f"f{i}.png"))
    expected = 2 if mode == "throttled" else 4
    p = subprocess.Popen([nanomind, "run", "--camera", d, "--watch", "--power-mode", mode if mode != "auto" else
                          "on-demand", "-p", QUESTION, "-n", "8", "--temp", "0"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    try:
        got, end = b"", time.monotonic() + 120
        while got.count(b"\n") < expected:
            ready, _, _ = select.select([p.stdout.fileno()], [], [], max(0.0, end - time.monotonic()))
            if not ready:
                sys.exit(f"{mode}: not {expected} answers within 120 s")
            data = os.read(p.stdout.fileno(), 65536)
            if not data:
                sys.exit(f"{mode}: the process ended before {expected} answers")
            got += data
        time.sleep(0.5)  # the second answer's last steps (printing, giving bricks back)
        c0, t0 = cpu_seconds(p.pid), time.monotonic()
        time.sleep(idle_s)
        c1, t1 = cpu_seconds(p.pid), time.monotonic()
        resident = model_rss_kib(p.pid, model_names)
        p.stdin.close()
        p.wait(timeout=60)
        return 100 * (c1 - c0) / (t1 - t0), resident
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        shutil.rmtree(d, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "bin", "nanomind"))
    ap.add_argument("--models", default=os.path.join(ROOT, "models"), help="the demo model's folder")
    ap.add_argument("--answers", type=int, default=40, help="parallel answers the battery holds (default 40)")
    ap.add_argument("--idle-s", type=float, default=60.0, help="idle window per mode, seconds (default 60)")
    a = ap.parse_args()
    env = dict(os.environ, NANOMIND_MODELS=a.models)
    work = tempfile.mkdtemp(prefix="nm-power-modes-")
    frames = os.path.join(work, "frames")
    os.mkdir(frames)
    n_frames = a.answers * 4  # throttled asks one frame in round(1/alpha): enough to drain it
    for i in range(n_frames):
        shutil.copy(os.path.join(a.models, "samples", SCENES[i % len(SCENES)] + ".png"),
                    os.path.join(frames, f"f{i:04d}.png"))
    common = ["run", "--camera", frames, "-p", QUESTION, "-n", "8", "--temp", "0"]
    model_names = [n for n in os.listdir(a.models) if n.endswith(".gguf")]

    # The reference: every frame in parallel mode without a battery; its joules per answer size the battery.
    rc, out, err, _, _ = run(a.bin, common + ["--power-mode", "parallel"], env)
    if rc != 0:
        sys.exit(err)
    truth = {}
    for line in out.splitlines():
        m = LINE.match(line)
        if m:
            truth[int(m.group(1))] = m.group(5)
    answers, joules, _, label = power_summary(err)
    per_answer = joules / answers
    capacity_j = per_answer * a.answers
    mah = capacity_j / (3.7 * 3.6)
    spec = f"sim:{mah:.6f}mAh@3.7V,start=100%"
    print(f"reference: {answers} frames in parallel mode without a battery, {per_answer:.3f} J per answer ({label}); "
          f"battery {spec} = {capacity_j:.2f} J")
    print()
    print("| mode | answers to 5% | answers to empty | frames skipped | mean power (W: battery J / run s) | peak RSS (MiB) "
          "| idle CPU (% of a core) | model files resident idle (KiB) | answers as parallel |")
    print("|---|---|---|---|---|---|---|---|---|")
    for mode in MODES:
        rc, out, err, peak_kib, wall = run(a.bin, common + ["--battery", spec, "--power-mode", mode], env)
        if rc != 0:
            sys.exit(f"{mode}: rc {rc}\n{err}")
        lines = [LINE.match(x) for x in out.splitlines()]
        lines = [m for m in lines if m]
        to5 = sum(1 for m in lines if m.group(4) and float(m.group(4)) >= 5)
        same = all(truth.get(int(m.group(1))) == m.group(5) for m in lines)
        # Mean power: the battery, drained from full to empty, over the run's time (the
        # summary's joules and seconds are those of the modes' answers only).
        power = capacity_j / wall if "battery empty" in err else float("nan")
        skipped = int(POWER.search(err).group(6))
        cpu, resident = idle(a.bin, frames, mode, a.idle_s, env, model_names)
        modes_seen = sorted({m.group(3) for m in lines}, key=MODES.index)
        name = mode if mode != "auto" else f"auto ({' -> '.join(modes_seen)}; idle run: on-demand)"
        print(f"| {name} | {to5} | {len(lines)} | {skipped} | {power:.3f} | {peak_kib / 1024:.0f} "
              f"| {cpu:.2f} | {resident} | {'yes' if same else 'NO'} |")
        sys.stdout.flush()
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
