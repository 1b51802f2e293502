// The runtime side of the Whisper bricks (bricks/whisper/whisper_bricks.h), as
// TextContext is the text brick's: WhisperEncoder runs the audio brick (a 30 s log-mel
// window into encoder states); WhisperDecoder runs the asr brick: it holds one window's
// cross-attention K/V and the self-attention KV cache of up to n_beams sequences, and
// evaluates tokens to logits. Graphs are built once per shape (the encoder has one; the
// decoder one per tokens x beams x KV-length bucket) and reused, on the placement given.
// Not thread-safe: one encoder and one decoder per transcription stream; the model is shared.
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "backend/graph_runner.h"
#include "bricks/whisper/whisper_graph.h"
#include "runtime/brick_runner.h"
#include "core/thread_pool.h"
#include "core/virtual_buffer.h"
#include "graph/graph_cache.h"

namespace nm {

class WhisperEncoder {
 public:
  // p: where the audio brick runs (device, or the CPU executor on the caller's pool).
  static Result<std::unique_ptr<WhisperEncoder>> create(std::shared_ptr<const WhisperModel> model, const BrickRunParams& p);
  // mel: [n_mels][2 x n_ctx] (time innermost). states: resized to n_ctx x n_audio_state
  // floats (position-major). n_ctx: encoder positions, 0 = all (1500, a 30 s window); a
  // graph is prepared per distinct n_ctx (the last few are kept).
  Status encode(const float* mel, ThreadPool& pool, std::vector<float>& states, int n_ctx = 0);
  const WhisperModel& model() const { return *model_; }

 private:
  struct Shape {
    WhisperEncoderGraph meta;
    std::unique_ptr<GraphRunner> exec;
  };
  WhisperEncoder() = default;
  Result<Shape*> shape_for(int n_ctx);
  std::shared_ptr<const WhisperModel> model_;
  std::unique_ptr<BrickRunner> runner_;
  GraphCache<Shape> shapes_{4};
};

struct WhisperDecoderParams {
  BrickRunParams run;          // where the asr brick runs
  int n_beams = 1;             // sequences decoded side by side (beam search, best-of)
  DType kv_type = DType::F16;  // self-attention cache: F16 (default) or F32
  // Cross-attention K/V of the window: F16 (default) or F32. Every decode step reads all
  // 1500 rows of every layer (in place, by two matrix products per head): F16 reads half
  // the bytes and holds half the memory (18 MB instead of 37 MB for Whisper base).
  DType cross_type = DType::F16;
};

class WhisperDecoder {
 public:
  static Result<std::unique_ptr<WhisperDecoder>> create(std::shared_ptr<const WhisperModel> model,
                                                        const WhisperDecoderParams& p);
  // Computes the window's cross-attention K/V from encoder states (n_ctx x n_text_state,
  // n_ctx up to 1500: what WhisperEncoder::encode gave).
  Status set_window(std::span<const float> states, ThreadPool& pool);

  // Appends tokens to sequence 0 (the others are empty until copy_sequence()). With
  // all_logits, logits() holds a row per token; else one row (the last token's).
  Status prefill(std::span<const int32_t> tokens, ThreadPool& pool, bool all_logits = false);
  // Appends one token to each of the first tokens.size() sequences (all at position
  // n_past()); logits() then holds one row per sequence.
  Status step(std::span<const int32_t> tokens, ThreadPool& pool);
  // Sequence dst takes the cache rows of sequence src (beam search reordering): order[i]
  // is the source of sequence i, for i < order.size().
  void reorder(std::span<const int> order);
  // Forgets every position (a new window or prompt).
  void clear() { n_past_ = 0; }
  // Keeps only the first n positions (shared by all sequences).
  void truncate(int n) { n_past_ = std::min(n_past_, n); }

  const float* logits(int row) const { return logits_.data() + (size_t)row * n_vocab_; }
  int n_logit_rows() const { return n_rows_; }
  int n_past() const { return n_past_; }
  int n_ctx() const { return kv_.n_ctx; }
  int n_beams() const { return kv_.n_beams; }
  const WhisperModel& model() const { return *model_; }

 private:
  struct Step {
    WhisperDecoderGraph meta;
    std::unique_ptr<GraphRunner> exec;
  };
  struct Cross {
    WhisperCrossGraph meta;
    std::unique_ptr<GraphRunner> exec;
  };
  WhisperDecoder() = default;
  Result<Step*> step_for(int n_tokens, int n_beams, int n_kv, bool all_logits);
  Status run(std::span<const int32_t> tokens, int n_tokens, int n_beams, bool all_logits, ThreadPool& pool);
  char* self_k(int layer) const { return static_cast<char*>(self_k_.data()) + (size_t)layer * kv_.self_layer_bytes(); }
  char* self_v(int layer) const { return static_cast<char*>(self_v_.data()) + (size_t)layer * kv_.self_layer_bytes(); }

  std::shared_ptr<const WhisperModel> model_;
  std::unique_ptr<BrickRunner> runner_;
  WhisperDecoderParams params_;
  WhisperKvLayout kv_;  // n_audio_ctx: the current window's encoder positions
  VirtualBuffer self_k_, self_v_, cross_k_, cross_v_;
  GraphCache<Cross> crosses_{2};
  GraphCache<Step> steps_{12};
  std::vector<float> logits_;
  std::vector<char> scratch_;
  int n_vocab_ = 0, n_rows_ = 0, n_past_ = 0;
};

}  // namespace nm
