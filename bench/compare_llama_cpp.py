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

--real runs the real model files of scripts/fetch-models.sh (SmolLM2 Q4_1, Qwen2.5-Coder
0.5B and 1.5B Q4_K_M, Gemma 3 270M Q4_K_M) from $XDG_CACHE_HOME/nanomind/models, one table
each with NanoMind's speed as a ratio of llama.cpp's:

    /work/llvenv/bin/python bench/compare_llama_cpp.py --real -r 3 -t 2 --omp-passive

llama.cpp's extra CPU buffer types (AMX, weight repacking) are on by default; on a CPU with
AMX, this llama.cpp build's AMX matrix multiplication crashes on some of these files (SIGSEGV
in ggml_backend_amx_mul_mat, e.g. Gemma 3 and SmolLM2 batches), so with --llama-extra-bufts
auto (the default) a llama.cpp run that dies of a signal is run again with them off, and the
table says so (off also drops the repacked Q4_0/Q4_K layouts: llama.cpp is then slower).
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time


REAL_MODELS = ["smollm2-135m-instruct-q4_1.gguf", "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
               "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", "gemma-3-270m-q4_k_m.gguf"]


def models_dir():
    return os.environ.get("NM_MODELS_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "nanomind", "models")


def llama_cpp_run(model, n_prompt, n_gen, threads, extra_bufts=True):
    import llama_cpp
    import llama_cpp.llama as llama_module
    if not extra_bufts:
        default = llama_cpp.llama_model_default_params

        def params():
            p = default()
            p.use_extra_bufts = False
            return p
        llama_module.llama_cpp.llama_model_default_params = params
    llm = llama_cpp.Llama(model_path=model, n_ctx=n_prompt + n_gen + 16, n_batch=max(n_prompt, 1),
                          n_ubatch=max(n_prompt, 1), n_threads=threads, n_threads_batch=threads, verbose=False)
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


def llama_cpp_subprocess(model, a, env, extra_bufts):
    """(pp, tg) of one llama.cpp run in its own process, or None if it died of a signal."""
    r = subprocess.run([sys.executable, __file__, "--_one", model, str(a.p), str(a.n), str(a.t),
                        "1" if extra_bufts else "0"], env=env, capture_output=True, text=True)
    if r.returncode < 0:
        return None
    if r.returncode != 0:
        raise RuntimeError(f"llama.cpp failed on {model}:\n{r.stderr}")
    out = r.stdout.split()
    return float(out[-2]), float(out[-1])


def compare(model, a, env):
    res = {"llama.cpp": [], "nanomind": []}
    extra = a.llama_extra_bufts != "off"
    fell_back = False
    for _ in range(a.r):
        run = llama_cpp_subprocess(model, a, env, extra)
        if run is None and a.llama_extra_bufts == "auto" and extra:
            extra, fell_back = False, True
            run = llama_cpp_subprocess(model, a, env, extra)
        if run is None:
            raise RuntimeError(f"llama.cpp crashed on {model} (extra buffer types {'on' if extra else 'off'})")
        res["llama.cpp"].append(run)
        res["nanomind"].append(nanomind_run(a.nanomind, model, a.p, a.n, a.t, a.nanomind_args.split()))
    print(f"model {model}, {a.t} threads, {a.r} runs each (mean ± stddev)"
          + (", llama.cpp with OMP_WAIT_POLICY=PASSIVE" if a.omp_passive else "")
          + f", llama.cpp extra buffer types {'on' if extra else 'off'}"
          + (" (its run with them on crashed)" if fell_back else ""))
    print(f"| engine    | pp{a.p} t/s       | tg{a.n} t/s      |")
    print("|-----------|-----------------|-----------------|")
    mean = {}
    for name, runs in res.items():
        pp = [r[0] for r in runs]
        tg = [r[1] for r in runs]
        sd = lambda v: statistics.stdev(v) if len(v) > 1 else 0.0
        mean[name] = (statistics.mean(pp), statistics.mean(tg))
        print(f"| {name:9} | {mean[name][0]:7.2f} ± {sd(pp):5.2f} | {mean[name][1]:7.2f} ± {sd(tg):5.2f} |")
    print(f"NanoMind / llama.cpp: pp {mean['nanomind'][0] / mean['llama.cpp'][0]:.2f}x, "
          f"tg {mean['nanomind'][1] / mean['llama.cpp'][1]:.2f}x\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-m", "--model", action="append", default=[], help="a GGUF file (repeat for several)")
    ap.add_argument("--real", action="store_true", help="the real model files of scripts/fetch-models.sh")
    ap.add_argument("--llama-extra-bufts", choices=["auto", "on", "off"], default="auto",
                    help="llama.cpp's AMX / repacked weight buffers (auto: off after a crash)")
    ap.add_argument("--nanomind", default="build/bin/nanomind")
    ap.add_argument("-p", type=int, default=512)
    ap.add_argument("-n", type=int, default=128)
    ap.add_argument("-r", type=int, default=3, help="runs of each engine")
    ap.add_argument("-t", type=int, default=2)
    ap.add_argument("--nanomind-args", default="", help="extra arguments for nanomind bench")
    ap.add_argument("--omp-passive", action="store_true", help="OMP_WAIT_POLICY=PASSIVE for llama.cpp")
    a = ap.parse_args()
    models = list(a.model)
    if a.real:
        models += [os.path.join(models_dir(), f) for f in REAL_MODELS]
    if not models:
        ap.error("give -m FILE or --real")
    missing = [m for m in models if not os.path.exists(m)]
    if missing:
        sys.exit("missing: " + ", ".join(missing) + (" (run scripts/fetch-models.sh)" if a.real else ""))
    env = dict(os.environ, **({"OMP_WAIT_POLICY": "PASSIVE"} if a.omp_passive else {}))
    for model in models:
        compare(model, a, env)


if __name__ == "__main__":
    if len(sys.argv) == 7 and sys.argv[1] == "--_one":
        print(*llama_cpp_run(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6] == "1"))
    else:
        main()
