// Streaming detokenization: emit all complete characters, keep an incomplete tail.
#include "tokenizer/detokenizer.h"

#include "tokenizer/unicode.h"

namespace nm {

std::string StreamingDetokenizer::push(TokenId id) {
  std::string piece = tok_.token_to_piece(id, options_.render_special);
  if (first_piece_ && !piece.empty() && tok_.token_type(id) != TokenType::control) {
    if (options_.strip_space_prefix && tok_.is_spm() && tok_.vocab().add_space_prefix && piece[0] == ' ') {
      piece.erase(0, 1);
    }
    first_piece_ = false;
  }
  pending_ += piece;
  const size_t keep = utf8_incomplete_tail(pending_);
  std::string out = utf8_sanitize(std::string_view(pending_).substr(0, pending_.size() - keep));
  pending_.erase(0, pending_.size() - keep);
  return out;
}

std::string StreamingDetokenizer::finish() {
  std::string out = utf8_sanitize(pending_);
  pending_.clear();
  first_piece_ = true;
  return out;
}

}  // namespace nm
