// TextContext: one sequence being run through a TextModel — its KV cache, the graphs
// built for the batch shapes seen so far (one executor per shape bucket, reused), and
// the logits of the last evaluated position. eval() appends tokens or embeddings to the
// context (batched prefill, or one token for decode). Not thread-safe: one per session.
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "backend/graph_runner.h"
#include "bricks/kv_cache.h"
#include "bricks/text/text_graph.h"
#include "bricks/text/text_model.h"
#include "core/thread_pool.h"
#include "graph/graph_cache.h"

namespace nm {

struct TextContextParams {
  int n_ctx = 0;          // 0 = the model's training context, capped at 4096
  DType kv_type = DType::F16;
  int n_batch = 512;      // longest prefill chunk run as one graph
  Isa isa = best_isa();
  Device* device = nullptr;  // where the graphs run; nullptr: the CPU executor on the caller's pool
  // On a CPU, run quantised matrices whose type has a packed layout (kernels/matmul_packed.h)
  // from row-interleaved copies made on first use, whose file pages are then released
  // (backend/cpu/packed_weights.h).
  bool pack_weights = true;
  // With pack_weights: copies shared with other contexts of the same model (one per model,
  // not per session); null: this context makes its own.
  std::shared_ptr<PackedWeights> packed;
};

class TextContext {
 public:
  static Result<std::unique_ptr<TextContext>> create(const TextModel& model, const TextContextParams& params);

  // Appends tokens. With all_logits, logits() holds every new position's row.
  Status eval_tokens(std::span<const int32_t> tokens, ThreadPool& pool, bool all_logits = false);
  // Appends n positions given directly as embeddings (n * n_embd floats).
  Status eval_embeddings(std::span<const float> embeddings, ThreadPool& pool);

  // Logits of the last eval: n_vocab floats per returned position.
  const float* logits() const { return logits_.data(); }
  int n_logit_rows() const { return n_logit_rows_; }
  int n_past() const { return cache_.n_tokens(); }
  int n_ctx() const { return cache_.shape().n_ctx; }
  // Both drop the logits too: they belonged to a position that is gone.
  void clear() {
    cache_.clear();
    n_logit_rows_ = 0;
  }
  // Forgets positions from n on (e.g. to redo a turn).
  void truncate(int n) {
    if (n < n_past()) n_logit_rows_ = 0;
    cache_.truncate(n);
  }
  const TextModel& model() const { return model_; }
  // Bytes of weights running from packed CPU copies so far (0 without packing).
  size_t packed_bytes() const { return packed_ ? packed_->packed_bytes() : 0; }
  Device* device() const { return params_.device; }

 private:
  struct Step {
    TextGraph meta;
    std::unique_ptr<GraphRunner> exec;
  };
  TextContext(const TextModel& model, KvCache cache, const TextContextParams& p);
  Status eval_chunk(int n, const int32_t* tokens, const float* embeddings, ThreadPool& pool, bool all_logits);
  Result<Step*> step_for(int n_tokens, int n_kv, bool all_logits);

  const TextModel& model_;
  TextContextParams params_;
  KvCache cache_;
  std::shared_ptr<PackedWeights> packed_;  // null when not packing
  GraphCache<Step> graphs_{8};
  std::vector<float> logits_;
  int n_logit_rows_ = 0;
};

}  // namespace nm
