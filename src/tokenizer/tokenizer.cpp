// Tokenizer construction, special-token splitting, and decoding. The per-model merge
// loops live in tokenizer_spm.cpp and tokenizer_bpe.cpp.
#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <cstdio>

#include "tokenizer/unicode.h"

namespace nm {

std::array<uint32_t, 256> gpt2_byte_to_codepoint() {
  // Bytes that are printable Latin-1 keep their code point; the rest are numbered
  // 256, 257, ... in byte order (GPT-2's bytes_to_unicode()).
  std::array<uint32_t, 256> map{};
  uint32_t next = 256;
  for (uint32_t b = 0; b < 256; ++b) {
    const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
    map[b] = printable ? b : next++;
  }
  return map;
}

Result<Tokenizer> Tokenizer::create(Vocab vocab) {
  Tokenizer t;
  t.vocab_ = std::move(vocab);
  NM_RETURN_IF_ERROR(t.init());
  return t;
}

Status Tokenizer::init() {
  const Vocab& v = vocab_;
  const size_t n = v.tokens.size();
  if (n == 0) return error(ErrorCode::invalid_file, "tokenizer has no tokens (tokenizer.ggml.tokens is empty)");
  if (n > 0x7FFFFFFF) return error(ErrorCode::invalid_file, "tokenizer has too many tokens");
  if (!v.scores.empty() && v.scores.size() != n) {
    return error(ErrorCode::invalid_file, "tokenizer.ggml.scores has " + std::to_string(v.scores.size()) +
                                              " entries but there are " + std::to_string(n) + " tokens");
  }
  if (!v.token_type.empty() && v.token_type.size() != n) {
    return error(ErrorCode::invalid_file, "tokenizer.ggml.token_type has " + std::to_string(v.token_type.size()) +
                                              " entries but there are " + std::to_string(n) + " tokens");
  }
  for (int32_t t : v.token_type) {
    if (t < 0 || t > 6) return error(ErrorCode::invalid_file, "token type " + std::to_string(t) + " is not 0..6");
  }
  const std::pair<const char*, TokenId> ids[] = {{"bos", v.bos_token_id},     {"eos", v.eos_token_id},
                                                {"eot", v.eot_token_id},     {"unknown", v.unknown_token_id},
                                                {"padding", v.padding_token_id}};
  for (const auto& [name, id] : ids) {
    if (id != k_no_token && (id < 0 || static_cast<size_t>(id) >= n)) {
      return error(ErrorCode::invalid_file, std::string("tokenizer.ggml.") + name + "_token_id " +
                                                std::to_string(id) + " is out of range (vocab size " +
                                                std::to_string(n) + ")");
    }
  }
  if (v.model == "llama") {
    spm_ = true;
  } else if (v.model == "gpt2") {
    spm_ = false;
    NM_ASSIGN_OR_RETURN(pre_, pre_tokenizer_from_name(v.pre));
    ignore_merges_ = pre_ == PreTokenizer::llama3;
  } else {
    return error(ErrorCode::unsupported, "unsupported tokenizer model '" + v.model +
                                             "' (tokenizer.ggml.model); supported: llama, gpt2");
  }

  token_to_id_.reserve(n);
  for (size_t i = 0; i < n; ++i) token_to_id_.emplace(v.tokens[i], static_cast<TokenId>(i));  // first wins

  for (size_t r = 0; r < v.merges.size(); ++r) {
    const std::string& m = v.merges[r];
    const size_t sp = m.find(' ', 1);
    if (sp == std::string::npos || sp + 1 >= m.size()) {
      return error(ErrorCode::invalid_file, "merge " + std::to_string(r) + " '" + m + "' is not of the form 'a b'");
    }
    merge_ranks_.emplace(m, static_cast<int32_t>(r));  // first (lowest rank) wins
  }

  const auto cps = gpt2_byte_to_codepoint();
  for (int b = 0; b < 256; ++b) {
    byte_to_unicode_[b] = utf8_encode(cps[b]);
    unicode_to_byte_[cps[b]] = static_cast<uint8_t>(b);
    TokenId id = k_no_token;
    if (spm_) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "<0x%02X>", b);
      id = token_id(hex);
    } else {
      id = token_id(byte_to_unicode_[b]);
    }
    byte_token_[b] = id;
  }

  for (size_t i = 0; i < n; ++i) {
    const TokenType t = token_type(static_cast<TokenId>(i));
    if ((t == TokenType::control || t == TokenType::user_defined || t == TokenType::unknown) &&
        !v.tokens[i].empty()) {
      special_.push_back(static_cast<TokenId>(i));
    }
  }
  std::stable_sort(special_.begin(), special_.end(),
                   [&](TokenId a, TokenId b) { return v.tokens[a].size() > v.tokens[b].size(); });

  // End-of-generation set, as llama.cpp: eos, eot, and control tokens with these names.
  static constexpr std::string_view k_eog_names[] = {"<|eot_id|>", "<|im_end|>",      "<|end|>", "<end_of_turn>",
                                                     "<|endoftext|>", "<|eom_id|>", "</s>"};
  for (TokenId id : {v.eos_token_id, v.eot_token_id}) {
    if (id != k_no_token) eog_.push_back(id);
  }
  for (std::string_view name : k_eog_names) {
    const TokenId id = token_id(name);
    if (id != k_no_token && token_type(id) == TokenType::control) eog_.push_back(id);
  }
  std::sort(eog_.begin(), eog_.end());
  eog_.erase(std::unique(eog_.begin(), eog_.end()), eog_.end());
  return Status::ok_status();
}

