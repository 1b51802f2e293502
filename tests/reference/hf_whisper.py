"""Hugging Face transformers' WhisperForConditionalGeneration (float32, eager) built from the
same weights as tests/reference/whisper_ref.py, to cross-check that reference. Needs torch
and transformers (tools/requirements-dev.txt); importing fails cleanly (ImportError) without.
float32, not float64: transformers 4.40's causal mask overflows building float64 masks
under torch 1.13 (Debian's).
"""
from __future__ import annotations

import numpy as np
import torch
import transformers


def hf_model(w):
    hp = w.hp
    t = w.tensors
    cfg = transformers.WhisperConfig(
        vocab_size=hp["n_vocab"], num_mel_bins=hp["n_mels"], d_model=hp["n_audio_state"],
        encoder_layers=hp["n_audio_layer"], encoder_attention_heads=hp["n_audio_head"],
        decoder_layers=hp["n_text_layer"], decoder_attention_heads=hp["n_text_head"],
        encoder_ffn_dim=t["encoder.blocks.0.mlp.0.weight"].shape[0],
        decoder_ffn_dim=t["decoder.blocks.0.mlp.0.weight"].shape[0],
        max_source_positions=hp["n_audio_ctx"], max_target_positions=hp["n_text_ctx"],
        pad_token_id=w.eot, bos_token_id=w.eot, eos_token_id=w.eot, decoder_start_token_id=w.eot + 1,
        activation_function="gelu", scale_embedding=False, dropout=0.0, attention_dropout=0.0,
        activation_dropout=0.0, attn_implementation="eager")
    model = transformers.WhisperForConditionalGeneration(cfg).eval()
    sd = {"model.encoder.conv1.weight": t["encoder.conv1.weight"], "model.encoder.conv1.bias": t["encoder.conv1.bias"],
          "model.encoder.conv2.weight": t["encoder.conv2.weight"], "model.encoder.conv2.bias": t["encoder.conv2.bias"],
          "model.encoder.embed_positions.weight": t["encoder.positional_embedding"],
          "model.encoder.layer_norm.weight": t["encoder.ln_post.weight"],
          "model.encoder.layer_norm.bias": t["encoder.ln_post.bias"],
          "model.decoder.embed_tokens.weight": t["decoder.token_embedding.weight"],
          "model.decoder.embed_positions.weight": t["decoder.positional_embedding"],
          "model.decoder.layer_norm.weight": t["decoder.ln.weight"], "model.decoder.layer_norm.bias": t["decoder.ln.bias"],
          "proj_out.weight": t["decoder.token_embedding.weight"]}

    def attn(dst, src):
        for hf, oa in (("q_proj", "query"), ("k_proj", "key"), ("v_proj", "value"), ("out_proj", "out")):
            sd[f"{dst}.{hf}.weight"] = t[f"{src}.{oa}.weight"]
            if oa != "key":
                sd[f"{dst}.{hf}.bias"] = t[f"{src}.{oa}.bias"]

    def block(dst, src, cross):
        attn(dst + ".self_attn", src + ".attn")
        sd[dst + ".self_attn_layer_norm.weight"] = t[src + ".attn_ln.weight"]
        sd[dst + ".self_attn_layer_norm.bias"] = t[src + ".attn_ln.bias"]
        if cross:
            attn(dst + ".encoder_attn", src + ".cross_attn")
            sd[dst + ".encoder_attn_layer_norm.weight"] = t[src + ".cross_attn_ln.weight"]
            sd[dst + ".encoder_attn_layer_norm.bias"] = t[src + ".cross_attn_ln.bias"]
        for hf, oa in (("fc1", "mlp.0"), ("fc2", "mlp.2"), ("final_layer_norm", "mlp_ln")):
            sd[f"{dst}.{hf}.weight"] = t[f"{src}.{oa}.weight"]
            sd[f"{dst}.{hf}.bias"] = t[f"{src}.{oa}.bias"]

    for i in range(hp["n_audio_layer"]):
        block(f"model.encoder.layers.{i}", f"encoder.blocks.{i}", False)
    for i in range(hp["n_text_layer"]):
        block(f"model.decoder.layers.{i}", f"decoder.blocks.{i}", True)
    sd = {k: torch.from_numpy(np.ascontiguousarray(v, np.float32)) for k, v in sd.items()}
    missing, unexpected = model.load_state_dict(sd, strict=False)
    assert not unexpected and not [m for m in missing if "k_proj.bias" not in m], (missing, unexpected)
    return model


def encode_and_logits(model, mel, tokens):
    with torch.no_grad():
        feats = torch.from_numpy(np.asarray(mel, np.float32))[None]
        enc = model.model.encoder(feats).last_hidden_state
        out = model(encoder_outputs=(enc,), decoder_input_ids=torch.tensor([list(tokens)]))
    return enc[0].double().numpy(), out.logits[0].double().numpy()
