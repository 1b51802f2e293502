// x86 kernel bodies shared by vec_dot_avx2.cpp and vec_dot_avx512.cpp: included only by
// those files (each compiles it with its own ISA flags). Everything here is TU-local.
// Integer paths: per 32-element block, |w| (u8) x sign(x, w) (s8) -- or, for offset formats,
// q (u8) x x (s8) minus offset * sum(x) -- -> int32 lanes via
// maddubs+madd (AVX2) or vpdpbusd (VNNI), then one FMA with the block's scale product.
#pragma once

#include <immintrin.h>

#include <array>
#include <cstring>
#include <type_traits>
#include <utility>

#include "kernels/matmul_kernels.h"

namespace nm {
namespace {

inline float h2f(fp16_t h) { return _cvtsh_ss(h); }

inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Sum of products of u8 `a` and s8 `b` in 8 int32 lanes.
template <bool kVnni>
inline __m256i dot_u8s8(__m256i a, __m256i b) {
#if defined(__AVX512VNNI__)
  if constexpr (kVnni) return _mm256_dpbusd_epi32(_mm256_setzero_si256(), a, b);
#endif
  return _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), _mm256_set1_epi16(1));
}

// Weight block decoders: 32 int8 values and the block scale. kUnsigned: q >= 0 goes into
// the dot's unsigned operand (minus kOffset * sum(x)); else the sign trick. kHasMin: the
// block has a minimum m (x = d*q + m) and the activations are Q8_1, whose s = d * sum(q).
struct WQ4_0 {
  using Block = BlockQ4_0;
  using XBlock = BlockQ8_0;
  static constexpr bool kUnsigned = true;  // q in [0, 15]; the -8 offset is applied via sum(x)
  static constexpr bool kHasMin = false;
  static constexpr int kOffset = 8;
  static __m256i load(const Block& b) { return nibbles(b.qs); }
  // 16 bytes -> 32 values: low nibbles are elements 0..15, high nibbles 16..31.
  static __m256i nibbles(const uint8_t* qs) {
    // both halves hold the 16 bytes; the upper half is shifted right by 4 before masking
    const __m256i v = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qs)));
    const __m256i s = _mm256_srlv_epi64(v, _mm256_setr_epi64x(0, 0, 4, 4));
    return _mm256_and_si256(s, _mm256_set1_epi8(0x0f));
  }
};
// Byte i of the result is 0x10 where bit i of `bits` is set, else 0 (5th bits -> values).
inline __m256i fifth_bits(uint32_t bits) {
  const __m256i spread = _mm256_shuffle_epi8(
      _mm256_set1_epi32((int)bits),
      _mm256_setr_epi64x(0, 0x0101010101010101, 0x0202020202020202, 0x0303030303030303));
  const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
  return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit), _mm256_set1_epi8(0x10));
}

template <class B, bool kMin>
struct WQ5 {
  using Block = B;
  using XBlock = std::conditional_t<kMin, BlockQ8_1, BlockQ8_0>;
  static constexpr bool kUnsigned = true;  // q in [0, 31]; Q5_0: -16 via sum(x)
  static constexpr bool kHasMin = kMin;
  static constexpr int kOffset = kMin ? 0 : 16;
  static __m256i load(const Block& b) {
    uint32_t qh;
    std::memcpy(&qh, b.qh, 4);
    return _mm256_or_si256(WQ4_0::nibbles(b.qs), fifth_bits(qh));
  }
};
using WQ5_0 = WQ5<BlockQ5_0, false>;
using WQ5_1 = WQ5<BlockQ5_1, true>;
struct WQ4_1 {
  using Block = BlockQ4_1;
  using XBlock = BlockQ8_1;
  static constexpr bool kUnsigned = true;  // q in [0, 15], no offset; m via the activations' s
  static constexpr bool kHasMin = true;
  static constexpr int kOffset = 0;
  static __m256i load(const Block& b) { return WQ4_0::nibbles(b.qs); }
};
struct WIQ4_NL {
  using Block = BlockIQ4_NL;
  using XBlock = BlockQ8_0;
  static constexpr bool kUnsigned = false;  // signed grid values: |w| x sign(x, w)
  static constexpr bool kHasMin = false;
  static constexpr int kOffset = 0;
  static __m256i load(const Block& b) {
    const __m256i grid = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kIq4nlValues)));
    return _mm256_shuffle_epi8(grid, WQ4_0::nibbles(b.qs));
  }
};
struct WQ8_0 {
  using Block = BlockQ8_0;
  using XBlock = BlockQ8_0;
  static constexpr bool kUnsigned = false;  // signed q: |w| x sign(x, w)
  static constexpr bool kHasMin = false;
  static constexpr int kOffset = 0;
  static __m256i load(const Block& b) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs)); }
};

