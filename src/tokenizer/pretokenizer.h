// Pre-tokenizers for byte-level BPE: split text into words exactly as the published
// split regexes of GPT-2, LLaMA 3, Qwen2 and SmolLM (StarCoder) do, hand-written (std::regex has no \p{..}).
// Invalid UTF-8 bytes are kept as their own units (treated as "other" characters), so
// the words always concatenate back to the input bytes. Pure functions, thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace nm {

enum class PreTokenizer {
  gpt2,    // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
  llama3,  // (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
           //  ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
  qwen2,   // as llama3 but \p{N} (one digit per word)
  smollm,  // SmolLM / StarCoder: every digit is a word of its own (\p{N}, isolated), then
           // the gpt2 split runs on the text between digits
};

// Maps tokenizer.ggml.pre to a pre-tokenizer; unknown names are an `unsupported` error.
Result<PreTokenizer> pre_tokenizer_from_name(std::string_view name);

// Splits text into words (byte substrings of `text`, in order, covering all of it).
std::vector<std::string_view> pre_tokenize(PreTokenizer kind, std::string_view text);

}  // namespace nm
