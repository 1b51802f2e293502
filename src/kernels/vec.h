// Internal f32 vector primitives behind the ops in ops.h, one table per Isa (scalar in
// vec.cpp, SIMD in vec_avx2.cpp / vec_avx512.cpp). Ops pick a table with vec_ops(isa);
// an Isa without its own table gets the scalar one. Not a public API.
#pragma once
#include <cstdint>

#include "core/fp16.h"
#include "kernels/cpu_features.h"

namespace nm {

struct VecOps {
  void (*scale)(float s, float* y, int64_t n);                         // y *= s
  float (*sum_sq)(const float* x, int64_t n);
  // y = exp(x - m) for all i, returns the sum of y (softmax core). x may equal y.
  float (*exp_sum)(const float* x, float m, float* y, int64_t n);
  float (*max)(const float* x, int64_t n);
  void (*silu)(const float* x, float* y, int64_t n);
  void (*swiglu)(const float* a, const float* b, float* y, int64_t n);
  void (*gelu)(const float* x, float* y, int64_t n);
  void (*f16_to_f32)(const fp16_t* x, float* y, int64_t n);
  // c[r][j] += sum_i a[r][i] * b[i][j] for r < rows, i < k, j < n (rows lda, ldb, ldc
  // apart): attention's scores (Q x K^T) and outputs (P x V) per key tile. Each row gets
  // the same operations however many rows a call has, so results do not depend on how
  // rows were grouped.
  void (*vecmat_acc)(const float* a, int64_t lda, int64_t rows, int64_t k, const float* b, int64_t ldb, int64_t n,
                     float* c, int64_t ldc);
};

const VecOps& vec_ops(Isa isa);
const VecOps& vec_ops_scalar();
#if defined(__x86_64__)
const VecOps& vec_ops_avx2();
const VecOps& vec_ops_avx512();
#endif

}  // namespace nm
