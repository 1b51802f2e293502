// Low-bit CPU matrix multiply Y[n][m] = sum_k X[n][k] * W[m][k] with run-time ISA dispatch.
// W is in any supported GGUF type; X and Y are f32 with row strides. For quantised W the
// activations are quantised per row on the fly (Q8_0 / Q8_1 / Q8_K) into caller scratch.
// Thread-safety: matmul() is reentrant; concurrent calls need distinct scratch and pools.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"
#include "core/status.h"
#include "core/thread_pool.h"
#include "kernels/cpu_features.h"

namespace nm {

struct MatmulArgs {
  DType w_type = DType::F32;
  const void* w = nullptr;  // m rows, each w_row_bytes apart, of k elements
  size_t w_row_bytes = 0;   // >= row_size(w_type, k)
  bool w_packed = false;    // w is in the packed layout of matmul_packed.h (w_row_bytes unused)
  int64_t m = 0, k = 0;     // k must be a multiple of the type's block size
  const float* x = nullptr; // n rows of k floats, x_stride floats apart
  int64_t x_stride = 0;
  int64_t n = 0;
  float* y = nullptr;       // n rows of m floats, y_stride floats apart
  int64_t y_stride = 0;
};

bool matmul_supports(DType w_type);
// Scratch bytes matmul() needs for an m x k weight and n activation rows, packed or not:
// quantised activations, or a block of f32 weight panels (kernels/gemm_f32.h).
size_t matmul_scratch_bytes(DType w_type, int64_t m, int64_t k, int64_t n);
// Runs on every thread of `pool`; results are bit-identical for any pool size. F32 weights
// in the file layout with n >= kGemmMinRows take the packed-panel GEMM of gemm_f32.h.
// `isa` must be usable here (usable_isas()); scratch holds matmul_scratch_bytes() bytes.
Status matmul(Isa isa, const MatmulArgs& args, void* scratch, ThreadPool& pool);

}  // namespace nm
