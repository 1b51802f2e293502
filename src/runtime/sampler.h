// Sampler: turns one row of logits into the next token. Greedy, or a chain in the
// order llama.cpp users know: repetition penalty → top-k → top-p → min-p →
// temperature → draw from a seeded generator. Stateful (recent tokens, RNG);
// one sampler per conversation, not thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <random>
#include <vector>

#include "core/status.h"

namespace nm {

struct SamplerParams {
  float temperature = 0.8f;   // <= 0 → greedy (argmax)
  int top_k = 40;             // <= 0 → off
  float top_p = 0.95f;        // >= 1 → off
  float min_p = 0.05f;        // <= 0 → off; keeps tokens with p >= min_p * p_max
  float repeat_penalty = 1.0f;// 1 → off; divides positive / multiplies negative logits
  int repeat_last_n = 64;     // how many recent tokens the penalty looks at
  uint64_t seed = 0xC0FFEE;
};

// invalid_argument naming the first parameter outside its range (NaN and infinities
// included): temperature >= 0, top_k >= 0, top_p and min_p in [0, 1], repeat_penalty > 0,
// repeat_last_n >= 0.
Status check_sampler_params(const SamplerParams& params);

class Sampler {
 public:
  Sampler(SamplerParams params, int n_vocab);

  // Picks a token from `logits` (n_vocab values; modified in place by the penalty).
  int32_t sample(float* logits);
  // Records a token that entered the context (prompt or generated) for the penalty.
  void accept(int32_t token);
  void reset();
  const SamplerParams& params() const { return params_; }

 private:
  struct Candidate { int32_t id; float logit; float p; };
  void apply_repetition_penalty(float* logits) const;

  SamplerParams params_;
  int n_vocab_;
  std::deque<int32_t> recent_;
  std::mt19937_64 rng_;
  std::vector<Candidate> cand_;
};

}  // namespace nm
