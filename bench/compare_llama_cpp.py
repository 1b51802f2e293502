#!/usr/bin/env python3
"""Side by side with llama.cpp on the same GGUF file: pp (prefill) and tg (decode) tokens/s.

llama.cpp comes from PyPI's llama-cpp-python, which compiles llama.cpp from source for this
machine (GGML_NATIVE: every ISA extension the CPU has; Q4_0 weights repacked at load as
llama.cpp does by default). Install it in its own venv (a few minutes on 2 cores):

    python3 -m venv /tmp/llvenv && /tmp/llvenv/bin/pip install llama-cpp-python gguf   # gguf: --roofline
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

Issue 13's table in one command (the four real files plus a generated LLaMA-1B-shaped Q4_0,
2 threads and 1, three alternating runs, roofline ratios measured in the same run):

    flock /tmp/nm-bench.lock /work/llvenv/bin/python bench/compare_llama_cpp.py --real --generated \
        -r 3 -t 2,1 --omp-passive --roofline build/bin/bench_kernels

--roofline runs `bench_kernels --peaks-only` before and after each file's runs (read
bandwidth, int8-dot (vpdpbusd; vpmaddubsw on AVX2) peak, f32 FMA peak) and puts both engines against the mean
of the two: tg as a fraction of the bandwidth roofline (the file's weight bytes read once
per token, the size `nanomind bench` prints) and pp as a fraction of the int8-dot peak
(2 x parameters x tokens operations; attention and the embedding lookup are not counted,
so this undercounts a little). Without VNNI or AVX2 the f32 FMA peak stands in. A summary table of
every file and thread count closes the output. --pin CPUS runs both engines under taskset.
"""
import argparse
import os
import shutil
import re
import statistics
import subprocess
import sys
import time


REAL_MODELS = ["smollm2-135m-instruct-q4_1.gguf", "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
               "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", "gemma-3-270m-q4_k_m.gguf"]


GENERATED = ("tinyllama-q4_0.gguf", ["--preset", "tinyllama", "--type", "q4_0"])  # LLaMA-1B-shaped


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


def nanomind_run(binary, model, n_prompt, n_gen, threads, extra, pin):
    out = subprocess.run(pin + [binary, "bench", "-m", model, "-p", str(n_prompt), "-n", str(n_gen), "-r", "1",
                                "-t", str(threads)] + extra, check=True, capture_output=True, text=True).stdout
    pp = float(re.search(r"\| pp\d+\s*\|\s*([\d.]+)", out).group(1))
    tg = float(re.search(r"\| tg\d+\s*\|\s*([\d.]+)", out).group(1))
    read = re.search(r"([\d.]+) MiB read per token", out)
    return pp, tg, float(read.group(1)) * 2**20 if read else None


def prefill_ops(model, n_prompt):
    """Integer operations (2 per multiply-add) of the weight matrices in a prefill of n_prompt
    tokens: every layer matrix (blk.*) once per token, the output matrix once (only the last
    token's logits are computed). Attention's own products are not counted (a few percent at
    512 tokens on these files), so the fraction of peak it gives is a slight underestimate."""
    import gguf
    r = gguf.GGUFReader(model)
    names = {t.name: t for t in r.tensors}
    layers = sum(int(t.n_elements) for t in r.tensors if t.name.startswith("blk.") and len(t.shape) == 2
                 and min(int(d) for d in t.shape) > 1)
    out = names.get("output.weight") or names["token_embd.weight"]
    return 2.0 * (layers * n_prompt + int(out.n_elements))


def machine_peaks(bench_kernels, threads, pin):
    """{'bw': bytes/s, 'int8': op/s, 'fma': flop/s} from `bench_kernels --peaks-only`."""
    out = subprocess.run(pin + [bench_kernels, "--peaks-only", "--threads", str(threads)], check=True,
                         capture_output=True, text=True).stdout
    peaks = {"bw": float(re.search(r"read_bandwidth .* ([\d.]+) GB/s", out).group(1)) * 1e9,
             "fma": float(re.search(r"fma_peak .* ([\d.]+) GFLOP/s", out).group(1)) * 1e9}
    m = re.search(r"int8_dot_peak .* ([\d.]+) GOP/s", out)
    peaks["int8"] = float(m.group(1)) * 1e9 if m else 0.0
    return peaks


