// AVX-512 kernels for the packed K-quant layouts (matmul_packed_k.h), Q8_K activations.
// One int32 lane per output row: per super-block a format decodes its 16 rows' scales once,
// then every 4-value chunk of 16 rows (one register) meets 4 activation bytes broadcast.
// With VNNI a sub-block's chunks go through vpdpbusd and the sub-block sum is multiplied by
// its scale (vpmulld); without, maddubs + madd multiply by the scale as they add (int16
// scale in both halves of the lane). Either way the super-block's sum is exact in int32, so
// both ISAs give the same bits, and the activation offsets (Q4_K/Q5_K mins, Q6_K's 32) go
// through the Q8_K block sums once per super-block (int16 pairs, vpdpwssd / madd).
#include "kernels/avx512_gcc_warnings.h"  // before any intrinsics header

#include <immintrin.h>

#include <cstring>
#include <type_traits>
#include <utility>

#include "kernels/matmul_packed_k_run.h"
#include "kernels/matmul_packed_k_x86.h"

namespace nm {
namespace {

// Activation rows per call (2 in sanitized builds: with all 8, ASan + UBSan took over 6
// CPU-minutes on this file).
constexpr int kTileN = compiled_tile(8);

inline __m512i broadcast4(const void* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}
inline __m512i load64(const uint8_t* p) { return _mm512_loadu_si512(p); }
inline __m512 load_f16x16(const uint8_t* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}
inline __m512i bytes(int v) { return _mm512_set1_epi8((char)v); }
// (a & b) | c, one instruction
inline __m512i and_or(__m512i a, __m512i b, __m512i c) { return _mm512_ternarylogic_epi32(a, b, c, 0xEA); }
// Shifts every byte's bits left by s (right by -s); bits crossing into a neighbouring byte
// are the caller's to mask off.
template <int S>
inline __m512i shift_bits(__m512i v) {
  if constexpr (S > 0) return _mm512_slli_epi16(v, S);
  else if constexpr (S < 0) return _mm512_srli_epi16(v, -S);
  else return v;
}

// What one super-block's dot needs of its 16 rows' scales.
struct Scales {
  __m512i sc[16];  // sub-block scale, int32 per row
  __m512i off[8];  // int16 pairs per row: what the activation block sums 2p, 2p+1 are multiplied by
  __m512 d, dmin;  // dmin: formats with a separate min scale only
};

// Q4_K / Q5_K 6-bit scales and mins of 8 sub-blocks, one byte per row (16 rows).
inline void scales_k4(const uint8_t* s, Scales& out) {
  __m128i sc[8], mn[8];
  k4_scale_bytes(s, sc, mn);
  for (int j = 0; j < 8; ++j) {
    out.sc[j] = _mm512_cvtepu8_epi32(sc[j]);
    const __m512i m = _mm512_cvtepu8_epi32(mn[j]);
    out.off[j] = _mm512_or_si512(m, _mm512_slli_epi32(m, 16));  // min j against bsums 2j, 2j+1
  }
}

// The 16 rows' values of chunk CI of a record of layout P (matmul_packed_k.h). kTimes16:
// a Q4_K high nibble is left in place (16 x the value: one AND instead of a shift and an
// AND; zmm shifts and vpdpbusd share port 0, which bounds the matrix-vector kernel), and
// the caller divides the sub-block's sum by 16, exactly.
template <class P, int CI, bool kTimes16 = false>
inline __m512i chunk_values(const uint8_t* rec) {
  if constexpr (kTimes16) {
    static_assert(P::lo_shift(CI) == 4 && P::lo_mask == 0x0f && P::hi_mask == 0);
    return _mm512_and_si512(load64(rec + P::lo_chunk(CI)), bytes(0xf0));
  }
  const __m512i lo = _mm512_and_si512(shift_bits<-P::lo_shift(CI)>(load64(rec + P::lo_chunk(CI))), bytes(P::lo_mask));
  if constexpr (P::hi_mask == 0) return lo;
  else return and_or(shift_bits<P::hi_pos - P::hi_shift(CI)>(load64(rec + P::hi_chunk(CI))), bytes(P::hi_mask), lo);
}

// Formats: the record Layout, kSubBlocks sub-blocks per super-block (chunks of 4 values:
// 64 / kSubBlocks per sub-block), kMin whether off is scaled by dmin (else by d and
// subtracted from the sum), scales() the record's Scales.
// Q4_K and Q5_K: 8 sub-blocks of 32 with 6-bit scales and mins.
template <class L>
struct FK4 {
  using Layout = L;
  static constexpr int kSubBlocks = 8;
  static constexpr bool kMin = true;
  static void scales(const uint8_t* rec, Scales& s) {
    scales_k4(rec + L::scales, s);
    s.d = load_f16x16(rec + L::d);
    s.dmin = load_f16x16(rec + L::dmin);
  }
};

struct FQ6K {
  using Layout = PackedQ6K;
  static constexpr int kSubBlocks = 16;
  static constexpr bool kMin = false;
  static void scales(const uint8_t* rec, Scales& s) {
    for (int p = 0; p < 8; ++p) {
      // int16 pairs (scale 2p, scale 2p+1) per row
      const __m512i v = _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(rec + PackedQ6K::scales + 32 * p)));
      s.sc[2 * p] = _mm512_srai_epi32(_mm512_slli_epi32(v, 16), 16);
      s.sc[2 * p + 1] = _mm512_srai_epi32(v, 16);
      s.off[p] = _mm512_slli_epi16(v, 5);  // q is stored + 32
    }
    s.d = load_f16x16(rec + PackedQ6K::d);
  }
};

