// Hand-checked tokenizer behaviour: UTF-8 helpers, pre-tokenizer splits, SentencePiece
// and byte-level BPE encodings on tiny vocabs whose expected ids are derived by hand in
// the comments, special-token splitting, decoding and streaming.
#include <gtest/gtest.h>

#include "test_vocabs.h"
#include "tokenizer/detokenizer.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace nm {
namespace {

using Ids = std::vector<TokenId>;

TEST(Utf8, SanitizeUsesMaximalSubparts) {
  EXPECT_EQ(utf8_sanitize("a\xF0\x9F\x98\x80"), "a\xF0\x9F\x98\x80");
  EXPECT_EQ(utf8_sanitize("\xE0\xABK"), "\xEF\xBF\xBDK");            // truncated 3-byte: one U+FFFD
  EXPECT_EQ(utf8_sanitize("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");  // overlong lead: two
  EXPECT_EQ(utf8_sanitize("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
  EXPECT_EQ(utf8_incomplete_tail("ab\xF0\x9F\x98"), 3u);
  EXPECT_EQ(utf8_incomplete_tail("ab\xF0\x9F\x98\x80"), 0u);
  EXPECT_EQ(utf8_incomplete_tail("ab\xE0\x80"), 0u);  // can never complete
  EXPECT_EQ(utf8_incomplete_tail("\xC3"), 1u);
}

TEST(Unicode, Categories) {
  EXPECT_TRUE(is_letter('a'));
  EXPECT_TRUE(is_letter(0x4E2D));   // 中
  EXPECT_FALSE(is_letter('1'));
  EXPECT_TRUE(is_number(0x0663));   // Arabic-Indic three
  EXPECT_TRUE(is_number(0x00BD));   // ½ (No)
  EXPECT_TRUE(is_mark(0x0301));     // combining acute
  EXPECT_FALSE(is_mark('a'));
  EXPECT_TRUE(is_whitespace(0x3000));
  EXPECT_FALSE(is_whitespace(0x200B));  // zero width space is not White_Space
  EXPECT_FALSE(is_letter(k_invalid_codepoint));
}

std::vector<std::string> split(PreTokenizer k, std::string_view s) {
  std::vector<std::string> out;
  for (std::string_view w : pre_tokenize(k, s)) out.emplace_back(w);
  return out;
}

TEST(PreTokenizer, Llama3AndQwen2Digits) {
  using V = std::vector<std::string>;
  EXPECT_EQ(split(PreTokenizer::llama3, "I'm  12345 ok\n\n x"),
            (V{"I", "'m", " ", " ", "123", "45", " ok", "\n\n", " x"}));
  EXPECT_EQ(split(PreTokenizer::qwen2, "I'M 123"), (V{"I", "'M", " ", "1", "2", "3"}));
  EXPECT_EQ(split(PreTokenizer::gpt2, "I'M 123!!"), (V{"I", "'", "M", " 123", "!!"}));
  // smollm: each digit alone, and the gpt2 split sees the text between digits as ending there
  EXPECT_EQ(split(PreTokenizer::smollm, "I'M a  12x!!"), (V{"I", "'", "M", " a", "  ", "1", "2", "x", "!!"}));
  EXPECT_EQ(pre_tokenizer_from_name("smollm").value(), PreTokenizer::smollm);
  EXPECT_FALSE(pre_tokenizer_from_name("no-such-pre").ok());
}

// SentencePiece vocab: 0 <unk>, 1 <s>, 2 </s>, 3..258 <0x00>..<0xFF>, then pieces.
Vocab spm_vocab() {
  Vocab v = test::spm_base_vocab();
  //          259     260  261  262  263  264      265   266        267    268
  const char* p[] = {"\xE2\x96\x81", "h", "e", "l", "o", "\xE2\x96\x81h", "ll", "\xE2\x96\x81he", "llo",
                     "\xE2\x96\x81hello"};
  const float s[] = {0, 0, 0, 0, 0, -3, -1, -4, -2, -5};
  for (int i = 0; i < 10; ++i) {
    v.tokens.push_back(p[i]);
    v.scores.push_back(s[i]);
    v.token_type.push_back(1);
  }
  return v;
}

constexpr TokenId byte_id(int b) { return 3 + b; }

TEST(Spm, HandCheckedEncodings) {
  auto t = Tokenizer::create(spm_vocab());
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  // "▁hello": ll(-1) first, then llo(-2), ▁h(-3), ▁he(-4), ▁hello(-5): one token.
  EXPECT_EQ((t->encode("hello")).value(), (Ids{1, 268}));
  // "▁hi": ▁h merges; "i" is not a piece -> byte fallback <0x69>.
  EXPECT_EQ((t->encode("hi", {false, false})).value(), (Ids{264, byte_id('i')}));
  // Emoji: "▁" then its four UTF-8 bytes.
  EXPECT_EQ((t->encode("\xF0\x9F\x98\x80", {false, false})).value(),
            (Ids{259, byte_id(0xF0), byte_id(0x9F), byte_id(0x98), byte_id(0x80)}));
  // Special-token text: split when parse_special, else plain text ("he" is not a piece).
  EXPECT_EQ((t->encode("<s>hello", {false, true})).value(), (Ids{1, 268}));
  EXPECT_EQ((t->encode("<s>hello", {false, false})).value(),
            (Ids{259, byte_id('<'), byte_id('s'), byte_id('>'), 260, 261, 267}));
  const Ids ids = (t->encode("hello hi \xFF")).value();
  EXPECT_EQ(t->decode(ids, {false, true}), "hello hi \xFF");
  EXPECT_EQ(t->decode(ids, {true, false}), "<s> hello hi \xFF");
}

TEST(Spm, StreamingHoldsBackSplitCharacters) {
  auto t = Tokenizer::create(spm_vocab());
  ASSERT_TRUE(t.ok());
  StreamingDetokenizer d(*t);
  EXPECT_EQ(d.push(268), " hello");
  EXPECT_EQ(d.push(byte_id(0xF0)), "");
  EXPECT_EQ(d.push(byte_id(0x9F)), "");
  EXPECT_EQ(d.push(byte_id(0x98)), "");
  EXPECT_EQ(d.push(byte_id(0x80)), "\xF0\x9F\x98\x80");
  EXPECT_EQ(d.push(byte_id(0xFF)), "\xEF\xBF\xBD");  // can never complete: replaced at once
  EXPECT_EQ(d.push(byte_id(0xE2)), "");
  EXPECT_EQ(d.push(byte_id(0x82)), "");
  EXPECT_EQ(d.push(260), "\xEF\xBF\xBDh");  // broken by an ASCII piece
  EXPECT_EQ(d.push(byte_id(0xC3)), "");
  EXPECT_EQ(d.finish(), "\xEF\xBF\xBD");  // incomplete at the end
}

// Byte-level vocab: ids 0..255 = the GPT-2 stand-in character of byte b, then merges.
Vocab bpe_vocab() {
  Vocab v = test::byte_level_base_vocab("llama-bpe");
  v.merges = {"h e", "l l", "he ll", "hell o", "\xC4\xA0 w", "o r"};  // Ġ = U+0120 = byte ' '
  for (const char* t : {"he", "ll", "hell", "hello", "\xC4\xA0w", "or", "<|eot_id|>"}) v.tokens.push_back(t);
  v.token_type.assign(v.tokens.size(), 1);
  v.token_type.back() = 3;
  v.eot_token_id = 262;
  return v;
}

TEST(Bpe, HandCheckedEncodings) {
  auto t = Tokenizer::create(bpe_vocab());
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  // "hello": he(0), ll(1), hell(2), hello(3). " world": Ġw(4), or(5), then l, d.
  EXPECT_EQ((t->encode("hello world")).value(), (Ids{259, 260, 261, 'l', 'd'}));
  EXPECT_EQ((t->encode("hi<|eot_id|>", {false, true})).value(), (Ids{'h', 'i', 262}));
  EXPECT_EQ(t->encode("<|eot_id|>", {false, false})->size(), 10u);  // as text: < | e o t _ i d | >
  EXPECT_EQ(t->decode((t->encode("hello world\xFF")).value()), "hello world\xFF");
  EXPECT_TRUE(t->is_eog(262));
  EXPECT_FALSE(t->is_eog(259));
  EXPECT_EQ(t->decode({262}), "");
  EXPECT_EQ(t->decode({262}, {true, false}), "<|eot_id|>");
}

TEST(Bpe, Llama3IgnoresMergesForWholeWordTokens) {
  Vocab v = bpe_vocab();
  v.tokens.push_back("xy");  // id 263, reachable by no merge
  v.token_type.push_back(1);
  EXPECT_EQ(Tokenizer::create(v).value().encode("xy").value(), (Ids{263}));  // LLaMA 3: whole word
  v.pre = "qwen2";
  EXPECT_EQ(Tokenizer::create(v).value().encode("xy").value(), (Ids{'x', 'y'}));  // merges only
}

TEST(Tokenizer, RejectsBadVocabs) {
  Vocab v = bpe_vocab();
  v.scores = {1.0f};
  EXPECT_EQ(Tokenizer::create(v).status().code(), ErrorCode::invalid_file);
  v = bpe_vocab();
  v.bos_token_id = 100000;
  EXPECT_EQ(Tokenizer::create(v).status().code(), ErrorCode::invalid_file);
  v = bpe_vocab();
  v.model = "wordpiece";
  EXPECT_EQ(Tokenizer::create(v).status().code(), ErrorCode::unsupported);
  v = bpe_vocab();
  v.merges.push_back("nospace");
  EXPECT_EQ(Tokenizer::create(v).status().code(), ErrorCode::invalid_file);
  EXPECT_FALSE(Tokenizer::create(Vocab{}).ok());
}

}  // namespace
}  // namespace nm