def generated_model(a):
    """The generated LLaMA-1B-shaped Q4_0 file (random weights, real layout), made once."""
    path = os.path.join(models_dir(), GENERATED[0])
    if not os.path.exists(path):
        root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
        python = a.make_python or shutil.which("python3")
        subprocess.run([python, os.path.join(root, "tools", "make_tiny_llm.py")] + GENERATED[1] + ["--out", path],
                       check=True)
    return path


def llama_cpp_subprocess(model, a, threads, env, extra_bufts, pin):
    """(pp, tg) of one llama.cpp run in its own process, or None if it died of a signal."""
    r = subprocess.run(pin + [sys.executable, __file__, "--_one", model, str(a.p), str(a.n), str(threads),
                              "1" if extra_bufts else "0"], env=env, capture_output=True, text=True)
    if r.returncode < 0:
        return None
    if r.returncode != 0:
        raise RuntimeError(f"llama.cpp failed on {model}:\n{r.stderr}")
    out = r.stdout.split()
    return float(out[-2]), float(out[-1])


def compare(model, a, threads, env):
    """Alternating runs of both engines on one file; prints its table and returns a summary row."""
    pin = ["taskset", "-c", a.pin] if a.pin else []
    res = {"llama.cpp": [], "nanomind": []}
    extra = a.llama_extra_bufts != "off"
    fell_back = False
    peaks = [machine_peaks(a.roofline, threads, pin)] if a.roofline else []
    shape = None
    for _ in range(a.r):
        run = llama_cpp_subprocess(model, a, threads, env, extra, pin)
        if run is None and a.llama_extra_bufts == "auto" and extra:
            extra, fell_back = False, True
            run = llama_cpp_subprocess(model, a, threads, env, extra, pin)
        if run is None:
            raise RuntimeError(f"llama.cpp crashed on {model} (extra buffer types {'on' if extra else 'off'})")
        res["llama.cpp"].append(run)
        pp, tg, shape = nanomind_run(a.nanomind, model, a.p, a.n, threads, a.nanomind_args.split(), pin)
        res["nanomind"].append((pp, tg))
    if a.roofline:
        peaks.append(machine_peaks(a.roofline, threads, pin))
    print(f"model {model}, {threads} threads, {a.r} runs each (mean ± stddev)"
          + (", llama.cpp with OMP_WAIT_POLICY=PASSIVE" if a.omp_passive else "")
          + f", llama.cpp extra buffer types {'on' if extra else 'off'}"
          + (" (its run with them on crashed)" if fell_back else "")
          + (f", pinned to CPUs {a.pin}" if a.pin else ""))
    print(f"| engine    | pp{a.p} t/s       | tg{a.n} t/s      |")
    print("|-----------|-----------------|-----------------|")
    mean = {}
    for name, runs in res.items():
        pp = [r[0] for r in runs]
        tg = [r[1] for r in runs]
        sd = lambda v: statistics.stdev(v) if len(v) > 1 else 0.0
        mean[name] = (statistics.mean(pp), statistics.mean(tg))
        print(f"| {name:9} | {mean[name][0]:7.2f} ± {sd(pp):5.2f} | {mean[name][1]:7.2f} ± {sd(tg):5.2f} |")
    row = {"model": os.path.basename(model), "threads": threads, "mean": mean,
           "ratio": (mean["nanomind"][0] / mean["llama.cpp"][0], mean["nanomind"][1] / mean["llama.cpp"][1])}
    print(f"NanoMind / llama.cpp: pp {row['ratio'][0]:.2f}x, tg {row['ratio'][1]:.2f}x")
    if peaks and shape:
        weight_bytes = shape
        flops = prefill_ops(model, a.p)
        bw = statistics.mean(p["bw"] for p in peaks)
        use_int8 = all(p["int8"] > 0 for p in peaks)
        peak = statistics.mean(p["int8" if use_int8 else "fma"] for p in peaks)
        row["peaks"] = (bw, peak, "int8-dot" if use_int8 else "f32 FMA")
        row["roof"] = {name: (m[0] * flops / a.p / peak, m[1] * weight_bytes / bw) for name, m in mean.items()}
        key = "int8" if use_int8 else "fma"
        bws = ", ".join(f"{p['bw'] / 1e9:.2f}" for p in peaks)
        ops = ", ".join(f"{p[key] / 1e9:.0f}" for p in peaks)
        print(f"machine (before, after): read bandwidth {bws} GB/s, {row['peaks'][2]} peak {ops} GOP/s; "
              f"{flops / a.p / 2e6:.1f} M multiply-adds per prompt token, {weight_bytes / 2**20:.1f} MiB of weights "
              "read per token")
        for name, (fp, fb) in row["roof"].items():
            print(f"  {name:9}: pp = {100 * fp:.1f}% of the {row['peaks'][2]} peak, "
                  f"tg = {100 * fb:.1f}% of the bandwidth roofline")
    print()
    return row


