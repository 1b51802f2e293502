// rms_norm and layer_norm: per-row normalisation with optional fused weight / bias.
#include <cmath>

#include "kernels/ops.h"
#include "kernels/vec.h"

namespace nm::kernels {

void rms_norm(const float* x, float* y, const float* w, int64_t n_rows, int64_t n, float eps,
              Isa isa, int ith, int nth) {
  const VecOps& v = vec_ops(isa);
  const RowRange r = split_rows(n_rows, ith, nth);
  for (int64_t row = r.begin; row < r.end; ++row) {
    const float* xr = x + row * n;
    float* yr = y + row * n;
    // mean of squares in double: cheap per row and keeps long rows accurate.
    const double ms = (double)v.sum_sq(xr, n) / (double)n;
    const float s = (float)(1.0 / std::sqrt(ms + (double)eps));
    if (w) {
      for (int64_t i = 0; i < n; ++i) yr[i] = xr[i] * s * w[i];
    } else {
      if (yr != xr) for (int64_t i = 0; i < n; ++i) yr[i] = xr[i];
      v.scale(s, yr, n);
    }
  }
}

void layer_norm(const float* x, float* y, const float* w, const float* b, int64_t n_rows,
                int64_t n, float eps, Isa isa, int ith, int nth) {
  const VecOps& v = vec_ops(isa);
  const RowRange r = split_rows(n_rows, ith, nth);
  for (int64_t row = r.begin; row < r.end; ++row) {
    const float* xr = x + row * n;
    float* yr = y + row * n;
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) sum += xr[i];
    const float mean = (float)(sum / (double)n);
    for (int64_t i = 0; i < n; ++i) yr[i] = xr[i] - mean;
    const double var = (double)v.sum_sq(yr, n) / (double)n;
    const float s = (float)(1.0 / std::sqrt(var + (double)eps));
    v.scale(s, yr, n);
    if (w) for (int64_t i = 0; i < n; ++i) yr[i] *= w[i];
    if (b) for (int64_t i = 0; i < n; ++i) yr[i] += b[i];
  }
}

}  // namespace nm::kernels
