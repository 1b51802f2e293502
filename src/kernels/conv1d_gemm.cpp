// conv1d_gemm(): the padded, activated copy of the input, then gemm_f32 with one tap per
// k-slice of the weights (conv1d_gemm.h).
#include "kernels/conv1d_gemm.h"

#include <algorithm>
#include <cstring>

#include "kernels/gemm_f32.h"

namespace nm {
namespace {

// Branch-free and with no aliasing, so that it vectorises: max(v, 0) + slope * min(v, 0)
// is v or slope * v exactly (the other term is +-0).
void leaky_row(const float* __restrict x, float* __restrict y, int64_t n, float slope) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::max(x[i], 0.0f) + slope * std::min(x[i], 0.0f);
}

size_t padded_bytes(const kernels::Conv1dRows& s) {
  return ((size_t)(s.t_in + 2 * s.pad) * (size_t)s.c * sizeof(float) + 63) / 64 * 64;
}

}  // namespace

size_t conv1d_gemm_scratch_bytes(const kernels::Conv1dRows& s, int64_t oc) {
  return padded_bytes(s) + gemm_f32_scratch_bytes(oc, s.k * s.c);
}

Status conv1d_gemm(Isa isa, const Conv1dGemmArgs& a, void* scratch, ThreadPool& pool) {
  const kernels::Conv1dRows& s = a.s;
  if (!a.x || !a.w || !a.y || !scratch || s.c < 1 || s.t_in < 1 || s.k < 1 || s.stride < 1 || s.pad < 0 ||
      s.dilation < 1 || a.oc < 1 || s.t_out() < 1) {
    return error(ErrorCode::invalid_argument, "conv1d_gemm: null pointer or bad shape");
  }
  auto* xp = static_cast<float*>(scratch);
  const int64_t rows = s.t_in + 2 * s.pad;
  pool.run([&](int ith, int nth) {
    const kernels::RowRange r = kernels::split_rows(rows, ith, nth);
    for (int64_t t = r.begin; t < r.end; ++t) {
      float* dst = xp + t * s.c;
      const int64_t src = t - s.pad;
      if (src < 0 || src >= s.t_in) {
        std::memset(dst, 0, sizeof(float) * (size_t)s.c);
        continue;
      }
      const float* xr = a.x + src * s.c;
      if (a.slope == 1.0f) {
        std::memcpy(dst, xr, sizeof(float) * (size_t)s.c);
      } else {
        leaky_row(xr, dst, s.c, a.slope);
      }
    }
  });
  GemmF32Args g;
  g.w = a.w;
  g.w_stride = s.k * s.c;
  g.m = a.oc;
  g.k = s.c;
  g.taps = (int)s.k;
  g.tap_stride = s.dilation * s.c;
  g.x = xp;
  g.x_stride = s.stride * s.c;
  g.n = s.t_out();
  g.y = a.y;
  g.y_stride = a.oc;
  g.bias = a.bias;
  return gemm_f32(isa, g, static_cast<char*>(scratch) + padded_bytes(s), pool);
}

}  // namespace nm
