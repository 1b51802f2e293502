#!/usr/bin/env python3
"""The float64 arbiter of the real tier's noise ties (tests/real/test_real_models.py).

Where NanoMind's greedy token first differs from llama.cpp's and llama.cpp rates NanoMind's
token more than 0.1 below its top (so the issue's near-tie rule does not cover it), this
script runs the numpy float64 forward pass of tests/reference/llama_ref.py (the published
equations, weights dequantised exactly, no 8-bit rounding of activations: the model's own
answer for these weights) on that position's tokens (the prompt plus the steps on which the
engines agreed) and stores its logits of every token llama.cpp stored there in the golden
file, in prompt["references"] as {"step": i, "top": [[token, logit], ...]}. The test then
accepts such a difference only where NanoMind's logit gap between the two tokens is within
the file's noise-tie bound of the reference's gap (NanoMind's own error there is rounding
noise) and says which engine's gap is the closer; a difference anywhere else, or without a
stored reference, fails.

    NM_LIB=build/lib/libnanomind.so .venv/bin/python tests/real/reference_ties.py tests/real/golden/*.json

It runs NanoMind (2 threads, the CPU's best kernels, or those NM_ISA caps it to) to find the
positions. Each kernel path sums in its own order, so each may part from llama.cpp at its own
step: the references found on other paths are kept (one per step; the reference at a step
does not depend on the path: it is the float64 answer for the tokens up to it). Run it on
every path the test runs on: once per machine type and, on an AVX-512 machine, with
NM_ISA=avx2 and NM_ISA=avx512 too. each reference
forward pass dequantises one matrix at a time (lazy weights), so the 1.5B file needs ~2 GB.
"""
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
import llama_ref  # noqa: E402
from engine_distance import load_library, models_dir  # noqa: E402

TIE = 0.1  # the near-tie rule (test_real_models.TIE)


def first_difference(session, prompt):
    """(step, NanoMind's token, NanoMind's logits) where NanoMind first differs from llama.cpp, or None."""
    session.reset()
    session.eval(prompt["tokens"])
    for i, step in enumerate(prompt["steps"]):
        logits = session.logits()
        ours = int(np.argmax(logits))
        if ours != step["token"]:
            return i, ours, logits
        if i + 1 < len(prompt["steps"]):
            session.eval([ours])
    return None


def main(paths):
    models = models_dir()
    lib = load_library()
    for path in paths:
        golden = json.load(open(path, encoding="utf-8"))
        model_path = os.path.join(models, golden["model"])
        ref = None
        longest = max(len(p["tokens"]) + len(p["steps"]) for p in golden["prompts"])
        with lib.load(model_path, n_threads=2) as model, model.session(n_ctx=longest + 16) as session:
            for prompt in golden["prompts"]:
                refs = prompt.pop("references", [])
                if "reference" in prompt:  # the one-reference form of 2026-12-06
                    refs.append(prompt.pop("reference"))
                if refs:
                    prompt["references"] = refs
                diff = first_difference(session, prompt)
                if diff is None:
                    continue
                i, ours, nm_logits = diff
                step = prompt["steps"][i]
                near = dict((t, v) for t, v in step["top"])
                theirs, top = step["token"], step["top"][0][1]
                if ours in near and near[ours] >= top - TIE:
                    print(f"{golden['model']} {prompt['name']}: step {i}, near-tie within {TIE}")
                    continue
                if any(r["step"] == i for r in refs):
                    print(f"{golden['model']} {prompt['name']}: step {i}, reference already stored")
                    continue
                if ref is None:
                    ref = llama_ref.LlamaRef(model_path, lazy=True)
                tokens = prompt["tokens"] + [s["token"] for s in prompt["steps"][:i]]
                t0 = time.time()
                exact = ref.forward(tokens)[-1]
                ids = [t for t, _ in step["top"]] + ([] if ours in near else [ours])
                refs.append({"step": i, "top": [[int(t), float(exact[t])] for t in ids]})
                prompt["references"] = sorted(refs, key=lambda r: r["step"])
                gap = lambda v: v[theirs] - v[ours]  # noqa: E731  llama.cpp's token minus NanoMind's
                print(f"{golden['model']} {prompt['name']}: step {i}, NanoMind #{ours} / llama.cpp #{theirs}; "
                      f"logit gap (llama.cpp's token - NanoMind's): llama.cpp {gap(near) if ours in near else 'n/a'}, "
                      f"NanoMind {gap(nm_logits):.3f}, float64 reference {gap(exact):.3f} "
                      f"(top token of the reference: #{int(np.argmax(exact))}; {time.time() - t0:.0f} s)")
        golden["reference_made_by"] = ("tests/real/reference_ties.py: tests/reference/llama_ref.py in float64, "
                                       "exact weights, no activation rounding")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(golden, f, ensure_ascii=False, indent=None, separators=(",", ":"))


if __name__ == "__main__":
    main(sys.argv[1:])