def summary(rows, a):
    print(f"Summary: pp{a.p} / tg{a.n} in tokens/s, mean of {a.r} alternating runs; roofline columns: pp as % of "
          "the int8-dot peak, tg as % of the read-bandwidth roofline, both measured around each file's runs")
    print("| file | threads | NanoMind pp / tg | llama.cpp pp / tg | NanoMind / llama.cpp pp, tg "
          "| pp % peak NM / llama.cpp | tg % roofline NM / llama.cpp |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        nm, ll = r["mean"]["nanomind"], r["mean"]["llama.cpp"]
        roof = r.get("roof")
        rp = f"{100 * roof['nanomind'][0]:.0f}% / {100 * roof['llama.cpp'][0]:.0f}%" if roof else "-"
        rt = f"{100 * roof['nanomind'][1]:.0f}% / {100 * roof['llama.cpp'][1]:.0f}%" if roof else "-"
        print(f"| {r['model']} | {r['threads']} | {nm[0]:.1f} / {nm[1]:.1f} | {ll[0]:.1f} / {ll[1]:.1f} "
              f"| {r['ratio'][0]:.2f}x, {r['ratio'][1]:.2f}x | {rp} | {rt} |")


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
    ap.add_argument("-t", default="2", help="threads, or a comma-separated list (e.g. 2,1)")
    ap.add_argument("--generated", action="store_true",
                    help="also the generated LLaMA-1B-shaped Q4_0 file (made in the models directory if missing)")
    ap.add_argument("--make-python", default="", help="python with numpy + gguf for --generated "
                    "(default: python3 on PATH)")
    ap.add_argument("--roofline", default="", metavar="BENCH_KERNELS",
                    help="bench_kernels binary: measure bandwidth and int8-dot peak around each file's runs")
    ap.add_argument("--pin", default="", metavar="CPUS", help="run both engines under taskset -c CPUS")
    ap.add_argument("--nanomind-args", default="", help="extra arguments for nanomind bench")
    ap.add_argument("--omp-passive", action="store_true", help="OMP_WAIT_POLICY=PASSIVE for llama.cpp")
    a = ap.parse_args()
    models = list(a.model)
    if a.real:
        models += [os.path.join(models_dir(), f) for f in REAL_MODELS]
    if a.generated:
        models.append(generated_model(a))
    if not models:
        ap.error("give -m FILE, --real or --generated")
    missing = [m for m in models if not os.path.exists(m)]
    if missing:
        sys.exit("missing: " + ", ".join(missing) + (" (run scripts/fetch-models.sh)" if a.real else ""))
    env = dict(os.environ, **({"OMP_WAIT_POLICY": "PASSIVE"} if a.omp_passive else {}))
    rows = [compare(model, a, int(t), env) for model in models for t in a.t.split(",")]
    if len(rows) > 1:
        summary(rows, a)


if __name__ == "__main__":
    if len(sys.argv) == 7 and sys.argv[1] == "--_one":
        print(*llama_cpp_run(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6] == "1"))
    else:
        main()
