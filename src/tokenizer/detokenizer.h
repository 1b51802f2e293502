// StreamingDetokenizer: turns generated tokens into displayable UTF-8 text one token at a
// time. Bytes of a character split across tokens (e.g. an emoji as four <0xXX> byte
// tokens) are held back until complete; bytes that can never form a character become
// U+FFFD. One per output stream; not thread-safe; borrows the Tokenizer (must outlive it).
#pragma once

#include <string>

#include "tokenizer/tokenizer.h"

namespace nm {

class StreamingDetokenizer {
 public:
  explicit StreamingDetokenizer(const Tokenizer& tokenizer, DecodeOptions options = {})
      : tok_(tokenizer), options_(options) {}

  // Returns the text that became complete with this token (possibly empty).
  std::string push(TokenId id);
  // Returns the held-back incomplete sequence as U+FFFD (if any) and resets the stream.
  std::string finish();

 private:
  const Tokenizer& tok_;
  DecodeOptions options_;
  bool first_piece_ = true;
  std::string pending_;  // bytes of an incomplete UTF-8 sequence
};

}  // namespace nm
