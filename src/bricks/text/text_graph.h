// The forward graph of a LLaMA-family decoder for one batch shape: n_tokens new tokens
// attending to n_kv cache positions (n_kv is a bucket; positions past the real context
// are masked). Inputs the caller fills before each run: the input embeddings (`in`: token
// embeddings from TextModel::embed_tokens, or an image's embeddings read in place from a
// token-ring slot once the runtime makes the node external), positions, the attention
// masks (fill_attention_masks). Per-layer KV-cache write slots are weight leaves that the
// caller points at the current position with rebind(), so one graph serves every step of
// the same shape.
#pragma once

#include <vector>

#include <memory>

#include "bricks/brick.h"
#include "bricks/kv_cache.h"
#include "bricks/text/text_hparams.h"
#include "bricks/text/text_model.h"
#include "graph/graph.h"

namespace nm {

// in:  f32 [n_embd, n_tokens], the input embeddings (an input node)
// out: f32 [n_vocab, all_logits ? n_tokens : 1], the logits (an output node)
struct TextGraph : BrickGraph {
  int n_tokens = 0;
  int n_kv = 0;
  bool all_logits = false;
  NodeId pos = kInvalidNode;   // i32 [n_tokens]
  NodeId mask = kInvalidNode;  // f32 [n_kv, n_tokens]: 0 = visible, -inf = hidden
  NodeId mask_swa = kInvalidNode;  // the same for sliding-window layers (only when hp.n_swa > 0)
  std::vector<NodeId> k_slot, v_slot;  // per layer: cache rows the new tokens are written to
};

// Fills the causal mask (and, when given, the sliding-window mask) for n_tokens new
// tokens after n_past positions: f32 [n_kv, n_tokens] each, 0 = visible, -inf = hidden.
void fill_attention_masks(const TextHparams& hp, int n_past, int n_tokens, int n_kv, float* mask, float* mask_swa);

// `cache_owner` (may be null) is kept alive by the graph's cache leaves.
Result<std::unique_ptr<TextGraph>> build_text_graph(const TextModel& model, const KvCache& cache, int n_tokens,
                                                    int n_kv, bool all_logits,
                                                    std::shared_ptr<const void> cache_owner = nullptr);

// One decode step of n_seq sequences in one pass (continuous batching): token s belongs to
// sequence s, which has its own KV cache and position. The matrix products run on all
// n_seq columns at once (each weight is read once per step, not once per sequence); each
// sequence attends over the first n_kv rows of its own cache with its own masks. Per
// sequence the caller points k_slot/v_slot (one row) and k_cache/v_cache (n_kv rows) at
// that sequence's cache with rebind, so one graph serves any n_seq sequences of the same
// cache shape. Logits: f32 [n_vocab, n_seq].
struct TextBatchGraph {
  Graph graph;
  int n_seq = 0;
  int n_kv = 0;
  NodeId x = kInvalidNode;    // f32 [n_embd, n_seq]
  NodeId pos = kInvalidNode;  // i32 [n_seq]
  std::vector<NodeId> mask, mask_swa;  // per sequence: f32 [n_kv, 1] (mask_swa only when hp.n_swa > 0)
  // [layer][sequence]: the cache row this step writes, and the rows it attends over.
  std::vector<std::vector<NodeId>> k_slot, v_slot, k_cache, v_cache;
  NodeId logits = kInvalidNode;
};

// cache: any cache of the batch's shape (its tensors describe the leaves; rebind picks the memory).
Result<TextBatchGraph> build_text_batch_graph(const TextModel& model, const KvCache& cache, int n_seq, int n_kv);

}  // namespace nm
