"""Builds a Hugging Face transformers LlamaForCausalLM / Qwen2ForCausalLM (float64, eager
attention) from a GGUF written by tools/make_tiny_llm.py, undoing llama.cpp's Q/K rope
permutation for arch "llama", to cross-check tests/reference/llama_ref.py.
Needs torch and transformers >= 4.37; import fails cleanly (ImportError) without them.
"""
from __future__ import annotations

import numpy as np

import torch  # noqa: F401  (ImportError -> caller skips)
import transformers

from llama_ref import LlamaRef


def unpermute(w: np.ndarray, n_head: int) -> np.ndarray:
    """Inverse of convert_hf_to_gguf.py LlamaModel.permute (GGUF adjacent pairs -> HF
    rotate_half halves): reshape(n_head, d/2, 2, in).swapaxes(1, 2)."""
    return (w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


def hf_model(ref: LlamaRef):
    kw = dict(vocab_size=ref.vocab, hidden_size=ref.n_embd, intermediate_size=ref.n_ff,
              num_hidden_layers=ref.n_layer, num_attention_heads=ref.n_head,
              num_key_value_heads=ref.n_head_kv, rms_norm_eps=ref.eps,
              rope_theta=ref.rope_base, max_position_embeddings=ref.ctx,
              tie_word_embeddings=ref.tied, attn_implementation="eager")
    if ref.arch == "llama":
        cfg = transformers.LlamaConfig(**kw)
        model = transformers.LlamaForCausalLM(cfg)
    else:
        cfg = transformers.Qwen2Config(**kw)
        model = transformers.Qwen2ForCausalLM(cfg)
    model = model.double().eval()
    W = ref.w
    sd = {"model.embed_tokens.weight": W["token_embd.weight"],
          "model.norm.weight": W["output_norm.weight"]}
    if not ref.tied:
        sd["lm_head.weight"] = W["output.weight"]
    for i in range(ref.n_layer):
        p, h = f"blk.{i}.", f"model.layers.{i}."
        q, k = W[p + "attn_q.weight"], W[p + "attn_k.weight"]
        if ref.arch == "llama":
            q, k = unpermute(q, ref.n_head), unpermute(k, ref.n_head_kv)
        sd.update({h + "self_attn.q_proj.weight": q, h + "self_attn.k_proj.weight": k,
                   h + "self_attn.v_proj.weight": W[p + "attn_v.weight"],
                   h + "self_attn.o_proj.weight": W[p + "attn_output.weight"],
                   h + "mlp.gate_proj.weight": W[p + "ffn_gate.weight"],
                   h + "mlp.up_proj.weight": W[p + "ffn_up.weight"],
                   h + "mlp.down_proj.weight": W[p + "ffn_down.weight"],
                   h + "input_layernorm.weight": W[p + "attn_norm.weight"],
                   h + "post_attention_layernorm.weight": W[p + "ffn_norm.weight"]})
        if ref.arch == "qwen2":
            for n in ("q", "k", "v"):
                sd[h + f"self_attn.{n}_proj.bias"] = W[p + f"attn_{n}.bias"]
    sd = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in sd.items()}
    missing, unexpected = model.load_state_dict(sd, strict=False)
    missing = [m for m in missing if "rotary_emb" not in m and m != "lm_head.weight"]
    assert not missing and not unexpected, (missing, unexpected)
    if ref.tied:
        model.tie_weights()
    if "rope_freqs.weight" in W:  # LLaMA 3.1 scaling: divide each frequency by its factor
        f = torch.from_numpy(W["rope_freqs.weight"])
        for mod in model.modules():
            if hasattr(mod, "inv_freq"):
                mod.inv_freq = mod.inv_freq.double() / f
    return model


def hf_logits(ref: LlamaRef, tokens) -> np.ndarray:
    prev = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # transformers 4.40 builds masks in the default
    try:                                    # dtype with finfo(float64).min
        model = hf_model(ref)
        with torch.no_grad():
            out = model(torch.tensor([list(tokens)], dtype=torch.long))
    finally:
        torch.set_default_dtype(prev)
    return out.logits[0].double().numpy()
