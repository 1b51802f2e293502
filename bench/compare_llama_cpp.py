#!/usr/bin/env python3
"""Side by side with llama.cpp on the same GGUF file: pp (prefill) and tg (decode) tokens/s.

llama.cpp comes from PyPI's llama-cpp-python, which compiles llama.cpp from source for this
machine (GGML_NATIVE: every ISA extension the CPU has; Q4_0 weights repacked at load as
llama.cpp does by default). Install it in its own venv (a few minutes on 2 cores):

    python3 -m venv /tmp/llvenv && /tmp/llvenv/bin/pip install llama-cpp-python
    /tmp/llvenv/bin/python bench/compare_llama_cpp.py -m model.gguf --nanomind build/bin/nanomind

Both engines get the same thread count, prompt length and number of generated tokens, and
run alternately (llama.cpp, NanoMind, llama.cpp, ...) so that a noisy neighbour hurts both,
each run in its own process (llama.cpp's OpenMP workers spin after their work and would
otherwise steal cores from the next run). --omp-passive sets OMP_WAIT_POLICY=PASSIVE for
llama.cpp, which it needs when anything else competes for the cores.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time


def llama_cpp_run(model, n_prompt, n_gen, threads):
    from llama_cpp import Llama
    llm = Llama(model_path=model, n_ctx=n_prompt + n_gen + 16, n_batch=max(n_prompt, 1), n_ubatch=max(n_prompt, 1),
                n_threads=threads, n_threads_batch=threads, verbose=False)
    n_vocab = llm.n_vocab()
    prompt = [(i * 7919) % (n_vocab - 100) + 50 for i in range(n_prompt)]
    llm.reset()
    t0 = time.perf_counter()
    llm.eval(prompt)
    pp = n_prompt / (time.perf_counter() - t0)
    llm.reset()
    llm.eval([prompt[0]])
    t0 = time.perf_counter()
    for i in range(n_gen):
        llm.eval([prompt[(i + 1) % n_prompt]])
    tg = n_gen / (time.perf_counter() - t0)
    return pp, tg


def nanomind_run(binary, model, n_prompt, n_gen, threads, extra):
    out = subprocess.run([binary, "bench", "-m", model, "-p", str(n_prompt), "-n", str(n_gen), "-r", "1",
                          "-t", str(threads)] + extra, check=True, capture_output=True, text=True).stdout
    pp = float(re.search(r"\| pp\d+\s*\|\s*([\d.]+)", out).group(1))
    tg = float(re.search(r"\| tg\d+\s*\|\s*([\d.]+)", out).group(1))
    return pp, tg


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-m", "--model", required=True)
    ap.add_argument("--nanomind", default="build/bin/nanomind")
    ap.add_argument("-p", type=int, default=512)
    ap.add_argument("-n", type=int, default=128)
    ap.add_argument("-r", type=int, default=3, help="runs of each engine")
    ap.add_argument("-t", type=int, default=2)
    ap.add_argument("--nanomind-args", default="", help="extra arguments for nanomind bench")
    ap.add_argument("--omp-passive", action="store_true", help="OMP_WAIT_POLICY=PASSIVE for llama.cpp")
    a = ap.parse_args()
    res = {"llama.cpp": [], "nanomind": []}
    env = dict(os.environ, **({"OMP_WAIT_POLICY": "PASSIVE"} if a.omp_passive else {}))
    for _ in range(a.r):
        out = subprocess.run([sys.executable, __file__, "--_one", a.model, str(a.p), str(a.n), str(a.t)], env=env,
                             check=True, capture_output=True, text=True).stdout.split()
        res["llama.cpp"].append((float(out[-2]), float(out[-1])))
        res["nanomind"].append(nanomind_run(a.nanomind, a.model, a.p, a.n, a.t, a.nanomind_args.split()))
    print(f"model {a.model}, {a.t} threads, {a.r} runs each (mean ± stddev)"
          + (", llama.cpp with OMP_WAIT_POLICY=PASSIVE" if a.omp_passive else ""))
    print(f"| engine    | pp{a.p} t/s       | tg{a.n} t/s      |")
    print("|-----------|-----------------|-----------------|")
    for name, runs in res.items():
        pp = [r[0] for r in runs]
        tg = [r[1] for r in runs]
        sd = lambda v: statistics.stdev(v) if len(v) > 1 else 0.0
        print(f"| {name:9} | {statistics.mean(pp):7.2f} ± {sd(pp):5.2f} | {statistics.mean(tg):7.2f} ± {sd(tg):5.2f} |")


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--_one":
        print(*llama_cpp_run(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])))
    else:
        main()
