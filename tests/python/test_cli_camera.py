"""`nanomind run --camera DIR` on the bundled demo model: one answer line per asked frame,
in frame order, as the pipeline produces them; --every K; an unreadable file is reported
and the other frames are still answered; the same answers with --sequential, and with the
bricks on declared CPU clusters (NM_CPU_CLUSTERS=0|1 and --device vision=cpu:0,text=cpu:1);
and the answer for a frame is the answer `run --image` gives for that picture alone."""
import os
import re
import shutil
import subprocess

NANOMIND = os.path.join(os.environ.get("NM_BIN", "."), "nanomind")
MODELS = os.path.join(os.environ.get("NM_SOURCE_DIR", "."), "models")
ENV = dict(os.environ, NANOMIND_MODELS=MODELS)
QUESTION = "How many shapes are there?"
LINE = re.compile(r"^frame (\d+) \(([^)]*)\): (.*)$")


def nm(*args, env=ENV):
    return subprocess.run([NANOMIND, *args], capture_output=True, text=True, timeout=300, env=env)


def frames(tmp_path):
    d = tmp_path / "frames"
    d.mkdir()
    for i, s in enumerate(["scene_3", "scene_7", "scene_11", "scene_21"]):
        shutil.copy(os.path.join(MODELS, "samples", s + ".png"), d / f"f{i}.png")
    (d / "f1b.png").write_text("not a picture")
    return d


def answers(stdout):
    out = []
    for line in stdout.splitlines():
        m = LINE.match(line)
        assert m, f"unexpected output line: {line!r}"
        out.append((int(m.group(1)), m.group(2), m.group(3)))
    return out


def test_one_answer_per_frame_in_order_with_the_broken_frame_reported(tmp_path):
    d = frames(tmp_path)
    r = nm("run", "--camera", str(d), "-p", QUESTION, "-n", "12", "--temp", "0", "-v")
    assert r.returncode == 0, r.stderr
    a = answers(r.stdout)
    assert [x[0] for x in a] == [0, 1, 2, 3, 4]
    assert [x[1] for x in a] == ["f0.png", "f1.png", "f1b.png", "f2.png", "f3.png"]
    assert a[2][2].startswith("error:") and "f1b.png" in a[2][2]
    assert all(not x[2].startswith("error:") and x[2] for i, x in enumerate(a) if i != 2)
    assert "0 bytes copied between bricks" in r.stderr and "4 answered, 1 failed" in r.stderr, r.stderr

    # The same answers one frame after the other, and with the bricks on their own clusters.
    seq = nm("run", "--camera", str(d), "-p", QUESTION, "-n", "12", "--temp", "0", "--sequential")
    assert seq.returncode == 0 and answers(seq.stdout) == a, seq.stderr
    if os.cpu_count() and os.cpu_count() >= 2:
        env = dict(ENV, NM_CPU_CLUSTERS="0|1")
        split = nm("run", "--camera", str(d), "-p", QUESTION, "-n", "12", "--temp", "0", "--device",
                   "vision=cpu:0,text=cpu:1", env=env)
        assert split.returncode == 0, split.stderr
        assert [x[2] for x in answers(split.stdout)] == [x[2] for x in a]

    # A frame's answer is the answer for that picture asked on its own.
    alone = nm("run", "--image", str(d / "f2.png"), "-p", QUESTION, "-n", "12", "--temp", "0")
    assert alone.returncode == 0, alone.stderr
    assert alone.stdout.strip() == a[3][2]


def test_every_kth_frame_and_bad_options(tmp_path):
    d = frames(tmp_path)
    r = nm("run", "--camera", str(d), "-p", QUESTION, "-n", "4", "--every", "2", "--max-frames", "4")
    assert r.returncode == 0, r.stderr
    assert [x[0] for x in answers(r.stdout)] == [0, 2]
    assert nm("run", "--camera", str(d), "-n", "4").returncode != 0  # no question
    bad = nm("run", "--camera", str(tmp_path / "nope"), "-p", QUESTION)
    assert bad.returncode != 0 and "nope" in bad.stderr
    assert nm("run", "--camera", str(d), "-p", QUESTION, "--every", "0").returncode != 0


