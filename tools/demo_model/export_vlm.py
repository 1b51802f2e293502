"""Writes the default demo VLM's vision file and its reference answers.

    python tools/demo_model/export_vlm.py --ckpt OUT/best.pt --lm SMOLLM.gguf --out models

Outputs (in --out):
  nanomind-smollm2-vision-mmproj.gguf   clip arch, into SmolLM2's 576-wide input space: 128 x
                                        128 input, 16 image embeddings (32-pixel patches and
                                        the "mlp" projector, or 16-pixel patches and the
                                        "idefics3" 2 x 2 pixel shuffle); F16 matrices, F32 vectors
  nanomind-smollm2-vision-heldout.json  held-out scenes of the training styles and of the
                                        held-out styles: seed, style set, question kind,
                                        question, expected answer, PyTorch's greedy answer
  samples/varied_*.png + varied.json    a few scenes with their questions and answers

The language model is the fetched SmolLM2-135M-Instruct Q4_1 file itself (unchanged). The
reference answers use the file's weights dequantised exactly (f32 compute) and the vision
matrices rounded to F16 as stored, so an engine that reads the files can match them.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import varied_scenes as V  # noqa: E402
from export import write_mmproj  # noqa: E402
from model import Config, VisionTower, preprocess  # noqa: E402
from prompts import PromptLayouts, detokenizer  # noqa: E402
from train_vlm import Vlm, eval_set, greedy, load_lm  # noqa: E402

MMPROJ_NAME = "nanomind-smollm2-vision-mmproj.gguf"
HELDOUT_NAME = "nanomind-smollm2-vision-heldout.json"
SAMPLE_SEEDS = ((V.TRAIN_STYLES, 1_000_021), (V.TRAIN_STYLES, 1_000_007), (V.TRAIN_STYLES, 1_000_042),
                (V.HELDOUT_STYLES, 31), (V.HELDOUT_STYLES, 77))
STYLE_SETS = {"training styles": V.TRAIN_STYLES, "held-out styles": V.HELDOUT_STYLES}


class _Exported:
    def __init__(self, c: Config, tower: VisionTower):
        self.c, self.vision = c, tower


def load_tower(ckpt: str) -> tuple[Config, VisionTower, dict]:
    blob = torch.load(ckpt, map_location="cpu")
    c = Config(**blob["config"])
    tower = VisionTower(c)
    tower.load_state_dict(blob["vision"])
    with torch.no_grad():  # matrices as the file stores them
        for p in tower.parameters():
            if p.dim() >= 2:
                p.copy_(p.half().float())
    tower.eval()
    return c, tower, blob


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--lm", required=True, help="SmolLM2-135M-Instruct Q4_1 GGUF (scripts/fetch-models.sh)")
    ap.add_argument("--out", default="models")
    ap.add_argument("--scenes", type=int, default=200, help="held-out scenes per style set")
    ap.add_argument("--cache", default=None)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.time()
    c, tower, blob = load_tower(args.ckpt)
    os.makedirs(args.out, exist_ok=True)
    write_mmproj(os.path.join(args.out, MMPROJ_NAME), _Exported(c, tower),
                 name="NanoMind SmolLM2 vision tower",
                 description=f"ViT (128x128, {c.patch_size}-pixel patches) + {c.projector} projector into "
                             "SmolLM2-135M-Instruct's input embeddings, trained by tools/demo_model on generated "
                             "scenes of coloured shapes")
    lm = load_lm(args.lm, torch.float32, args.cache)
    vlm = Vlm(lm, tower, PromptLayouts(args.lm, c.n_image_tokens))
    detok, _ = detokenizer(args.lm)
    items, summary = [], {}
    for set_name, styles in STYLE_SETS.items():
        seeds = list(range(args.scenes))
        pixels, kinds, qs, ans = eval_set(styles, seeds)
        got_ids = greedy(vlm, pixels, qs, autocast=False)
        per: dict[str, list[int]] = {}
        for s, k, q, a, g in zip(seeds, kinds, qs, ans, got_ids):
            text = detok(g)
            items.append({"set": set_name, "seed": s, "kind": k, "question": q, "expected": a,
                          "pytorch_answer": text, "pytorch_answer_ids": g})
            per.setdefault(k, []).append(int(text.strip() == a))
        total = sum(sum(v) for v in per.values())
        summary[set_name] = {"exact_match": total / len(seeds),
                             "per_kind": {k: [sum(v), len(v)] for k, v in sorted(per.items())}}
        print(f"{set_name}: {total}/{len(seeds)} exact; " +
              ", ".join(f"{k} {sum(v)}/{len(v)}" for k, v in sorted(per.items())), flush=True)
    doc = {"about": "Held-out scenes of the default demo VLM (SmolLM2-135M-Instruct Q4_1 + "
                    f"{MMPROJ_NAME}). Regenerate each image with tools/demo_model/varied_scenes.py: "
                    "model_input(render(make_scene(seed, STYLES))) where STYLES is TRAIN_STYLES for the "
                    "'training styles' set and HELDOUT_STYLES for 'held-out styles' (128 x 128, no resize "
                    "left to the engine). pytorch_answer is greedy decoding in float32 with the LM file's "
                    "weights dequantised exactly and the vision matrices rounded to F16 as stored.",
           "lm_sha256": "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
           "checkpoint_step": blob.get("step"), "summary": summary, "items": items}
    with open(os.path.join(args.out, HELDOUT_NAME), "w") as f:
        json.dump(doc, f, indent=1)
    # samples: the canvas as drawn (NanoMind resizes it), with every question about it
    sample_dir = os.path.join(args.out, "samples")
    os.makedirs(sample_dir, exist_ok=True)
    entries = []
    for styles, seed in SAMPLE_SEEDS:
        sc = V.make_scene(seed, styles)
        img = V.render(sc)
        name = f"varied_{seed}.png"
        img.save(os.path.join(sample_dir, name))
        qa = V.questions(sc)
        px = preprocess(np.stack([V.model_input(img)] * len(qa)))
        got = [detok(g) for g in greedy(vlm, px, [q for _, q, _ in qa], autocast=False)]
        entries.append({"image": name, "seed": seed, "styles": "held-out" if styles is V.HELDOUT_STYLES else "training",
                        "qa": [{"kind": k, "question": q, "expected": a, "model": g}
                               for (k, q, a), g in zip(qa, got)]})
    with open(os.path.join(sample_dir, "varied.json"), "w") as f:
        json.dump(entries, f, indent=1)
    print(f"exported step {blob.get('step')} in {time.time() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
