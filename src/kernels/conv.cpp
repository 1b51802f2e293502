// 2-D convolution as im2col + a plain f32 GEMM loop, and Whisper's 1-D convolution.
// Correct and simple, not fast: the quantised matmul kernels are where speed lives.
#include <string>

#include "kernels/ops.h"

namespace nm::kernels {

void im2col_2d(const float* x, const Conv2dShape& s, float* cols, int ith, int nth) {
  const int64_t ho = s.h_out(), wo = s.w_out(), kk = s.c_in * s.kh * s.kw;
  const RowRange r = split_rows(ho * wo, ith, nth);
  for (int64_t p = r.begin; p < r.end; ++p) {
    const int64_t oy = p / wo, ox = p % wo;
    float* row = cols + p * kk;
    for (int64_t c = 0; c < s.c_in; ++c) {
      for (int64_t ky = 0; ky < s.kh; ++ky) {
        const int64_t iy = oy * s.stride_h - s.pad_h + ky;
        for (int64_t kx = 0; kx < s.kw; ++kx) {
          const int64_t ix = ox * s.stride_w - s.pad_w + kx;
          const bool in = iy >= 0 && iy < s.h_in && ix >= 0 && ix < s.w_in;
          *row++ = in ? x[(c * s.h_in + iy) * s.w_in + ix] : 0.0f;
        }
      }
    }
  }
}

void gemm_f32_nt(const float* a, const float* b, const float* bias, float* c, int64_t m,
                 int64_t n, int64_t k, int ith, int nth) {
  const RowRange r = split_rows(m, ith, nth);
  for (int64_t i = r.begin; i < r.end; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      float s = 0.0f;
      for (int64_t t = 0; t < k; ++t) s += a[i * k + t] * b[j * k + t];
      c[i * n + j] = s + (bias ? bias[i] : 0.0f);
    }
  }
}

Status conv2d(const float* x, const float* weight, const float* bias, const Conv2dShape& s,
              float* scratch, float* y) {
  if (s.c_in <= 0 || s.c_out <= 0 || s.kh <= 0 || s.kw <= 0 || s.stride_h <= 0 || s.stride_w <= 0 ||
      s.pad_h < 0 || s.pad_w < 0 || s.h_in + 2 * s.pad_h < s.kh || s.w_in + 2 * s.pad_w < s.kw)
    return error(ErrorCode::invalid_argument, "conv2d: kernel, stride or padding do not fit the input");
  im2col_2d(x, s, scratch, 0, 1);
  gemm_f32_nt(weight, scratch, bias, y, s.c_out, s.h_out() * s.w_out(), s.c_in * s.kh * s.kw, 0, 1);
  return Status::ok_status();
}

Status conv1d(const float* x, const float* weight, const float* bias, const Conv1dShape& s,
              float* y, int ith, int nth) {
  if (s.c_in <= 0 || s.c_out <= 0 || s.k <= 0 || s.stride <= 0 || s.pad < 0 || s.l_in + 2 * s.pad < s.k)  // (negative)/stride truncates toward 0
    return error(ErrorCode::invalid_argument, "conv1d: kernel " + std::to_string(s.k) +
                 ", stride or padding do not fit input length " + std::to_string(s.l_in));
  const int64_t lo = s.l_out();
  const RowRange r = split_rows(s.c_out, ith, nth);
  for (int64_t o = r.begin; o < r.end; ++o) {
    for (int64_t t = 0; t < lo; ++t) {
      float acc = 0.0f;
      for (int64_t c = 0; c < s.c_in; ++c) {
        const float* w = weight + (o * s.c_in + c) * s.k;
        const float* xr = x + c * s.l_in;
        for (int64_t j = 0; j < s.k; ++j) {
          const int64_t ix = t * s.stride - s.pad + j;
          if (ix >= 0 && ix < s.l_in) acc += w[j] * xr[ix];
        }
      }
      y[o * lo + t] = acc + (bias ? bias[o] : 0.0f);
    }
  }
  return Status::ok_status();
}

}  // namespace nm::kernels