def test_trace_of_a_pipelined_run(tmp_path):
    """--trace writes Chrome trace events: a track per device, vision and text slices, and
    one ring hand-off arrow per answered frame from the vision track to the text track."""
    import json
    d = frames(tmp_path)
    trace = tmp_path / "t.json"
    r = nm("run", "--camera", str(d), "-p", QUESTION, "-n", "6", "--temp", "0", "--trace", str(trace))
    assert r.returncode == 0, r.stderr
    events = json.loads(trace.read_text())["traceEvents"]
    names = {e["name"] for e in events if e["ph"] == "X"}
    assert "encode" in names and "prefill" in names and "decode" in names, names
    assert sum(1 for e in events if e["ph"] == "X" and e["name"].startswith("answer frame")) == 4
    starts = {e["id"] for e in events if e["ph"] == "s"}
    ends = {e["id"] for e in events if e["ph"] == "f"}
    assert len(starts) == 4 and starts == ends
    bad = nm("run", "--camera", str(d), "-p", QUESTION, "-n", "2", "--trace", str(tmp_path / "no" / "t.json"))
    # An unwritable trace path is refused before the run, not reported after it.
    assert bad.returncode != 0 and "--trace" in bad.stderr and "not an existing folder" in bad.stderr, bad.stderr
    assert bad.stdout == ""
    folder = nm("run", "--camera", str(d), "-p", QUESTION, "-n", "2", "--trace", str(tmp_path))
    assert folder.returncode != 0 and "is a folder" in folder.stderr, folder.stderr


def test_on_demand_residency_gives_the_same_answers(tmp_path):
    d = frames(tmp_path)
    keep = nm("run", "--camera", str(d), "-p", QUESTION, "-n", "8", "--temp", "0")
    lazy = nm("run", "--camera", str(d), "-p", QUESTION, "-n", "8", "--temp", "0", "--residency", "on-demand")
    assert keep.returncode == 0 and lazy.returncode == 0, keep.stderr + lazy.stderr
    assert answers(lazy.stdout) == answers(keep.stdout)
    assert nm("run", "--camera", str(d), "-p", QUESTION, "--residency", "never").returncode != 0


def test_bench_camera_workload_json(tmp_path):
    """The three modes in one invocation, as JSON: every frame answered in each, the
    monolithic mode copies embeddings between the bricks, the nanomind and cascade modes
    copy none; the cascade runs on demand, one brick after the other."""
    import json
    env = dict(ENV, NM_CPU_CLUSTERS="0|1") if (os.cpu_count() or 1) >= 2 else ENV
    r = nm("bench", "--workload", "camera:3", "-n", "4", "--json", env=env)
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert j["workload"] == "camera:3" and j["answer_tokens"] == 4
    mono, nano, cascade = j["modes"]
    assert mono["mode"] == "monolithic" and nano["mode"] == "nanomind" and cascade["mode"] == "cascade"
    for m in (mono, nano, cascade):
        assert m["frames"] == 3 and m["answered"] == 3, m
        assert m["peak_rss_mib"] > 0 and m["answers_per_min"] > 0 and m["first_answer_ms"] > 0
        assert m["mean_answer_tokens"] == 4, m  # end tokens ignored: the same work in both modes
        assert m["cpu_ms_per_answer"] > 0 and m["minor_faults_per_answer"] >= 0, m
    assert mono["bytes_copied_between_bricks"] > 0 and mono["embeddings"] == "copied"
    assert nano["bytes_copied_between_bricks"] == 0 and nano["residency"] == "on-demand" and nano["pipelined"]
    if env is not ENV:
        assert nano["devices"] == "vision=cpu:0,text=cpu:1"
    assert cascade["bytes_copied_between_bricks"] == 0 and cascade["residency"] == "on-demand"
    assert not cascade["pipelined"] and cascade["devices"] == mono["devices"]
    for key in ("ratios_b_over_a", "ratios_c_over_a"):
        assert set(j[key]) == {"first_answer_ms", "answers_per_min", "peak_rss_mib", "cpu_ms_per_answer"}
    assert abs(j["ratios_c_over_a"]["peak_rss_mib"] - cascade["peak_rss_mib"] / mono["peak_rss_mib"]) < 1e-9
    table = nm("bench", "--workload", "camera:2", "-n", "2", env=env)
    assert table.returncode == 0 and "nanomind / monolithic" in table.stdout, table.stderr
    assert "cascade / monolithic" in table.stdout, table.stdout
    for bad in ("camera:0", "camera:x", "video:3"):
        b = nm("bench", "--workload", bad)
        assert b.returncode != 0 and "workload" in b.stderr, b.stderr
    assert nm("bench", "--json").returncode != 0
    assert nm("bench", "--image-size", "224x224").returncode != 0  # only with --workload
    sized = nm("bench", "--workload", "camera:1", "-n", "1", "--image-size", "64x64", "--json")
    assert sized.returncode == 0, sized.stderr
    assert all(m["answered"] == 1 for m in json.loads(sized.stdout)["modes"])
    assert nm("bench", "--workload", "camera:1", "--image-size", "3x", "--json").returncode != 0
