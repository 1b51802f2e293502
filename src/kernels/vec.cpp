// Scalar reference table of vec.h primitives and the Isa dispatch.
#include "kernels/vec.h"

#include <cmath>

namespace nm {
namespace {

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

void vecmat_acc(const float* a, int64_t lda, int64_t rows, int64_t k, const float* b, int64_t ldb, int64_t n,
                float* c, int64_t ldc) {
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t j = 0; j < n; ++j) {
      float s = c[r * ldc + j];
      for (int64_t i = 0; i < k; ++i) s += a[r * lda + i] * b[i * ldb + j];
      c[r * ldc + j] = s;
    }
  }
}

constexpr VecOps kScalar = {scale, sum_sq, exp_sum, vmax, silu, swiglu, gelu, f16_to_f32, vecmat_acc};

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
