// The micro-kernel of gemm_f32.h written once over a vector type V (AVX-512, AVX2, NEON or
// a plain float): NR activation rows x NP panels of 16 outputs, accumulated in registers
// over the whole k loop, one weight load per 16 / lanes outputs and one broadcast per row
// and k. Included only by the per-ISA files, which compile it with their own flags.
// V provides: Reg, kLanes, zero(), load(const float*), set1(float), fma(a, b, acc) = acc + a*b,
// add(a, b), store(float*, Reg).
#pragma once

#include <array>
#include <cstring>
#include <utility>

#include "kernels/gemm_f32.h"

namespace nm {

template <class V, int NR, int NP>
void gemm_micro(const GemmTile& t) {
  constexpr int kV = NP * kGemmPanel / V::kLanes;  // vectors of outputs per row
  constexpr int kPerPanel = kGemmPanel / V::kLanes;
  typename V::Reg acc[NR][kV];
  if (t.cols < NP * kGemmPanel && (t.bias || t.residual)) {  // a partial last panel
    float row[NP * kGemmPanel] = {};  // the missing outputs: zero
    for (int r = 0; r < NR; ++r) {
      for (int c = 0; c < t.cols; ++c) {
        row[c] = (t.bias ? t.bias[c] : 0.0f) + (t.residual ? t.residual[r * t.res_stride + c] : 0.0f);
      }
      for (int j = 0; j < kV; ++j) acc[r][j] = V::load(row + j * V::kLanes);
    }
  } else if (t.bias || t.residual) {  // the accumulators start from bias + residual
#pragma GCC unroll 16
    for (int r = 0; r < NR; ++r)
#pragma GCC unroll 16
      for (int j = 0; j < kV; ++j) {
        const typename V::Reg b = t.bias ? V::load(t.bias + j * V::kLanes) : V::zero();
        acc[r][j] = t.residual ? V::add(b, V::load(t.residual + r * t.res_stride + j * V::kLanes)) : b;
      }
  } else {
#pragma GCC unroll 16
    for (int r = 0; r < NR; ++r)
#pragma GCC unroll 16
      for (int j = 0; j < kV; ++j) acc[r][j] = V::zero();
  }
  const float* b = t.panels;
  const int64_t ps = t.panel_stride, xs = t.x_stride;
  for (int tap = 0; tap < t.taps; ++tap) {
    const float* x = t.x + tap * t.tap_stride;
    for (int64_t kk = 0; kk < t.k; ++kk, b += kGemmPanel, ++x) {
      typename V::Reg bv[kV];
#pragma GCC unroll 16
      for (int j = 0; j < kV; ++j) bv[j] = V::load(b + (j / kPerPanel) * ps + (j % kPerPanel) * V::kLanes);
#pragma GCC unroll 16
      for (int r = 0; r < NR; ++r) {
        const typename V::Reg xv = V::set1(x[r * xs]);
#pragma GCC unroll 16
        for (int j = 0; j < kV; ++j) acc[r][j] = V::fma(bv[j], xv, acc[r][j]);
      }
    }
  }
  if (t.cols == NP * kGemmPanel) {
#pragma GCC unroll 16
    for (int r = 0; r < NR; ++r)
#pragma GCC unroll 16
      for (int j = 0; j < kV; ++j) V::store(t.y + r * t.y_stride + j * V::kLanes, acc[r][j]);
    return;
  }
  float row[NP * kGemmPanel];  // a partial last panel: only the outputs that exist are written
  for (int r = 0; r < NR; ++r) {
    for (int j = 0; j < kV; ++j) V::store(row + j * V::kLanes, acc[r][j]);
    std::memcpy(t.y + r * t.y_stride, row, sizeof(float) * (size_t)t.cols);
  }
}

// The GemmMicroFn for any rows <= NR and panels <= NP: a table of the instantiations.
template <class V, int NR, int NP>
void gemm_micro_any(const GemmTile& t) {
  static constexpr auto table = []<int... I>(std::integer_sequence<int, I...>) {
    return std::array<GemmMicroFn, sizeof...(I)>{&gemm_micro<V, I % NR + 1, I / NR + 1>...};
  }(std::make_integer_sequence<int, NR * NP>{});
  table[(t.n_panels - 1) * NR + (t.rows - 1)](t);
}

template <class V, int NR, int NP>
GemmF32Kernel gemm_kernel_of() {
  return GemmF32Kernel{&gemm_micro_any<V, NR, NP>, NR, NP};
}

}  // namespace nm
