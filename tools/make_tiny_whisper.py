#!/usr/bin/env python3
"""Writes a small random-weight Whisper model (the real architecture and vocabulary layout,
tiny widths) as a CTranslate2 directory and/or a whisper.cpp ggml file, for tests that
compare NanoMind against references on the same weights.

  tools/make_tiny_whisper.py --ct2 /tmp/tw-ct2 --ggml /tmp/tw.bin --ggml-type q8_0 --seed 3

The vocabulary has 256 single-byte text tokens plus a few merges, then Whisper's special
tokens with 99 languages and 1501 timestamps (so n_vocab = n_text + 1608: NanoMind's and
these tools' rule for vocabularies smaller than the released ones). n_audio_ctx is 1500
(Whisper's 30 s window); widths, heads and layers are small.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import whisper_formats as wf  # noqa: E402

MERGES = [b" t", b"he", b" the", b" a", b"in", b" s", b"er", b" w", b"on", b"re", b" hello", b" world",
          b"ing", b" c", b"at", b"en", b"es", b"or", b"an", b"ed"]


def sinusoids(length, channels, max_timescale=10000):
    """openai/whisper model.py sinusoids(): the encoder's position table."""
    inc = np.log(max_timescale) / (channels // 2 - 1)
    inv = np.exp(-inc * np.arange(channels // 2))
    t = np.arange(length)[:, None] * inv[None, :]
    return np.concatenate([np.sin(t), np.cos(t)], axis=1)


def make(seed=0, n_state=64, n_head=2, n_layer=2, n_mels=80, n_text_ctx=448, n_ff_mult=4):
    rng = np.random.default_rng(seed)
    text = [bytes([i]) for i in range(256)] + MERGES
    hp = {"n_vocab": len(text) + 1608, "n_audio_ctx": 1500, "n_audio_state": n_state, "n_audio_head": n_head,
          "n_audio_layer": n_layer, "n_text_ctx": n_text_ctx, "n_text_state": n_state, "n_text_head": n_head,
          "n_text_layer": n_layer, "n_mels": n_mels}
    E, F = n_state, n_ff_mult * n_state
    t = {}

    def dense(name, n_out, n_in, bias=True):
        t[name + ".weight"] = rng.normal(0, 1 / np.sqrt(n_in), (n_out, n_in)).astype(np.float32)
        if bias:
            t[name + ".bias"] = rng.normal(0, 0.1, n_out).astype(np.float32)

    def norm(name):
        t[name + ".weight"] = (1 + rng.normal(0, 0.1, E)).astype(np.float32)
        t[name + ".bias"] = rng.normal(0, 0.1, E).astype(np.float32)

    def block(p, cross):
        for a in ["attn."] + (["cross_attn."] if cross else []):
            dense(p + a + "query", E, E)
            dense(p + a + "key", E, E, bias=False)
            dense(p + a + "value", E, E)
            dense(p + a + "out", E, E)
            norm(p + a[:-1] + "_ln")
        dense(p + "mlp.0", F, E)
        dense(p + "mlp.2", E, F)
        norm(p + "mlp_ln")

    t["encoder.conv1.weight"] = rng.normal(0, 1 / np.sqrt(3 * n_mels), (E, n_mels, 3)).astype(np.float32)
    t["encoder.conv1.bias"] = rng.normal(0, 0.1, E).astype(np.float32)
    t["encoder.conv2.weight"] = rng.normal(0, 1 / np.sqrt(3 * E), (E, E, 3)).astype(np.float32)
    t["encoder.conv2.bias"] = rng.normal(0, 0.1, E).astype(np.float32)
    t["encoder.positional_embedding"] = sinusoids(1500, E).astype(np.float32)
    for i in range(n_layer):
        block(f"encoder.blocks.{i}.", False)
    norm("encoder.ln_post")
    t["decoder.token_embedding.weight"] = rng.normal(0, 1.0, (hp["n_vocab"], E)).astype(np.float32)
    t["decoder.positional_embedding"] = rng.normal(0, 0.3, (n_text_ctx, E)).astype(np.float32)
    for i in range(n_layer):
        block(f"decoder.blocks.{i}.", True)
    norm("decoder.ln")
    return wf.WhisperWeights(hp=hp, tensors=t, text_tokens=text, n_langs=99, multilingual=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ct2", help="write a CTranslate2 directory here")
    ap.add_argument("--ct2-type", default="float32", choices=["float32", "float16", "int8"])
    ap.add_argument("--ggml", help="write a whisper.cpp ggml file here")
    ap.add_argument("--ggml-type", default="f32", choices=sorted(wf.GGML_FTYPES))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-state", type=int, default=64)
    ap.add_argument("--n-head", type=int, default=2)
    ap.add_argument("--n-layer", type=int, default=2)
    ap.add_argument("--n-mels", type=int, default=80)
    a = ap.parse_args()
    w = make(a.seed, a.n_state, a.n_head, a.n_layer, a.n_mels)
    if a.ct2:
        wf.write_ct2(a.ct2, w, a.ct2_type)
    if a.ggml:
        wf.write_ggml(a.ggml, w, a.ggml_type)


if __name__ == "__main__":
    main()
