#include "runtime/text_stream.h"

#include <algorithm>

namespace nm {
namespace {

// Bytes at the end of `text` that are a proper prefix of some stop string: they may still
// become one, so they are not shown yet.
size_t held_back(const std::string& text, const std::vector<std::string>& stops) {
  size_t hold = 0;
  for (const std::string& s : stops) {
    for (size_t k = std::min(s.size() - 1, text.size()); k > hold; --k) {
      if (text.compare(text.size() - k, k, s, 0, k) == 0) {
        hold = k;
        break;
      }
    }
  }
  return hold;
}

}  // namespace

TextStream::TextStream(const Tokenizer& tok, std::vector<TokenId> stop_tokens, std::vector<std::string> stop_strings,
                       int n_predict, bool ignore_eos)
    : tok_(tok), stop_tokens_(std::move(stop_tokens)), n_predict_(n_predict), ignore_eos_(ignore_eos), detok_(tok) {
  for (std::string& s : stop_strings)
    if (!s.empty()) stop_strings_.push_back(std::move(s));  // an empty stop string would end every answer at once
  if (n_predict_ <= 0) finished_ = FinishReason::length;
}

std::string TextStream::release(size_t ready) {
  if (ready <= shown_) return {};
  std::string piece = text_.substr(shown_, ready - shown_);
  shown_ = ready;
  return piece;
}

std::string TextStream::push(TokenId token) {
  if (finished_ != FinishReason::none) return {};
  const bool end_token =
      tok_.is_eog(token) || std::find(stop_tokens_.begin(), stop_tokens_.end(), token) != stop_tokens_.end();
  if (end_token && !ignore_eos_) {
    finished_ = FinishReason::stop;
    text_ += detok_.finish();  // what was held back can no longer become a stop string
    return release(text_.size());
  }
  ++n_generated_;
  // A stop string may start inside text that was held back: search from the first byte
  // that could still begin one.
  const size_t from = shown_;
  text_ += detok_.push(token);
  size_t stop_at = std::string::npos;
  for (const std::string& s : stop_strings_) stop_at = std::min(stop_at, text_.find(s, from));
  if (stop_at != std::string::npos) {
    text_.resize(stop_at);
    finished_ = FinishReason::stop;
    return release(text_.size());
  }
  if (n_generated_ >= n_predict_) {
    finished_ = FinishReason::length;
    text_ += detok_.finish();
    return release(text_.size());
  }
  return release(text_.size() - held_back(text_, stop_strings_));
}

std::string TextStream::flush(FinishReason reason) {
  if (finished_ == FinishReason::none) {
    finished_ = reason;
    text_ += detok_.finish();
  }
  return release(text_.size());
}

}  // namespace nm