// out[i] = row i of a matrix of B blocks whose rows are row_bytes apart.
template <class B, int N>
inline void row_pointers(const void* base, size_t row_bytes, const B* (&out)[N]) {
  for (int i = 0; i < N; ++i) out[i] = reinterpret_cast<const B*>(static_cast<const char*>(base) + i * row_bytes);
}

// Calls Tile::run<nw, nx>(args...) for run-time nw <= TM, nx <= TN through a static table.
template <class Tile, int TM, int TN, class... Args>
inline void dispatch_tile(int nw, int nx, Args... args) {
  using Fn = void (*)(Args...);
  static constexpr auto table = []<int... I>(std::integer_sequence<int, I...>) {
    return std::array<Fn, sizeof...(I)>{&Tile::template run<I / TN + 1, I % TN + 1>...};
  }(std::make_integer_sequence<int, TM * TN>{});
  table[(nw - 1) * TN + (nx - 1)](args...);
}

// NW weight rows x NX activation rows (Q8_0, or Q8_1 for formats with a minimum),
// accumulating in 8 float lanes per pair (and, with minimums, a float sum of m * s).
template <class W, bool kVnni, int NW, int NX>
void tile_q8(int64_t k, const void* w, size_t w_row_bytes, const void* x, size_t x_row_bytes,
             float* y, int64_t y_stride) {
  constexpr bool kSubOffset = W::kUnsigned && W::kOffset != 0;
  const typename W::Block* wr[NW];
  const typename W::XBlock* xr[NX];
  row_pointers(w, w_row_bytes, wr);
  row_pointers(x, x_row_bytes, xr);
  __m256 acc[NW][NX];
  [[maybe_unused]] float min_acc[NW][NX] = {};
  for (int r = 0; r < NW; ++r)
    for (int c = 0; c < NX; ++c) acc[r][c] = _mm256_setzero_ps();
  const int64_t nb = k / QK8_0;
  for (int64_t b = 0; b < nb; ++b) {
    __m256 dx[NX];
    __m256i xoff[NX];  // offset * sum(x) in the same int32 lanes as the products
    for (int c = 0; c < NX; ++c) {
      dx[c] = _mm256_set1_ps(h2f(xr[c][b].d));
      if constexpr (kSubOffset) {
        const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xr[c][b].qs));
        xoff[c] = dot_u8s8<kVnni>(_mm256_set1_epi8(W::kOffset), xv);
      }
    }
    for (int r = 0; r < NW; ++r) {
      const __m256i wv = W::load(wr[r][b]);
      const __m256i aw = W::kUnsigned ? wv : _mm256_sign_epi8(wv, wv);
      const __m256 dw = _mm256_set1_ps(h2f(wr[r][b].d));
      for (int c = 0; c < NX; ++c) {
        const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xr[c][b].qs));
        __m256i p;
        if constexpr (kSubOffset) p = _mm256_sub_epi32(dot_u8s8<kVnni>(aw, xv), xoff[c]);
        else if constexpr (W::kUnsigned) p = dot_u8s8<kVnni>(aw, xv);
        else p = dot_u8s8<kVnni>(aw, _mm256_sign_epi8(xv, wv));
        acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_mul_ps(dw, dx[c]), acc[r][c]);
        if constexpr (W::kHasMin) min_acc[r][c] += h2f(wr[r][b].m) * h2f(xr[c][b].s);
      }
    }
  }
  for (int r = 0; r < NW; ++r) {
    for (int c = 0; c < NX; ++c) {
      y[c * y_stride + r] = hsum8(acc[r][c]);
      if constexpr (W::kHasMin) y[c * y_stride + r] += min_acc[r][c];
    }
  }
}

