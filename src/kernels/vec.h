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
  // out[g] = dot(q + g * q_stride, k) for g < nq (one k against several query rows)
  void (*dot_rows)(const float* q, int64_t q_stride, int64_t nq, const float* k, float* out, int64_t n);
  // y + g * y_stride += a[g] * x for g < nq (one x into several rows)
  void (*axpy_rows)(const float* a, int64_t nq, const float* x, float* y, int64_t y_stride, int64_t n);
};

const VecOps& vec_ops(Isa isa);
const VecOps& vec_ops_scalar();
#if defined(__x86_64__)
const VecOps& vec_ops_avx2();
const VecOps& vec_ops_avx512();
#endif

}  // namespace nm