// Q2_K: 16 sub-blocks of 16, a 4-bit scale and min per sub-block.
struct FQ2K {
  using Layout = PackedQ2K;
  static constexpr int kSubBlocks = 16;
  static constexpr bool kMin = true;
  static void scales(const uint8_t* rec, Scales& s) {
    for (int p = 0; p < 8; ++p) {
      // int16 pairs (byte 2p, byte 2p+1) per row: scale | min << 4
      const __m512i v = _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(rec + PackedQ2K::scales + 32 * p)));
      const __m512i sc = _mm512_and_si512(v, _mm512_set1_epi16(15));
      s.sc[2 * p] = _mm512_and_si512(sc, _mm512_set1_epi32(0xffff));
      s.sc[2 * p + 1] = _mm512_srli_epi32(sc, 16);
      s.off[p] = _mm512_srli_epi16(v, 4);  // the mins, against bsums 2p, 2p+1
    }
    s.d = load_f16x16(rec + PackedQ2K::d);
    s.dmin = load_f16x16(rec + PackedQ2K::dmin);
  }
};

// Q3_K: 16 sub-blocks of 16, 6-bit scales (stored + 32), values stored + 4.
struct FQ3K {
  using Layout = PackedQ3K;
  static constexpr int kSubBlocks = 16;
  static constexpr bool kMin = false;
  static void scales(const uint8_t* rec, Scales& s) {
    __m128i u[16];
    q3_scale_bytes(rec + PackedQ3K::scales, u);
    for (int i = 0; i < 16; ++i) s.sc[i] = _mm512_sub_epi32(_mm512_cvtepu8_epi32(u[i]), _mm512_set1_epi32(32));
    for (int p = 0; p < 8; ++p) {
      const __m512i pair = _mm512_or_si512(_mm512_and_si512(s.sc[2 * p], _mm512_set1_epi32(0xffff)),
                                           _mm512_slli_epi32(s.sc[2 * p + 1], 16));
      s.off[p] = _mm512_slli_epi16(pair, 2);  // q is stored + 4
    }
    s.d = load_f16x16(rec + PackedQ3K::d);
  }
};

