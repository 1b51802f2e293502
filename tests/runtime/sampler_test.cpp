#include "runtime/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <vector>

namespace nm {
namespace {

SamplerParams plain(float temp) {
  SamplerParams p;
  p.temperature = temp;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.repeat_penalty = 1.0f;
  return p;
}

// Draw counts for `n` samples from fixed logits.
std::vector<int> histogram(Sampler& s, const std::vector<float>& logits, int n) {
  std::vector<int> counts(logits.size(), 0);
  for (int i = 0; i < n; ++i) {
    std::vector<float> l = logits;
    counts[(size_t)s.sample(l.data())]++;
  }
  return counts;
}

// Expected probabilities from the softmax definition, restricted to `keep`.
std::vector<double> softmax_ref(const std::vector<float>& logits, double temp, const std::vector<int>& keep) {
  std::vector<double> p(logits.size(), 0.0);
  double sum = 0;
  for (int i : keep) sum += p[(size_t)i] = std::exp(logits[(size_t)i] / temp);
  for (double& v : p) v /= sum;
  return p;
}

// Pearson chi-square over the kept categories; df = k - 1. A bound of df + 6*sqrt(2 df) + 10
// fails a correct sampler with probability far below 1e-6.
void expect_matches(const std::vector<int>& counts, const std::vector<double>& p, int n) {
  double chi2 = 0;
  int df = -1;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] == 0) {
      EXPECT_EQ(counts[i], 0) << "token " << i << " should have been filtered out";
      continue;
    }
    const double e = p[i] * n;
    chi2 += (counts[i] - e) * (counts[i] - e) / e;
    df++;
  }
  EXPECT_LT(chi2, df + 6 * std::sqrt(2.0 * df) + 10) << "frequencies do not follow the expected distribution";
}

const std::vector<float> kLogits = {2.0f, 1.5f, 0.5f, 0.0f, -1.0f, -3.0f, 1.0f, -0.5f};

TEST(Sampler, GreedyIsArgmax) {
  Sampler s(plain(0.0f), 8);
  std::vector<float> l = kLogits;
  EXPECT_EQ(s.sample(l.data()), 0);
  l[5] = 9.0f;
  EXPECT_EQ(s.sample(l.data()), 5);
}

TEST(Sampler, TemperatureFollowsSoftmax) {
  for (float temp : {0.5f, 1.0f, 1.7f}) {
    Sampler s(plain(temp), 8);
    const int n = 200000;
    expect_matches(histogram(s, kLogits, n), softmax_ref(kLogits, temp, {0, 1, 2, 3, 4, 5, 6, 7}), n);
  }
}

TEST(Sampler, TopKKeepsTheKBest) {
  SamplerParams p = plain(1.0f);
  p.top_k = 3;
  Sampler s(p, 8);
  const int n = 100000;
  expect_matches(histogram(s, kLogits, n), softmax_ref(kLogits, 1.0, {0, 1, 6}), n);
}

TEST(Sampler, TopPKeepsTheSmallestPrefixReachingP) {
  // p = softmax(kLogits): 0.405, 0.245, 0.149 (id 6), 0.090, ...; cumulative 0.650 < 0.7 ≤ 0.799
  // → top_p 0.7 keeps ids 0, 1, 6.
  SamplerParams p = plain(1.0f);
  p.top_p = 0.7f;
  Sampler s(p, 8);
  const int n = 100000;
  expect_matches(histogram(s, kLogits, n), softmax_ref(kLogits, 1.0, {0, 1, 6}), n);
}

TEST(Sampler, MinPKeepsTokensNearTheBest) {
  // p_max = 0.405; min_p 0.3 → threshold 0.121: ids 0 (0.405), 1 (0.245), 6 (0.149).
  SamplerParams p = plain(1.0f);
  p.min_p = 0.3f;
  Sampler s(p, 8);
  const int n = 100000;
  expect_matches(histogram(s, kLogits, n), softmax_ref(kLogits, 1.0, {0, 1, 6}), n);
}

TEST(Sampler, RepetitionPenaltyScalesRecentTokensOnce) {
  SamplerParams p = plain(0.0f);
  p.repeat_penalty = 2.0f;
  p.repeat_last_n = 2;
  Sampler s(p, 8);
  s.accept(0);
  s.accept(0);
  s.accept(4);  // window of 2: {0, 4}
  std::vector<float> l = kLogits;
  EXPECT_EQ(s.sample(l.data()), 1);  // token 0 fell from 2.0 to 1.0, token 1 (1.5) wins
  EXPECT_FLOAT_EQ(l[0], 1.0f);
  EXPECT_FLOAT_EQ(l[4], -2.0f);
  EXPECT_FLOAT_EQ(l[1], 1.5f);
}

TEST(Sampler, SameSeedSameTokens) {
  SamplerParams p = plain(1.0f);
  p.seed = 1234;
  Sampler a(p, 8), b(p, 8);
  std::vector<int32_t> ta, tb;
  for (int i = 0; i < 64; ++i) {
    std::vector<float> la = kLogits, lb = kLogits;
    ta.push_back(a.sample(la.data()));
    tb.push_back(b.sample(lb.data()));
  }
  EXPECT_EQ(ta, tb);
  a.reset();
  std::vector<float> l = kLogits;
  EXPECT_EQ(a.sample(l.data()), ta[0]);
}

}  // namespace
}  // namespace nm
