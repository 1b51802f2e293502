#!/usr/bin/env python3
"""Write GGUF files with a real model's shapes and no weights, for the planner and the battery
estimate (`nanomind plan`, `nanomind battery`), which read only the header: the tensor table
and the hyper-parameters. The data section is a hole (a sparse file of the right length: it
takes no disk space and reads as zeros), so these files cannot answer questions.

Presets (shapes from the models' published configs):
  qwen2-0.5b      Qwen2-0.5B(-Instruct) text model: 24 layers, width 896, FFN 4864, 14 heads,
                  2 KV heads, vocabulary 151936, tied embeddings (LLaVA-OneVision-0.5B's LLM)
  siglip-so400m   LLaVA-OneVision-0.5B's mmproj: SigLIP-so400m-patch14-384 (27 layers, width
                  1152, FFN 4304, 16 heads, 384 px, patch 14 -> 729 patches) + 2-layer MLP to 896
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

import gguf
from gguf import GGMLQuantizationType as QT

TYPES = {"f32": QT.F32, "f16": QT.F16, "q8_0": QT.Q8_0, "q4_0": QT.Q4_0, "q4_k": QT.Q4_K, "q6_k": QT.Q6_K}


def nbytes(shape, qtype):
    block, size = gguf.GGML_QUANT_SIZES[qtype]
    n = int(np.prod(shape))
    assert shape[-1] % block == 0, (shape, qtype)
    return n // block * size


def qwen2(w, qtype):
    n_embd, n_layer, n_ff, n_head, n_kv, vocab = 896, 24, 4864, 14, 2, 151936
    head = n_embd // n_head
    w.add_block_count(n_layer)
    w.add_context_length(32768)
    w.add_embedding_length(n_embd)
    w.add_feed_forward_length(n_ff)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_kv)
    w.add_rope_freq_base(1000000.0)
    w.add_layer_norm_rms_eps(1e-6)
    t = []
    t.append(("token_embd.weight", (vocab, n_embd), qtype))
    for i in range(n_layer):
        p = f"blk.{i}."
        t += [(p + "attn_norm.weight", (n_embd,), QT.F32), (p + "ffn_norm.weight", (n_embd,), QT.F32)]
        t += [(p + "attn_q.weight", (n_embd, n_embd), qtype), (p + "attn_q.bias", (n_embd,), QT.F32)]
        t += [(p + "attn_k.weight", (n_kv * head, n_embd), qtype), (p + "attn_k.bias", (n_kv * head,), QT.F32)]
        t += [(p + "attn_v.weight", (n_kv * head, n_embd), qtype), (p + "attn_v.bias", (n_kv * head,), QT.F32)]
        t += [(p + "attn_output.weight", (n_embd, n_embd), qtype)]
        t += [(p + "ffn_gate.weight", (n_ff, n_embd), qtype), (p + "ffn_up.weight", (n_ff, n_embd), qtype)]
        t += [(p + "ffn_down.weight", (n_embd, n_ff), qtype)]
    t.append(("output_norm.weight", (n_embd,), QT.F32))
    return t


def siglip(w, qtype):
    n_embd, n_layer, n_ff, n_head, image, patch, llm = 1152, 27, 4304, 16, 384, 14, 896
    w.add_bool("clip.has_vision_encoder", True)
    w.add_string("clip.projector_type", "mlp")
    w.add_uint32("clip.vision.image_size", image)
    w.add_uint32("clip.vision.patch_size", patch)
    w.add_uint32("clip.vision.embedding_length", n_embd)
    w.add_uint32("clip.vision.feed_forward_length", n_ff)
    w.add_uint32("clip.vision.projection_dim", llm)
    w.add_uint32("clip.vision.attention.head_count", n_head)
    w.add_float32("clip.vision.attention.layer_norm_epsilon", 1e-6)
    w.add_uint32("clip.vision.block_count", n_layer)
    w.add_array("clip.vision.image_mean", [0.5, 0.5, 0.5])
    w.add_array("clip.vision.image_std", [0.5, 0.5, 0.5])
    n_patch = (image // patch) ** 2
    # The patch embedding's kernel is 14 x 14 x 3, not a multiple of a quant block: f16 as converters keep it.
    t = [("v.patch_embd.weight", (n_embd, 3, patch, patch), QT.F16), ("v.patch_embd.bias", (n_embd,), QT.F32),
         ("v.position_embd.weight", (n_patch, n_embd), QT.F16)]
    for i in range(n_layer):
        p = f"v.blk.{i}."
        for ln in ("ln1", "ln2"):
            t += [(p + ln + ".weight", (n_embd,), QT.F32), (p + ln + ".bias", (n_embd,), QT.F32)]
        for m in ("attn_q", "attn_k", "attn_v", "attn_out"):
            t += [(p + m + ".weight", (n_embd, n_embd), qtype), (p + m + ".bias", (n_embd,), QT.F32)]
        t += [(p + "ffn_up.weight", (n_ff, n_embd), qtype), (p + "ffn_up.bias", (n_ff,), QT.F32)]
        t += [(p + "ffn_down.weight", (n_embd, n_ff), qtype), (p + "ffn_down.bias", (n_embd,), QT.F32)]
    t += [("v.post_ln.weight", (n_embd,), QT.F32), ("v.post_ln.bias", (n_embd,), QT.F32)]
    t += [("mm.0.weight", (llm, n_embd), qtype), ("mm.0.bias", (llm,), QT.F32)]
    t += [("mm.2.weight", (llm, llm), qtype), ("mm.2.bias", (llm,), QT.F32)]
    return t


PRESETS = {"qwen2-0.5b": ("qwen2", qwen2, "q4_0"), "siglip-so400m": ("clip", siglip, "f16")}


def write(out: str, preset: str, wtype: str | None = None) -> int:
    arch, build, default_type = PRESETS[preset]
    qtype = TYPES[wtype or default_type]
    w = gguf.GGUFWriter(out, arch)
    w.add_name(preset + " (shapes only, no weights)")
    tensors = build(w, qtype)
    for name, shape, t in tensors:
        # ffn_down's input width 4304 (SigLIP) is not a multiple of 32: such matrices stay f16.
        if t not in (QT.F32, QT.F16) and shape[-1] % gguf.GGML_QUANT_SIZES[t][0] != 0:
            t = QT.F16
        w.add_tensor_info(name, shape, np.dtype(np.float32), nbytes(shape, t), raw_dtype=t)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    w.close()
    align = 32
    size = os.path.getsize(out)
    size = (size + align - 1) // align * align
    for _, ti in w.tensors[0].items():
        size += (ti.nbytes + align - 1) // align * align
    os.truncate(out, size)  # the data section: a hole
    return size


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", required=True, choices=sorted(PRESETS))
    ap.add_argument("--type", choices=sorted(TYPES), help="matrix type (default: q4_0 for text, f16 for the mmproj)")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    size = write(a.out, a.preset, a.type)
    print(f"{a.out}: {a.preset}, {size / 1e6:.1f} MB of which the data section is a hole")
    return 0


if __name__ == "__main__":
    sys.exit(main())
