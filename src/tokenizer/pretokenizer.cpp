// Hand-written matchers for the GPT-2 / LLaMA 3 / Qwen2 split regexes. Each branch below
// is one regex alternative, tried in order at the current position (leftmost-first
// semantics, as in Oniguruma / PCRE), with the backtracking of \s*, \s+(?!\S) resolved
// by looking at the whole whitespace run.
#include "tokenizer/pretokenizer.h"

#include "tokenizer/unicode.h"

namespace nm {

Result<PreTokenizer> pre_tokenizer_from_name(std::string_view name) {
  if (name.empty() || name == "default" || name == "gpt2" || name == "gpt-2") return PreTokenizer::gpt2;
  if (name == "llama3" || name == "llama-bpe" || name == "llama-v3" || name == "smaug-bpe") {
    return PreTokenizer::llama3;
  }
  if (name == "qwen2" || name == "deepseek-r1-qwen") return PreTokenizer::qwen2;
  // llama.cpp gives these the same two-step split (digits isolated, then GPT-2's regex).
  if (name == "smollm" || name == "starcoder" || name == "refact") return PreTokenizer::smollm;
  return error(ErrorCode::unsupported,
               "unsupported pre-tokenizer '" + std::string(name) +
                   "' (tokenizer.ggml.pre); supported: default, gpt2, llama-bpe, llama3, qwen2, smollm");
}

namespace {

class Splitter {
 public:
  Splitter(PreTokenizer kind, std::string_view text)
      : kind_(kind), text_(text), u_(utf8_units(text)), limit_(u_.size()) {}

  std::vector<std::string_view> run() {
    std::vector<std::string_view> words;
    size_t pos = 0;
    while (pos < u_.size()) {
      const size_t end = kind_ == PreTokenizer::smollm ? match_smollm(pos) : match_at(pos);
      assert(end > pos);
      const size_t b0 = u_[pos].offset;
      const size_t b1 = end < u_.size() ? u_[end].offset : text_.size();
      words.push_back(text_.substr(b0, b1 - b0));
      pos = end;
    }
    return words;
  }

 private:
  // Code point at i, or 0 past the end (0 is none of L, N, whitespace, \r, \n, ').
  uint32_t cp(size_t i) const { return i < limit_ ? u_[i].cp : 0; }
  bool has(size_t i) const { return i < limit_; }
  bool letter(size_t i) const { return has(i) && is_letter(cp(i)); }
  bool number(size_t i) const { return has(i) && is_number(cp(i)); }
  bool space(size_t i) const { return has(i) && is_whitespace(cp(i)); }
  bool other(size_t i) const { return has(i) && !space(i) && !letter(i) && !number(i); }  // [^\s\p{L}\p{N}]
  bool newline(size_t i) const { return cp(i) == '\r' || cp(i) == '\n'; }

  static uint32_t lower(uint32_t c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

  // 's|'t|'re|'ve|'m|'ll|'d, case-insensitive for llama3/qwen2: returns the length or 0.
  size_t contraction(size_t i) const {
    if (cp(i) != '\'') return 0;
    const bool ci = kind_ == PreTokenizer::llama3 || kind_ == PreTokenizer::qwen2;
    auto c = [&](size_t k) { return ci ? lower(cp(k)) : cp(k); };
    const uint32_t a = c(i + 1);
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    const uint32_t b = c(i + 2);
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    return 0;
  }

  size_t skip_letters(size_t i) const {
    while (letter(i)) ++i;
    return i;
  }

  // The shared tail: \s+(?!\S)|\s+ at a whitespace run starting at pos.
  size_t whitespace_run(size_t pos) const {
    size_t end = pos;
    while (space(end)) ++end;
    if (end - pos >= 2 && has(end)) return end - 1;  // leave one space to prefix the next word
    return end;
  }

  size_t match_at(size_t pos) const {
    if (kind_ == PreTokenizer::gpt2) return match_gpt2(pos);
    return match_llama3(pos);
  }

  // Digits are isolated first (HF's Digits(individual_digits=True)); the gpt2 split then
  // sees only the text between two digits, as if that text ended there.
  size_t match_smollm(size_t pos) {
    if (number(pos)) return pos + 1;
    size_t seg_end = pos;
    while (seg_end < u_.size() && !is_number(u_[seg_end].cp)) ++seg_end;
    const size_t saved = limit_;
    limit_ = seg_end;
    const size_t end = match_gpt2(pos);
    limit_ = saved;
    return end;
  }

  size_t match_gpt2(size_t pos) const {
    if (size_t n = contraction(pos)) return pos + n;
    const size_t p = (cp(pos) == ' ') ? pos + 1 : pos;  // the optional leading space
    if (letter(p)) return skip_letters(p);
    if (number(p)) {
      size_t i = p;
      while (number(i)) ++i;
      return i;
    }
    if (other(p)) {
      size_t i = p;
      while (other(i)) ++i;
      return i;
    }
    if (space(pos)) return whitespace_run(pos);
    return pos + 1;  // unreachable: every unit is letter, number, space or other
  }

  size_t match_llama3(size_t pos) const {
    if (size_t n = contraction(pos)) return pos + n;
    // [^\r\n\p{L}\p{N}]?\p{L}+
    if (letter(pos)) return skip_letters(pos);
    if (!newline(pos) && !number(pos) && letter(pos + 1)) return skip_letters(pos + 1);
    // \p{N}{1,3} (llama3) or \p{N} (qwen2)
    if (number(pos)) {
      const size_t max_digits = kind_ == PreTokenizer::llama3 ? 3 : 1;
      size_t i = pos;
      while (i - pos < max_digits && number(i)) ++i;
      return i;
    }
    //  ?[^\s\p{L}\p{N}]+[\r\n]*
    const size_t p = (cp(pos) == ' ' && other(pos + 1)) ? pos + 1 : pos;
    if (other(p)) {
      size_t i = p;
      while (other(i)) ++i;
      while (newline(i)) ++i;
      return i;
    }
    // \s*[\r\n]+ : the whitespace run up to and including its last newline.
    size_t end = pos;
    size_t last_newline = SIZE_MAX;
    while (space(end)) {
      if (newline(end)) last_newline = end;
      ++end;
    }
    if (last_newline != SIZE_MAX) return last_newline + 1;
    return whitespace_run(pos);
  }

  PreTokenizer kind_;
  std::string_view text_;
  std::vector<Utf8Unit> u_;
  size_t limit_;  // units past this index read as the end of the text (smollm's segments)
};

}  // namespace

std::vector<std::string_view> pre_tokenize(PreTokenizer kind, std::string_view text) {
  return Splitter(kind, text).run();
}

}  // namespace nm
