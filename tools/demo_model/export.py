"""Writes the trained demo model as llama.cpp-style GGUF files plus samples and reference answers.

    python tools/demo_model/export.py --ckpt tools/demo_model/out/best.pt --out models

Outputs (in --out):
  nanomind-demo-mmproj.gguf  clip arch, projector_type "mlp": SigLIP-style ViT + 2-layer MLP
  nanomind-demo-llm.gguf     llama arch decoder with a byte-level BPE ("gpt2") vocabulary
  nanomind-demo-heldout.json held-out scenes: seed, question, expected and PyTorch greedy answer
  samples/                   a few scene PNGs and samples.json with their questions

Matrices are stored as F16, vectors as F32. The reference answers are computed with the
weights rounded to F16 exactly as stored, so an engine that reads the files can match them.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import gguf  # noqa: E402

import scenes  # noqa: E402
import tokenizer as T  # noqa: E402
from data import Encoder  # noqa: E402
from generate import answer_batch  # noqa: E402
from model import IMAGE_MEAN, IMAGE_STD, Config, DemoVLM, preprocess  # noqa: E402,F401

MMPROJ_NAME = "nanomind-demo-mmproj.gguf"
LLM_NAME = "nanomind-demo-llm.gguf"
HELDOUT_NAME = "nanomind-demo-heldout.json"
SAMPLE_SEEDS = (3, 7, 11, 21, 42, 77)


def load(ckpt: str) -> tuple[DemoVLM, Encoder, dict]:
    blob = torch.load(ckpt, map_location="cpu")
    enc = Encoder(T.build_tokenizer())
    model = DemoVLM(Config(**blob["config"]), enc.image_id)
    model.load_state_dict(blob["state"])
    # Round matrices to F16 as they will be stored, so reference answers match the files.
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() >= 2:
                p.copy_(p.half().float())
    model.eval()
    return model, enc, blob


def _put(w: gguf.GGUFWriter, name: str, t: torch.Tensor) -> None:
    a = t.detach().cpu().numpy()
    w.add_tensor(name, a.astype(np.float16) if a.ndim >= 2 else a.astype(np.float32))


def permute_qk(w: torch.Tensor, n_head: int) -> torch.Tensor:
    """Hugging Face rotate-half row order -> llama.cpp's interleaved-pair RoPE order
    (the same permutation llama.cpp's convert_hf_to_gguf.py applies to llama Q and K)."""
    out, inp = w.shape
    return w.reshape(n_head, 2, out // n_head // 2, inp).transpose(1, 2).reshape(out, inp)


def write_mmproj(path: str, model: DemoVLM, name: str = "NanoMind demo vision tower",
                 description: str = "SigLIP-style ViT + MLP projector of the NanoMind demo VLM (trained on toy scenes)"
                 ) -> None:
    """Also takes any object with .c (Config) and .vision (VisionTower)."""
    c, v = model.c, model.vision
    w = gguf.GGUFWriter(path, "clip")
    w.add_name(name)
    w.add_description(description)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    w.add_clip_has_vision_encoder(True)
    w.add_bool("clip.has_text_encoder", False)
    w.add_bool(gguf.Keys.Clip.HAS_LLAVA_PROJECTOR, True)
    w.add_clip_projector_type(c.projector)
    if c.projector == "idefics3":
        w.add_uint32("clip.vision.projector.scale_factor", c.scale_factor)
    w.add_vision_image_size(c.image_size)
    w.add_vision_patch_size(c.patch_size)
    w.add_vision_embedding_length(c.v_embd)
    w.add_vision_feed_forward_length(c.v_ff)
    w.add_vision_block_count(c.v_layer)
    w.add_vision_projection_dim(c.n_embd)
    w.add_vision_head_count(c.v_head)
    w.add_vision_attention_layernorm_eps(c.v_eps)
    w.add_vision_image_mean(list(IMAGE_MEAN))
    w.add_vision_image_std(list(IMAGE_STD))
    w.add_vision_use_gelu(True)
    # llama.cpp's llava graph drops the last block unless feature layers are given; naming
    # the output of the last block keeps every block (then post_ln, then the projector).
    w.add_array("clip.vision.feature_layer", [c.v_layer])
    _put(w, "v.patch_embd.weight", v.patch_embd.weight)
    _put(w, "v.patch_embd.bias", v.patch_embd.bias)
    _put(w, "v.position_embd.weight", v.position_embd)
    for i, b in enumerate(v.blocks):
        for name in ("attn_q", "attn_k", "attn_v", "attn_out", "ln1", "ln2", "ffn_up", "ffn_down"):
            mod = getattr(b, name)
            _put(w, f"v.blk.{i}.{name}.weight", mod.weight)
            _put(w, f"v.blk.{i}.{name}.bias", mod.bias)
    _put(w, "v.post_ln.weight", v.post_ln.weight)
    _put(w, "v.post_ln.bias", v.post_ln.bias)
    if c.projector == "idefics3":
        _put(w, "mm.model.fc.weight", v.mm_fc.weight)
    else:
        _put(w, "mm.0.weight", v.mm0.weight)
        _put(w, "mm.0.bias", v.mm0.bias)
        _put(w, "mm.2.weight", v.mm2.weight)
        _put(w, "mm.2.bias", v.mm2.bias)
    _finish(w)


def write_llm(path: str, model: DemoVLM, enc: Encoder) -> None:
    c = model.c
    w = gguf.GGUFWriter(path, "llama")
    w.add_name("NanoMind demo decoder")
    w.add_description("LLaMA decoder of the NanoMind demo VLM; the <image> token stands for "
                      f"{c.n_patches} image embeddings from the matching mmproj file")
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    w.add_context_length(c.n_ctx)
    w.add_embedding_length(c.n_embd)
    w.add_block_count(c.n_layer)
    w.add_feed_forward_length(c.n_ff)
    w.add_head_count(c.n_head)
    w.add_head_count_kv(c.n_head_kv)
    w.add_layer_norm_rms_eps(c.rms_eps)
    w.add_rope_freq_base(c.rope_theta)
    w.add_rope_dimension_count(c.n_embd // c.n_head)
    w.add_vocab_size(c.vocab)
    vocab = T.vocab_list(enc.tok)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-2")
    w.add_token_list(vocab)
    w.add_token_types([gguf.TokenType.CONTROL if t in T.SPECIAL_TOKENS else gguf.TokenType.NORMAL
                       for t in vocab])
    w.add_token_merges(T.merges_of(enc.tok))
    w.add_bos_token_id(enc.pad_id)
    w.add_eos_token_id(enc.eos_id)
    w.add_pad_token_id(enc.pad_id)
    w.add_add_bos_token(False)
    w.add_chat_template(T.CHAT_TEMPLATE)
    w.add_string("nanomind.image_marker", T.IMAGE_TOKEN)
    _put(w, "token_embd.weight", model.token_embd.weight)
    for i, b in enumerate(model.blocks):
        _put(w, f"blk.{i}.attn_norm.weight", b.attn_norm.weight)
        _put(w, f"blk.{i}.attn_q.weight", permute_qk(b.attn_q.weight, c.n_head))
        _put(w, f"blk.{i}.attn_k.weight", permute_qk(b.attn_k.weight, c.n_head_kv))
        _put(w, f"blk.{i}.attn_v.weight", b.attn_v.weight)
        _put(w, f"blk.{i}.attn_output.weight", b.attn_output.weight)
        _put(w, f"blk.{i}.ffn_norm.weight", b.ffn_norm.weight)
        _put(w, f"blk.{i}.ffn_gate.weight", b.ffn_gate.weight)
        _put(w, f"blk.{i}.ffn_up.weight", b.ffn_up.weight)
        _put(w, f"blk.{i}.ffn_down.weight", b.ffn_down.weight)
    _put(w, "output_norm.weight", model.output_norm.weight)
    _put(w, "output.weight", model.output.weight)
    _finish(w)


def _finish(w: gguf.GGUFWriter) -> None:
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def write_heldout(path: str, model: DemoVLM, enc: Encoder, n: int) -> float:
    batch = enc.make_batch(scenes.heldout_seeds(n))
    got = answer_batch(model, enc, batch)
    items = [{"seed": s, "question": q, "expected": a, "pytorch_answer": g,
              "prompt_ids": enc.prompt_ids(q), "pytorch_answer_ids": enc.tok.encode(g).ids}
             for s, q, a, g in zip(scenes.heldout_seeds(n), batch.questions, batch.answers, got)]
    acc = sum(it["expected"] == it["pytorch_answer"] for it in items) / n
    doc = {"about": "Held-out demo scenes: regenerate each image with "
                    "tools/demo_model/scenes.py (image_array(make_scene(seed))); the question is "
                    "sample_example(seed). pytorch_answer is greedy decoding with the weights as "
                    "stored in the GGUF files (F16 matrices, F32 compute).",
           "image_size": model.c.image_size, "image_token": T.IMAGE_TOKEN,
           "image_token_id": enc.image_id, "eos_id": enc.eos_id, "n_image_embeddings":
           model.c.n_patches, "exact_match": acc, "items": items}
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
    return acc


def write_samples(folder: str, model: DemoVLM, enc: Encoder) -> None:
    os.makedirs(folder, exist_ok=True)
    batch = enc.make_batch(list(SAMPLE_SEEDS))
    entries = []
    for seed, img in zip(SAMPLE_SEEDS, batch.images):
        scene = scenes.make_scene(seed)
        name = f"scene_{seed}.png"
        scenes.render(scene).save(os.path.join(folder, name))
        qa = scenes.questions(scene)
        sub = enc.make_batch([seed] * len(qa))
        sub.questions = [q for q, _ in qa]
        got = answer_batch(model, enc, sub)
        entries.append({"image": name, "seed": seed, "qa": [
            {"question": q, "expected": a, "model": g} for (q, a), g in zip(qa, got)]})
    with open(os.path.join(folder, "samples.json"), "w") as f:
        json.dump(entries, f, indent=1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--ckpt", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                   "out", "best.pt"))
    ap.add_argument("--out", default="models")
    ap.add_argument("--heldout", type=int, default=200)
    ap.add_argument("--no-samples", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    model, enc, blob = load(args.ckpt)
    os.makedirs(args.out, exist_ok=True)
    write_mmproj(os.path.join(args.out, MMPROJ_NAME), model)
    write_llm(os.path.join(args.out, LLM_NAME), model, enc)
    acc = write_heldout(os.path.join(args.out, HELDOUT_NAME), model, enc, args.heldout)
    if not args.no_samples:
        write_samples(os.path.join(args.out, "samples"), model, enc)
    print(f"exported step {blob['step']} (training eval {blob['heldout_acc']:.3f}); "
          f"held-out exact match with F16 weights {acc:.3f} on {args.heldout} scenes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