// acc + the 16 lanes' sums of 4 u8 x s8 products, each times scale (int32 per lane, VNNI:
// applied by the caller once per sub-block) -- see the file comment.
template <bool kVnni>
inline __m512i dot_chunk(__m512i acc, __m512i w, __m512i x, __m512i scale16) {
  if constexpr (kVnni) return _mm512_dpbusd_epi32(acc, w, x);
  return _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_maddubs_epi16(w, x), scale16));
}
template <bool kVnni>
inline __m512i dot_pairs16(__m512i acc, __m512i a, __m512i b) {
  if constexpr (kVnni) return _mm512_dpwssd_epi32(acc, a, b);
  return _mm512_add_epi32(acc, _mm512_madd_epi16(a, b));
}

// Per column, what a super-block has summed so far. VNNI: run, the vpdpbusd sums of every
// chunk so far (never reset), and fsum, the float sum over finished sub-blocks j of
// run_j * (scale_j - scale_j+1) -- by Abel summation, sum_j scale_j * dot_j once the last
// sub-block is in -- which costs two instructions per sub-block and column (cvt, fma) where
// resetting a per-sub-block sum and vpmulld by its scale cost four, and needs no zeroed
// register per sub-block. Without VNNI: isum, the exact sum (madd applies the scale).
template <bool kVnni, int NX>
struct Sums {
  __m512i run[NX];  // VNNI: running dot; else: the exact scaled sum
  __m512 fsum[NX];  // VNNI only
};

// One sub-block J of every column.
template <class F, bool kVnni, int NX, int J>
inline void sub_block(const uint8_t* rec, const Scales& s, const __m512* scale_steps, const int8_t* const (&xq)[NX],
                      Sums<kVnni, NX>& sums) {
  constexpr int kChunks = 64 / F::kSubBlocks;
  __m512i scale16 = _mm512_setzero_si512();
  if constexpr (!kVnni) {
    scale16 = _mm512_or_si512(_mm512_and_si512(s.sc[J], _mm512_set1_epi32(0xffff)), _mm512_slli_epi32(s.sc[J], 16));
  }
  // VNNI with few columns: the sub-block's own sum first, then added to run. vpdpbusd has a
  // latency of ~5 cycles, and one chain per column through all 64 chunks of a record made
  // the matrix-vector product latency-bound (Q4_K 26 -> 39 GB/s of CPU time in cache,
  // `bench_kernels --in-cache`); chains of one sub-block each overlap. Same integer sums, so
  // the same bits. From 4 columns on, the columns' chains are enough.
  constexpr bool kSplit = kVnni && NX < 4;
  // Q4_K's odd sub-blocks are high nibbles: summed at 16 x (chunk_values), every product a
  // multiple of 16 (at most 4 x 240 x 128 x 8 in a lane), so >> 4 gives the sum exactly.
  // Without VNNI maddubs would saturate at 16 x.
  using L = typename F::Layout;
  constexpr bool kTimes16 = kSplit && std::is_same_v<L, PackedQ4K> && L::lo_shift(J * kChunks) == 4;
  __m512i part[NX];
  for (int c = 0; c < NX; ++c) part[c] = kSplit ? _mm512_setzero_si512() : sums.run[c];
  [&]<int... T>(std::integer_sequence<int, T...>) {
    ([&] {
      const __m512i w = chunk_values<L, J * kChunks + T, kTimes16>(rec);
      for (int c = 0; c < NX; ++c) {
        const __m512i x = broadcast4(xq[c] + 4 * (J * kChunks + T));
        part[c] = dot_chunk<kVnni>(part[c], w, x, scale16);
      }
    }(), ...);
  }(std::make_integer_sequence<int, kChunks>{});
  if constexpr (kTimes16) {
    for (int c = 0; c < NX; ++c) part[c] = _mm512_srai_epi32(part[c], 4);
  }
  for (int c = 0; c < NX; ++c) {
    sums.run[c] = kSplit ? _mm512_add_epi32(sums.run[c], part[c]) : part[c];
    if constexpr (kVnni) {
      sums.fsum[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums.run[c]), scale_steps[J], sums.fsum[c]);
    }
  }
}

