// Rotary position embedding (Su et al. 2021) in ggml's two layouts: normal (adjacent
// pairs) and neox (first half with second half of the rotated dims).
#include <cmath>
#include <string>
#include <vector>

#include "kernels/ops.h"

namespace nm::kernels {

Status rope(const float* x, float* y, const int32_t* pos, int64_t n_tokens, int64_t n_head,
            int64_t head_dim, const RopeParams& p, Isa /*isa*/, int ith, int nth) {
  if (p.n_rot <= 0 || p.n_rot % 2 != 0 || p.n_rot > head_dim) {
    return error(ErrorCode::invalid_argument, "rope: n_rot " + std::to_string(p.n_rot) +
                 " must be even, positive and <= head_dim " + std::to_string(head_dim));
  }
  const int64_t half = p.n_rot / 2;
  // theta_i = pos * freq_scale * base^(-2i/n_rot) / factor_i; the inverse frequencies are
  // per-dimension constants computed once, in double to keep theta accurate at long pos.
  std::vector<double> inv_freq(half);
  for (int64_t i = 0; i < half; ++i) {
    inv_freq[i] = (double)p.freq_scale * std::pow((double)p.freq_base, -2.0 * (double)i / p.n_rot);
    if (p.freq_factors) inv_freq[i] /= (double)p.freq_factors[i];
  }
  std::vector<float> cs(half), sn(half);
  const RowRange r = split_rows(n_tokens, ith, nth);
  for (int64_t t = r.begin; t < r.end; ++t) {
    for (int64_t i = 0; i < half; ++i) {
      const double theta = (double)pos[t] * inv_freq[i];
      cs[i] = (float)std::cos(theta);
      sn[i] = (float)std::sin(theta);
    }
    for (int64_t h = 0; h < n_head; ++h) {
      const float* xr = x + (t * n_head + h) * head_dim;
      float* yr = y + (t * n_head + h) * head_dim;
      for (int64_t i = 0; i < half; ++i) {
        const int64_t i0 = p.mode == RopeMode::normal ? 2 * i : i;
        const int64_t i1 = p.mode == RopeMode::normal ? 2 * i + 1 : i + half;
        const float a = xr[i0], b = xr[i1];
        yr[i0] = a * cs[i] - b * sn[i];
        yr[i1] = a * sn[i] + b * cs[i];
      }
      if (yr != xr) for (int64_t i = p.n_rot; i < head_dim; ++i) yr[i] = xr[i];
    }
  }
  return Status::ok_status();
}

}  // namespace nm::kernels
