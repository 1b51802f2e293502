// TextModel: a LLaMA-family decoder (architectures "llama" and "qwen2") loaded from a
// GGUF file: hyper-parameters, weight views into the mmapped file (never copied), the
// tokenizer and the chat template text. Read-only after load; shared by every session
// (TextContext) that runs it, from any thread.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bricks/text/text_hparams.h"
#include "core/gguf_reader.h"
#include "core/status.h"
#include "core/tensor.h"
#include "tokenizer/tokenizer.h"

namespace nm {

struct TextLayerWeights {
  Tensor attn_norm, wq, wk, wv, wo;
  Tensor bq, bk, bv;  // qwen2 only (data == nullptr when absent)
  Tensor ffn_norm, w_gate, w_up, w_down;
};

struct TextWeights {
  Tensor token_embd;   // [n_embd, n_vocab]
  Tensor output_norm;  // [n_embd]
  Tensor output;       // [n_embd, n_vocab]; token_embd when the embeddings are tied
  Tensor rope_freqs;   // [n_rot / 2] frequency divisors (LLaMA 3.1), data == nullptr when absent
  std::vector<TextLayerWeights> layers;
};

class TextModel {
 public:
  static Result<std::unique_ptr<TextModel>> load(const std::string& path);
  static Result<std::unique_ptr<TextModel>> from_gguf(std::shared_ptr<const GgufFile> file);

  const TextHparams& hparams() const { return hp_; }
  const TextWeights& weights() const { return w_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  const GgufFile& file() const { return *file_; }

  int64_t n_params() const { return n_params_; }
  size_t weight_bytes() const { return weight_bytes_; }
  // Bytes of weights one decode step reads (everything but the embedding table, which
  // is read one row per token — unless it doubles as the output matrix).
  size_t weight_bytes_per_token() const { return bytes_per_token_; }
  // Most common type among the 2-D weight matrices ("q4_0", ...).
  std::string weight_type() const { return weight_type_; }

 private:
  TextModel() = default;
  Status load_hparams();
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
