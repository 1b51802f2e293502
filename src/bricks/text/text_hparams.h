// Hyper-parameters of a LLaMA-family decoder, read from GGUF metadata
// ("{arch}.embedding_length", ...). One struct for every supported architecture; the
// differences between families are flags (QKV bias, QK-norm, rope mode, tied embeddings,
// Gemma 3's extra norms, GeGLU, embedding scale and sliding-window layers).
#pragma once

#include <cstdint>
#include <string>

#include "graph/graph.h"  // RopeMode

namespace nm {

struct TextHparams {
  std::string arch;           // "llama", "qwen2", "qwen3", "gemma3"
  int n_vocab = 0;
  int n_ctx_train = 0;
  int n_embd = 0;
  int n_layer = 0;
  int n_head = 0;
  int n_head_kv = 0;
  int head_dim = 0;           // key_length; n_embd / n_head unless the file says otherwise
  int n_ff = 0;
  float rms_eps = 1e-5f;
  float rope_freq_base = 10000.0f;
  float rope_freq_scale = 1.0f;  // 1 / rope.scaling.factor for linear scaling
  int n_rot = 0;                 // rope.dimension_count
  RopeMode rope_mode = RopeMode::normal;  // GGUF's llama: adjacent pairs; qwen2: halves (neox)
  bool has_qkv_bias = false;
  bool tied_embeddings = false;  // no output.weight: logits use token_embd.weight
  bool has_rope_freqs = false;   // LLaMA 3.1 per-dimension frequency factors tensor
  bool has_qk_norm = false;      // qwen3, gemma3: RMSNorm over each head of q and k before rope
  bool has_post_norms = false;   // gemma3: RMSNorm of the attention and FFN outputs before each residual add
  bool ffn_gelu = false;         // gemma3: GeGLU (tanh-approximated GELU of the gate) instead of SwiGLU
  float embd_scale = 1.0f;       // gemma3: token embeddings are multiplied by sqrt(n_embd)
  float attn_scale = 0.0f;       // softmax scale of q·k; 0 = 1 / sqrt(head_dim)
  // Sliding-window attention (gemma3): layer il attends to the last n_swa positions only
  // when il % swa_pattern < swa_pattern - 1 (5 local layers, then one global), with its
  // own rope base and scale.
  int n_swa = 0;                 // 0 = every layer is global
  int swa_pattern = 0;
  float rope_freq_base_swa = 10000.0f;
  float rope_freq_scale_swa = 1.0f;

  bool is_swa_layer(int il) const { return n_swa > 0 && swa_pattern > 0 && il % swa_pattern < swa_pattern - 1; }
};

}  // namespace nm
