// libFuzzer target: arbitrary bytes through both tokenizer kinds, every pre-tokenizer,
// the streaming detokenizer, plain-text spans and chat-template recognition. Checks exact byte round
// trips and that streamed text equals the sanitised decode; traps on any mismatch.
#include <cstddef>
#include <cstdint>
#include <string>

#include "../tokenizer/test_vocabs.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/detokenizer.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace {

nm::Tokenizer make_spm() {
  nm::Vocab v = nm::test::spm_base_vocab();
  for (const char* p : {"\xE2\x96\x81", "a", "b", "\xE2\x96\x81" "a", "ab", "\xE2\x96\x81" "ab", "<|x|>"}) {
    v.tokens.push_back(p);
    v.token_type.push_back(1);
    v.scores.push_back(0.0f);
  }
  v.token_type.back() = 4;  // user-defined: always split out
  v.scores[v.tokens.size() - 3] = -1.0f;
  return std::move(nm::Tokenizer::create(v)).value();
}

nm::Tokenizer make_bpe(const char* pre) {
  nm::Vocab v = nm::test::byte_level_base_vocab(pre);
  v.merges = {"a b", "ab c", "\xC4\xA0 a", "1 2"};
  for (const char* t : {"ab", "abc", "\xC4\xA0" "a", "12", "<|im_end|>"}) {
    v.tokens.push_back(t);
    v.token_type.push_back(1);
  }
  v.token_type.back() = 3;
  return std::move(nm::Tokenizer::create(v)).value();
}

// exact: decode must give the input back. Not so for SentencePiece once a special or
// user-defined token splits the text: each later fragment gets its own "▁" prefix (as in
// llama.cpp and Hugging Face), which decode keeps.
void check(const nm::Tokenizer& t, std::string_view text, bool parse_special, bool exact) {
  auto ids = t.encode(text, {false, parse_special});
  if (!ids.ok()) __builtin_trap();
  const std::string back = t.decode(*ids, {true, true});
  if (exact && back != text) __builtin_trap();
  nm::StreamingDetokenizer d(t, {true, true});
  std::string streamed;
  for (nm::TokenId id : *ids) streamed += d.push(id);
  streamed += d.finish();
  if (streamed != nm::utf8_sanitize(back)) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const nm::Tokenizer spm = make_spm();
  static const nm::Tokenizer llama3 = make_bpe("llama-bpe");
  static const nm::Tokenizer qwen2 = make_bpe("qwen2");
  static const nm::Tokenizer gpt2 = make_bpe("gpt2");
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  // Control tokens render back as their text, so parse_special round trips exactly too.
  // SentencePiece cannot round trip a user-defined token (see check()) or an input "▁"
  // (it decodes as " ").
  const bool spm_exact =
      text.find("<|x|>") == std::string_view::npos && text.find("\xE2\x96\x81") == std::string_view::npos;
  for (bool parse_special : {false, true}) {
    check(spm, text, parse_special, spm_exact && !parse_special);
    check(llama3, text, parse_special, true);
    check(qwen2, text, parse_special, true);
    check(gpt2, text, parse_special, true);
  }
  // Plain-text spans: text a user typed. A span over everything reads like parse_special
  // off (these BPE vocabs have no user-defined tokens); any span keeps the round trip.
  for (const nm::Tokenizer* t : {&llama3, &qwen2}) {
    auto all_plain = t->encode(text, {false, true, {{0, text.size()}}});
    auto off = t->encode(text, {false, false});
    if (!all_plain.ok() || !off.ok() || *all_plain != *off) __builtin_trap();
    const size_t b = size > 0 ? data[0] % (size + 1) : 0, e = b + (size > 1 ? data[1] % (size - b + 1) : 0);
    auto some = t->encode(text, {false, true, {{b, e}}});
    if (!some.ok() || t->decode(*some, {true, true}) != text) __builtin_trap();
  }
  for (auto kind : {nm::PreTokenizer::gpt2, nm::PreTokenizer::llama3, nm::PreTokenizer::qwen2}) {
    size_t total = 0;
    for (std::string_view w : nm::pre_tokenize(kind, text)) {
      if (w.empty() || w.data() != text.data() + total) __builtin_trap();
      total += w.size();
    }
    if (total != text.size()) __builtin_trap();
  }
  auto tpl = nm::ChatTemplate::from_jinja(text);
  if (tpl.ok()) {
    auto r = tpl->render_with_spans({{"user", std::string(text), 1}}, {});
    if (r.ok()) {
      size_t end = 0;
      for (const nm::TextSpan& sp : r->content) {
        if (sp.begin < end || sp.end <= sp.begin || sp.end > r->text.size()) __builtin_trap();
        end = sp.end;
      }
    }
  }
  return 0;
}
