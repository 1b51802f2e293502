// x86 K-quant dot products (Q4_K, Q5_K, Q6_K x Q8_K), one weight row x one activation row,
// shared by the AVX2 and AVX-512 files like matmul_x86_impl.h (TU-local, include after it).
// Per 32 elements: q (u8) x x (s8) via maddubs, times the int16 sub-block scale via madd;
// minimums / offsets are applied once per super-block through the Q8_K bsums.
#pragma once

#include "kernels/matmul_x86_impl.h"

namespace nm {
namespace {

// 6-bit scales and mins of the 8 sub-blocks of a Q4_K / Q5_K super-block.
inline void unpack_scales_k4(const uint8_t* q, int sc[8], int mn[8]) {
  for (int j = 0; j < 4; ++j) {
    sc[j] = q[j] & 63;
    mn[j] = q[j + 4] & 63;
    sc[j + 4] = (q[j + 8] & 0x0f) | ((q[j] >> 6) << 4);
    mn[j + 4] = (q[j + 8] >> 4) | ((q[j + 4] >> 6) << 4);
  }
}

inline __m256i load32(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// sum over 32 lanes of q*x, scaled by the int16 scale vector, as 8 int32 lanes.
inline __m256i scaled_dot(__m256i q, __m256i x, __m256i scale16) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(q, x), scale16);
}

template <bool kHasHigh>
float dot_q45_k(int64_t k, const void* w, const void* xp) {
  const auto* x = static_cast<const BlockQ8_K*>(xp);
  using Block = std::conditional_t<kHasHigh, BlockQ5_K, BlockQ4_K>;
  const auto* a = static_cast<const Block*>(w);
  const __m256i m4 = _mm256_set1_epi8(0x0f);
  __m256 acc = _mm256_setzero_ps();
  float mins = 0.0f;
  for (int64_t i = 0; i < k / QK_K; ++i) {
    int sc[8], mn[8];
    unpack_scales_k4(a[i].scales, sc, mn);
    int sum_m = 0;
    for (int j = 0; j < 8; ++j) sum_m += mn[j] * (x[i].bsums[2 * j] + x[i].bsums[2 * j + 1]);
    __m256i isum = _mm256_setzero_si256();
    __m256i hv = _mm256_setzero_si256();
    if constexpr (kHasHigh) hv = load32(a[i].qh);
    for (int j = 0; j < 4; ++j) {
      const __m256i v = load32(a[i].qs + 32 * j);
      __m256i lo = _mm256_and_si256(v, m4);
      __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
      if constexpr (kHasHigh) {
        const __m256i b0 = _mm256_set1_epi8((char)(1 << (2 * j)));
        const __m256i b1 = _mm256_set1_epi8((char)(1 << (2 * j + 1)));
        const __m256i sixteen = _mm256_set1_epi8(0x10);
        lo = _mm256_or_si256(lo, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(hv, b0), b0), sixteen));
        hi = _mm256_or_si256(hi, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(hv, b1), b1), sixteen));
      }
      isum = _mm256_add_epi32(isum, scaled_dot(lo, load32(x[i].qs + 64 * j), _mm256_set1_epi16((short)sc[2 * j])));
      isum = _mm256_add_epi32(isum, scaled_dot(hi, load32(x[i].qs + 64 * j + 32), _mm256_set1_epi16((short)sc[2 * j + 1])));
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(x[i].d * h2f(a[i].d)), _mm256_cvtepi32_ps(isum), acc);
    mins += x[i].d * h2f(a[i].dmin) * (float)sum_m;
  }
  return hsum8(acc) - mins;
}

