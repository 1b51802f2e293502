// 1-D convolutions over rows of channels (one row per frame), as VITS runs them: unfold1d
// turns a k-tap (dilated, strided, padded) convolution into a matmul over columns, so the
// heavy arithmetic runs in the matmul kernels; col2im1d is the overlap-add that turns a
// matmul into a transposed convolution; conv1d_depthwise is the grouped (groups = channels)
// convolution of the duration predictor, small enough to run directly.
#include "kernels/ops.h"

#include <cstring>

namespace nm::kernels {

void unfold1d(const float* x, const Conv1dRows& s, float slope, float* cols, int ith, int nth) {
  const int64_t t_out = s.t_out(), ck = s.c * s.k;
  const RowRange r = split_rows(t_out, ith, nth);
  for (int64_t t = r.begin; t < r.end; ++t) {
    float* row = cols + t * ck;
    for (int64_t j = 0; j < s.k; ++j) {
      const int64_t src = t * s.stride - s.pad + j * s.dilation;
      float* dst = row + j * s.c;
      if (src < 0 || src >= s.t_in) {
        std::memset(dst, 0, (size_t)s.c * sizeof(float));
      } else if (slope == 1.0f) {
        std::memcpy(dst, x + src * s.c, (size_t)s.c * sizeof(float));
      } else {
        const float* xr = x + src * s.c;
        for (int64_t c = 0; c < s.c; ++c) dst[c] = xr[c] >= 0.0f ? xr[c] : xr[c] * slope;
      }
    }
  }
}

void conv1d_depthwise(const float* x, const float* w, const Conv1dRows& s, float* y, int ith, int nth) {
  const int64_t t_out = s.t_out();
  const RowRange r = split_rows(t_out, ith, nth);
  for (int64_t t = r.begin; t < r.end; ++t) {
    float* yr = y + t * s.c;
    for (int64_t c = 0; c < s.c; ++c) yr[c] = 0.0f;
    for (int64_t j = 0; j < s.k; ++j) {
      const int64_t src = t * s.stride - s.pad + j * s.dilation;
      if (src < 0 || src >= s.t_in) continue;
      const float* xr = x + src * s.c;
      for (int64_t c = 0; c < s.c; ++c) yr[c] += w[c * s.k + j] * xr[c];
    }
  }
}

void col2im1d(const float* cols, int64_t t_in, int64_t oc, int64_t k, int64_t stride, int64_t pad,
              float* y, int ith, int nth) {
  const int64_t t_out = (t_in - 1) * stride - 2 * pad + k;
  const RowRange r = split_rows(t_out, ith, nth);
  for (int64_t u = r.begin; u < r.end; ++u) {
    float* yr = y + u * oc;
    std::memset(yr, 0, (size_t)oc * sizeof(float));
    // Output u gathers tap j of input t where t*stride + j = u + pad.
    for (int64_t j = (u + pad) % stride; j < k; j += stride) {
      const int64_t t = (u + pad - j) / stride;
      if (t < 0 || t >= t_in) continue;
      const float* cr = cols + t * oc * k + j;
      for (int64_t o = 0; o < oc; ++o) yr[o] += cr[o * k];
    }
  }
}

}  // namespace nm::kernels
