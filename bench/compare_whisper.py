#!/usr/bin/env python3
"""Real-time factor of speech recognition on a 30 s clip, NanoMind side by side with
faster-whisper (CTranslate2, on the very same CTranslate2 directory) and whisper.cpp (PyPI's
pywhispercpp, built from source for this machine, on the same weights converted to ggml by
tools/whisper_convert.py).

    python3 -m venv /work/venv-whisper3
    /work/venv-whisper3/bin/pip install faster-whisper==1.2.1 numpy==2.4.6 gguf   # gguf: the ggml conversion
    # whisper.cpp 1.8.5 from pywhispercpp's PyPI sdist, without AMX: GGML_NATIVE (the sdist's
    # default) turns on AMX on Sapphire Rapids, whose path crashed on Q8_0 here (as llama.cpp's
    # did); every variable in the environment reaches whisper.cpp's CMake as -DNAME=VALUE.
    GGML_NATIVE=OFF GGML_AVX=ON GGML_AVX2=ON GGML_FMA=ON GGML_F16C=ON GGML_BMI2=ON GGML_AVX_VNNI=ON \\
    GGML_AVX512=ON GGML_AVX512_VBMI=ON GGML_AVX512_VNNI=ON GGML_AVX512_BF16=ON \\
        /work/venv-whisper3/bin/pip install --no-binary pywhispercpp pywhispercpp==1.5.1
    flock /tmp/nm-bench.lock nice /work/venv-whisper3/bin/python bench/compare_whisper.py \\
        --model whisper-base-ct2 -t 1 2 -r 3

Weights: "f16" runs NanoMind on the CTranslate2 directory (float16 matrices), whisper.cpp on
the F16 ggml conversion and faster-whisper with compute_type float32 (CTranslate2 has no
float16 arithmetic on CPUs: it widens the same float16 weights); "q8_0" runs NanoMind and
whisper.cpp on the Q8_0 ggml conversion and faster-whisper with compute_type int8 (its own
8-bit per-row quantisation of the same weights). Every engine decodes with beam 5 (whisper.cpp's
and faster-whisper's default), language fixed to English, temperature fallback on, and runs
the encoder on whole 30 s windows; "nanomind-fit" is NanoMind with the encoder fitted to each
window's audio (--audio-ctx -1, whisper.cpp's audio_ctx: not the reference computation; the
second window of the 30 s clip holds ~5 s).

Each run is its own process (load untimed, one transcription timed), engines alternate
(NanoMind, faster-whisper, whisper.cpp, NanoMind, ...) so a noisy neighbour hurts all alike;
the table gives the median of -r runs, the real-time factor (seconds per second of audio) and
NanoMind's speed as a ratio of each peer's, plus each engine's word error rate on the clip's
script as a sanity check.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = ("The quick brown fox jumps over the lazy dog. Please call Stella and ask her to bring these things "
          "with her from the store. The weather today is sunny with a light breeze from the west. My phone battery "
          "is almost empty, so I need to charge it tonight. Turn left at the next corner and then walk straight for "
          "two blocks. She bought six apples, three oranges and a loaf of fresh bread. Small computers can run "
          "speech recognition without the internet.")


def models_dir():
    return os.environ.get("NM_MODELS_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "nanomind", "models")


def make_clip(path, seconds=30.0):
    """espeak-ng speaks SCRIPT; the 16 kHz mono clip is cut or padded to `seconds`."""
    import numpy as np
    from faster_whisper.audio import decode_audio
    with tempfile.TemporaryDirectory() as d:
        wav = os.path.join(d, "s.wav")
        subprocess.run(["espeak-ng", "-s", "150", "-w", wav, SCRIPT], check=True)
        a = decode_audio(wav, sampling_rate=16000)
    n = int(seconds * 16000)
    a = np.pad(a, (0, max(0, n - len(a))))[:n].astype(np.float32)
    np.save(path, a)
    return a


def words(text):
    return re.sub(r"[^a-z0-9' ]", " ", text.lower()).replace("'", "").split()


def wer(ref, hyp):
    r, h = words(ref), words(hyp)
    d = list(range(len(h) + 1))
    for i, x in enumerate(r, 1):
        prev, d[0] = d[0], i
        for j, y in enumerate(h, 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (x != y))
    return d[len(h)] / max(1, len(r))


# ---- one timed run per process --------------------------------------------------------

def run_nanomind(model, audio, threads, lib, audio_ctx=0):
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import nanomind_ctypes as nmc
    nm = nmc.NanoMind(lib)
    with nmc.load_asr(nm, model, n_threads=threads, max_sequences=5) as asr:
        t0 = time.perf_counter()
        text = asr.transcribe_pcm(audio, language="en", beam_size=5, best_of=5, audio_ctx=audio_ctx)
        return time.perf_counter() - t0, text


def run_faster_whisper(model, audio, threads, compute_type):
    from faster_whisper import WhisperModel
    m = WhisperModel(model, device="cpu", compute_type=compute_type, cpu_threads=threads, num_workers=1)
    t0 = time.perf_counter()
    segments, _ = m.transcribe(audio, language="en", beam_size=5, best_of=5)
    text = "".join(s.text for s in segments)  # the generator decodes as it is consumed
    return time.perf_counter() - t0, text


def run_whisper_cpp(model, audio, threads):
    from pywhispercpp.model import Model
    m = Model(model, params_sampling_strategy=1, n_threads=threads, print_progress=False, print_realtime=False,
              redirect_whispercpp_logs_to=None, beam_search={"beam_size": 5, "patience": -1.0})
    t0 = time.perf_counter()
    segs = m.transcribe(audio, language="en")
    return time.perf_counter() - t0, "".join(s.text for s in segs)


def child_env():
    """pywhispercpp's wheel puts libwhisper/libggml next to its module without an rpath; whisper.cpp's
    OpenMP workers wait passively (they would spin on the cores the next engine needs)."""
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    try:
        import importlib.util
        spec = importlib.util.find_spec("pywhispercpp")
        if spec and spec.origin:
            site = os.path.dirname(os.path.dirname(spec.origin))
            env["LD_LIBRARY_PATH"] = site + os.pathsep + env.get("LD_LIBRARY_PATH", "")
    except ImportError:
        pass
    return env


def child(args):
    import numpy as np
    audio = np.load(args.audio)
    if args.engine in ("nanomind", "nanomind-fit"):
        dt, text = run_nanomind(args.model, audio, args.threads, args.lib, -1 if args.engine == "nanomind-fit" else 0)
    elif args.engine == "faster-whisper":
        dt, text = run_faster_whisper(args.model, audio, args.threads, args.compute_type)
    else:
        dt, text = run_whisper_cpp(args.model, audio, args.threads)
    print(json.dumps({"seconds": dt, "text": text}))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="whisper-base-ct2", help="CTranslate2 directory (name in the models cache, or a path)")
    ap.add_argument("-t", "--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("-r", "--reps", type=int, default=3)
    ap.add_argument("--types", nargs="+", default=["f16", "q8_0"], choices=["f16", "q8_0"])
    ap.add_argument("--lib", default=os.path.join(ROOT, "build", "lib", "libnanomind.so"))
    ap.add_argument("--engines", nargs="+", default=["nanomind", "faster-whisper", "whisper.cpp"],
                    choices=["nanomind", "nanomind-fit", "faster-whisper", "whisper.cpp"])
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--engine", help=argparse.SUPPRESS)
    ap.add_argument("--audio", help=argparse.SUPPRESS)
    ap.add_argument("--compute-type", help=argparse.SUPPRESS)
    args, rest = ap.parse_known_args()
    if args.child:
        args.threads = args.threads[0]
        child(args)
        return
    ct2 = args.model if os.path.isdir(args.model) else os.path.join(models_dir(), args.model)
    if not os.path.isdir(ct2):
        sys.exit(f"{ct2} is missing: run scripts/fetch-models.sh")
    work = tempfile.mkdtemp(prefix="nm-whisper-bench-")
    audio = os.path.join(work, "clip.npy")
    make_clip(audio)
    files = {}
    for t in args.types:
        files[t] = os.path.join(work, f"ggml-{t}.bin")
        subprocess.run([sys.executable, os.path.join(ROOT, "tools", "whisper_convert.py"), ct2, files[t], "--type", t],
                       check=True, capture_output=True)
    print(f"clip: 30.0 s of espeak-ng speech ({len(words(SCRIPT))} words); model {ct2}; beam 5; "
          f"{args.reps} runs each, median; machine shared: compare ratios, not absolute times\n")
    print(f"| weights | threads | engine | seconds | real-time factor | NanoMind speed-up | WER |")
    print(f"|---|---|---|---|---|---|---|")
    for t in args.types:
        for threads in args.threads:
            jobs = {"nanomind": ["--model", ct2 if t == "f16" else files[t]],
                    "nanomind-fit": ["--model", ct2 if t == "f16" else files[t]],
                    "faster-whisper": ["--model", ct2, "--compute-type", "float32" if t == "f16" else "int8"],
                    "whisper.cpp": ["--model", files[t]]}
            times = {e: [] for e in args.engines}
            texts = {}
            for _ in range(args.reps):
                for e in args.engines:
                    cmd = [sys.executable, __file__, "--child", "--engine", e, "--audio", audio, "-t", str(threads),
                           "--lib", args.lib] + jobs[e]
                    r = subprocess.run(cmd, capture_output=True, text=True, env=child_env())
                    if r.returncode != 0:
                        print(f"{e} failed: {r.stderr[-2000:]}", file=sys.stderr)
                        continue
                    out = json.loads(r.stdout.strip().splitlines()[-1])
                    times[e].append(out["seconds"])
                    texts[e] = out["text"]
            nm_med = statistics.median(times["nanomind"]) if times.get("nanomind") else None
            fit_med = statistics.median(times["nanomind-fit"]) if times.get("nanomind-fit") else None
            for e in args.engines:
                if not times[e]:
                    continue
                med = statistics.median(times[e])
                ratio = "-"
                if nm_med and not e.startswith("nanomind"):
                    ratio = f"{med / nm_med:.2f}x" + (f" (fit {med / fit_med:.2f}x)" if fit_med else "")
                spread = f" ({min(times[e]):.2f}-{max(times[e]):.2f})" if len(times[e]) > 1 else ""
                print(f"| {t} | {threads} | {e} | {med:.2f}{spread} | {med / 30.0:.3f} | {ratio} | {wer(SCRIPT, texts[e]):.3f} |",
                      flush=True)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
