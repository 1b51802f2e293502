// conv1d_gemm(): pass by pass over the output frames, the padded, activated copy of the
// input the pass reads, then gemm_f32 with one tap per k-slice of the weights (conv1d_gemm.h).
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

// Output frames per pass: the activated, padded input of a pass (its frames and the
// (k - 1) * dilation halo) fits in kPassBytes, so that the GEMM reads it back from L2
// instead of memory (the decoder's last stage is 101k frames x 32 channels: 13 MB). At
// least kMinPassRows frames, so that the weights, packed again in every pass, stay cheap.
constexpr int64_t kPassBytes = int64_t(256) << 10;
constexpr int64_t kMinPassRows = 512;

int64_t pass_rows(const kernels::Conv1dRows& s) {
  const int64_t halo = (s.k - 1) * s.dilation + 1;
  const int64_t fit = (kPassBytes / (int64_t)sizeof(float) / s.c - halo) / s.stride + 1;
  return std::min(s.t_out(), std::max(kMinPassRows, fit));
}

// Input frames a pass of `rows` output frames reads.
int64_t pass_in_rows(const kernels::Conv1dRows& s, int64_t rows) {
  return (rows - 1) * s.stride + (s.k - 1) * s.dilation + 1;
}

size_t padded_bytes(const kernels::Conv1dRows& s) {
  return ((size_t)pass_in_rows(s, pass_rows(s)) * (size_t)s.c * sizeof(float) + 63) / 64 * 64;
}

}  // namespace

size_t conv1d_gemm_scratch_bytes(const kernels::Conv1dRows& s, int64_t oc) {
  if (s.c < 1 || s.k < 1 || s.stride < 1 || s.dilation < 1 || s.t_out() < 1) return 0;
  return padded_bytes(s) + gemm_f32_scratch_bytes(oc, s.k * s.c);
}

Status conv1d_gemm(Isa isa, const Conv1dGemmArgs& a, void* scratch, ThreadPool& pool) {
  const kernels::Conv1dRows& s = a.s;
  if (!a.x || !a.w || !a.y || !scratch || s.c < 1 || s.t_in < 1 || s.k < 1 || s.stride < 1 || s.pad < 0 ||
      s.dilation < 1 || a.oc < 1 || s.t_out() < 1) {
    return error(ErrorCode::invalid_argument, "conv1d_gemm: null pointer or bad shape");
  }
  auto* xp = static_cast<float*>(scratch);
  const int64_t t_out = s.t_out(), step = pass_rows(s);
  // Each output row is one micro-kernel k loop whichever pass holds it: the same bits as
  // one pass over everything.
  for (int64_t o0 = 0; o0 < t_out; o0 += step) {
    const int64_t n = std::min(step, t_out - o0), first = o0 * s.stride - s.pad;
    pool.run([&](int ith, int nth) {
      const kernels::RowRange r = kernels::split_rows(pass_in_rows(s, n), ith, nth);
      for (int64_t t = r.begin; t < r.end; ++t) {
        float* dst = xp + t * s.c;
        const int64_t src = first + t;
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
    g.n = n;
    g.y = a.y + o0 * a.oc;
    g.y_stride = a.oc;
    g.bias = a.bias;
    g.residual = a.residual ? a.residual + o0 * a.oc : nullptr;
    g.res_stride = a.oc;
    NM_RETURN_IF_ERROR(gemm_f32(isa, g, static_cast<char*>(scratch) + padded_bytes(s), pool));
  }
  return Status::ok_status();
}

}  // namespace nm
