// TextStream: turns the tokens a generation loop samples into the text a user sees, and
// decides when the answer is over: an end-of-generation or template stop token, a stop
// string (cut from the text, never shown, even in part), or the token budget. Text that
// could still grow into a stop string is held back until it cannot. Used by the chat loop
// (TextSession::generate) and by step-wise generation (servers, one token per call).
// One per answer; not thread-safe.
#pragma once

#include <string>
#include <vector>

#include "tokenizer/detokenizer.h"
#include "tokenizer/tokenizer.h"

namespace nm {

enum class FinishReason { none, stop, length };

class TextStream {
 public:
  // ignore_eos: end-of-generation and stop tokens do not end the answer (benchmarks that
  // need a fixed token count); stop strings and the budget still do.
  TextStream(const Tokenizer& tok, std::vector<TokenId> stop_tokens, std::vector<std::string> stop_strings,
             int n_predict, bool ignore_eos = false);

  // Takes one sampled token; returns the text that became safe to show (possibly empty).
  // After the answer finished (finished() != none) the token is ignored.
  std::string push(TokenId token);
  // Ends the answer early (the caller cancelled, the context is full): returns what was
  // held back, as push() would have once it could not be a stop string any more.
  std::string flush(FinishReason reason);
  FinishReason finished() const { return finished_; }
  // Tokens that became part of the answer (an end token is not counted).
  int n_generated() const { return n_generated_; }
  // The whole answer so far, stop string removed (may include held-back text).
  const std::string& text() const { return text_; }

 private:
  std::string release(size_t ready);

  const Tokenizer& tok_;
  std::vector<TokenId> stop_tokens_;
  std::vector<std::string> stop_strings_;
  int n_predict_;
  bool ignore_eos_;
  StreamingDetokenizer detok_;
  std::string text_;
  size_t shown_ = 0;
  int n_generated_ = 0;
  FinishReason finished_ = FinishReason::none;
};

}  // namespace nm
