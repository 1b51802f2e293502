#!/usr/bin/env python3
"""`nanomind serve` under concurrent streams: aggregate decode tokens/s with 1, 2, 4, 8
streams, continuous batching (all busy slots in one forward pass) against one forward pass
per slot (--no-batch), side by side with llama-cpp-python's OpenAI server on the same file;
then time to first token (p50/p99) under 32 concurrent clients. All engines run at once and
the measurements alternate between them, round after round (medians reported), so load from
other processes on a shared machine falls on all alike. Speed is measured here, never
asserted in tests.

    python3 tools/make_tiny_llm.py --preset tinyllama --type q4_0 --out /tmp/tinyllama-q4_0.gguf
    flock /tmp/nm-bench.lock /work/llvenv/bin/python bench/bench_server.py -m /tmp/tinyllama-q4_0.gguf \\
        --nanomind build/bin/nanomind --llama

--llama needs `pip install 'llama-cpp-python[server]'` in the Python that runs this script
(llama-cpp-python's server takes one request at a time: concurrent streams queue in it).
Every stream asks for the same number of tokens (ignore_eos for NanoMind; random-weight
models almost never sample EOS in 64 tokens, and each stream's own count is used). Aggregate
tokens/s = tokens generated after each stream's first token / (last stream's end - first
stream's first token), so prefill is left out. The single-stream roofline (read bandwidth /
bytes of weights per token, both measured by the library) is printed with it.
"""
import argparse
import ctypes
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Engine:
    def __init__(self, name, cmd, port, env=None):
        self.name, self.port = name, port
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        deadline = time.time() + 300
        while time.time() < deadline:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                c.request("GET", "/v1/models")
                if c.getresponse().status == 200:
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"{name} did not start")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def stream_completion(port, prompt, n_tokens, out):
    """One streamed completion; appends (t_start, t_first, t_end, n_pieces) to out."""
    body = {"prompt": prompt, "max_tokens": n_tokens, "temperature": 0, "stream": True, "ignore_eos": True}
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    t0 = time.perf_counter()
    c.request("POST", "/v1/completions", body=json.dumps(body), headers={"Content-Type": "application/json"})
    r = c.getresponse()
    first, n = None, 0
    for line in r:
        line = line.strip()
        if not line.startswith(b"data: ") or line == b"data: [DONE]":
            continue
        j = json.loads(line[6:])
        if j.get("choices") and j["choices"][0].get("text"):
            n += 1
            if first is None:
                first = time.perf_counter()
    out.append((t0, first, time.perf_counter(), n))
    c.close()


def concurrent(port, n_streams, n_tokens, prompts):
    results, threads = [], []
    for i in range(n_streams):
        t = threading.Thread(target=stream_completion, args=(port, prompts[i % len(prompts)], n_tokens, results))
        threads.append(t)
        t.start()
    for t in threads:
        t.join()
    first = min(r[1] for r in results)
    end = max(r[2] for r in results)
    tokens = sum(r[3] - 1 for r in results)
    return tokens / (end - first), results