TokenId Tokenizer::token_id(std::string_view text) const {
  auto it = token_to_id_.find(text);
  return it == token_to_id_.end() ? k_no_token : it->second;
}

TokenType Tokenizer::token_type(TokenId id) const {
  if (vocab_.token_type.empty()) return TokenType::normal;
  return static_cast<TokenType>(vocab_.token_type.at(static_cast<size_t>(id)));
}

bool Tokenizer::is_eog(TokenId id) const { return std::binary_search(eog_.begin(), eog_.end(), id); }

int32_t Tokenizer::merge_rank(std::string_view left, std::string_view right) const {
  std::string key;
  key.reserve(left.size() + right.size() + 1);
  key.append(left).append(" ").append(right);
  auto it = merge_ranks_.find(key);
  return it == merge_ranks_.end() ? -1 : it->second;
}

Status Tokenizer::push_bytes(std::string_view bytes, std::vector<TokenId>& out) const {
  for (char c : bytes) {
    const TokenId id = byte_token_[static_cast<uint8_t>(c)];
    if (id != k_no_token) {
      out.push_back(id);
    } else if (vocab_.unknown_token_id != k_no_token) {
      out.push_back(vocab_.unknown_token_id);
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02X", static_cast<uint8_t>(c));
      return error(ErrorCode::unsupported, std::string("cannot encode byte ") + hex +
                                               ": the vocab has no token for it and no unknown token");
    }
  }
  return Status::ok_status();
}

namespace {
struct Fragment {
  TokenId token;          // k_no_token for raw text
  std::string_view text;  // raw text when token == k_no_token
};
}  // namespace

bool overlaps_any(const std::vector<TextSpan>& spans, size_t begin, size_t end) {
  auto it = std::upper_bound(spans.begin(), spans.end(), begin,
                             [](size_t at, const TextSpan& s) { return at < s.end; });  // first span ending after begin
  return it != spans.end() && it->begin < end;
}

