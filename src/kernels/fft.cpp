#include "kernels/fft.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace nm::kernels {

using cf = std::complex<float>;

Result<FftPlan> FftPlan::create(int n) {
  if (n < 1 || n > (1 << 20)) return error(ErrorCode::invalid_argument, "FFT length " + std::to_string(n) + " out of range");
  FftPlan p;
  p.n_ = n;
  int m = n;
  for (int f : {4, 2, 3, 5}) {
    while (m % f == 0) {
      p.factors_.push_back(f);
      m /= f;
    }
  }
  for (int f = 7; m > 1; f += 2) {
    while (m % f == 0) {
      p.factors_.push_back(f);
      m /= f;
    }
  }
  p.twiddle_.resize((size_t)n);
  for (int j = 0; j < n; ++j) {
    const double a = -2.0 * std::numbers::pi * j / n;
    p.twiddle_[(size_t)j] = cf((float)std::cos(a), (float)std::sin(a));
  }
  return p;
}

// Decimation in time: the n inputs at `in`, `in + stride`, ... split into p interleaved
// sub-sequences of m = n/p, each transformed into out[q*m .. q*m+m), then combined:
// X[k + u*m] = sum_q W_n^(q*(k + u*m)) Y_q[k].
void FftPlan::pass(const cf* in, cf* out, int n, int stride, int level, cf* tmp) const {
  if (n == 1) {
    out[0] = in[0];
    return;
  }
  const int p = factors_[(size_t)level], m = n / p;
  for (int q = 0; q < p; ++q) pass(in + (size_t)q * stride, out + (size_t)q * m, m, stride * p, level + 1, tmp);
  const int tw_step = n_ / n;  // W_n^j = twiddle_[j * tw_step]
  if (p == 2) {
    for (int k = 0; k < m; ++k) {
      const cf a = out[k], b = out[k + m] * twiddle_[(size_t)k * tw_step];
      out[k] = a + b;
      out[k + m] = a - b;
    }
    return;
  }
  if (p == 4) {
    for (int k = 0; k < m; ++k) {
      const cf a = out[k];
      const cf b = out[k + m] * twiddle_[(size_t)k * tw_step];
      const cf c = out[k + 2 * m] * twiddle_[(size_t)2 * k * tw_step];
      const cf d = out[k + 3 * m] * twiddle_[(size_t)3 * k * tw_step];
      const cf s0 = a + c, s1 = a - c, s2 = b + d, s3 = b - d;
      const cf s3_mi(s3.imag(), -s3.real());  // -i * s3
      out[k] = s0 + s2;
      out[k + m] = s1 + s3_mi;
      out[k + 2 * m] = s0 - s2;
      out[k + 3 * m] = s1 - s3_mi;
    }
    return;
  }
  for (int k = 0; k < m; ++k) {  // generic radix p: O(p^2) per group
    for (int q = 0; q < p; ++q) tmp[q] = out[k + q * m];
    for (int u = 0; u < p; ++u) {
      const int idx = k + u * m;
      cf s = tmp[0];
      for (int q = 1; q < p; ++q) s += tmp[q] * twiddle_[(size_t)(((int64_t)q * idx) % n) * tw_step];
      out[idx] = s;
    }
  }
}

void FftPlan::forward(const cf* in, cf* out, std::vector<cf>& scratch) const {
  int max_p = 1;
  for (int f : factors_) max_p = std::max(max_p, f);
  if (scratch.size() < (size_t)max_p) scratch.resize((size_t)max_p);
  pass(in, out, n_, 1, 0, scratch.data());
}

void FftPlan::power_spectrum(const float* in, float* power, std::vector<cf>& scratch) const {
  int max_p = 1;
  for (int f : factors_) max_p = std::max(max_p, f);
  const size_t n = (size_t)n_;
  if (scratch.size() < 2 * n + (size_t)max_p) scratch.resize(2 * n + (size_t)max_p);
  cf* x = scratch.data();
  cf* y = x + n;
  for (size_t j = 0; j < n; ++j) x[j] = cf(in[j], 0.0f);
  pass(x, y, n_, 1, 0, y + n);
  for (size_t k = 0; k <= n / 2; ++k) power[k] = std::norm(y[k]);
}

}  // namespace nm::kernels
