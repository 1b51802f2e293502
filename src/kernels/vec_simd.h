// The x86 SIMD bodies of the vec.h primitives, written once over a lane-traits type S
// (S::V vector, S::W lanes, load/store/arith/hsum/hmax/pow2n/below) and instantiated by
// vec_avx2.cpp (8 lanes) and vec_avx512.cpp (16 lanes) under their own ISA flags. Include
// only from those files. exp is Cephes' expf polynomial (rel. error ~2 f32 ulp).
#pragma once
#include <cmath>

#include "kernels/vec.h"

namespace nm::simd {

template <class S>
inline typename S::V exp_v(typename S::V x) {
  using V = typename S::V;
  const V lo = S::set1(-87.33654f);
  const auto under = S::below(x, lo);  // exp gives 0 there (also for -inf)
  x = S::min(S::max(x, lo), S::set1(88.37626f));
  const V n = S::round(S::mul(x, S::set1(1.44269504088896341f)));
  V r = S::fnmadd(n, S::set1(0.693359375f), x);
  r = S::fnmadd(n, S::set1(-2.12194440e-4f), r);
  V p = S::set1(1.9875691500e-4f);
  p = S::fmadd(p, r, S::set1(1.3981999507e-3f));
  p = S::fmadd(p, r, S::set1(8.3334519073e-3f));
  p = S::fmadd(p, r, S::set1(4.1665795894e-2f));
  p = S::fmadd(p, r, S::set1(1.6666665459e-1f));
  p = S::fmadd(p, r, S::set1(5.0000001201e-1f));
  p = S::fmadd(S::mul(p, r), r, S::add(r, S::set1(1.0f)));
  return S::zero_where(under, S::mul(p, S::pow2n(n)));  // n in [-126, 127]
}

// x * sigmoid(k x) = x / (1 + exp(-k x))
template <class S>
inline typename S::V x_sigmoid(typename S::V x, typename S::V kx) {
  return S::div(x, S::add(S::set1(1.0f), exp_v<S>(S::sub(S::set1(0.0f), kx))));
}

template <class S>
float dot(const float* a, const float* b, int64_t n) {
  auto s0 = S::set1(0.0f), s1 = S::set1(0.0f);
  int64_t i = 0;
  for (; i + 2 * S::W <= n; i += 2 * S::W) {
    s0 = S::fmadd(S::load(a + i), S::load(b + i), s0);
    s1 = S::fmadd(S::load(a + i + S::W), S::load(b + i + S::W), s1);
  }
  for (; i + S::W <= n; i += S::W) s0 = S::fmadd(S::load(a + i), S::load(b + i), s0);
  float s = S::hsum(S::add(s0, s1));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}
template <class S>
void scale(float s, float* y, int64_t n) {
  const auto vs = S::set1(s);
  int64_t i = 0;
  for (; i + S::W <= n; i += S::W) S::store(y + i, S::mul(vs, S::load(y + i)));
  for (; i < n; ++i) y[i] *= s;
}
template <class S>
float sum_sq(const float* x, int64_t n) { return dot<S>(x, x, n); }
template <class S>
float exp_sum(const float* x, float m, float* y, int64_t n) {
  const auto vm = S::set1(m);
  auto acc = S::set1(0.0f);
  int64_t i = 0;
  for (; i + S::W <= n; i += S::W) {
    const auto e = exp_v<S>(S::sub(S::load(x + i), vm));
    S::store(y + i, e);
    acc = S::add(acc, e);
  }
  float s = S::hsum(acc);
  for (; i < n; ++i) {
    y[i] = std::exp(x[i] - m);
    s += y[i];
  }
  return s;
}
template <class S>
float vmax(const float* x, int64_t n) {
  auto m = S::set1(-INFINITY);
  int64_t i = 0;
  for (; i + S::W <= n; i += S::W) m = S::max(m, S::load(x + i));
  float r = S::hmax(m);
  for (; i < n; ++i) r = x[i] > r ? x[i] : r;
  return r;
}
template <class S>
void silu(const float* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + S::W <= n; i += S::W) {
    const auto v = S::load(x + i);
    S::store(y + i, x_sigmoid<S>(v, v));
  }
  for (; i < n; ++i) y[i] = x[i] / (1.0f + std::exp(-x[i]));
}
template <class S>
void swiglu(const float* a, const float* b, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + S::W <= n; i += S::W) {
    const auto v = S::load(a + i);
    S::store(y + i, S::mul(x_sigmoid<S>(v, v), S::load(b + i)));
  }
  for (; i < n; ++i) y[i] = a[i] / (1.0f + std::exp(-a[i])) * b[i];
}
template <class S>
void gelu(const float* x, float* y, int64_t n) {
  // 0.5 x (1 + tanh(z)) == x * sigmoid(2z), z = sqrt(2/pi) (x + 0.044715 x^3)
  constexpr float k = 0.7978845608028654f;
  const auto k2 = S::set1(2.0f * k), c = S::set1(0.044715f), one = S::set1(1.0f);
  int64_t i = 0;
  for (; i + S::W <= n; i += S::W) {
    const auto v = S::load(x + i);
    const auto z2 = S::mul(S::mul(k2, v), S::fmadd(S::mul(c, v), v, one));
    S::store(y + i, x_sigmoid<S>(v, z2));
  }
  for (; i < n; ++i) {
    const float v = x[i];
    y[i] = 0.5f * v * (1.0f + std::tanh(k * v * (1.0f + 0.044715f * v * v)));
  }
}

