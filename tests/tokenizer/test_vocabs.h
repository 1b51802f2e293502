// Starting points for the tiny hand-made vocabs of the tokenizer tests and fuzz target.
#pragma once

#include <cstdio>

#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace nm::test {

// SentencePiece: 0 <unk>, 1 <s> (BOS, added), 2 </s> (EOS), 3..258 <0x00>..<0xFF>, scores 0.
inline Vocab spm_base_vocab() {
  Vocab v;
  v.model = "llama";
  v.tokens = {"<unk>", "<s>", "</s>"};
  v.token_type = {2, 3, 3};
  for (int b = 0; b < 256; ++b) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "<0x%02X>", b);
    v.tokens.push_back(hex);
    v.token_type.push_back(6);
  }
  v.scores.assign(v.tokens.size(), 0.0f);
  v.bos_token_id = 1;
  v.eos_token_id = 2;
  v.unknown_token_id = 0;
  v.add_bos_token = true;
  return v;
}

// Byte-level BPE: ids 0..255 = the GPT-2 stand-in character of byte b, all normal.
inline Vocab byte_level_base_vocab(const char* pre) {
  Vocab v;
  v.model = "gpt2";
  v.pre = pre;
  const auto map = gpt2_byte_to_codepoint();
  for (int b = 0; b < 256; ++b) v.tokens.push_back(utf8_encode(map[b]));
  v.token_type.assign(v.tokens.size(), 1);
  return v;
}

}  // namespace nm::test
