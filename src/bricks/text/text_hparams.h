// Hyper-parameters of a LLaMA-family decoder, read from GGUF metadata
// ("{arch}.embedding_length", ...). One struct for every supported architecture; the
// differences between families are flags (QKV bias, rope mode, tied embeddings).
#pragma once

#include <cstdint>
#include <string>

#include "graph/graph.h"  // RopeMode

namespace nm {

struct TextHparams {
  std::string arch;           // "llama", "qwen2"
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
};

}  // namespace nm