template <class W, bool kVnni>
struct TileQ8 {
  template <int NW, int NX>
  static void run(int64_t k, const void* w, size_t wb, const void* x, size_t xb, float* y, int64_t ys) {
    tile_q8<W, kVnni, NW, NX>(k, w, wb, x, xb, y, ys);
  }
};

template <class W, bool kVnni, int TM, int TN>
void tile_q8_dispatch(int64_t k, const void* w, size_t w_row_bytes, int nw, const void* x,
                      size_t x_row_bytes, int nx, float* y, int64_t y_stride) {
  dispatch_tile<TileQ8<W, kVnni>, TM, TN>(nw, nx, k, w, w_row_bytes, x, x_row_bytes, y, y_stride);
}

// Float weights: 8 lanes per step, 4 independent accumulators, scalar tail.
struct WF32 {
  using T = float;
  static __m256 load(const float* p) { return _mm256_loadu_ps(p); }
  static float one(float v) { return v; }
};
struct WF16 {
  using T = fp16_t;
  static __m256 load(const fp16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  static float one(fp16_t v) { return h2f(v); }
};
struct WBF16 {
  using T = bf16_t;
  static __m256 load(const bf16_t* p) {
    const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
  }
  static float one(bf16_t v) { return bf16_to_fp32(v); }
};

template <class W>
float dot_float(int64_t k, const void* wp, const void* xp) {
  const auto* w = static_cast<const typename W::T*>(wp);
  const auto* x = static_cast<const float*>(xp);
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  int64_t i = 0;
  for (; i + 32 <= k; i += 32) {
    a0 = _mm256_fmadd_ps(W::load(w + i), _mm256_loadu_ps(x + i), a0);
    a1 = _mm256_fmadd_ps(W::load(w + i + 8), _mm256_loadu_ps(x + i + 8), a1);
    a2 = _mm256_fmadd_ps(W::load(w + i + 16), _mm256_loadu_ps(x + i + 16), a2);
    a3 = _mm256_fmadd_ps(W::load(w + i + 24), _mm256_loadu_ps(x + i + 24), a3);
  }
  for (; i + 8 <= k; i += 8) a0 = _mm256_fmadd_ps(W::load(w + i), _mm256_loadu_ps(x + i), a0);
  float s = hsum8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
  for (; i < k; ++i) s += W::one(w[i]) * x[i];
  return s;
}

// NW weight rows x NX activation rows of float weights: each weight vector converted once
// and used for NX FMAs (the per-row dot product converted it once per activation row: F16
// vision encoders and Whisper ran at about half the FMA rate). Each output keeps one
// 8-lane accumulator over k; the tail past a multiple of 8 is added in order.
template <class W, int NW, int NX>
void tile_float(int64_t k, const void* w, size_t w_row_bytes, const void* x, size_t x_row_bytes, float* y,
                int64_t y_stride) {
  const typename W::T* wr[NW];
  const float* xr[NX];
  row_pointers(w, w_row_bytes, wr);
  row_pointers(x, x_row_bytes, xr);
  __m256 acc[NW][NX];
  for (int r = 0; r < NW; ++r)
    for (int c = 0; c < NX; ++c) acc[r][c] = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= k; i += 8) {
    __m256 wv[NW];
    for (int r = 0; r < NW; ++r) wv[r] = W::load(wr[r] + i);
    for (int c = 0; c < NX; ++c) {
      const __m256 xv = _mm256_loadu_ps(xr[c] + i);
      for (int r = 0; r < NW; ++r) acc[r][c] = _mm256_fmadd_ps(wv[r], xv, acc[r][c]);
    }
  }
  for (int r = 0; r < NW; ++r) {
    for (int c = 0; c < NX; ++c) {
      float s = hsum8(acc[r][c]);
      for (int64_t j = i; j < k; ++j) s += W::one(wr[r][j]) * xr[c][j];
      y[c * y_stride + r] = s;
    }
  }
}

template <class W>
struct TileFloat {
  template <int NW, int NX>
  static void run(int64_t k, const void* w, size_t wb, const void* x, size_t xb, float* y, int64_t ys) {
    tile_float<W, NW, NX>(k, w, wb, x, xb, y, ys);
  }
};

