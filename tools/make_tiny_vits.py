#!/usr/bin/env python3
"""Write a small random VITS voice GGUF (the layout tools/piper_to_gguf.py writes for real
Piper voices, tools/vits_gguf.py) for tests: every module of a Piper voice, with small
channel counts and weights scaled by 1/sqrt(fan-in) so activations stay O(1).

  python tools/make_tiny_vits.py -o tiny-voice.gguf [--seed 0]
"""
import argparse
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vits_gguf import write_vits_gguf  # noqa: E402

PHONEMES = ["_", "^", "$", " ", "!", "'", ",", "-", ".", ":", ";", "?", "a", "b", "d", "e", "f", "h", "i", "k",
            "l", "m", "n", "o", "p", "s", "t", "u", "w", "z", "ə", "ɪ", "ˈ", "ː"]


def tiny_hparams(hidden=16, heads=2, filt=24, inter=8, layers=2, window=2, dp_filter=12, bins=4,
                 up=(4, 2), up_k=(8, 4), initial=16, res_k=(3, 5), res_d=((1, 2), (2, 3))):
    return {
        "vocab_size": len(PHONEMES) + 6, "hidden_channels": hidden, "inter_channels": inter,
        "filter_channels": filt, "n_heads": heads, "n_layers": layers, "kernel_size": 3, "window_size": window,
        "layer_norm_epsilon": 1e-5, "dp.filter_channels": dp_filter, "dp.kernel_size": 3, "dp.n_layers": 3,
        "dp.num_bins": bins, "dp.tail_bound": 5.0, "dp.flow_ids": [7, 5, 3],
        "flow.n_flows": 2, "flow.wn_layers": 3, "flow.kernel_size": 5, "flow.dilation_rate": 1,
        "dec.upsample_initial_channel": initial, "dec.resblock_type": 2,
        "dec.upsample_rates": list(up), "dec.upsample_kernel_sizes": list(up_k),
        "dec.resblock_kernel_sizes": list(res_k), "dec.resblock_dilations": [d for ds in res_d for d in ds],
        "dec.lrelu_slope": 0.1, "dec.final_lrelu_slope": 0.01,
    }


def random_tensors(hp, rng):
    t = {}

    def conv(name, cin, cout, k, bias=True, gain=1.0):
        t[f"{name}.weight"] = rng.standard_normal((cout, cin, k)) * gain / math.sqrt(cin * k)
        if bias:
            t[f"{name}.bias"] = rng.standard_normal(cout) * 0.1

    def norm(name, c):
        t[f"{name}.gamma"] = 1 + 0.1 * rng.standard_normal(c)
        t[f"{name}.beta"] = 0.1 * rng.standard_normal(c)

    H, d = hp["hidden_channels"], hp["hidden_channels"] // hp["n_heads"]
    w = 2 * hp["window_size"] + 1
    t["enc_p.emb.weight"] = rng.standard_normal((hp["vocab_size"], H)) * H ** -0.5
    for i in range(hp["n_layers"]):
        a = f"enc_p.encoder.attn_layers.{i}"
        for c in ("conv_q", "conv_k", "conv_v", "conv_o"):
            conv(f"{a}.{c}", H, H, 1)
        t[f"{a}.emb_rel_k"] = rng.standard_normal((1, w, d)) * d ** -0.5
        t[f"{a}.emb_rel_v"] = rng.standard_normal((1, w, d)) * d ** -0.5
        conv(f"enc_p.encoder.ffn_layers.{i}.conv_1", H, hp["filter_channels"], hp["kernel_size"])
        conv(f"enc_p.encoder.ffn_layers.{i}.conv_2", hp["filter_channels"], H, hp["kernel_size"])
        norm(f"enc_p.encoder.norm_layers_1.{i}", H)
        norm(f"enc_p.encoder.norm_layers_2.{i}", H)
    conv("enc_p.proj", H, 2 * hp["inter_channels"], 1)
    F = hp["dp.filter_channels"]

    def dds(p):
        for i in range(hp["dp.n_layers"]):
            conv(f"{p}.convs_sep.{i}", 1, F, hp["dp.kernel_size"])
            conv(f"{p}.convs_1x1.{i}", F, F, 1)
            norm(f"{p}.norms_1.{i}", F)
            norm(f"{p}.norms_2.{i}", F)

    conv("dp.pre", H, F, 1)
    dds("dp.convs")
    conv("dp.proj", F, F, 1)
    for fid in hp["dp.flow_ids"]:
        conv(f"dp.flows.{fid}.pre", 1, F, 1)
        dds(f"dp.flows.{fid}.convs")
        conv(f"dp.flows.{fid}.proj", F, 3 * hp["dp.num_bins"] - 1, 1, gain=3.0)
    t["dp.flows.0.m"] = rng.standard_normal((2, 1)) * 0.1
    t["dp.flows.0.exp_neg_logs"] = np.exp(rng.standard_normal((2, 1)) * 0.1)
    half = hp["inter_channels"] // 2
    n_wn = hp["flow.wn_layers"]
    for f in range(hp["flow.n_flows"]):
        p = f"flow.flows.{2 * f}"
        conv(f"{p}.pre", half, H, 1)
        for i in range(n_wn):
            conv(f"{p}.enc.in_layers.{i}", H, 2 * H, hp["flow.kernel_size"])
            conv(f"{p}.enc.res_skip_layers.{i}", H, 2 * H if i < n_wn - 1 else H, 1)
        conv(f"{p}.post", H, half, 1, gain=0.5)
    ch = hp["dec.upsample_initial_channel"]
    conv("dec.conv_pre", hp["inter_channels"], ch, 7)
    nk = len(hp["dec.resblock_kernel_sizes"])
    nd = len(hp["dec.resblock_dilations"]) // nk
    for i, k in enumerate(hp["dec.upsample_kernel_sizes"]):
        t[f"dec.ups.{i}.weight"] = rng.standard_normal((ch, ch // 2, k)) / math.sqrt(ch * k / hp["dec.upsample_rates"][i])
        t[f"dec.ups.{i}.bias"] = rng.standard_normal(ch // 2) * 0.1
        ch //= 2
        for j, rk in enumerate(hp["dec.resblock_kernel_sizes"]):
            for c in range(nd):
                conv(f"dec.resblocks.{i * nk + j}.convs.{c}", ch, ch, rk, gain=0.5)
    conv("dec.conv_post", ch, 1, 7, bias=False)
    return t


def write_tiny_vits(out, seed=0, **kw):
    rng = np.random.default_rng(seed)
    hp = tiny_hparams(**kw)
    tensors = random_tensors(hp, rng)
    cfg = {"sample_rate": 16000, "noise_scale": 0.667, "length_scale": 1.0, "noise_w": 0.8, "espeak_voice": "en-us",
           "phoneme_id_map": {p: [i] for i, p in enumerate(PHONEMES)}}
    write_vits_gguf(out, tensors, hp, cfg, name="nanomind-tiny-vits")
    return tensors, hp, cfg


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    write_tiny_vits(a.out, a.seed)


if __name__ == "__main__":
    main()
