#!/usr/bin/env python3
"""Piper's own tools on a real voice, for tests/real/test_piper_voice.py: run under a Python
that has onnxruntime and piper-phonemize (tools/requirements-tts.txt), in its own process.

  piper_reference.py phonemize SENTENCES.json OUT.json      piper-phonemize's ids per sentence
  piper_reference.py synthesize VOICE.onnx IDS.json OUT.npz [--threads N] [--repeat R]
      the ONNX voice on onnxruntime with scales (0, 1, 0): waveform per utterance, and the
      best-of-R wall time of each run (seconds)
"""
import argparse
import json
import time

import numpy as np


def phonemize(args):
    from piper_phonemize import phoneme_ids_espeak, phonemize_espeak
    sentences = json.load(open(args.inp, encoding="utf-8"))
    out = []
    for s in sentences:
        ph = phonemize_espeak(s, "en-us")
        out.append({"text": s, "phonemes": ph, "ids": [phoneme_ids_espeak(p) for p in ph]})
    json.dump(out, open(args.out, "w", encoding="utf-8"), ensure_ascii=False)


def synthesize(args):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(args.onnx, so, providers=["CPUExecutionProvider"])
    utts = json.load(open(args.ids))
    res = {}
    for i, ids in enumerate(utts):
        feed = {"input": np.array([ids], np.int64), "input_lengths": np.array([len(ids)], np.int64),
                "scales": np.array([0.0, 1.0, 0.0], np.float32)}
        best = float("inf")
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            audio = sess.run(None, feed)[0].reshape(-1)
            best = min(best, time.perf_counter() - t0)
        res[f"audio{i}"] = audio
        res[f"time{i}"] = np.array(best)
    np.savez(args.out, **res)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("phonemize")
    p.add_argument("inp")
    p.add_argument("out")
    s = sub.add_parser("synthesize")
    s.add_argument("onnx")
    s.add_argument("ids")
    s.add_argument("out")
    s.add_argument("--threads", type=int, default=1)
    s.add_argument("--repeat", type=int, default=1)
    a = ap.parse_args()
    phonemize(a) if a.cmd == "phonemize" else synthesize(a)


if __name__ == "__main__":
    main()
