// The forward graph of a LLaMA-family decoder for one batch shape: n_tokens new tokens
// attending to n_kv cache positions (n_kv is a bucket; positions past the real context
// are masked). Inputs the caller fills before each run: token embeddings x
// (TextModel::embed_tokens), positions, the attention masks (fill_attention_masks). Per-layer KV-cache write slots are weight leaves that the caller
// points at the current position with CpuExecutor::rebind, so one graph serves every
// step of the same shape.
#pragma once

#include <vector>

#include "bricks/kv_cache.h"
#include "bricks/text/text_hparams.h"
#include "bricks/text/text_model.h"
#include "graph/graph.h"

namespace nm {

struct TextGraph {
  Graph graph;
  int n_tokens = 0;
  int n_kv = 0;
  bool all_logits = false;
  NodeId x = kInvalidNode;     // f32 [n_embd, n_tokens]
  NodeId pos = kInvalidNode;   // i32 [n_tokens]
  NodeId mask = kInvalidNode;  // f32 [n_kv, n_tokens]: 0 = visible, -inf = hidden
  NodeId mask_swa = kInvalidNode;  // the same for sliding-window layers (only when hp.n_swa > 0)
  std::vector<NodeId> k_slot, v_slot;  // per layer: cache rows the new tokens are written to
  NodeId logits = kInvalidNode;        // f32 [n_vocab, all_logits ? n_tokens : 1]
};

// Fills the causal mask (and, when given, the sliding-window mask) for n_tokens new
// tokens after n_past positions: f32 [n_kv, n_tokens] each, 0 = visible, -inf = hidden.
void fill_attention_masks(const TextHparams& hp, int n_past, int n_tokens, int n_kv, float* mask, float* mask_swa);

Result<TextGraph> build_text_graph(const TextModel& model, const KvCache& cache, int n_tokens, int n_kv,
                                   bool all_logits);

}  // namespace nm
