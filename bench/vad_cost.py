#!/usr/bin/env python3
"""What listening costs: process CPU time of Silero VAD over a minute of quiet-room audio
(noise at about -70 dBFS, 1875 chunks of 32 ms), through the test shim's nm_shim_vad_probs,
best of --runs, as a share of one core. Above 1% an assistant waiting for voice is not idle
(issue 16, item 4). Needs the shim: `scripts/build.sh release nanomind_shim`.

    python3 bench/vad_cost.py --vad ~/.cache/nanomind/models/silero-vad/silero_vad_16k.safetensors
"""
import argparse
import ctypes
import os
import time

import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vad", default=os.path.expanduser("~/.cache/nanomind/models/silero-vad/silero_vad_16k.safetensors"))
    ap.add_argument("--shim", default="build/tests/libnanomind_shim.so")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    shim = ctypes.CDLL(a.shim)
    audio = np.random.default_rng(1).normal(0, 3e-4, int(16000 * a.seconds)).astype(np.float32)
    probs = np.zeros(len(audio) // 512 + 2, np.float32)
    msg = ctypes.create_string_buffer(1024)
    f32 = ctypes.POINTER(ctypes.c_float)
    best, n = float("inf"), 0
    for _ in range(a.runs):
        t = time.process_time()
        n = shim.nm_shim_vad_probs(a.vad.encode(), audio.ctypes.data_as(f32), ctypes.c_int64(len(audio)),
                                   probs.ctypes.data_as(f32), msg, 1024)
        if n < 0:
            raise SystemExit(msg.value.decode())
        best = min(best, time.process_time() - t)
    print(f"Silero VAD: {n} chunks ({a.seconds:.0f} s of audio), best of {a.runs}: {best * 1e3:.1f} ms of CPU = "
          f"{best / n * 1e3:.3f} ms per 32 ms chunk = {100 * best / a.seconds:.3f}% of one core")


if __name__ == "__main__":
    main()
