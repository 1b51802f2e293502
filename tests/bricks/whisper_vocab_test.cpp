// WhisperVocab: the special-token layout, languages, BPE by rank and UTF-8 repair.
#include <gtest/gtest.h>

#include "bricks/whisper/whisper_vocab.h"

namespace nm {
namespace {

WhisperVocab tiny() {
  std::vector<std::string> text;
  for (int b = 0; b < 256; ++b) text.push_back(std::string(1, (char)b));
  text.push_back("he");      // 256
  text.push_back("ll");      // 257
  text.push_back(" he");     // 258
  text.push_back("llo");     // 259
  text.push_back(" hello");  // 260: reachable only through " he" + "llo"
  const int n_vocab = (int)text.size() + 1608;
  auto v = WhisperVocab::from_layout(std::move(text), n_vocab, 99, true);
  EXPECT_TRUE(v.ok());
  return std::move(v).value();
}

TEST(WhisperVocab, LayoutAndLanguages) {
  const WhisperVocab v = tiny();
  EXPECT_EQ(v.eot, 261);
  EXPECT_EQ(v.sot, 262);
  EXPECT_EQ(v.language_token("en"), 263);
  EXPECT_EQ(v.language_token("su"), 263 + 98);
  EXPECT_EQ(v.language_token("yue"), -1);  // the 100th language is not in a 99-language vocabulary
  EXPECT_EQ(v.language_code(264), "zh");
  EXPECT_EQ(v.translate, 263 + 99);
  EXPECT_EQ(v.timestamp_begin + 1501, v.n_vocab());
  EXPECT_EQ(v.piece(v.timestamp_begin + 1500), "<|30.00|>");
  EXPECT_EQ(v.piece(v.no_timestamps), "<|notimestamps|>");
  EXPECT_EQ(whisper_language_name("de"), "german");
  EXPECT_FALSE(WhisperVocab::from_layout({"a"}, 100, 99, true).ok());
}

TEST(WhisperVocab, EncodeMergesByRankAndDecodes) {
  const WhisperVocab v = tiny();
  const std::vector<int32_t> ids = v.encode(" hello hello");
  EXPECT_EQ(ids, (std::vector<int32_t>{260, 260}));
  const std::vector<int32_t> with_special = {v.sot, 260, v.timestamp_begin, 'x'};
  EXPECT_EQ(v.decode(with_special), " hellox");
  EXPECT_EQ(v.decode(v.encode("it's 42, ok?  fine\n")), "it's 42, ok?  fine\n");
}

TEST(WhisperVocab, SanitizeUtf8) {
  EXPECT_EQ(sanitize_utf8("plain"), "plain");
  EXPECT_EQ(sanitize_utf8("\xc3\xa9t\xc3\xa9"), "\xc3\xa9t\xc3\xa9");              // été
  EXPECT_EQ(sanitize_utf8("a\xc3"), "a\xEF\xBF\xBD");                              // cut character
  EXPECT_EQ(sanitize_utf8("\xff"), "\xEF\xBF\xBD");
  EXPECT_EQ(sanitize_utf8("\xc0\xaf"), "\xEF\xBF\xBD\xEF\xBF\xBD");                // overlong '/'
  EXPECT_EQ(sanitize_utf8("\xed\xa0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"); // surrogate
  EXPECT_EQ(sanitize_utf8("\xf0\x9f\x8e\xb5"), "\xf0\x9f\x8e\xb5");                // a musical note emoji
}

TEST(WhisperVocab, ByteLevelStrings) {
  std::string b;
  EXPECT_TRUE(byte_level_to_bytes("\xc4\xa0the", b));  // "Ġthe"
  EXPECT_EQ(b, " the");
  EXPECT_TRUE(byte_level_to_bytes("\xc4\x8a", b));  // "Ċ"
  EXPECT_EQ(b, "\n");
  EXPECT_FALSE(byte_level_to_bytes("\xe4\xb8\xad", b));  // a CJK character is not a byte symbol
}

}  // namespace
}  // namespace nm