Result<std::vector<TokenId>> Tokenizer::encode(std::string_view text, const EncodeOptions& options) const {
  for (size_t i = 0; i < options.plain_spans.size(); ++i) {
    const TextSpan& s = options.plain_spans[i];
    if (s.begin > s.end || s.end > text.size() || (i > 0 && options.plain_spans[i - 1].end > s.begin)) {
      return error(ErrorCode::invalid_argument, "plain-text spans must be sorted, disjoint and inside the text");
    }
  }
  // Split on special-token texts, longest first (llama.cpp tokenizer_st_partition).
  std::vector<Fragment> frags{{k_no_token, text}};
  for (TokenId sid : special_) {
    const TokenType t = token_type(sid);
    if (!options.parse_special && t != TokenType::user_defined) continue;
    const std::string& s = vocab_.tokens[sid];
    std::vector<Fragment> next;
    next.reserve(frags.size());
    for (const Fragment& f : frags) {
      if (f.token != k_no_token) {
        next.push_back(f);
        continue;
      }
      std::string_view rest = f.text;
      size_t from = 0;  // search start inside rest (past matches refused as plain text)
      for (size_t at; (at = rest.find(s, from)) != std::string_view::npos;) {
        const size_t offset = (size_t)(rest.data() - text.data()) + at;
        if (overlaps_any(options.plain_spans, offset, offset + s.size())) {
          from = at + 1;
          continue;
        }
        if (at > 0) next.push_back({k_no_token, rest.substr(0, at)});
        next.push_back({sid, {}});
        rest.remove_prefix(at + s.size());
        from = 0;
      }
      if (!rest.empty()) next.push_back({k_no_token, rest});
    }
    frags = std::move(next);
  }

  std::vector<TokenId> out;
  const bool add_bos = options.add_special && vocab_.add_bos_token && vocab_.bos_token_id != k_no_token;
  if (add_bos) out.push_back(vocab_.bos_token_id);
  bool prev_special = true;  // SentencePiece prefixes a space to text at the start / after a special token
  for (const Fragment& f : frags) {
    if (f.token != k_no_token) {
      out.push_back(f.token);
      prev_special = true;
      continue;
    }
    if (spm_) {
      std::string piece;
      if (vocab_.add_space_prefix && prev_special) piece = " ";
      piece.append(f.text);
      NM_RETURN_IF_ERROR(encode_spm(piece, out));
    } else {
      NM_RETURN_IF_ERROR(encode_bpe(f.text, out));
    }
    prev_special = false;
  }
  if (options.add_special && vocab_.add_eos_token && vocab_.eos_token_id != k_no_token) {
    out.push_back(vocab_.eos_token_id);
  }
  return out;
}

std::string Tokenizer::token_to_piece(TokenId id, bool render_special) const {
  if (id < 0 || id >= n_tokens()) return {};
  const std::string& text = vocab_.tokens[static_cast<size_t>(id)];
  switch (token_type(id)) {
    case TokenType::control:
      return render_special ? text : std::string();
    case TokenType::unknown:
      return render_special ? text : utf8_encode(k_replacement_char);
    case TokenType::unused:
      return {};
    case TokenType::byte: {
      unsigned value = 0;
      if (text.size() == 6 && std::sscanf(text.c_str(), "<0x%2x>", &value) == 1) {
        return std::string(1, static_cast<char>(value));
      }
      return text;
    }
    case TokenType::user_defined:
      if (!spm_) return text;
      [[fallthrough]];
    case TokenType::undefined:
    case TokenType::normal:
      break;
  }
  std::string out;
  if (spm_) {
    // "▁" (U+2581, E2 96 81) -> " "
    out.reserve(text.size());
    for (size_t i = 0; i < text.size(); ++i) {
      if (text.compare(i, 3, "\xE2\x96\x81") == 0) {
        out += ' ';
        i += 2;
      } else {
        out += text[i];
      }
    }
    return out;
  }
  for (const Utf8Unit& u : utf8_units(text)) {
    auto it = u.cp == k_invalid_codepoint ? unicode_to_byte_.end() : unicode_to_byte_.find(u.cp);
    if (it != unicode_to_byte_.end()) {
      out += static_cast<char>(it->second);
    } else {
      out.append(text, u.offset, u.length);  // not a mapped byte: keep as is
    }
  }
  return out;
}

std::string Tokenizer::decode(const std::vector<TokenId>& ids, const DecodeOptions& options) const {
  std::string out;
  bool strip = options.strip_space_prefix && spm_ && vocab_.add_space_prefix;
  for (TokenId id : ids) {
    std::string piece = token_to_piece(id, options.render_special);
    if (strip && !piece.empty() && token_type(id) != TokenType::control) {
      if (piece[0] == ' ') piece.erase(0, 1);
      strip = false;
    }
    out += piece;
  }
  return out;
}

}  // namespace nm