// One group of 16 weight rows x NX activation rows; y[c * y_stride + r], r < 16.
template <class F, bool kVnni, int NX>
void group_tile(int64_t nsb, const uint8_t* wg, const BlockQ8_K* const (&xr)[NX], float* y, int64_t y_stride) {
  __m512 acc[NX];
  for (int c = 0; c < NX; ++c) acc[c] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nsb; ++b) {
    const uint8_t* rec = wg + b * F::Layout::bytes;
    Scales s;
    F::scales(rec, s);
    __m512 scale_steps[F::kSubBlocks];  // VNNI: scale_j - scale_j+1 (0 past the last)
    if constexpr (kVnni) {
      for (int j = 0; j < F::kSubBlocks; ++j) {
        const __m512i next = j + 1 < F::kSubBlocks ? s.sc[j + 1] : _mm512_setzero_si512();
        scale_steps[j] = _mm512_cvtepi32_ps(_mm512_sub_epi32(s.sc[j], next));
      }
    }
    const int8_t* xq[NX];
    Sums<kVnni, NX> sums;
    for (int c = 0; c < NX; ++c) {
      xq[c] = xr[c][b].qs;
      sums.run[c] = _mm512_setzero_si512();
      sums.fsum[c] = _mm512_setzero_ps();
    }
    [&]<int... J>(std::integer_sequence<int, J...>) {
      (sub_block<F, kVnni, NX, J>(rec, s, scale_steps, xq, sums), ...);
    }(std::make_integer_sequence<int, F::kSubBlocks>{});
    for (int c = 0; c < NX; ++c) {
      __m512i osum = _mm512_setzero_si512();
      for (int p = 0; p < 8; ++p) osum = dot_pairs16<kVnni>(osum, s.off[p], broadcast4(xr[c][b].bsums + 2 * p));
      const __m512 dx = _mm512_set1_ps(xr[c][b].d);
      const __m512 sum = kVnni ? sums.fsum[c] : _mm512_cvtepi32_ps(sums.run[c]);
      if constexpr (F::kMin) {
        acc[c] = _mm512_fmadd_ps(sum, _mm512_mul_ps(s.d, dx), acc[c]);
        acc[c] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(osum), _mm512_mul_ps(s.dmin, dx), acc[c]);
      } else {
        acc[c] = _mm512_fmadd_ps(_mm512_sub_ps(sum, _mm512_cvtepi32_ps(osum)), _mm512_mul_ps(s.d, dx), acc[c]);
      }
    }
  }
  for (int c = 0; c < NX; ++c) _mm512_storeu_ps(y + c * y_stride, acc[c]);
}

template <class L> struct FormatOf { using type = FK4<L>; };  // Q4_K, Q5_K
template <> struct FormatOf<PackedQ2K> { using type = FQ2K; };
template <> struct FormatOf<PackedQ3K> { using type = FQ3K; };
template <> struct FormatOf<PackedQ6K> { using type = FQ6K; };

// The tile for the layout L (matmul_packed_k_run.h).
template <bool kVnni>
struct Tiles {
  template <class L>
  struct Tile {
    using Layout = L;
    using F = typename FormatOf<L>::type;
    template <int NX>
    static void run(int64_t nsb, const uint8_t* wg, const BlockQ8_K* const (&xr)[NX], float* y, int64_t y_stride) {
      group_tile<F, kVnni, NX>(nsb, wg, xr, y, y_stride);
    }
  };
};

}  // namespace

bool packed_k_kernel_avx512(DType w_type, bool vnni, PackedKernel* out) {
  return vnni ? packed_k_kernel<Tiles<true>::Tile, kTileN>(w_type, out)
              : packed_k_kernel<Tiles<false>::Tile, kTileN>(w_type, out);
}

}  // namespace nm
