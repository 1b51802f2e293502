// kernels::FftPlan against a direct DFT in double, for the audio front end's length (400)
// and lengths that exercise every radix path (powers of 2 and 4, 3, 5, primes 7 and 13).
// Bound: a float FFT of length n has error ~eps32 * log2(n) * ||x||; 1e-5 * ||x|| * sqrt(n)
// holds with a wide margin (measured < 1e-6 relative).
#include <cmath>
#include <complex>
#include <numbers>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/fft.h"

namespace nm::kernels {
namespace {

TEST(Fft, MatchesDirectDftInDouble) {
  std::mt19937 gen(1234);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (int n : {1, 2, 3, 4, 5, 7, 8, 12, 13, 16, 60, 64, 100, 210, 400, 512, 1001}) {
    auto plan = FftPlan::create(n);
    ASSERT_TRUE(plan.ok());
    std::vector<std::complex<float>> x((size_t)n), y((size_t)n), scratch;
    double norm = 0;
    for (auto& v : x) {
      v = {nd(gen), nd(gen)};
      norm += std::norm(std::complex<double>(v));
    }
    plan->forward(x.data(), y.data(), scratch);
    double max_err = 0;
    for (int k = 0; k < n; ++k) {
      std::complex<double> s = 0;
      for (int j = 0; j < n; ++j) {
        const double a = -2.0 * std::numbers::pi * (double)j * k / n;
        s += std::complex<double>(x[(size_t)j]) * std::complex<double>(std::cos(a), std::sin(a));
      }
      max_err = std::max(max_err, std::abs(s - std::complex<double>(y[(size_t)k])));
    }
    EXPECT_LT(max_err, 1e-5 * std::sqrt(norm) * std::sqrt((double)n)) << "n = " << n;
  }
}

TEST(Fft, PowerSpectrumOfARealFrame) {
  const int n = 400;
  auto plan = FftPlan::create(n);
  ASSERT_TRUE(plan.ok());
  std::vector<float> x((size_t)n), p((size_t)n / 2 + 1);
  for (int i = 0; i < n; ++i) x[(size_t)i] = (float)std::cos(2 * std::numbers::pi * 25 * i / n);  // bin 25
  std::vector<std::complex<float>> scratch;
  plan->power_spectrum(x.data(), p.data(), scratch);
  for (int k = 0; k <= n / 2; ++k) EXPECT_NEAR(p[(size_t)k], k == 25 ? (n / 2.0) * (n / 2.0) : 0.0, 1e-1) << k;
  EXPECT_FALSE(FftPlan::create(0).ok());
}

}  // namespace
}  // namespace nm::kernels
