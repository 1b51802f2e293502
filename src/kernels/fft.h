// Fast Fourier transform of any length (mixed radix: 4, 2, 3, 5, then any remaining
// prime by its own butterfly), planned once per length and run many times — the audio
// front end transforms thousands of 400-sample frames (400 = 4·4·5·5) per 30 s.
// Float data, twiddles computed in double. Scalar code: the whole front end is ~1% of
// transcription time, so it has no SIMD variant.
// Thread-safety: a plan is immutable after create(); run() from any number of threads,
// each with its own scratch.
#pragma once

#include <complex>
#include <cstdint>
#include <vector>

#include "core/status.h"

namespace nm::kernels {

class FftPlan {
 public:
  // Lengths 1 .. 2^20.
  static Result<FftPlan> create(int n);
  int size() const { return n_; }
  // out[k] = sum_j in[j] exp(-2 pi i j k / n), k < n. in and out must not overlap;
  // scratch is resized as needed (reuse it across calls).
  void forward(const std::complex<float>* in, std::complex<float>* out,
               std::vector<std::complex<float>>& scratch) const;
  // |X_k|^2 for k = 0 .. n/2 of a real input of length n.
  void power_spectrum(const float* in, float* power, std::vector<std::complex<float>>& scratch) const;

 private:
  void pass(const std::complex<float>* in, std::complex<float>* out, int n, int stride, int level,
            std::complex<float>* tmp) const;
  int n_ = 0;
  std::vector<int> factors_;
  std::vector<std::complex<float>> twiddle_;  // exp(-2 pi i j / n), j < n
};

}  // namespace nm::kernels
