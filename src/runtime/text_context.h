// TextContext: the runtime's side of the text brick for one sequence — its KV cache, the
// graphs built for the batch shapes seen so far (one prepared graph per shape bucket on
// the brick's device, reused), and the logits of the last evaluated position. eval_*()
// appends tokens or embeddings to the context (batched prefill, or one token for decode).
// Embeddings (an image's, in a token-ring slot) are read in place: the graph's input node
// is re-pointed at them, nothing is copied (bytes_copied_in() says so). Not thread-safe:
// one per session.
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "bricks/kv_cache.h"
#include "bricks/text/text_graph.h"
#include "core/virtual_buffer.h"
#include "bricks/text/text_model.h"
#include "core/thread_pool.h"
#include "graph/graph_cache.h"
#include "runtime/brick_runner.h"

namespace nm {

struct TextContextParams {
  int n_ctx = 0;          // 0 = the model's training context, capped at 4096
  DType kv_type = DType::F16;
  int n_batch = 512;      // longest prefill chunk run as one graph
  // Placement. On a CPU, quantised matrices whose type has a packed layout
  // (kernels/matmul_packed.h) run from row-interleaved copies (run.pack_weights).
  // eval_embeddings() reads in place from run.regions (the token ring) also on devices
  // that import memory when a graph is prepared; elsewhere on such a device embeddings are
  // copied in.
  BrickRunParams run;
};

class TextContext {
 public:
  static Result<std::unique_ptr<TextContext>> create(const TextModel& model, const TextContextParams& params);

  // Appends tokens. With all_logits, logits() holds every new position's row.
  Status eval_tokens(std::span<const int32_t> tokens, ThreadPool& pool, bool all_logits = false);
  // Appends n positions given directly as embeddings (n * n_embd floats), read in place;
  // they must stay unchanged until the call returns.
  Status eval_embeddings(std::span<const float> embeddings, ThreadPool& pool);
  // Bytes of embeddings copied into the graph's input so far instead of being read in
  // place (0 on the CPU and on devices that imported the memory as a region).
  size_t bytes_copied_in() const { return bytes_copied_in_; }

  // Continuous batching: one decode step for several contexts in one forward pass —
  // tokens[i] is appended to ctxs[i] (each its own KV cache and position), and each then
  // holds that position's logits. The weights are read once for all of them. Needs
  // can_batch(ctxs); the graphs are cached in ctxs[0] and run on its device or `pool`.
  static Status eval_batch(std::span<TextContext* const> ctxs, std::span<const int32_t> tokens, ThreadPool& pool);
  // True when the contexts are distinct and share the model, device and cache shape.
  static bool can_batch(std::span<TextContext* const> ctxs);

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
  // Gives back everything the brick holds while it runs (on-demand residency): the KV
  // cache's pages from position `keep` on (the context keeps its first `keep` positions),
  // the prepared graphs and their arenas, and the weights (BrickRunner::release). The next
  // eval prepares and maps them again.
  void release(int keep = 0) {
    truncate(keep);
    n_logit_rows_ = 0;
    graphs_.clear();
    x_staging_.release_from(0);
    runner_.release();
  }
  // Forgets positions from n on (e.g. to redo a turn).
  void truncate(int n) {
    if (n < n_past()) n_logit_rows_ = 0;
    cache_.truncate(n);
  }
  const TextModel& model() const { return model_; }
  // Bytes of weights running from packed CPU copies so far (0 without packing).
  size_t packed_bytes() const { return runner_.packed_bytes(); }
  Device* device() const { return runner_.device(); }

 private:
  struct Step {
    std::unique_ptr<TextGraph> meta;  // node ids (its graph moved into exec)
    std::unique_ptr<GraphRunner> exec;
    const void* x_bound = nullptr;    // where the input node points now
  };
  TextContext(const TextModel& model, KvCache cache, const TextContextParams& p);
  struct BatchStep {
    TextBatchGraph meta;
    std::unique_ptr<GraphRunner> exec;
  };
  Status eval_chunk(int n, const int32_t* tokens, const float* embeddings, ThreadPool& pool, bool all_logits);
  Result<BatchStep*> batch_step_for(int n_seq, int n_kv);
  Result<Step*> step_for(int n_tokens, int n_kv, bool all_logits);

  const TextModel& model_;
  TextContextParams params_;
  KvCache cache_;
  BrickRunner runner_;
  GraphCache<Step> graphs_{8};
  GraphCache<BatchStep> batch_graphs_{8};  // when this context leads a batch
  std::vector<float> logits_;
  int n_logit_rows_ = 0;
  VirtualBuffer x_staging_;  // n_batch token embeddings, the input of token runs
  size_t bytes_copied_in_ = 0;
};

}  // namespace nm
