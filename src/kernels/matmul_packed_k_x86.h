// SSE parts shared by the AVX2 and AVX-512 packed K-quant kernels (include only from
// matmul_packed_k_avx2.cpp / _avx512.cpp, each compiling it with its own flags): the 6-bit
// scale fields of a record decoded for its 16 rows, one byte per row in a 128-bit register,
// which each file then widens to its lanes.
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace nm {
namespace {

inline __m128i load16(const uint8_t* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); }

// Q4_K / Q5_K: the 8 scales and 8 mins from scales[12][16] (byte b of each row's 12).
inline void k4_scale_bytes(const uint8_t* s, __m128i (&sc)[8], __m128i (&mn)[8]) {
  __m128i b[12];
  for (int i = 0; i < 12; ++i) b[i] = load16(s + 16 * i);
  const __m128i m6 = _mm_set1_epi8(63), m4 = _mm_set1_epi8(15), hi2 = _mm_set1_epi8(0x30);
  for (int j = 0; j < 4; ++j) {
    sc[j] = _mm_and_si128(b[j], m6);
    mn[j] = _mm_and_si128(b[j + 4], m6);
    // bits 6-7 of bytes j and j+4 are bits 4-5 of scale and min j+4 (srli by 2 keeps them in their byte)
    sc[j + 4] = _mm_or_si128(_mm_and_si128(b[j + 8], m4), _mm_and_si128(_mm_srli_epi16(b[j], 2), hi2));
    mn[j + 4] = _mm_or_si128(_mm_and_si128(_mm_srli_epi16(b[j + 8], 4), m4), _mm_and_si128(_mm_srli_epi16(b[j + 4], 2), hi2));
  }
}

// Q3_K: the 16 scales (unsigned, stored + 32) from scales[12][16].
inline void q3_scale_bytes(const uint8_t* s, __m128i (&u)[16]) {
  __m128i b[12];
  for (int i = 0; i < 12; ++i) b[i] = load16(s + 16 * i);
  const __m128i m4 = _mm_set1_epi8(15), m2 = _mm_set1_epi8(3);
  for (int i = 0; i < 16; ++i) {
    const __m128i lo = _mm_and_si128(i < 8 ? b[i] : _mm_srli_epi16(b[i - 8], 4), m4);
    const __m128i hi = _mm_and_si128(_mm_srli_epi16(b[8 + i % 4], 2 * (i / 4)), m2);
    u[i] = _mm_or_si128(lo, _mm_slli_epi16(hi, 4));
  }
}

}  // namespace
}  // namespace nm
