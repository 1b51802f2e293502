// Element and row ops of speech synthesis (VITS): ReLU, tanh, leaky ReLU, the WaveNet gate
// and the channel flip of normalising flows. Plain loops the compiler vectorises; they are
// a small share of a VITS run (the convolutions, as matmuls, are the rest).
#include <cmath>

#include "kernels/ops.h"

namespace nm::kernels {

void relu(const float* x, float* y, int64_t n, int ith, int nth) {
  const RowRange r = split_elems(n, ith, nth);
  for (int64_t i = r.begin; i < r.end; ++i) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void tanh(const float* x, float* y, int64_t n, int ith, int nth) {
  const RowRange r = split_elems(n, ith, nth);
  for (int64_t i = r.begin; i < r.end; ++i) y[i] = std::tanh(x[i]);
}

void leaky_relu(const float* x, float* y, int64_t n, float slope, int ith, int nth) {
  const RowRange r = split_elems(n, ith, nth);
  for (int64_t i = r.begin; i < r.end; ++i) y[i] = x[i] >= 0.0f ? x[i] : x[i] * slope;
}

void flip_rows(const float* x, float* y, int64_t n_rows, int64_t n, int ith, int nth) {
  const RowRange r = split_rows(n_rows, ith, nth);
  for (int64_t row = r.begin; row < r.end; ++row) {
    const float* xr = x + row * n;
    float* yr = y + row * n;
    for (int64_t i = 0; i < n; ++i) yr[i] = xr[n - 1 - i];
  }
}

void gate_tanh_sigmoid(const float* x, float* y, int64_t n_rows, int64_t h, int ith, int nth) {
  const RowRange r = split_rows(n_rows, ith, nth);
  for (int64_t row = r.begin; row < r.end; ++row) {
    const float* a = x + row * 2 * h;
    const float* b = a + h;
    float* yr = y + row * h;
    for (int64_t i = 0; i < h; ++i) yr[i] = std::tanh(a[i]) / (1.0f + std::exp(-b[i]));
  }
}

}  // namespace nm::kernels
