#!/usr/bin/env python3
"""How far NanoMind's logits are from llama.cpp's on a real model: for each prompt of a
golden file, NanoMind prefills llama.cpp's prompt tokens and its logits are compared with
the logits llama.cpp stored for the first generated position (its top token and every token
within the golden's margin). The largest difference, doubled, is the "noise tie" bound of
tests/real/test_real_models.py for that file (a different greedy token is accepted when each
engine rates the other's token within that bound of its own top).

    NM_LIB=build/lib/libnanomind.so .venv/bin/python tests/real/engine_distance.py tests/real/golden/*.json
"""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
import nanomind_ctypes as nmc  # noqa: E402
from real_tier import MODELS_DIR  # noqa: E402


def models_dir():
    """Where scripts/fetch-models.sh puts the real files."""
    return MODELS_DIR


def load_library():
    return nmc.NanoMind(os.environ.get("NM_LIB", "build/lib/libnanomind.so"))


def main(paths):
    models = models_dir()
    lib = load_library()
    for path in paths:
        g = json.load(open(path, encoding="utf-8"))
        worst = 0.0
        longest = max(len(p["tokens"]) for p in g["prompts"]) + 8
        with lib.load(os.path.join(models, g["model"]), n_threads=2) as m, m.session(n_ctx=longest) as s:
            for p in g["prompts"]:
                s.reset()
                s.eval(p["tokens"])
                logits = s.logits()
                top = p["steps"][0]["top"]
                ids = [t for t, _ in top]
                dev = np.abs(logits[ids] - np.array([v for _, v in top]))
                worst = max(worst, float(dev.max()))
                print(f"{g['model']} {p['name']:15s} llama.cpp top {top[0][1]:8.3f}  max |NanoMind - llama.cpp| "
                      f"{dev.max():.3f} over {len(ids)} token(s)")
        print(f"{g['model']}: largest difference {worst:.3f}, noise-tie bound 2x = {2 * worst:.2f}\n")


if __name__ == "__main__":
    main(sys.argv[1:])
