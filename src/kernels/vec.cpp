// Scalar reference table of vec.h primitives and the Isa dispatch.
#include "kernels/vec.h"

#include <cmath>

namespace nm {
namespace {

float dot(const float* a, const float* b, int64_t n) {
  float s = 0.0f;
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}
void axpy(float a, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}
void scale(float s, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] *= s;
}
float sum_sq(const float* x, int64_t n) {
  float s = 0.0f;
  for (int64_t i = 0; i < n; ++i) s += x[i] * x[i];
  return s;
}
float exp_sum(const float* x, float m, float* y, int64_t n) {
  float s = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    y[i] = std::exp(x[i] - m);
    s += y[i];
  }
  return s;
}
float vmax(const float* x, int64_t n) {
  float m = -INFINITY;
  for (int64_t i = 0; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}
void silu(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] / (1.0f + std::exp(-x[i]));
}
void swiglu(const float* a, const float* b, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] / (1.0f + std::exp(-a[i])) * b[i];
}
void gelu(const float* x, float* y, int64_t n) {
  constexpr float k = 0.7978845608028654f;  // sqrt(2/pi)
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    y[i] = 0.5f * v * (1.0f + std::tanh(k * v * (1.0f + 0.044715f * v * v)));
  }
}

void f16_to_f32(const fp16_t* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = fp16_to_fp32(x[i]);
}

void dot_rows(const float* q, int64_t q_stride, int64_t nq, const float* k, float* out, int64_t n) {
  for (int64_t g = 0; g < nq; ++g) out[g] = dot(q + g * q_stride, k, n);
}
void axpy_rows(const float* a, int64_t nq, const float* x, float* y, int64_t y_stride, int64_t n) {
  for (int64_t g = 0; g < nq; ++g) axpy(a[g], x, y + g * y_stride, n);
}

constexpr VecOps kScalar = {scale, sum_sq, exp_sum, vmax, silu, swiglu, gelu, f16_to_f32, dot_rows, axpy_rows};

}  // namespace

const VecOps& vec_ops_scalar() { return kScalar; }

const VecOps& vec_ops(Isa isa) {
  switch (isa) {
#if defined(__x86_64__)
    case Isa::avx2: return vec_ops_avx2();
    case Isa::avx512:
    case Isa::avx512_vnni: return vec_ops_avx512();
#endif
    default: return kScalar;
  }
}

}  // namespace nm
