// AVX-512 matmul kernels for float weights (F32, F16, BF16) x f32 activations: register
// tiles of 4 weight rows x 6 activation rows (24 accumulators of 16 lanes), each weight
// vector converted once and used for 6 FMAs; masked loads for the k tail. Matrix-vector
// products use one row at a time with 4 accumulators to hide the FMA latency.
#include "kernels/avx512_gcc_warnings.h"  // before any intrinsics header

#include <immintrin.h>

#include <array>
#include <utility>

#include "kernels/matmul_kernels.h"

namespace nm {
namespace {

constexpr int kTileM = compiled_tile(4), kTileN = compiled_tile(6);

struct F32x16 {
  using T = float;
  static __m512 load(const float* p) { return _mm512_loadu_ps(p); }
  static __m512 load(const float* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
};
struct F16x16 {
  using T = fp16_t;
  static __m512 load(const fp16_t* p) { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
  static __m512 load(const fp16_t* p, __mmask16 m) { return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p)); }
};
struct BF16x16 {
  using T = bf16_t;
  static __m512 widen(__m256i v) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(v), 16)); }
  static __m512 load(const bf16_t* p) { return widen(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
  static __m512 load(const bf16_t* p, __mmask16 m) { return widen(_mm256_maskz_loadu_epi16(m, p)); }
};

template <class W, int NW, int NX>
void tile_float(int64_t k, const void* w, size_t w_row_bytes, const void* x, size_t x_row_bytes, float* y,
                int64_t y_stride) {
  const typename W::T* wr[NW];
  const float* xr[NX];
  for (int r = 0; r < NW; ++r) {
    wr[r] = reinterpret_cast<const typename W::T*>(static_cast<const char*>(w) + r * w_row_bytes);
  }
  for (int c = 0; c < NX; ++c) xr[c] = reinterpret_cast<const float*>(static_cast<const char*>(x) + c * x_row_bytes);
  __m512 acc[NW][NX];
  for (int r = 0; r < NW; ++r)
    for (int c = 0; c < NX; ++c) acc[r][c] = _mm512_setzero_ps();
  auto step = [&](int64_t i, auto load_w, auto load_x) {
    __m512 wv[NW];
    for (int r = 0; r < NW; ++r) wv[r] = load_w(wr[r] + i);
    for (int c = 0; c < NX; ++c) {
      const __m512 xv = load_x(xr[c] + i);
      for (int r = 0; r < NW; ++r) acc[r][c] = _mm512_fmadd_ps(wv[r], xv, acc[r][c]);
    }
  };
  int64_t i = 0;
  for (; i + 16 <= k; i += 16) {
    step(i, [](const typename W::T* p) { return W::load(p); }, [](const float* p) { return _mm512_loadu_ps(p); });
  }
  if (i < k) {
    const __mmask16 m = (__mmask16)((1u << (k - i)) - 1);
    step(i, [m](const typename W::T* p) { return W::load(p, m); }, [m](const float* p) { return _mm512_maskz_loadu_ps(m, p); });
  }
  for (int r = 0; r < NW; ++r)
    for (int c = 0; c < NX; ++c) y[c * y_stride + r] = _mm512_reduce_add_ps(acc[r][c]);
}

template <class W>
void tile_float_dispatch(int64_t k, const void* w, size_t w_row_bytes, int nw, const void* x, size_t x_row_bytes,
                         int nx, float* y, int64_t y_stride) {
  using Fn = void (*)(int64_t, const void*, size_t, const void*, size_t, float*, int64_t);
  static constexpr auto table = []<int... I>(std::integer_sequence<int, I...>) {
    return std::array<Fn, sizeof...(I)>{&tile_float<W, I / kTileN + 1, I % kTileN + 1>...};
  }(std::make_integer_sequence<int, kTileM * kTileN>{});
  table[(nw - 1) * kTileN + (nx - 1)](k, w, w_row_bytes, x, x_row_bytes, y, y_stride);
}

// One row at a time, four accumulators in flight.
template <class W>
void gemv_float(int64_t k, const void* w, size_t w_row_bytes, int64_t rows, const void* xp, float* y) {
  const auto* x = static_cast<const float*>(xp);
  for (int64_t r = 0; r < rows; ++r) {
    const auto* wr = reinterpret_cast<const typename W::T*>(static_cast<const char*>(w) + r * w_row_bytes);
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 64 <= k; i += 64) {
      a0 = _mm512_fmadd_ps(W::load(wr + i), _mm512_loadu_ps(x + i), a0);
      a1 = _mm512_fmadd_ps(W::load(wr + i + 16), _mm512_loadu_ps(x + i + 16), a1);
      a2 = _mm512_fmadd_ps(W::load(wr + i + 32), _mm512_loadu_ps(x + i + 32), a2);
      a3 = _mm512_fmadd_ps(W::load(wr + i + 48), _mm512_loadu_ps(x + i + 48), a3);
    }
    for (; i + 16 <= k; i += 16) a0 = _mm512_fmadd_ps(W::load(wr + i), _mm512_loadu_ps(x + i), a0);
    if (i < k) {
      const __mmask16 m = (__mmask16)((1u << (k - i)) - 1);
      a1 = _mm512_fmadd_ps(W::load(wr + i, m), _mm512_maskz_loadu_ps(m, x + i), a1);
    }
    y[r] = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
  }
}

template <class W>
void fill(MatmulKernel* out) {
  out->act_type = DType::F32;
  out->quantize = nullptr;
  out->tile = tile_float_dispatch<W>;
  out->gemv = gemv_float<W>;
  out->tile_m = kTileM;
  out->tile_n = kTileN;
}

}  // namespace

bool matmul_kernel_float_avx512(DType w_type, MatmulKernel* out) {
  switch (w_type) {
    case DType::F32: fill<F32x16>(out); return true;
    case DType::F16: fill<F16x16>(out); return true;
    case DType::BF16: fill<BF16x16>(out); return true;
    default: return false;
  }
}

}  // namespace nm
