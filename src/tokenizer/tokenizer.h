// Tokenizer: text <-> token ids for SentencePiece-style vocabs (model "llama": "▁" for
// space, highest-score bigram merging, <0xXX> byte fallback, as llama.cpp's SPM
// tokenizer) and byte-level BPE vocabs (model "gpt2": GPT-2 byte<->unicode map, merges by
// rank, LLaMA 3 / Qwen2 / GPT-2 pre-tokenizer splits). Built from a plain Vocab.
// Immutable after create(): every const method is thread-safe.
#pragma once

#include <array>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/vocab.h"

namespace nm {

// A byte range [begin, end) of a text.
struct TextSpan {
  size_t begin = 0, end = 0;
};

// Whether [begin, end) overlaps one of the sorted, disjoint spans.
bool overlaps_any(const std::vector<TextSpan>& spans, size_t begin, size_t end);

struct EncodeOptions {
  EncodeOptions(bool add = true, bool parse = false, std::vector<TextSpan> plain = {})  // NOLINT: {a, b} at call sites
      : add_special(add), parse_special(parse), plain_spans(std::move(plain)) {}

  bool add_special = true;     // add BOS / EOS as the vocab's add_bos_token / add_eos_token say
  bool parse_special = false;  // match control-token texts ("<|im_start|>") in the input as tokens;
                               // user-defined tokens are always matched (as llama.cpp does)
  // Ranges of the input that are plain text whatever parse_special says (e.g. what a user
  // typed inside a rendered chat prompt): no special or user-defined token text is matched
  // where it would overlap one, so typed markers stay text. The text around them is
  // tokenized as before (a range does not split the text it sits in). Sorted, disjoint.
  std::vector<TextSpan> plain_spans;
};

struct DecodeOptions {
  bool render_special = false;      // emit the text of control tokens (otherwise they vanish)
  bool strip_space_prefix = false;  // SentencePiece: drop the " " that encode() prepended
};

// Hash for unordered_map<std::string, ...> lookups by string_view without a copy.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
template <class V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

class Tokenizer {
 public:
  // Validates the vocab (sizes agree, ids in range, merges well-formed, known model/pre).
  static Result<Tokenizer> create(Vocab vocab);

  // Never fails on any byte string (invalid UTF-8 is encoded byte by byte); fails only
  // when the vocab can represent neither a piece nor the unknown token.
  Result<std::vector<TokenId>> encode(std::string_view text, const EncodeOptions& options = {}) const;

  // The bytes of one token (may be a partial UTF-8 sequence, e.g. a byte token).
  std::string token_to_piece(TokenId id, bool render_special = false) const;
  // Concatenated bytes of the tokens; not sanitised (see utf8_sanitize, StreamingDetokenizer).
  std::string decode(const std::vector<TokenId>& ids, const DecodeOptions& options = {}) const;

  TokenId token_id(std::string_view text) const;  // exact token text lookup; k_no_token if absent
  int32_t n_tokens() const { return static_cast<int32_t>(vocab_.tokens.size()); }
  TokenType token_type(TokenId id) const;
  const std::string& token_text(TokenId id) const { return vocab_.tokens.at(static_cast<size_t>(id)); }
  const Vocab& vocab() const { return vocab_; }
  bool is_spm() const { return spm_; }
  TokenId bos() const { return vocab_.bos_token_id; }
  TokenId eos() const { return vocab_.eos_token_id; }
  TokenId eot() const { return vocab_.eot_token_id; }
  // End of generation: eos, eot, and control tokens named like known end-of-turn markers.
  bool is_eog(TokenId id) const;
  const std::vector<TokenId>& eog_tokens() const { return eog_; }

 private:
  Tokenizer() = default;
  Status init();
  // One text fragment (no special tokens inside) -> ids appended to out.
  Status encode_spm(std::string_view text, std::vector<TokenId>& out) const;
  Status encode_bpe(std::string_view text, std::vector<TokenId>& out) const;
  Status push_bytes(std::string_view bytes, std::vector<TokenId>& out) const;
  int32_t merge_rank(std::string_view left, std::string_view right) const;

  Vocab vocab_;
  bool spm_ = true;
  PreTokenizer pre_ = PreTokenizer::gpt2;
  bool ignore_merges_ = false;  // LLaMA 3: a word that is a whole token skips merging
  StringMap<TokenId> token_to_id_;
  StringMap<int32_t> merge_ranks_;  // "left right" -> rank
  std::array<TokenId, 256> byte_token_{};                 // byte -> token (<0xXX> or mapped char)
  std::array<std::string, 256> byte_to_unicode_;          // GPT-2 byte -> UTF-8 of its stand-in char
  std::unordered_map<uint32_t, uint8_t> unicode_to_byte_;
  std::vector<TokenId> special_;  // control / user-defined / unknown, longest text first
  std::vector<TokenId> eog_;
};

// The GPT-2 byte -> code point table (printable bytes map to themselves, others to 256+).
std::array<uint32_t, 256> gpt2_byte_to_codepoint();

}  // namespace nm