def roofline(lib_path, model, threads):
    """(single-stream tokens/s limit, read bandwidth) or None without the library. The file
    size stands for the bytes one decode step reads (it also counts the embedding table, of
    which a step reads one row: the limit is a little low)."""
    try:
        lib = ctypes.CDLL(lib_path)
    except OSError:
        return None
    lib.nm_measure_read_bandwidth.restype = ctypes.c_double
    bw = lib.nm_measure_read_bandwidth(threads)
    return bw / os.path.getsize(model), bw


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-m", "--model", required=True)
    ap.add_argument("--nanomind", default="build/bin/nanomind")
    ap.add_argument("--lib", default="build/lib/libnanomind.so")
    ap.add_argument("--llama", action="store_true", help="also llama-cpp-python's server")
    ap.add_argument("--streams", default="1,2,4,8")
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("-t", "--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3, help="rounds of alternating measurements (medians reported)")
    ap.add_argument("--load-clients", type=int, default=32, help="clients for the TTFT run (0: skip)")
    args = ap.parse_args()
    streams = [int(s) for s in args.streams.split(",")]
    prompts = ["Once upon a time", "The capital of France is", "In a galaxy far away", "Dear diary, today",
               "Hello, my name is", "The quick brown fox", "Here is a recipe for", "Breaking news:"]
    max_par = max(streams)

    engines = [
        ("nanomind batched", [args.nanomind, "serve", "-m", args.model, "-t", str(args.threads), "--parallel",
                              str(max_par), "-c", "512"]),
        ("nanomind one pass per slot", [args.nanomind, "serve", "-m", args.model, "-t", str(args.threads),
                                        "--parallel", str(max_par), "-c", "512", "--no-batch"]),
    ]
    if args.llama:
        engines.append(("llama-cpp-python server", [sys.executable, "-m", "llama_cpp.server", "--model", args.model,
                                                    "--n_threads", str(args.threads), "--n_threads_batch",
                                                    str(args.threads), "--n_ctx", "512"]))
    rl = roofline(args.lib, args.model, args.threads)
    if rl:
        print(f"read bandwidth {rl[1] / 1e9:.1f} GB/s: single-stream roofline ~{rl[0]:.1f} tokens/s")
    # Every engine runs at once (idle ones sleep) and the measurements alternate between
    # them, round after round, so that load from other processes falls on all alike.
    running = []
    try:
        for name, cmd in engines:
            port = free_port()
            cmd = cmd + ["--port", str(port)]
            if "llama_cpp" in " ".join(cmd):
                cmd += ["--host", "127.0.0.1"]
            running.append(Engine(name, cmd, port, dict(os.environ, OMP_WAIT_POLICY="PASSIVE")))
            concurrent(port, 1, 8, prompts)  # warm-up: graphs built, weights packed
        table = {}
        for rnd in range(args.rounds):
            for n in streams:
                for e in running:
                    tps, res = concurrent(e.port, n, args.tokens, prompts)
                    table.setdefault((e.name, n), []).append(tps)
                    ttft = statistics.median(r[1] - r[0] for r in res)
                    print(f"round {rnd + 1} {e.name:28s} {n} stream(s): {tps:7.1f} tokens/s aggregate, "
                          f"median TTFT {ttft * 1000:.0f} ms", flush=True)
        if args.load_clients:
            e = running[0]  # nanomind batched
            ttfts, lock = [], threading.Lock()

            def client(i):
                out = []
                for k in range(2):
                    stream_completion(e.port, prompts[(i + k) % len(prompts)], 16, out)
                with lock:
                    ttfts.extend(r[1] - r[0] for r in out)

            threads = [threading.Thread(target=client, args=(i,)) for i in range(args.load_clients)]
            t0 = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            ttfts.sort()
            print(f"{e.name}: {args.load_clients} clients x 2 requests of 16 tokens on {max_par} slots in "
                  f"{time.perf_counter() - t0:.1f} s: TTFT p50 {ttfts[len(ttfts) // 2] * 1000:.0f} ms, "
                  f"p99 {ttfts[int(len(ttfts) * 0.99)] * 1000:.0f} ms", flush=True)
    finally:
        for e in running:
            e.stop()
    base, batched = "nanomind one pass per slot", "nanomind batched"
    med = {k: statistics.median(v) for k, v in table.items()}
    print(f"\nmedian of {args.rounds} round(s), aggregate decode tokens/s")
    print("streams | " + " | ".join(name for name, _ in engines) +
          " | batched / one pass per slot | batched / batched 1 stream (vs sequential)")
    for n in streams:
        row = [f"{med[(name, n)]:.1f}" for name, _ in engines]
        print(f"{n} | " + " | ".join(row) + f" | {med[(batched, n)] / med[(base, n)]:.2f}x"
              f" | {med[(batched, n)] / med[(batched, streams[0])]:.2f}x")


if __name__ == "__main__":
    main()
