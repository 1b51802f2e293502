// AVX2 kernels for the packed K-quant layouts (matmul_packed_k.h), Q8_K activations, for
// x86 CPUs without AVX-512: the 64 bytes of one chunk of 16 rows are two 256-bit registers
// (rows 0-7, 8-15), each int32 lane one output row. maddubs + madd multiply 4 u8 weights by
// 4 broadcast s8 activations and by the sub-block's scale (int16 in both halves of the lane)
// in two instructions, so the super-block's sum is exact in int32 (the same integers as the
// AVX-512 kernels); the activation offsets (Q4_K/Q5_K mins, Q6_K's 32) go through the Q8_K
// block sums once per super-block.
#include <immintrin.h>

#include <cstring>
#include <type_traits>
#include <utility>

#include "kernels/matmul_packed_k_run.h"
#include "kernels/matmul_packed_k_x86.h"

namespace nm {
namespace {

constexpr int kTileN = 2;  // 2 x (2 int + 2 float) accumulators + weights and scale fit the 16 registers

inline __m256i broadcast4(const void* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}
inline __m256i load32(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
inline __m256 load_f16x8(const uint8_t* p) { return _mm256_cvtph_ps(load16(p)); }
inline __m256i bytes(int v) { return _mm256_set1_epi8((char)v); }
inline __m256i and_or(__m256i a, __m256i b, __m256i c) { return _mm256_or_si256(_mm256_and_si256(a, b), c); }
template <int S>
inline __m256i shift_bits(__m256i v) {  // every byte's bits left by S (right by -S); see the AVX-512 file
  if constexpr (S > 0) return _mm256_slli_epi16(v, S);
  else if constexpr (S < 0) return _mm256_srli_epi16(v, -S);
  else return v;
}
// int32 lanes v (|v| < 2^15) -> the int16 value in both halves of each lane
inline __m256i dup16(__m256i v) {
  return _mm256_or_si256(_mm256_and_si256(v, _mm256_set1_epi32(0xffff)), _mm256_slli_epi32(v, 16));
}

// One super-block's scales, per half (rows 0-7, 8-15).
struct Scales {
  __m256i sc16[16][2];  // sub-block scale, int16 in both halves of each row's lane
  __m256i off[8][2];    // int16 pairs: what the activation block sums 2p, 2p+1 are multiplied by
  __m256 d[2], dmin[2];
};

inline void scales_k4(const uint8_t* s, Scales& out) {
  __m128i sc[8], mn[8];
  k4_scale_bytes(s, sc, mn);
  for (int j = 0; j < 8; ++j) {
    for (int h = 0; h < 2; ++h) {  // rows 8h..8h+7
      out.sc16[j][h] = dup16(_mm256_cvtepu8_epi32(h ? _mm_unpackhi_epi64(sc[j], sc[j]) : sc[j]));
      out.off[j][h] = dup16(_mm256_cvtepu8_epi32(h ? _mm_unpackhi_epi64(mn[j], mn[j]) : mn[j]));  // min j against bsums 2j, 2j+1
    }
  }
}

// The 16 rows' values of chunk CI of a record of layout P (matmul_packed_k.h), half h.
template <class P, int CI>
inline __m256i chunk_values(const uint8_t* rec, int h) {
  const __m256i lo = _mm256_and_si256(shift_bits<-P::lo_shift(CI)>(load32(rec + P::lo_chunk(CI) + 32 * h)), bytes(P::lo_mask));
  if constexpr (P::hi_mask == 0) return lo;
  else return and_or(shift_bits<P::hi_pos - P::hi_shift(CI)>(load32(rec + P::hi_chunk(CI) + 32 * h)), bytes(P::hi_mask), lo);
}

// Formats as in matmul_packed_k_avx512.cpp.
// Q4_K and Q5_K: 8 sub-blocks of 32 with 6-bit scales and mins.
template <class L>
struct FK4 {
  using Layout = L;
  static constexpr int kSubBlocks = 8;
  static constexpr bool kMin = true;
  static void scales(const uint8_t* rec, Scales& s) {
    scales_k4(rec + L::scales, s);
    for (int h = 0; h < 2; ++h) {
      s.d[h] = load_f16x8(rec + L::d + 16 * h);
      s.dmin[h] = load_f16x8(rec + L::dmin + 16 * h);
    }
  }
};

struct FQ6K {
  using Layout = PackedQ6K;
  static constexpr int kSubBlocks = 16;
  static constexpr bool kMin = false;
  static void scales(const uint8_t* rec, Scales& s) {
    for (int p = 0; p < 8; ++p) {
      for (int h = 0; h < 2; ++h) {
        const __m256i v = _mm256_cvtepi8_epi16(load16(rec + PackedQ6K::scales + 32 * p + 16 * h));  // pairs
        s.sc16[2 * p][h] = dup16(_mm256_srai_epi32(_mm256_slli_epi32(v, 16), 16));
        s.sc16[2 * p + 1][h] = dup16(_mm256_srai_epi32(v, 16));
        s.off[p][h] = _mm256_slli_epi16(v, 5);  // q is stored + 32
      }
    }
    for (int h = 0; h < 2; ++h) s.d[h] = load_f16x8(rec + PackedQ6K::d + 16 * h);
  }
};

struct FQ2K {
  using Layout = PackedQ2K;
  static constexpr int kSubBlocks = 16;
  static constexpr bool kMin = true;
  static void scales(const uint8_t* rec, Scales& s) {
    for (int p = 0; p < 8; ++p) {
      for (int h = 0; h < 2; ++h) {
        const __m256i v = _mm256_cvtepu8_epi16(load16(rec + PackedQ2K::scales + 32 * p + 16 * h));  // pairs
        const __m256i sc = _mm256_and_si256(v, _mm256_set1_epi16(15));
        s.sc16[2 * p][h] = dup16(_mm256_and_si256(sc, _mm256_set1_epi32(0xffff)));
        s.sc16[2 * p + 1][h] = dup16(_mm256_srli_epi32(sc, 16));
        s.off[p][h] = _mm256_srli_epi16(v, 4);  // the mins
      }
    }
    for (int h = 0; h < 2; ++h) {
      s.d[h] = load_f16x8(rec + PackedQ2K::d + 16 * h);
      s.dmin[h] = load_f16x8(rec + PackedQ2K::dmin + 16 * h);
    }
  }
};

struct FQ3K {
  using Layout = PackedQ3K;
  static constexpr int kSubBlocks = 16;
  static constexpr bool kMin = false;
  static void scales(const uint8_t* rec, Scales& s) {
    __m128i u[16];
    q3_scale_bytes(rec + PackedQ3K::scales, u);
    __m256i sc[16][2];
    for (int i = 0; i < 16; ++i) {
      for (int h = 0; h < 2; ++h) {
        sc[i][h] = _mm256_sub_epi32(_mm256_cvtepu8_epi32(h ? _mm_unpackhi_epi64(u[i], u[i]) : u[i]), _mm256_set1_epi32(32));
        s.sc16[i][h] = dup16(sc[i][h]);
      }
    }
    for (int p = 0; p < 8; ++p) {
      for (int h = 0; h < 2; ++h) {
        const __m256i pair = _mm256_or_si256(_mm256_and_si256(sc[2 * p][h], _mm256_set1_epi32(0xffff)),
                                             _mm256_slli_epi32(sc[2 * p + 1][h], 16));
        s.off[p][h] = _mm256_slli_epi16(pair, 2);  // q is stored + 4
      }
    }
    for (int h = 0; h < 2; ++h) s.d[h] = load_f16x8(rec + PackedQ3K::d + 16 * h);
  }
};

template <class L> struct FormatOf { using type = FK4<L>; };  // Q4_K, Q5_K
template <> struct FormatOf<PackedQ2K> { using type = FQ2K; };
template <> struct FormatOf<PackedQ3K> { using type = FQ3K; };
template <> struct FormatOf<PackedQ6K> { using type = FQ6K; };

template <class F, int NX, int J>
inline void sub_block(const uint8_t* rec, const Scales& s, const int8_t* const (&xq)[NX], __m256i (&isum)[NX][2]) {
  constexpr int kChunks = 64 / F::kSubBlocks;
  [&]<int... T>(std::integer_sequence<int, T...>) {
    ([&] {
      constexpr int ci = J * kChunks + T;
      for (int h = 0; h < 2; ++h) {
        const __m256i w = chunk_values<typename F::Layout, ci>(rec, h);
        for (int c = 0; c < NX; ++c) {
          const __m256i p = _mm256_maddubs_epi16(w, broadcast4(xq[c] + 4 * ci));
          isum[c][h] = _mm256_add_epi32(isum[c][h], _mm256_madd_epi16(p, s.sc16[J][h]));
        }
      }
    }(), ...);
  }(std::make_integer_sequence<int, kChunks>{});
}

template <class F, int NX>
void group_tile(int64_t nsb, const uint8_t* wg, const BlockQ8_K* const (&xr)[NX], float* y, int64_t y_stride) {
  __m256 acc[NX][2];
  for (int c = 0; c < NX; ++c) acc[c][0] = acc[c][1] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nsb; ++b) {
    const uint8_t* rec = wg + b * F::Layout::bytes;
    Scales s;
    F::scales(rec, s);
    const int8_t* xq[NX];
    __m256i isum[NX][2];
    for (int c = 0; c < NX; ++c) {
      xq[c] = xr[c][b].qs;
      isum[c][0] = isum[c][1] = _mm256_setzero_si256();
    }
    [&]<int... J>(std::integer_sequence<int, J...>) {
      (sub_block<F, NX, J>(rec, s, xq, isum), ...);
    }(std::make_integer_sequence<int, F::kSubBlocks>{});
    for (int c = 0; c < NX; ++c) {
      const __m256 dx = _mm256_set1_ps(xr[c][b].d);
      for (int h = 0; h < 2; ++h) {
        __m256i osum = _mm256_setzero_si256();
        for (int p = 0; p < 8; ++p) {
          osum = _mm256_add_epi32(osum, _mm256_madd_epi16(s.off[p][h], broadcast4(xr[c][b].bsums + 2 * p)));
        }
        if constexpr (F::kMin) {
          acc[c][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[c][h]), _mm256_mul_ps(s.d[h], dx), acc[c][h]);
          acc[c][h] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(osum), _mm256_mul_ps(s.dmin[h], dx), acc[c][h]);
        } else {
          acc[c][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(isum[c][h], osum)),
                                      _mm256_mul_ps(s.d[h], dx), acc[c][h]);
        }
      }
    }
  }
  for (int c = 0; c < NX; ++c) {
    _mm256_storeu_ps(y + c * y_stride, acc[c][0]);
    _mm256_storeu_ps(y + c * y_stride + 8, acc[c][1]);
  }
}

// The tile for the layout L (matmul_packed_k_run.h).
template <class L>
struct Tile {
  using Layout = L;
  using F = typename FormatOf<L>::type;
  template <int NX>
  static void run(int64_t nsb, const uint8_t* wg, const BlockQ8_K* const (&xr)[NX], float* y, int64_t y_stride) {
    group_tile<F, NX>(nsb, wg, xr, y, y_stride);
  }
};

}  // namespace

bool packed_k_kernel_avx2(DType w_type, PackedKernel* out) { return packed_k_kernel<Tile, kTileN>(w_type, out); }

}  // namespace nm