inline float dot_q6_k(int64_t k, const void* w, const void* xp) {
  const auto* x = static_cast<const BlockQ8_K*>(xp);
  const auto* a = static_cast<const BlockQ6_K*>(w);
  const __m256i m4 = _mm256_set1_epi8(0x0f), m2 = _mm256_set1_epi8(3);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < k / QK_K; ++i) {
    // q is stored +32: subtract 32 * sum_sb sc[sb] * bsum[sb] once per super-block.
    int offset = 0;
    for (int sb = 0; sb < 16; ++sb) offset += a[i].scales[sb] * x[i].bsums[sb];
    __m256i isum = _mm256_setzero_si256();
    for (int half = 0; half < 2; ++half) {
      const uint8_t* ql = a[i].ql + 64 * half;
      const __m256i qh = load32(a[i].qh + 32 * half);
      const __m256i l0 = load32(ql), l1 = load32(ql + 32);
      const __m256i q[4] = {
          _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(qh, m2), 4)),
          _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m2), 4)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m2), 4)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m2), 4)),
      };
      const int8_t* sc = a[i].scales + 8 * half;
      for (int g = 0; g < 4; ++g) {
        const __m256i s16 = _mm256_set_m128i(_mm_set1_epi16(sc[2 * g + 1]), _mm_set1_epi16(sc[2 * g]));
        isum = _mm256_add_epi32(isum, scaled_dot(q[g], load32(x[i].qs + 128 * half + 32 * g), s16));
      }
    }
    isum = _mm256_sub_epi32(isum, _mm256_setr_epi32(32 * offset, 0, 0, 0, 0, 0, 0, 0));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(x[i].d * h2f(a[i].d)), _mm256_cvtepi32_ps(isum), acc);
  }
  return hsum8(acc);
}

// Q8_K activation quantiser, the same bytes as quantize_act_q8_k_scalar: d = max / -127 of
// the first element of largest magnitude, q = nearest (ties to even: cvtps' default mode).
inline void quantize_act_q8_k_x86(const float* x, void* dst, int64_t k) {
  auto* y = static_cast<BlockQ8_K*>(dst);
  const __m256 sign_bit = _mm256_set1_ps(-0.0f);
  for (int64_t b = 0; b < k / QK_K; ++b) {
    const float* xb = x + b * QK_K;
    __m256 m = _mm256_setzero_ps();
    for (int i = 0; i < QK_K; i += 8) m = _mm256_max_ps(_mm256_andnot_ps(sign_bit, _mm256_loadu_ps(xb + i)), m);
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    const float amax = _mm_cvtss_f32(h);
    if (amax == 0.0f) {
      std::memset(&y[b], 0, sizeof(BlockQ8_K));
      continue;
    }
    float max = 0.0f;
    for (int i = 0; i < QK_K; i += 8) {
      const __m256 a = _mm256_andnot_ps(sign_bit, _mm256_loadu_ps(xb + i));
      const int hit = _mm256_movemask_ps(_mm256_cmp_ps(a, _mm256_set1_ps(amax), _CMP_EQ_OQ));
      if (hit) {
        max = xb[i + __builtin_ctz((unsigned)hit)];
        break;
      }
    }
    const float iscale = -127.0f / max;
    const __m256 vs = _mm256_set1_ps(iscale);
    const __m256i top = _mm256_set1_epi32(127);
    for (int g = 0; g < QK_K / 32; ++g) {
      __m256i v[4];
      for (int i = 0; i < 4; ++i) {
        v[i] = _mm256_min_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xb + 32 * g + 8 * i), vs)), top);
      }
      for (int half = 0; half < 2; ++half) {  // values 16 * half.. of the 32: one bsum
        __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v[2 * half]), _mm256_extracti128_si256(v[2 * half], 1));
        s = _mm_add_epi32(s, _mm_add_epi32(_mm256_castsi256_si128(v[2 * half + 1]),
                                           _mm256_extracti128_si256(v[2 * half + 1], 1)));
        s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
        s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
        y[b].bsums[2 * g + half] = (int16_t)_mm_cvtsi128_si32(s);
      }
      // packs interleave 128-bit lanes; the permute restores element order.
      __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(v[0], v[1]), _mm256_packs_epi32(v[2], v[3]));
      p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[b].qs + 32 * g), p);
    }
    y[b].d = 1.0f / iscale;
  }
}

// Fills `out` for a K-quant type; false for the others.
template <int TM, int TN>
bool x86_kernel_k(DType w_type, MatmulKernel* out) {
  MatmulKernel kern;
  kern.tile_m = TM;
  kern.tile_n = TN;
  switch (w_type) {
    case DType::Q4_K: kern.tile = tile_by_rows<dot_q45_k<false>>; break;
    case DType::Q5_K: kern.tile = tile_by_rows<dot_q45_k<true>>; break;
    case DType::Q6_K: kern.tile = tile_by_rows<dot_q6_k>; break;
    default: return false;
  }
  kern.act_type = DType::Q8_K;
  kern.quantize = quantize_act_q8_k_x86;
  *out = kern;
  return true;
}

}  // namespace
}  // namespace nm
