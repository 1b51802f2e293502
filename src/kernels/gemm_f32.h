// Packed-panel f32 GEMM behind matmul() for f32 weights and many activation rows (the
// convolutions of a voice decoder, prefill over f32 weights): Y[n][m] = sum_k X[n][k] W[m][k].
// The dot-product tiles of the plain path sum every output horizontally at the end; here W
// is copied, one block of columns at a time, into panels of kGemmPanel weight rows stored
// k-major (panel[kk][j] = W[m0 + j][kk], zeros past m), so that a micro-kernel loads the
// weights of 16 consecutive outputs with one or a few vector loads, broadcasts one
// activation per row, and keeps NR rows x 16 NP outputs in registers for the whole k loop
// (AVX-512: 12 x 32, AVX2: 6 x 16, NEON: 6 x 16, scalar reference: 4 x 16).
// Every output is one micro-kernel's k loop in order, so the bits do not depend on the
// number of threads. Thread-safety: gemm_f32() is reentrant; concurrent calls need
// distinct scratch.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/status.h"
#include "core/thread_pool.h"
#include "kernels/cpu_features.h"

namespace nm {

constexpr int kGemmPanel = 16;     // weight rows (outputs) per packed panel
constexpr int64_t kGemmMinRows = 8;  // fewer activation rows: the plain path's tiles

// One micro-kernel call: Y[r][c] = bias[c] + sum_{j < taps, i < k} x[r * x_stride +
// j * tap_stride + i] * panel(c / 16)[j * k + i][c % 16] for r < rows (<= GemmF32Kernel::rows)
// and c < cols (<= 16 * n_panels); panel p starts at panels + p * panel_stride floats, its
// row kk of 16 at + kk * 16; bias may be null (zero). taps > 1 is a convolution read in
// place (implicit GEMM): tap j's activations are the rows tap_stride floats further on.
struct GemmTile {
  int64_t k = 0;
  int taps = 1;
  int64_t tap_stride = 0;
  const float* bias = nullptr;
  const float* residual = nullptr;  // added to Y (rows res_stride apart), or null
  int64_t res_stride = 0;
  const float* panels = nullptr;
  int64_t panel_stride = 0;
  int n_panels = 1;
  const float* x = nullptr;
  int64_t x_stride = 0;
  int rows = 0;
  float* y = nullptr;
  int64_t y_stride = 0;
  int cols = 0;
};
using GemmMicroFn = void (*)(const GemmTile& t);

struct GemmF32Kernel {
  GemmMicroFn run = nullptr;
  int rows = 1;    // most activation rows per call (NR)
  int panels = 1;  // most panels per call (NP)
};

// The micro-kernel for `isa` (the scalar reference where the ISA has none).
GemmF32Kernel gemm_f32_kernel(Isa isa);
GemmF32Kernel gemm_f32_kernel_scalar();
bool gemm_f32_kernel_avx2(GemmF32Kernel* out);
bool gemm_f32_kernel_avx512(GemmF32Kernel* out);
bool gemm_f32_kernel_neon(GemmF32Kernel* out);

// Whether matmul() takes this path: f32 weights in the file layout, n >= kGemmMinRows.
bool gemm_f32_applies(bool w_f32, bool w_packed, int64_t n);
// Scratch floats' bytes for one block of packed panels of an m x k weight.
size_t gemm_f32_scratch_bytes(int64_t m, int64_t k);

// Y[r * y_stride + c] = bias[c] + sum_{j < taps, i < k} X[r * x_stride + j * tap_stride + i]
// * W[c * w_stride + j * k + i] (+ residual[r * res_stride + c]; strides in floats; bias
// and residual optional), r < n, c < m: a plain
// product with taps = 1, a k-channel convolution with `taps` taps read in place otherwise.
struct GemmF32Args {
  const float* w = nullptr;
  int64_t w_stride = 0, m = 0, k = 0;
  int taps = 1;
  int64_t tap_stride = 0;
  const float* x = nullptr;
  int64_t x_stride = 0, n = 0;
  float* y = nullptr;
  int64_t y_stride = 0;
  const float* bias = nullptr;
  const float* residual = nullptr;
  int64_t res_stride = 0;
};
// Runs on every thread of `pool`; `scratch` holds gemm_f32_scratch_bytes(m, k * taps)
// bytes (any alignment; 64 bytes is best).
Status gemm_f32(Isa isa, const GemmF32Args& args, void* scratch, ThreadPool& pool);

}  // namespace nm