template <class S>
void f16_to_f32(const fp16_t* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + S::W <= n; i += S::W) S::store(y + i, S::load_f16(x + i));
  for (; i < n; ++i) y[i] = fp16_to_fp32(x[i]);
}

// R rows of a times b into C, columns [j, j + NV * W): the R x NV accumulators stay in
// registers over k, each b vector loaded once for the R rows.
template <class S, int R, int NV>
void vecmat_block(const float* a, int64_t lda, int64_t k, const float* b, int64_t ldb, float* c, int64_t ldc) {
  typename S::V acc[R][NV];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = S::load(c + r * ldc + v * S::W);
  for (int64_t i = 0; i < k; ++i) {
    typename S::V bv[NV];
    for (int v = 0; v < NV; ++v) bv[v] = S::load(b + i * ldb + v * S::W);
    for (int r = 0; r < R; ++r) {
      const auto av = S::set1(a[r * lda + i]);
      for (int v = 0; v < NV; ++v) acc[r][v] = S::fmadd(av, bv[v], acc[r][v]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) S::store(c + r * ldc + v * S::W, acc[r][v]);
}
template <class S, int R>
void vecmat_rows(const float* a, int64_t lda, int64_t k, const float* b, int64_t ldb, int64_t n, float* c,
                 int64_t ldc) {
  int64_t j = 0;
  for (; j + 4 * S::W <= n; j += 4 * S::W) vecmat_block<S, R, 4>(a, lda, k, b + j, ldb, c + j, ldc);
  for (; j + S::W <= n; j += S::W) vecmat_block<S, R, 1>(a, lda, k, b + j, ldb, c + j, ldc);
  for (; j < n; ++j) {
    for (int r = 0; r < R; ++r) {
      float s = c[r * ldc + j];
      for (int64_t i = 0; i < k; ++i) s += a[r * lda + i] * b[i * ldb + j];
      c[r * ldc + j] = s;
    }
  }
}
template <class S>
void vecmat_acc(const float* a, int64_t lda, int64_t rows, int64_t k, const float* b, int64_t ldb, int64_t n,
                float* c, int64_t ldc) {
  int64_t r = 0;
  if constexpr (S::W >= 16) {  // 32 vector registers: 4 rows x 4 vectors of accumulators
    for (; r + 4 <= rows; r += 4) vecmat_rows<S, 4>(a + r * lda, lda, k, b, ldb, n, c + r * ldc, ldc);
  }
  for (; r + 2 <= rows; r += 2) vecmat_rows<S, 2>(a + r * lda, lda, k, b, ldb, n, c + r * ldc, ldc);
  for (; r < rows; ++r) vecmat_rows<S, 1>(a + r * lda, lda, k, b, ldb, n, c + r * ldc, ldc);
}

template <class S>
constexpr VecOps make_table() {
  return {scale<S>, sum_sq<S>, exp_sum<S>, vmax<S>, silu<S>, swiglu<S>, gelu<S>, f16_to_f32<S>, vecmat_acc<S>};
}

}  // namespace nm::simd
