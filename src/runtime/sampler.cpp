#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <unordered_set>

namespace nm {

namespace {

std::string show(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

}  // namespace

Status check_sampler_params(const SamplerParams& p) {
  auto bad = [](const char* what, double v, const char* range) {
    return error(ErrorCode::invalid_argument, std::string(what) + " " + show(v) + " is out of range: " + range);
  };
  if (!std::isfinite(p.temperature) || p.temperature < 0) {
    return bad("temperature", p.temperature, "0 (greedy) or a finite positive number");
  }
  if (p.top_k < 0) return bad("top_k", p.top_k, "0 (off) or a positive count");
  if (!(p.top_p >= 0 && p.top_p <= 1)) return bad("top_p", p.top_p, "0 to 1 (1 = off)");
  if (!(p.min_p >= 0 && p.min_p <= 1)) return bad("min_p", p.min_p, "0 (off) to 1");
  if (!std::isfinite(p.repeat_penalty) || p.repeat_penalty <= 0) {
    return bad("repeat_penalty", p.repeat_penalty, "a finite number above 0 (1 = off)");
  }
  if (p.repeat_last_n < 0) return bad("repeat_last_n", p.repeat_last_n, "0 (off) or a positive count of tokens");
  return Status();
}

Sampler::Sampler(SamplerParams params, int n_vocab)
    : params_(params), n_vocab_(n_vocab), rng_(params.seed) {
  cand_.reserve((size_t)n_vocab);
}

void Sampler::reset() {
  recent_.clear();
  rng_.seed(params_.seed);
}

void Sampler::accept(int32_t token) {
  if (params_.repeat_last_n <= 0) return;
  recent_.push_back(token);
  while ((int)recent_.size() > params_.repeat_last_n) recent_.pop_front();
}

void Sampler::apply_repetition_penalty(float* logits) const {
  if (params_.repeat_penalty == 1.0f || recent_.empty()) return;
  // Each distinct recent token is penalised once, however often it occurred.
  std::unordered_set<int32_t> seen(recent_.begin(), recent_.end());
  for (int32_t t : seen) {
    if (t < 0 || t >= n_vocab_) continue;
    float& l = logits[t];
    l = l > 0 ? l / params_.repeat_penalty : l * params_.repeat_penalty;
  }
}

int32_t Sampler::sample(float* logits) {
  apply_repetition_penalty(logits);
  if (params_.temperature <= 0.0f) {
    return (int32_t)(std::max_element(logits, logits + n_vocab_) - logits);
  }

  cand_.clear();
  for (int i = 0; i < n_vocab_; ++i) cand_.push_back({i, logits[i], 0.0f});
  auto by_logit = [](const Candidate& a, const Candidate& b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
  };
  size_t n = cand_.size();
  if (params_.top_k > 0 && (size_t)params_.top_k < n) {
    std::partial_sort(cand_.begin(), cand_.begin() + params_.top_k, cand_.end(), by_logit);
    n = (size_t)params_.top_k;
  } else {
    std::sort(cand_.begin(), cand_.end(), by_logit);
  }

  // Probabilities of the survivors at temperature 1 decide top-p and min-p.
  auto softmax = [&](float temp) {
    const float max_l = cand_[0].logit;
    double sum = 0;
    for (size_t i = 0; i < n; ++i) sum += cand_[i].p = std::exp((cand_[i].logit - max_l) / temp);
    for (size_t i = 0; i < n; ++i) cand_[i].p = (float)(cand_[i].p / sum);
  };
  softmax(1.0f);
  if (params_.top_p < 1.0f) {
    double cum = 0;
    size_t keep = n;
    for (size_t i = 0; i < n; ++i) {
      cum += cand_[i].p;
      if (cum >= params_.top_p) { keep = i + 1; break; }
    }
    n = keep;
  }
  if (params_.min_p > 0.0f) {
    const float threshold = params_.min_p * cand_[0].p;
    size_t keep = 1;
    while (keep < n && cand_[keep].p >= threshold) ++keep;
    n = keep;
  }

  softmax(params_.temperature);
  // Inverse-CDF draw with a 53-bit uniform; the last candidate absorbs rounding.
  const double u = (double)(rng_() >> 11) * (1.0 / 9007199254740992.0);
  double cum = 0;
  for (size_t i = 0; i + 1 < n; ++i) {
    cum += cand_[i].p;
    if (u < cum) return cand_[i].id;
  }
  return cand_[n - 1].id;
}

}  // namespace nm
