// WhisperModel: the weights, vocabulary and mel filters of a Whisper model, from the file
// formats people have — whisper.cpp's ggml-*.bin (whisper_ggml.cpp), a faster-whisper /
// CTranslate2 directory (whisper_ct2.cpp) — or GGUF (whisper_gguf.cpp, written by
// tools/whisper_convert.py). The parsers produce a table
// of named source tensors in OpenAI's checkpoint names ("encoder.blocks.0.attn.query.weight");
// assemble() (here) checks every shape against the hyper-parameters and copies the tensors
// into one aligned arena: neither format aligns its tensor data, so they cannot be used
// in place. Vectors and position tables become F32 (the graph adds them), matrices keep
// their type (F32/F16/BF16/Q8_0/Q5_0/Q4_0/...; CTranslate2 int8 rows with a per-row
// scale become Q8_0 blocks of that scale). The file is closed after loading.
// Immutable after load: share one model between any number of sessions and threads.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "bricks/whisper/log_mel.h"
#include "bricks/whisper/whisper_vocab.h"
#include "core/status.h"
#include "core/tensor.h"
#include "core/virtual_buffer.h"

namespace nm {

struct WhisperHparams {
  int n_vocab = 0;
  int n_audio_ctx = 0, n_audio_state = 0, n_audio_head = 0, n_audio_layer = 0;
  int n_text_ctx = 0, n_text_state = 0, n_text_head = 0, n_text_layer = 0;
  int n_mels = 0;
};

// One attention block's projections; the key has no bias in Whisper (k_b.data null).
struct WhisperAttention {
  Tensor q_w, q_b, k_w, k_b, v_w, v_b, o_w, o_b;
};

struct WhisperBlock {
  Tensor attn_ln_w, attn_ln_b;
  WhisperAttention attn;
  Tensor cross_ln_w, cross_ln_b;  // decoder only
  WhisperAttention cross;         // decoder only
  Tensor mlp_ln_w, mlp_ln_b, mlp0_w, mlp0_b, mlp2_w, mlp2_b;
};

struct WhisperWeights {
  Tensor conv1_w, conv1_b, conv2_w, conv2_b;  // conv weights [3, c_in, c_out] F32/F16
  Tensor enc_pos;                             // F32 [n_audio_state, n_audio_ctx]
  std::vector<WhisperBlock> enc;
  Tensor enc_ln_w, enc_ln_b;
  Tensor tok_emb;  // [n_text_state, n_vocab]: embedding table and output projection
  Tensor dec_pos;  // F32 [n_text_state, n_text_ctx]
  std::vector<WhisperBlock> dec;
  Tensor dec_ln_w, dec_ln_b;
};

enum class WhisperFormat { ggml, ctranslate2, gguf };

// A tensor as a parser found it, before assembly. ne in ggml order (innermost first).
struct WhisperSourceTensor {
  std::string name;  // OpenAI checkpoint name
  DType type = DType::F32;
  std::array<int64_t, 4> ne{1, 1, 1, 1};
  const uint8_t* data = nullptr;
  const float* row_scale = nullptr;  // CTranslate2 int8: value = q / row_scale[row] (type I8)
};

// Everything a parser hands to assembly.
struct WhisperSource {
  WhisperFormat format = WhisperFormat::ggml;
  std::string path;
  WhisperHparams hp;
  std::vector<WhisperSourceTensor> tensors;
  std::vector<std::string> text_tokens;  // raw bytes of ids 0 .. eot-1
  int n_langs = 0;
  bool multilingual = true;
  MelFilters filters;                    // empty: computed (Slaney) for hp.n_mels
  std::vector<int32_t> suppress, suppress_begin;  // empty: derived from the vocabulary
  std::deque<std::vector<float>> scales;          // storage behind row_scale pointers
};

class WhisperModel {
 public:
  // A directory is read as CTranslate2 (model.bin + config.json + vocabulary.txt or
  // vocabulary.json), a file starting with "GGUF" as GGUF, any other as whisper.cpp's ggml.
  static Result<std::shared_ptr<const WhisperModel>> load(const std::string& path);
  // For parsers and tests: checks and copies a parsed source (its data must stay valid
  // for the duration of the call only).
  static Result<std::shared_ptr<const WhisperModel>> assemble(WhisperSource src);

  const WhisperHparams& hparams() const { return hp_; }
  const WhisperWeights& weights() const { return w_; }
  const WhisperVocab& vocab() const { return vocab_; }
  const MelFilters& mel_filters() const { return filters_; }
  WhisperFormat format() const { return format_; }
  const char* format_name() const {
    return format_ == WhisperFormat::ggml ? "whisper.cpp ggml" : format_ == WhisperFormat::gguf ? "GGUF" : "CTranslate2";
  }
  const std::string& path() const { return path_; }
  // Type of the large matrices (what a user would call the model's type).
  DType weight_type() const { return weight_type_; }
  size_t weight_bytes() const { return weight_bytes_; }
  // The arena every tensor of weights() points into (the runtime packs CPU copies of its
  // matrices from it: backend/cpu/packed_weights.h).
  const void* arena_data() const { return arena_.data(); }
  size_t arena_bytes() const { return arena_.size(); }
  // Tokens never sampled, and tokens not sampled first (Whisper's suppress_tokens -1 and
  // suppress_blank): from the CTranslate2 config, or derived as Whisper derives them.
  const std::vector<int32_t>& suppress() const { return suppress_; }
  const std::vector<int32_t>& suppress_begin() const { return suppress_begin_; }
  // A short description: "Whisper base (multilingual, 6+6 layers, 512 wide), F16, CTranslate2".
  std::string describe() const;

 private:
  WhisperModel() = default;
  WhisperHparams hp_;
  WhisperWeights w_;
  WhisperVocab vocab_;
  MelFilters filters_;
  WhisperFormat format_ = WhisperFormat::ggml;
  std::string path_;
  DType weight_type_ = DType::F32;
  size_t weight_bytes_ = 0;
  std::vector<int32_t> suppress_, suppress_begin_;
  VirtualBuffer arena_;
};

class GgufFile;

// Parsers (whisper_ggml.cpp, whisper_ct2.cpp, whisper_gguf.cpp). `bytes` (`f`) must outlive
// the returned source.
Result<WhisperSource> parse_whisper_ggml(const uint8_t* bytes, size_t size, const std::string& path);
Result<WhisperSource> parse_whisper_ct2(const uint8_t* model_bin, size_t size, const std::string& config_json,
                                        const std::string& vocabulary, const std::string& dir);
Result<WhisperSource> parse_whisper_gguf(const GgufFile& f, const std::string& path);

// Whisper's non-speech token list (tokenizer.py non_speech_tokens) plus its special tokens.
std::vector<int32_t> whisper_default_suppress(const WhisperVocab& vocab);

}  // namespace nm
