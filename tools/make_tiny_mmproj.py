#!/usr/bin/env python3
"""Write a small random mmproj GGUF (vision encoder + projector) the way llama.cpp's converter does.

Kinds: clip-mlp (LLaVA 1.5: CLIP ViT with class token and pre-LN, quick-GELU, 2-layer MLP
projector), siglip-mlp (LLaVA-OneVision style: SigLIP, GELU, post-LN, MLP) and
siglip-idefics3 (SmolVLM: SigLIP + pixel shuffle + linear). Keys clip.*, tensors v.* / mm.*
with llama.cpp's names; matrices in F32, F16 or Q8_0 (gguf-py's quantiser), norms and
biases F32, the patch kernel F32 (f32 files) or F16, position embeddings likewise.
"""
import argparse
import sys

import numpy as np

import gguf
from gguf import GGMLQuantizationType as QT

TYPES = {"f32": QT.F32, "f16": QT.F16, "q8_0": QT.Q8_0}
KINDS = ("clip-mlp", "siglip-mlp", "siglip-idefics3")
FILE_TYPE = {QT.F32: 0, QT.F16: 1, QT.Q8_0: 7}


def write_mmproj(out: str, kind: str = "clip-mlp", wtype: str = "f32", image_size: int = 32,
                 patch_size: int = 4, n_embd: int = 64, n_ff: int = 128, n_layer: int = 3,
                 n_head: int = 4, n_embd_llm: int = 64, scale_factor: int = 2, seed: int = 0,
                 feature_layer: int | None = None, legacy_ffn_names: bool = False,
                 no_vision: bool = False, drop_tensor: str | None = None,
                 pinpoints: list[int] | None = None, merge: str | None = None,
                 image_newline: bool = False, preproc_image_size: int | None = None) -> dict:
    """Write a random mmproj file; returns the hyper-parameters used."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}: use one of {', '.join(KINDS)}")
    qtype = TYPES[wtype]
    clip = kind.startswith("clip")
    projector = "idefics3" if kind.endswith("idefics3") else "mlp"
    rng = np.random.default_rng(seed)
    grid = image_size // patch_size
    n_pos = grid * grid + (1 if clip else 0)

    w = gguf.GGUFWriter(out, "clip")
    w.add_name(f"nanomind-tiny-{kind}")
    w.add_file_type(FILE_TYPE[qtype])
    w.add_bool("clip.has_text_encoder", False)
    w.add_bool("clip.has_vision_encoder", not no_vision)
    w.add_bool("clip.has_llava_projector", projector == "mlp")
    w.add_string("clip.projector_type", projector)
    w.add_uint32("clip.vision.image_size", image_size)
    w.add_uint32("clip.vision.patch_size", patch_size)
    w.add_uint32("clip.vision.embedding_length", n_embd)
    w.add_uint32("clip.vision.feed_forward_length", n_ff)
    w.add_uint32("clip.vision.projection_dim", n_embd_llm)
    w.add_uint32("clip.vision.attention.head_count", n_head)
    w.add_float32("clip.vision.attention.layer_norm_epsilon", 1e-5 if clip else 1e-6)
    w.add_uint32("clip.vision.block_count", n_layer)
    mean = [0.48145466, 0.4578275, 0.40821073] if clip else [0.5, 0.5, 0.5]
    std = [0.26862954, 0.26130258, 0.27577711] if clip else [0.5, 0.5, 0.5]
    w.add_array("clip.vision.image_mean", mean)
    w.add_array("clip.vision.image_std", std)
    w.add_bool("clip.use_gelu", not clip)
    if projector == "idefics3":
        w.add_uint32("clip.vision.projector.scale_factor", scale_factor)
    if feature_layer is not None:
        w.add_array("clip.vision.feature_layer", [int(feature_layer)])
    if pinpoints:
        w.add_array("clip.vision.image_grid_pinpoints", [int(p) for p in pinpoints])
    if merge:  # llama.cpp's legacy LLaVA-1.6 converter key
        w.add_string("clip.vision.mm_patch_merge_type", merge)
    if preproc_image_size is not None:  # idefics3: longest edge before splitting
        w.add_uint32("clip.vision.preproc_image_size", preproc_image_size)

    def put(name, arr):
        if name == drop_tensor:
            return
        w.add_tensor(name, arr)

    def vec(name, n, scale=0.1, base=0.0):
        put(name, (base + scale * rng.standard_normal(n)).astype(np.float32))

    def matrix(name, rows, cols, std=None):
        std = std if std is not None else 1.0 / np.sqrt(cols)
        a = (rng.standard_normal((rows, cols)) * std).astype(np.float32)
        if qtype == QT.F32:
            put(name, a)
        elif qtype == QT.F16:
            put(name, a.astype(np.float16))
        elif cols % 32:  # rows Q8_0 cannot hold stay F16, as llama.cpp's quantiser leaves them
            put(name, a.astype(np.float16))
        elif name != drop_tensor:
            w.add_tensor(name, gguf.quants.quantize(a, qtype), raw_dtype=qtype)

    small = np.float32 if qtype == QT.F32 else np.float16
    kernel = rng.standard_normal((n_embd, 3, patch_size, patch_size)) / np.sqrt(3 * patch_size**2)
    put("v.patch_embd.weight", kernel.astype(small))
    vec("v.patch_embd.bias", n_embd)
    if clip:
        vec("v.class_embd", n_embd, 0.5)
    put("v.position_embd.weight", (0.5 * rng.standard_normal((n_pos, n_embd))).astype(small))
    if clip:
        vec("v.pre_ln.weight", n_embd, 0.1, 1.0)
        vec("v.pre_ln.bias", n_embd)
    for il in range(n_layer):
        p = f"v.blk.{il}."
        for ln in ("ln1", "ln2"):
            vec(p + ln + ".weight", n_embd, 0.1, 1.0)
            vec(p + ln + ".bias", n_embd)
        for t in ("attn_q", "attn_k", "attn_v", "attn_out"):
            matrix(p + t + ".weight", n_embd, n_embd)
            vec(p + t + ".bias", n_embd)
        # fc1 (n_embd -> n_ff) is ffn_up, fc2 ffn_down; the old converter swapped the names.
        up, down = ("ffn_down", "ffn_up") if legacy_ffn_names else ("ffn_up", "ffn_down")
        matrix(p + up + ".weight", n_ff, n_embd)
        vec(p + up + ".bias", n_ff)
        matrix(p + down + ".weight", n_embd, n_ff)
        vec(p + down + ".bias", n_embd)
    if not clip:
        vec("v.post_ln.weight", n_embd, 0.1, 1.0)
        vec("v.post_ln.bias", n_embd)
    if projector == "mlp":
        matrix("mm.0.weight", n_embd_llm, n_embd)
        vec("mm.0.bias", n_embd_llm)
        matrix("mm.2.weight", n_embd_llm, n_embd_llm)
        vec("mm.2.bias", n_embd_llm)
    else:
        matrix("mm.model.fc.weight", n_embd_llm, n_embd * scale_factor**2)
    if image_newline:  # LLaVA-NeXT's row separator, in the LLM's embedding space
        vec("model.image_newline", n_embd_llm, 1.0)

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return dict(kind=kind, type=wtype, image_size=image_size, patch_size=patch_size, n_embd=n_embd,
                n_embd_llm=n_embd_llm, n_layer=n_layer)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kind", default="clip-mlp", choices=KINDS)
    ap.add_argument("--type", default="f32", choices=sorted(TYPES))
    for k in ("image-size", "patch-size", "n-embd", "n-ff", "n-layer", "n-head", "n-embd-llm",
              "scale-factor", "feature-layer"):
        ap.add_argument("--" + k, type=int)
    ap.add_argument("--legacy-ffn-names", action="store_true", help="old converter's swapped ffn_up/ffn_down names")
    ap.add_argument("--no-vision", action="store_true", help="write clip.has_vision_encoder = false")
    ap.add_argument("--drop-tensor", help="leave this tensor out (to test error messages)")
    ap.add_argument("--pinpoints", type=int, nargs="*", help="anyres grid pinpoints w1 h1 w2 h2 ...")
    ap.add_argument("--merge", help="clip.vision.mm_patch_merge_type, e.g. spatial_unpad or flat")
    ap.add_argument("--image-newline", action="store_true", help="add model.image_newline (LLaVA-NeXT)")
    ap.add_argument("--preproc-image-size", type=int, help="idefics3: longest edge before image splitting")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    kw = {k.replace("-", "_"): getattr(a, k.replace("-", "_"))
          for k in ("image-size", "patch-size", "n-embd", "n-ff", "n-layer", "n-head", "n-embd-llm",
                    "scale-factor", "feature-layer")}
    kw = {k: v for k, v in kw.items() if v is not None}
    try:
        hp = write_mmproj(a.out, a.kind, a.type, seed=a.seed, legacy_ffn_names=a.legacy_ffn_names,
                          no_vision=a.no_vision, drop_tensor=a.drop_tensor, pinpoints=a.pinpoints,
                          merge=a.merge, image_newline=a.image_newline, preproc_image_size=a.preproc_image_size, **kw)
    except ValueError as e:
        print(f"make_tiny_mmproj: {e}", file=sys.stderr)
        return 2
    print(f"wrote {a.out}: {hp}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
