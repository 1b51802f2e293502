"""Exact-match accuracy of any LLM + mmproj pair, run by NanoMind (C API), on the varied
scene generator's held-out scenes: per question kind, for held-out scenes of the training
styles and, separately, for held-out styles. The same scenes and questions as
train_vlm.py's evaluation (seeds 0..N-1, one question per scene, kinds drawn evenly).

    python tools/demo_model/eval_nanomind.py --llm models/nanomind-demo-llm.gguf \\
        --mmproj models/nanomind-demo-mmproj.gguf --scenes 200

The canvas is given as drawn (any size and aspect); NanoMind's preprocessing resizes it as
it does for `nanomind run --image`.
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, ".."))

import nanomind_ctypes as nmc  # noqa: E402
import numpy as np  # noqa: E402
import varied_scenes as V  # noqa: E402

STYLE_SETS = {"training styles": V.TRAIN_STYLES, "held-out styles": V.HELDOUT_STYLES}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--llm", required=True)
    ap.add_argument("--mmproj", required=True)
    ap.add_argument("--scenes", type=int, default=200, help="scenes per style set")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--lib", default=os.environ.get("NM_LIB", os.path.join(HERE, "..", "..", "build", "lib",
                                                                             "libnanomind.so")))
    args = ap.parse_args()
    lib = nmc.NanoMind(args.lib)
    t0 = time.time()
    with lib.load(args.llm, n_threads=args.threads, mmproj_path=args.mmproj) as m, \
            m.session(n_ctx=512, temperature=0) as s:
        for name, styles in STYLE_SETS.items():
            per: dict[str, list[int]] = {}
            for seed in range(args.scenes):
                sc = V.make_scene(seed, styles)
                (kind, q, a), = V.pick_questions(sc, random.Random(seed * 7919 + 17), 1, paraphrase=False)
                s.reset()
                got = s.chat(q, [np.asarray(V.render(sc), np.uint8)], n_predict=32)
                per.setdefault(kind, []).append(int(got.strip() == a))
            total = sum(sum(v) for v in per.values())
            print(f"{name}: {total}/{args.scenes} = {total / args.scenes:.1%}; " +
                  ", ".join(f"{k} {sum(v)}/{len(v)}" for k, v in sorted(per.items())), flush=True)
    print(f"({time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
