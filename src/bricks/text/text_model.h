// TextModel: the text brick — a LLaMA-family decoder (architectures "llama", "qwen2",
// "qwen3", "gemma3") loaded from a GGUF file: hyper-parameters, weight views into the
// mmapped file (never copied), the tokenizer and the chat template text. Its ports: token
// ids or embeddings in, logits out; its graph: text_graph.h. Read-only after load; shared
// by every session (the runtime's TextContext) that runs it, from any thread.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "bricks/brick.h"
#include "bricks/text/text_hparams.h"
#include "core/gguf_reader.h"
#include "core/status.h"
#include "core/tensor.h"
#include "tokenizer/tokenizer.h"

namespace nm {

struct TextLayerWeights {
  Tensor attn_norm, wq, wk, wv, wo;
  Tensor bq, bk, bv;  // qwen2 only (data == nullptr when absent)
  Tensor q_norm, k_norm;                 // [head_dim]; qwen3, gemma3 (QK-norm)
  Tensor post_attn_norm, post_ffn_norm;  // [n_embd]; gemma3
  Tensor ffn_norm, w_gate, w_up, w_down;
};

struct TextWeights {
  Tensor token_embd;   // [n_embd, n_vocab]
  Tensor output_norm;  // [n_embd]
  Tensor output;       // [n_embd, n_vocab]; token_embd when the embeddings are tied
  Tensor rope_freqs;   // [n_rot / 2] frequency divisors (LLaMA 3.1), data == nullptr when absent
  std::vector<TextLayerWeights> layers;
};

class TextModel final : public Brick {
 public:
  static Result<std::unique_ptr<TextModel>> load(const std::string& path);
  static Result<std::unique_ptr<TextModel>> from_gguf(std::shared_ptr<const GgufFile> file);

  // ---- Brick
  BrickKind kind() const override { return BrickKind::text; }
  std::string description() const override;
  std::vector<const GgufFile*> files() const override { return {file_.get()}; }
  size_t weight_bytes() const override { return weight_bytes_; }
  // Input: n_tokens token ids (or as many embedding rows); output: one logits row.
  Result<std::vector<PortSpec>> inputs(const BrickInput& in) const override;
  Result<std::vector<PortSpec>> outputs(const BrickInput& in) const override;
  // A prefill of in.n_tokens after in.n_past positions (a decode step: n_tokens = 1), in
  // chunks of at most 512 tokens.
  Result<BrickCost> cost(const BrickInput& in) const override;
  Result<std::unique_ptr<BrickGraph>> build_graph(const GraphShape& shape, const KvCache* kv) const override;
  // KV cache bytes one token adds, for a cache of `kv_type`.
  size_t kv_bytes_per_token(DType kv_type) const;

  const TextHparams& hparams() const { return hp_; }
  const TextWeights& weights() const { return w_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  const GgufFile& file() const { return *file_; }

  int64_t n_params() const { return n_params_; }
  // Bytes of weights one decode step reads (everything but the embedding table, which
  // is read one row per token — unless it doubles as the output matrix).
  size_t weight_bytes_per_token() const { return bytes_per_token_; }
  // Most common type among the 2-D weight matrices ("q4_0", ...).
  std::string weight_type() const { return weight_type_; }

  // The input rows of `tokens` (n_embd floats each, into out): their embedding-table rows,
  // times the architecture's embedding scale (Gemma: sqrt(n_embd)). Embeddings given
  // directly (an image's) are not scaled. Fails on an id outside the vocabulary.
  Status embed_tokens(std::span<const int32_t> tokens, float* out) const;

 private:
  TextModel() = default;
  Status load_hparams();
  Status load_gemma3_hparams();
  Status load_weights();
  Status load_tokenizer();

  std::shared_ptr<const GgufFile> file_;
  TextHparams hp_;
  TextWeights w_;
  std::optional<Tokenizer> tokenizer_;
  int64_t n_params_ = 0;
  size_t weight_bytes_ = 0, bytes_per_token_ = 0;
  std::string weight_type_;
};

}  // namespace nm
