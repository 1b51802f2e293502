#!/usr/bin/env python3
"""Side by side with onnxruntime on the same Piper voice: real-time factor (synthesis time /
audio duration) of NanoMind's bench_tts on the converted GGUF and of onnxruntime on the
ONNX file, the same phoneme ids (Piper's own phonemizer), noise scales 0, best of --reps,
1 and 2 threads, alternating the two engines. onnxruntime runs in its own process under a
Python with tools/requirements-tts.txt (NM_TTS_PYTHON or --py).

    flock /tmp/nm-bench.lock bench/compare_piper.py --onnx en_US-joe-medium.onnx --gguf joe.gguf

--baseline OLD/bench_tts adds an older build of NanoMind to each round (A/B of a change).
"""
import argparse
import json
import os
import re
import subprocess
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TEXT = "The quick brown fox jumps over the lazy dog, and then it runs back home to sleep."


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--onnx", required=True)
    ap.add_argument("--gguf", required=True)
    ap.add_argument("--py", default=os.environ.get("NM_TTS_PYTHON", ""))
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "bin"))
    ap.add_argument("--baseline", default="", help="another bench_tts (an older build) run alternately as well")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--text", default=TEXT)
    a = ap.parse_args()
    ref = os.path.join(ROOT, "tests", "real", "piper_reference.py")
    with tempfile.TemporaryDirectory() as tmp:
        sj, pj = os.path.join(tmp, "s.json"), os.path.join(tmp, "p.json")
        json.dump([a.text], open(sj, "w"))
        subprocess.run([a.py, ref, "phonemize", sj, pj], check=True)
        ids = json.load(open(pj))[0]["ids"][0]
        ij = os.path.join(tmp, "ids.json")
        json.dump([ids], open(ij, "w"))
        print(f"{len(ids)} phoneme ids: {a.text!r}")
        for threads in (1, 2):
            for rnd in range(a.rounds):
                out = os.path.join(tmp, "o.npz")
                subprocess.run([a.py, ref, "synthesize", a.onnx, ij, out, "--threads", str(threads),
                                "--repeat", str(a.reps)], check=True)
                z = np.load(out)
                t_ort, n = float(z["time0"]), len(z["audio0"])
                audio = n / 22050

                def nanomind(exe):
                    r = subprocess.run([exe, a.gguf, ",".join(map(str, ids)), "--threads", str(threads), "--reps",
                                        str(a.reps)], check=True, capture_output=True, text=True)
                    return float(re.search(r"threads \d+: ([\d.]+) ms", r.stdout).group(1)) / 1e3, r.stdout.strip()

                t_nm, out = nanomind(os.path.join(a.bin, "bench_tts"))
                print(f"threads {threads} round {rnd + 1}: onnxruntime {t_ort * 1e3:.1f} ms (RTF {t_ort / audio:.4f}), "
                      f"NanoMind {t_nm * 1e3:.1f} ms (RTF {t_nm / audio:.4f}); NanoMind/onnxruntime time "
                      f"{t_nm / t_ort:.2f}\n  {out}")
                if a.baseline:
                    t_b, out = nanomind(a.baseline)
                    print(f"  baseline {t_b * 1e3:.1f} ms (RTF {t_b / audio:.4f}); baseline/onnxruntime time "
                          f"{t_b / t_ort:.2f}, NanoMind speed-up over it x{t_b / t_nm:.2f}\n  {out}")


if __name__ == "__main__":
    main()