template <class W, int TM, int TN>
void tile_float_dispatch(int64_t k, const void* w, size_t w_row_bytes, int nw, const void* x, size_t x_row_bytes,
                         int nx, float* y, int64_t y_stride) {
  dispatch_tile<TileFloat<W>, TM, TN>(nw, nx, k, w, w_row_bytes, x, x_row_bytes, y, y_stride);
}

// Matrix-vector products: one row at a time with dot_float's four accumulators in flight
// (a tile of one activation row would chain every FMA on one accumulator).
template <class W>
void gemv_float(int64_t k, const void* w, size_t w_row_bytes, int64_t rows, const void* x, float* y) {
  for (int64_t r = 0; r < rows; ++r) y[r] = dot_float<W>(k, static_cast<const char*>(w) + r * w_row_bytes, x);
}

// Q8_0 activation quantiser (d = absmax/127, q = nearest of x*127/absmax).
inline void quantize_act_q8_0_x86(const float* x, void* dst, int64_t k) {
  auto* y = static_cast<BlockQ8_0*>(dst);
  const __m256 sign_bit = _mm256_set1_ps(-0.0f);
  for (int64_t b = 0; b < k / QK8_0; ++b) {
    const float* xb = x + b * QK8_0;
    __m256 v0 = _mm256_loadu_ps(xb), v1 = _mm256_loadu_ps(xb + 8);
    __m256 v2 = _mm256_loadu_ps(xb + 16), v3 = _mm256_loadu_ps(xb + 24);
    __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign_bit, v0), _mm256_andnot_ps(sign_bit, v1)),
                             _mm256_max_ps(_mm256_andnot_ps(sign_bit, v2), _mm256_andnot_ps(sign_bit, v3)));
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    const float amax = _mm_cvtss_f32(h);
    const float d = amax / 127.0f;
    y[b].d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
    const __m256 id = _mm256_set1_ps(amax != 0.0f ? 127.0f / amax : 0.0f);
    constexpr int kMode = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
    const __m256i i0 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v0, id), kMode));
    const __m256i i1 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v1, id), kMode));
    const __m256i i2 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v2, id), kMode));
    const __m256i i3 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v3, id), kMode));
    // packs interleave 128-bit lanes; the permute restores element order.
    __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
    p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[b].qs), p);
  }
}

// Fills `out` for the types these x86 kernels accelerate.
template <bool kVnni, int TM, int TN>
bool x86_kernel(DType w_type, MatmulKernel* out) {
  MatmulKernel kern;
  kern.tile_m = TM;
  kern.tile_n = TN;
  switch (w_type) {
    case DType::F32: kern.tile = tile_float_dispatch<WF32, TM, TN>, kern.gemv = gemv_float<WF32>; break;
    case DType::F16: kern.tile = tile_float_dispatch<WF16, TM, TN>, kern.gemv = gemv_float<WF16>; break;
    case DType::BF16: kern.tile = tile_float_dispatch<WBF16, TM, TN>, kern.gemv = gemv_float<WBF16>; break;
    case DType::Q4_0: kern.tile = tile_q8_dispatch<WQ4_0, kVnni, TM, TN>; break;
    case DType::Q8_0: kern.tile = tile_q8_dispatch<WQ8_0, kVnni, TM, TN>; break;
    case DType::Q5_0: kern.tile = tile_q8_dispatch<WQ5_0, kVnni, TM, TN>; break;
    case DType::Q4_1: kern.tile = tile_q8_dispatch<WQ4_1, kVnni, TM, TN>; break;
    case DType::Q5_1: kern.tile = tile_q8_dispatch<WQ5_1, kVnni, TM, TN>; break;
    case DType::IQ4_NL: kern.tile = tile_q8_dispatch<WIQ4_NL, kVnni, TM, TN>; break;
    default: return false;
  }
  kern.act_type = matmul_act_type(w_type);
  if (kern.act_type == DType::Q8_0) kern.quantize = quantize_act_q8_0_x86;
  *out = kern;
  return true;
}

}  // namespace
}  // namespace nm
