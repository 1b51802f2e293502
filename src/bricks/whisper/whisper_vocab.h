// WhisperVocab: Whisper's tokens as raw bytes plus the special tokens around them, in
// the published layout (openai/whisper tokenizer.py): text tokens 0 .. eot-1, then
// <|endoftext|>, <|startoftranscript|>, one token per language, <|translate|>,
// <|transcribe|>, <|startoflm|>, <|startofprev|>, <|nospeech|>, <|notimestamps|> and 1501
// timestamps <|0.00|> .. <|30.00|>. Text ids are also BPE merge ranks (tiktoken), which is
// all encode() needs. Immutable after loading: safe to share between threads.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace nm {

// Whisper's languages in token order (the first n_langs of them are in a model's vocabulary).
std::span<const char* const> whisper_language_codes();
// English name of a language code ("en" -> "english"), "" if unknown.
std::string_view whisper_language_name(std::string_view code);

class WhisperVocab {
 public:
  // From the text tokens as raw bytes and the vocabulary size: the special tokens follow
  // eot = text.size() in the published order with n_langs languages.
  static Result<WhisperVocab> from_layout(std::vector<std::string> text, int n_vocab, int n_langs, bool multilingual);

  int n_vocab() const { return n_vocab_; }
  int n_text() const { return eot; }
  bool multilingual() const { return multilingual_; }
  int n_langs() const { return n_langs_; }

  int eot = 0, sot = 0, lang_begin = 0, translate = 0, transcribe = 0, solm = 0, prev = 0, nosp = 0,
      no_timestamps = 0, timestamp_begin = 0;

  bool is_text(int id) const { return id >= 0 && id < eot; }
  bool is_timestamp(int id) const { return id >= timestamp_begin && id < n_vocab_; }
  double timestamp_seconds(int id) const { return (id - timestamp_begin) * 0.02; }
  // Token of a language code ("en"), or -1.
  int language_token(std::string_view code) const;
  // Code of a language token, "" if it is not one.
  std::string_view language_code(int id) const;

  // Raw bytes of a text token; special tokens give their "<|...|>" name.
  std::string piece(int id) const;
  // The text of a token sequence: text tokens' bytes concatenated, special tokens skipped.
  std::string decode(std::span<const int32_t> ids) const;
  // Byte-level BPE by merge rank (= token id), after GPT-2's pre-split into words.
  std::vector<int32_t> encode(std::string_view text) const;

 private:
  void encode_word(std::string_view word, std::vector<int32_t>& out) const;
  std::vector<std::string> text_;  // bytes of ids 0 .. eot-1
  std::vector<std::pair<std::string_view, int32_t>> sorted_;  // bytes -> id, for encode()
  int n_vocab_ = 0;
  int n_langs_ = 0;
  bool multilingual_ = true;
};

// s with every byte that is not part of a well-formed UTF-8 sequence replaced by U+FFFD
// (a character whose bytes were split between segments, or a model's stray byte tokens).
std::string sanitize_utf8(std::string_view s);

// GPT-2's byte-to-unicode mapping reversed: a token string of a byte-level BPE vocabulary
// (vocabulary.txt, tokenizer.json) to its raw bytes; nullopt-like false on foreign chars.
bool byte_level_to_bytes(std::string_view token, std::string& bytes);

}  // namespace nm
