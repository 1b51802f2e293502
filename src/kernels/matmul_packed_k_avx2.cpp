// AVX2 kernels for the packed K-quant layouts (matmul_packed_k.h), Q8_K activations, for
// x86 CPUs without AVX-512: the 64 bytes of one chunk of 16 rows are two 256-bit registers
// (rows 0-7, 8-15), each int32 lane one output row. A tile is 16 rows x up to 4 activation
// rows: each weight register is decoded once and meets 4 broadcast activation words through
// maddubs, whose int16 results add up over as many chunks as cannot overflow (a Q4_K
// sub-block's 8, Q5_K 4, Q6_K 2) before one madd by the sub-block's scale (int16 in both
// halves of the lane); so the super-block's sum is exact in int32 (the same integers as the
// AVX-512 kernels), and maddubs, not madd, fills the two multiply pipes. The activation
// offsets (Q4_K/Q5_K mins, Q6_K's 32) go through the Q8_K block sums once per super-block.
#include <immintrin.h>

#include <cstring>
#include <type_traits>
#include <utility>

#include "kernels/matmul_packed_k_run.h"
#include "kernels/matmul_packed_k_x86.h"

namespace nm {
namespace {

// Register tiles of 4 activation rows: 4 x 2 int16 sums + 2 weight registers stay in the 16
// registers (the int32 and float sums live in L1). A call takes up to 16 rows, for which the
// scales are decoded once.
constexpr int kRegTileN = 4, kTileN = compiled_tile(16);

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
// An empty asm that claims to change v: GCC reassociated the chains of int16 adds into trees
// over all of a sub-block's products, whose live values spilled (~1.6 stores or reloads per
// maddubs); this keeps each chain in one register.
inline void in_register(__m256i& v) { __asm__("" : "+x"(v)); }
// int32 lanes v (|v| < 2^15) -> the int16 value in both halves of each lane
inline __m256i dup16(__m256i v) {
  return _mm256_or_si256(_mm256_and_si256(v, _mm256_set1_epi32(0xffff)), _mm256_slli_epi32(v, 16));
}

// One super-block's scales, per half (rows 0-7, 8-15).
struct Scales {
  __m256i sc16[16][2];  // sub-block scale, int16 in both halves of each row's lane
  // int16 pairs: what the activation block sums 2p, 2p+1 are multiplied by; formats with
  // sub-blocks of 32 (kSums32): what the sums of activation values 64p.. and 64p + 32.. are
  // multiplied by, p < 4
  __m256i off[8][2];
  __m256 d[2], dmin[2];
};

inline void scales_k4(const uint8_t* s, Scales& out) {
  __m128i sc[8], mn[8];
  k4_scale_bytes(s, sc, mn);
  const auto half = [](__m128i v, int h) { return _mm256_cvtepu8_epi32(h ? _mm_unpackhi_epi64(v, v) : v); };
  for (int h = 0; h < 2; ++h) {  // rows 8h..8h+7
    for (int j = 0; j < 8; ++j) out.sc16[j][h] = dup16(half(sc[j], h));
    for (int p = 0; p < 4; ++p) out.off[p][h] = _mm256_or_si256(half(mn[2 * p], h), _mm256_slli_epi32(half(mn[2 * p + 1], h), 16));
  }
}

// The 16 rows' values of chunk CI of a record of layout P (matmul_packed_k.h), half h, with
// the record's low-bit fields at lo and its high-bit fields at hi (both rec itself, or moved
// on by whole periods: see Period).
template <class P, int CI>
inline __m256i chunk_values(const uint8_t* lo_rec, const uint8_t* hi_rec, int h) {
  const __m256i lo = _mm256_and_si256(shift_bits<-P::lo_shift(CI)>(load32(lo_rec + P::lo_chunk(CI) + 32 * h)), bytes(P::lo_mask));
  if constexpr (P::hi_mask == 0) return lo;
  else return and_or(shift_bits<P::hi_pos - P::hi_shift(CI)>(load32(hi_rec + P::hi_chunk(CI) + 32 * h)), bytes(P::hi_mask), lo);
}

// Formats as in matmul_packed_k_avx512.cpp.
// Q4_K and Q5_K: 8 sub-blocks of 32 with 6-bit scales and mins.
template <class L>
struct FK4 {
  using Layout = L;
  static constexpr int kSubBlocks = 8;
  static constexpr bool kMin = true, kSums32 = true;
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
  static constexpr bool kMin = false, kSums32 = false;
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
  static constexpr bool kMin = true, kSums32 = false;
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
  static constexpr bool kMin = false, kSums32 = false;
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

// Chunks whose maddubs results one int16 lane can sum: each maddubs adds two products of a
// value (at most lo_mask | hi_mask) and an activation (|x| <= 128), so Q4_K sums a whole
// sub-block of 8 chunks before one madd with the scale, Q5_K 4, Q6_K 2.
template <class F>
constexpr int int16_chunks() {
  constexpr int kChunks = 64 / F::kSubBlocks, kMax = F::Layout::lo_mask | F::Layout::hi_mask;
  constexpr int kFit = 32767 / (2 * kMax * 128);
  return kFit < kChunks ? kFit : kChunks;
}

// The record as a run-time loop over periods of kSubBlocks sub-blocks, whose code is
// unrolled: the layout's chunk offsets advance by lo_stride / hi_stride bytes per period and
// its shifts repeat. Q4_K: periods of 2 sub-blocks (16 chunks), Q2_K and Q6_K 8; Q3_K and
// Q5_K (a shift per sub-block) one period. A fully unrolled Q4_K record was ~2,400
// instructions, more than the op cache holds.
template <class F>
struct Period {
  using L = typename F::Layout;
  static constexpr int kChunksPerSub = 64 / F::kSubBlocks;
  static constexpr bool repeats(int subs) {
    const int pc = subs * kChunksPerSub;
    for (int ci = 0; ci < 64; ++ci) {
      const int q = ci / pc, u = ci % pc;
      if (L::lo_chunk(ci) != L::lo_chunk(u) + q * (L::lo_chunk(pc % 64) - L::lo_chunk(0)) ||
          L::lo_shift(ci) != L::lo_shift(u)) {
        return false;
      }
      if (L::hi_mask != 0 && (L::hi_chunk(ci) != L::hi_chunk(u) + q * (L::hi_chunk(pc % 64) - L::hi_chunk(0)) ||
                              L::hi_shift(ci) != L::hi_shift(u))) {
        return false;
      }
    }
    return true;
  }
  static constexpr int find() {
    for (int subs = 1; subs < F::kSubBlocks; subs *= 2) {
      if (F::kSubBlocks % subs == 0 && repeats(subs)) return subs;
    }
    return F::kSubBlocks;
  }
  static constexpr int kSubBlocks = find(), kChunks = kSubBlocks * kChunksPerSub;
  static constexpr int64_t lo_stride = L::lo_chunk(kChunks % 64) - L::lo_chunk(0);
  static constexpr int64_t hi_stride = L::hi_mask ? L::hi_chunk(kChunks % 64) - L::hi_chunk(0) : 0;
};

// Chunks C0.. C0 + G - 1 of a period (in one sub-block of it) for NH halves of the 16 rows
// (lo, hi and sc already at the first) against NX activation rows: int16 sums of G chunks,
// then madd by the sub-block's scale into the int32 sums. Each weight register is decoded
// once for the NX rows. This and its callers are always inlined: GCC called Q6_K's groups
// and periods as functions, the sums passed through memory.
template <class F, int NX, int NH, int C0>
[[gnu::always_inline]] inline void chunk_group(const uint8_t* lo, const uint8_t* hi, const __m256i* sc,
                                               const int8_t* const (&xq)[NX], __m256i (&isum)[NX][NH]) {
  __m256i acc[NX][NH];
  [&]<int... T>(std::integer_sequence<int, T...>) __attribute__((always_inline)) {
    ([&]() __attribute__((always_inline)) {
      for (int h = 0; h < NH; ++h) {
        const __m256i w = chunk_values<typename F::Layout, C0 + T>(lo, hi, h);
        for (int c = 0; c < NX; ++c) {
          const __m256i p = _mm256_maddubs_epi16(w, broadcast4(xq[c] + 4 * (C0 + T)));
          acc[c][h] = T == 0 ? p : _mm256_add_epi16(acc[c][h], p);
          in_register(acc[c][h]);
        }
      }
    }(), ...);
  }(std::make_integer_sequence<int, int16_chunks<F>()>{});
  for (int c = 0; c < NX; ++c) {
    for (int h = 0; h < NH; ++h) isum[c][h] = _mm256_add_epi32(isum[c][h], _mm256_madd_epi16(acc[c][h], sc[h]));
  }
}

// One record's integer sums: the periods in a loop, each period's chunk groups unrolled.
// Formats that madd every 2 or 4 chunks (Q6_K, Q5_K, ...) take the two halves of the rows
// one after the other: 4 int16 + 4 int32 sums stay in registers, where 8 + 8 spilled.
template <class F, int NX>
[[gnu::always_inline]] inline void record_sums(const uint8_t* rec, const Scales& s, const int8_t* const (&xq)[NX],
                                               __m256i (&isum)[NX][2]) {
  using Per = Period<F>;
  constexpr int G = int16_chunks<F>(), kPerSub = Per::kChunksPerSub, NH = G >= 8 ? 2 : 1;
  static_assert(kPerSub % G == 0);
  for (int h0 = 0; h0 < 2; h0 += NH) {
    __m256i part[NX][NH];
    for (int c = 0; c < NX; ++c)
      for (int h = 0; h < NH; ++h) part[c][h] = _mm256_setzero_si256();
    for (int q = 0; q < F::kSubBlocks / Per::kSubBlocks; ++q) {
      const uint8_t* lo = rec + q * Per::lo_stride + 32 * h0;
      const uint8_t* hi = rec + q * Per::hi_stride + 32 * h0;
      const int8_t* xp[NX];
      for (int c = 0; c < NX; ++c) xp[c] = xq[c] + 4 * q * Per::kChunks;
      [&]<int... P>(std::integer_sequence<int, P...>) __attribute__((always_inline)) {
        (chunk_group<F, NX, NH, P * G>(lo, hi, s.sc16[q * Per::kSubBlocks + P * G / kPerSub] + h0, xp, part), ...);
      }(std::make_integer_sequence<int, Per::kChunks / G>{});
    }
    for (int c = 0; c < NX; ++c)
      for (int h = 0; h < NH; ++h) isum[c][h0 + h] = part[c][h];
  }
}

// NX activation rows (c0.. of the call) against super-block b of one group: the record's
// integer sums, then the float sums acc (in L1) updated.
template <class F, int NX>
[[gnu::always_inline]] inline void sub_tile(const uint8_t* rec, const Scales& s, const BlockQ8_K* const* xr, int64_t b, __m256 (*acc)[2]) {
  const int8_t* xq[NX];
  __m256i isum[NX][2];
  for (int c = 0; c < NX; ++c) {
    xq[c] = xr[c][b].qs;
    isum[c][0] = isum[c][1] = _mm256_setzero_si256();
  }
  record_sums<F, NX>(rec, s, xq, isum);
  for (int c = 0; c < NX; ++c) {
    const __m256 dx = _mm256_set1_ps(xr[c][b].d);
    [[maybe_unused]] __m256i sums32[4];  // (sum of values 64p.., sum of 64p + 32..), int16 in every lane
    if constexpr (F::kSums32) {
      // 8 sums of 32 values (< 2^13: no saturation in packs); packs leaves sums 0-3 in the low
      // half's dwords 0-1, sums 4-7 in the high half's
      const __m256i s32 = _mm256_madd_epi16(load32(reinterpret_cast<const uint8_t*>(xr[c][b].bsums)), _mm256_set1_epi16(1));
      const __m256i s16 = _mm256_packs_epi32(s32, s32);
      for (int p = 0; p < 4; ++p) sums32[p] = _mm256_permutevar8x32_epi32(s16, _mm256_set1_epi32(p % 2 + 4 * (p / 2)));
    }
    for (int h = 0; h < 2; ++h) {
      __m256i osum = _mm256_setzero_si256();
      if constexpr (F::kSums32) {
        for (int p = 0; p < 4; ++p) osum = _mm256_add_epi32(osum, _mm256_madd_epi16(s.off[p][h], sums32[p]));
      } else {
        for (int p = 0; p < 8; ++p) {
          osum = _mm256_add_epi32(osum, _mm256_madd_epi16(s.off[p][h], broadcast4(xr[c][b].bsums + 2 * p)));
        }
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

// One group of 16 rows x nx <= kTileN activation rows: per super-block the scales are
// decoded once for all nx rows, which go through register tiles of 4 (then 3, 2 or 1).
// Each output's float sum takes the same steps whatever nx, so one row alone gets the bits
// it gets in a batch.
template <class F>
void group_tile(int64_t nsb, const uint8_t* wg, const BlockQ8_K* const* xr, int nx, float* y, int64_t y_stride) {
  __m256 acc[kTileN][2];
  for (int c = 0; c < nx; ++c) acc[c][0] = acc[c][1] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nsb; ++b) {
    const uint8_t* rec = wg + b * F::Layout::bytes;
    Scales s;
    F::scales(rec, s);
    int c = 0;
    for (; c + kRegTileN <= nx; c += kRegTileN) sub_tile<F, kRegTileN>(rec, s, xr + c, b, acc + c);
    switch (nx - c) {
      case 3: sub_tile<F, 3>(rec, s, xr + c, b, acc + c); break;
      case 2: sub_tile<F, 2>(rec, s, xr + c, b, acc + c); break;
      case 1: sub_tile<F, 1>(rec, s, xr + c, b, acc + c); break;
      default: break;
    }
  }
  for (int c = 0; c < nx; ++c) {
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
    group_tile<F>(nsb, wg, xr, NX, y, y_stride);
  }
};

}  // namespace

bool packed_k_kernel_avx2(DType w_type, PackedKernel* out) { return packed_k_kernel<Tile, kTileN>(w_type, out); }

}  // namespace nm
