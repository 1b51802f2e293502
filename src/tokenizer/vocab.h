// Vocab: the plain description a tokenizer is built from. Field names mirror the GGUF
// keys tokenizer.ggml.* (model, pre, tokens, scores, token_type, merges, bos_token_id,
// eos_token_id, eot_token_id, unknown_token_id, padding_token_id, add_bos_token,
// add_eos_token, add_space_prefix) and tokenizer.chat_template, so a GGUF adapter only
// copies values across. A plain value type: copy it freely.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace nm {

using TokenId = int32_t;
inline constexpr TokenId k_no_token = -1;

// GGUF tokenizer.ggml.token_type values (llama.cpp's llama_token_type).
enum class TokenType : int32_t {
  undefined = 0,
  normal = 1,
  unknown = 2,
  control = 3,
  user_defined = 4,
  unused = 5,
  byte = 6,  // "<0xXX>" byte-fallback pieces of SentencePiece vocabs
};

struct Vocab {
  std::string model = "llama";      // tokenizer.ggml.model: "llama" (SentencePiece) or "gpt2" (byte-level BPE)
  std::string pre = "default";      // tokenizer.ggml.pre: "llama-bpe"/"llama3", "qwen2", "default"/"gpt2", ...
  std::vector<std::string> tokens;  // tokenizer.ggml.tokens
  std::vector<float> scores;        // tokenizer.ggml.scores (SentencePiece merge priority); may be empty
  std::vector<int32_t> token_type;  // tokenizer.ggml.token_type (TokenType values); empty = all normal
  std::vector<std::string> merges;  // tokenizer.ggml.merges, "left right", in rank order (gpt2 only)
  TokenId bos_token_id = k_no_token;
  TokenId eos_token_id = k_no_token;
  TokenId eot_token_id = k_no_token;  // end of turn (e.g. <|eot_id|>, <|im_end|>); may be absent
  TokenId unknown_token_id = k_no_token;
  TokenId padding_token_id = k_no_token;
  bool add_bos_token = false;
  bool add_eos_token = false;
  bool add_space_prefix = true;   // SentencePiece: prepend " " to the first text fragment
  std::string chat_template;      // tokenizer.chat_template (Jinja text), may be empty
};

}  // namespace nm
