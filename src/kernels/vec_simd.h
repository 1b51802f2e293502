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

// R query rows against one k: one FMA chain per row, k loaded once per step. Every row
// gets the same sequence of operations whatever R is, so results do not depend on how
// the rows were grouped.
template <class S, int R>
void dot_rows_r(const float* q, int64_t q_stride, const float* k, float* out, int64_t n) {
  typename S::V a[R];
  for (int j = 0; j < R; ++j) a[j] = S::set1(0.0f);
  int64_t i = 0;
  for (; i + S::W <= n; i += S::W) {
    const auto kv = S::load(k + i);
    for (int j = 0; j < R; ++j) a[j] = S::fmadd(S::load(q + j * q_stride + i), kv, a[j]);
  }
  for (int j = 0; j < R; ++j) {
    float s = S::hsum(a[j]);
    for (int64_t t = i; t < n; ++t) s += q[j * q_stride + t] * k[t];
    out[j] = s;
  }
}
template <class S>
void dot_rows(const float* q, int64_t q_stride, int64_t nq, const float* k, float* out, int64_t n) {
  int64_t g = 0;
  for (; g + 4 <= nq; g += 4) dot_rows_r<S, 4>(q + g * q_stride, q_stride, k, out + g, n);
  for (; g < nq; ++g) dot_rows_r<S, 1>(q + g * q_stride, q_stride, k, out + g, n);
}
template <class S>
void axpy_rows(const float* a, int64_t nq, const float* x, float* y, int64_t y_stride, int64_t n) {
  int64_t i = 0;
  for (; i + S::W <= n; i += S::W) {
    const auto xv = S::load(x + i);
    for (int64_t g = 0; g < nq; ++g) {
      float* yg = y + g * y_stride + i;
      S::store(yg, S::fmadd(S::set1(a[g]), xv, S::load(yg)));
    }
  }
  for (; i < n; ++i) {
    for (int64_t g = 0; g < nq; ++g) y[g * y_stride + i] += a[g] * x[i];
  }
}

template <class S>
constexpr VecOps make_table() {
  return {scale<S>, sum_sq<S>, exp_sum<S>, vmax<S>, silu<S>, swiglu<S>, gelu<S>, f16_to_f32<S>, dot_rows<S>,
          axpy_rows<S>};
}

}  // namespace nm::simd
