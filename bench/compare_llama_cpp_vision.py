#!/usr/bin/env python3
"""Side by side with llama.cpp's vision encoder (libmtmd) on the same mmproj file.

Times one image encode (vision encoder + projector, 2 * multiply-adds as GFLOP) in
llama.cpp and in NanoMind's bench_vision, alternately, for the same thread count. llama.cpp
comes from PyPI's llama-cpp-python (see bench/compare_llama_cpp.py for the install line);
libmtmd needs a text model whose width matches the projector's output, e.g. a generated
TinyLlama-shaped GGUF for an n_embd_llm 2048 mmproj:

    /tmp/llvenv/bin/python bench/compare_llama_cpp_vision.py --mmproj siglip.gguf -m tinyllama.gguf
"""
import argparse
import ctypes
import os
import re
import statistics
import subprocess
import time


def llama_cpp_encode_seconds(llm_path, mmproj_path, threads, size):
    import llama_cpp
    import llama_cpp.mtmd_cpp as M
    llama_cpp.llama_backend_init()
    mp = llama_cpp.llama_model_default_params()
    model = llama_cpp.llama_model_load_from_file(llm_path.encode(), mp)
    assert model, "llama.cpp could not load " + llm_path
    p = M.mtmd_context_params_default()
    p.use_gpu = False
    p.n_threads = threads
    p.print_timings = False
    p.warmup = False
    ctx = M.mtmd_init_from_file(mmproj_path.encode(), model, p)
    assert ctx, "llama.cpp could not load " + mmproj_path
    pixels = (ctypes.c_uint8 * (size * size * 3))(*[(i * 2654435761 >> 7) & 255 for i in range(size * size * 3)])
    bitmap = M.mtmd_bitmap_init(size, size, pixels)
    chunks = M.mtmd_input_chunks_init()
    text = M.mtmd_input_text()
    prompt = M.mtmd_default_marker()
    text.text, text.text_len, text.add_special, text.parse_special = prompt, len(prompt), False, True
    bitmaps = (ctypes.c_void_p * 1)(bitmap)
    assert M.mtmd_tokenize(ctx, chunks, ctypes.byref(text), bitmaps, 1) == 0
    image_chunk = None
    for i in range(M.mtmd_input_chunks_size(chunks)):
        chunk = M.mtmd_input_chunks_get(chunks, i)
        if M.mtmd_input_chunk_get_type(chunk) == 1:  # MTMD_INPUT_CHUNK_TYPE_IMAGE
            image_chunk = chunk
    assert image_chunk is not None
    t0 = time.perf_counter()
    assert M.mtmd_encode_chunk(ctx, image_chunk) == 0
    seconds = time.perf_counter() - t0
    M.mtmd_input_chunks_free(chunks)
    M.mtmd_bitmap_free(bitmap)
    M.mtmd_free(ctx)
    llama_cpp.llama_model_free(model)
    return seconds


def nanomind_encode(bench_vision, mmproj_path, threads):
    out = subprocess.run([bench_vision, mmproj_path, "--threads", str(threads), "--reps", "1"], check=True,
                         capture_output=True, text=True).stdout
    m = re.search(r"encode ([\d.]+) s/image, ([\d.]+) GFLOP.*?= (\d+)% of f32 FMA peak", out)
    return float(m.group(1)), float(m.group(2)), int(m.group(3)), re.search(r"384x384|\d+x\d+", out).group(0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mmproj", required=True)
    ap.add_argument("-m", "--model", required=True, help="text model GGUF whose n_embd matches the projector")
    ap.add_argument("--bench-vision", default="build/bin/bench_vision")
    ap.add_argument("-r", type=int, default=3)
    ap.add_argument("-t", type=int, default=2)
    ap.add_argument("--omp-passive", action="store_true", help="OMP_WAIT_POLICY=PASSIVE for llama.cpp")
    a = ap.parse_args()
    env = dict(os.environ, **({"OMP_WAIT_POLICY": "PASSIVE"} if a.omp_passive else {}))
    ours, theirs, gflop, peak_pct, size = [], [], 0.0, [], ""
    for _ in range(a.r):
        s, gflop, pct, size = nanomind_encode(a.bench_vision, a.mmproj, a.t)
        ours.append(s)
        peak_pct.append(pct)
        side = int(size.split("x")[0])
        # a separate process: llama.cpp's OpenMP threads and model stay out of ours
        theirs.append(float(subprocess.run(
            [__import__("sys").executable, __file__, "--_one", a.model, a.mmproj, str(a.t), str(side)],
            env=env, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]))
    sd = lambda v: statistics.stdev(v) if len(v) > 1 else 0.0
    print(f"mmproj {a.mmproj}, {size}, {gflop:.1f} GFLOP per image, {a.t} threads, {a.r} runs each"
          + (", llama.cpp with OMP_WAIT_POLICY=PASSIVE" if a.omp_passive else ""))
    print("| engine    | s/image         | GFLOP/s |")
    print("|-----------|-----------------|---------|")
    for name, v in (("llama.cpp", theirs), ("nanomind", ours)):
        print(f"| {name:9} | {statistics.mean(v):6.3f} ± {sd(v):5.3f} | {gflop / statistics.mean(v):7.1f} |")
    print(f"nanomind at {statistics.mean(peak_pct):.0f}% of the f32 FMA peak measured in its runs")


if __name__ == "__main__":
    import sys
    if len(sys.argv) == 6 and sys.argv[1] == "--_one":
        print(llama_cpp_encode_seconds(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])))
    else:
        main()
