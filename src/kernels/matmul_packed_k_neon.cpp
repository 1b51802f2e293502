// NEON kernels for the packed K-quant layouts (matmul_packed_k.h), Q8_K activations: the
// 64 bytes of one chunk of 16 rows are four 128-bit registers (rows 0-3, 4-7, 8-11, 12-15);
// sdot (vdotq_s32) with the activation's matching 4 bytes broadcast advances 4 rows, each
// int32 lane one output row. A group is run as two halves of 8 rows (fewer live registers:
// 2 columns x (2 sub-block sums + 2 super-block sums + 4 float accumulators)). A sub-block's
// sum is multiplied by its scale with one vmlaq per 4 rows, so the super-block's sum is exact
// in int32, as on x86. sdot multiplies signed bytes, so Q6_K's values are made signed (q - 32)
// as they are decoded and need no offset; Q4_K/Q5_K mins go through the Q8_K block sums. Plain
// NEON (no dotprod) runs the same code with sdot emulated by widening multiplies.
#include <arm_neon.h>

#include <cstring>
#include <type_traits>
#include <utility>

#include "kernels/matmul_packed_k_run.h"

namespace nm {
namespace {

constexpr int kTileN = 2;

inline int8x16_t broadcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return vreinterpretq_s8_s32(vdupq_n_s32(v));
}

// acc + per int32 lane the sum of the 4 products of its bytes.
template <bool kDot>
inline int32x4_t dot4(int32x4_t acc, int8x16_t a, int8x16_t b) {
  if constexpr (kDot) {
    return vdotq_s32(acc, a, b);
  } else {
    const int16x8_t lo = vmull_s8(vget_low_s8(a), vget_low_s8(b));
    const int16x8_t hi = vmull_high_s8(a, b);
    return vaddq_s32(acc, vpaddq_s32(vpaddlq_s16(lo), vpaddlq_s16(hi)));
  }
}

// One super-block's scales for 8 rows (half h of a group): two registers of 4 rows each.
struct Scales {
  int32x4_t sc[16][2];  // sub-block scale per row
  int16x8_t mn[16];     // kMins: min per row (8 rows) of each sub-block
  float32x4_t d[2], dmin[2];
};

inline int32x4_t widen_lo(uint8x8_t v) { return vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(vmovl_u8(v)))); }
inline int32x4_t widen_hi(uint8x8_t v) { return vreinterpretq_s32_u32(vmovl_u16(vget_high_u16(vmovl_u8(v)))); }
inline float32x4_t load_f16x4(const uint8_t* p) {
  return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(reinterpret_cast<const uint16_t*>(p))));
}

// Q4_K and Q5_K: 8 sub-blocks of 32 with 6-bit scales and mins (rows 8h..8h+7).
template <class L>
struct FK4 {
  using Layout = L;
  static constexpr int kSubBlocks = 8;
  static constexpr int kSignedOffset = 0;
  static constexpr bool kMins = true;  // min j against bsums 2j + 2j+1
  static void scales(const uint8_t* rec, int h, Scales& s) {
    uint8x8_t b[12];
    for (int i = 0; i < 12; ++i) b[i] = vld1_u8(rec + L::scales + 16 * i + 8 * h);
    const uint8x8_t m6 = vdup_n_u8(63), m4 = vdup_n_u8(15), hi2 = vdup_n_u8(0x30);
    for (int j = 0; j < 4; ++j) {
      const uint8x8_t sc_lo = vand_u8(b[j], m6), mn_lo = vand_u8(b[j + 4], m6);
      const uint8x8_t sc_hi = vorr_u8(vand_u8(b[j + 8], m4), vand_u8(vshr_n_u8(b[j], 2), hi2));
      const uint8x8_t mn_hi = vorr_u8(vshr_n_u8(b[j + 8], 4), vand_u8(vshr_n_u8(b[j + 4], 2), hi2));
      s.sc[j][0] = widen_lo(sc_lo);
      s.sc[j][1] = widen_hi(sc_lo);
      s.sc[j + 4][0] = widen_lo(sc_hi);
      s.sc[j + 4][1] = widen_hi(sc_hi);
      s.mn[j] = vreinterpretq_s16_u16(vmovl_u8(mn_lo));
      s.mn[j + 4] = vreinterpretq_s16_u16(vmovl_u8(mn_hi));
    }
    for (int q = 0; q < 2; ++q) {
      s.d[q] = load_f16x4(rec + L::d + 16 * h + 8 * q);
      s.dmin[q] = load_f16x4(rec + L::dmin + 16 * h + 8 * q);
    }
  }
};

struct FQ6K {
  using Layout = PackedQ6K;
  static constexpr int kSubBlocks = 16;
  static constexpr int kSignedOffset = 32;
  static constexpr bool kMins = false;
  static void scales(const uint8_t* rec, int h, Scales& s) {
    for (int p = 0; p < 8; ++p) {
      const int8x16_t v = vld1q_s8(reinterpret_cast<const int8_t*>(rec + PackedQ6K::scales + 32 * p + 16 * h));
      // bytes (row 0: 2p, 2p+1), (row 1: ...): the even ones are the 8 rows' scale 2p
      const int16x8_t e = vmovl_s8(vget_low_s8(vuzp1q_s8(v, v))), o = vmovl_s8(vget_low_s8(vuzp2q_s8(v, v)));
      s.sc[2 * p][0] = vmovl_s16(vget_low_s16(e));
      s.sc[2 * p][1] = vmovl_s16(vget_high_s16(e));
      s.sc[2 * p + 1][0] = vmovl_s16(vget_low_s16(o));
      s.sc[2 * p + 1][1] = vmovl_s16(vget_high_s16(o));
    }
    for (int q = 0; q < 2; ++q) s.d[q] = load_f16x4(rec + PackedQ6K::d + 16 * h + 8 * q);
  }
};

// Q2_K: 16 sub-blocks of 16, a 4-bit scale and min per sub-block (min s against bsum s).
struct FQ2K {
  using Layout = PackedQ2K;
  static constexpr int kSubBlocks = 16;
  static constexpr int kSignedOffset = 0;
  static constexpr bool kMins = true;
  static void scales(const uint8_t* rec, int h, Scales& s) {
    for (int p = 0; p < 8; ++p) {
      const uint8x16_t v = vld1q_u8(rec + PackedQ2K::scales + 32 * p + 16 * h);  // (2p, 2p+1) per row
      const uint8x8_t even = vget_low_u8(vuzp1q_u8(v, v)), odd = vget_low_u8(vuzp2q_u8(v, v));
      const uint8x8_t m4 = vdup_n_u8(15);
      s.sc[2 * p][0] = widen_lo(vand_u8(even, m4));
      s.sc[2 * p][1] = widen_hi(vand_u8(even, m4));
      s.sc[2 * p + 1][0] = widen_lo(vand_u8(odd, m4));
      s.sc[2 * p + 1][1] = widen_hi(vand_u8(odd, m4));
      s.mn[2 * p] = vreinterpretq_s16_u16(vmovl_u8(vshr_n_u8(even, 4)));
      s.mn[2 * p + 1] = vreinterpretq_s16_u16(vmovl_u8(vshr_n_u8(odd, 4)));
    }
    for (int q = 0; q < 2; ++q) {
      s.d[q] = load_f16x4(rec + PackedQ2K::d + 16 * h + 8 * q);
      s.dmin[q] = load_f16x4(rec + PackedQ2K::dmin + 16 * h + 8 * q);
    }
  }
};

// Q3_K: 16 sub-blocks of 16, 6-bit scales (stored + 32), values stored + 4.
struct FQ3K {
  using Layout = PackedQ3K;
  static constexpr int kSubBlocks = 16;
  static constexpr int kSignedOffset = 4;
  static constexpr bool kMins = false;
  static void scales(const uint8_t* rec, int h, Scales& s) {
    uint8x8_t b[12];
    for (int i = 0; i < 12; ++i) b[i] = vld1_u8(rec + PackedQ3K::scales + 16 * i + 8 * h);
    const int32x4_t k32 = vdupq_n_s32(32);
    for (int i = 0; i < 16; ++i) {
      const uint8x8_t lo = vand_u8(i < 8 ? b[i] : vshr_n_u8(b[i - 8], 4), vdup_n_u8(15));
      const uint8x8_t hi = vand_u8(vshl_u8(b[8 + i % 4], vdup_n_s8((int8_t)(-2 * (i / 4)))), vdup_n_u8(3));
      const uint8x8_t u = vorr_u8(lo, vshl_n_u8(hi, 4));
      s.sc[i][0] = vsubq_s32(widen_lo(u), k32);
      s.sc[i][1] = vsubq_s32(widen_hi(u), k32);
    }
    for (int q = 0; q < 2; ++q) s.d[q] = load_f16x4(rec + PackedQ3K::d + 16 * h + 8 * q);
  }
};

// Rows 8h + 4q.. of value chunk CI of a record of layout P, as signed bytes (minus the
// format's offset).
template <class F, int CI>
inline int8x16_t chunk_values(const uint8_t* rec, int h, int q) {
  using P = typename F::Layout;
  const uint8x16_t l = vld1q_u8(rec + P::lo_chunk(CI) + 32 * h + 16 * q);
  uint8x16_t w = l;
  if constexpr (P::lo_shift(CI) != 0) w = vshrq_n_u8(l, P::lo_shift(CI));
  // the value's top bits come from hi below (vsli keeps only w's low hi_pos bits), or are
  // already zero when the low bits end the byte
  if constexpr (P::hi_mask == 0 && ((P::lo_mask << P::lo_shift(CI)) & 0x80) == 0) w = vandq_u8(w, vdupq_n_u8(P::lo_mask));
  if constexpr (P::hi_mask != 0) {
    const uint8x16_t hb = vld1q_u8(rec + P::hi_chunk(CI) + 32 * h + 16 * q);
    uint8x16_t top = hb;  // the high bits, moved down to bit 0
    if constexpr (P::hi_shift(CI) != 0) top = vshrq_n_u8(hb, P::hi_shift(CI));
    w = vsliq_n_u8(w, vandq_u8(top, vdupq_n_u8(P::hi_mask >> P::hi_pos)), P::hi_pos);
  }
  int8x16_t v = vreinterpretq_s8_u8(w);
  if constexpr (F::kSignedOffset != 0) v = vsubq_s8(v, vdupq_n_s8(F::kSignedOffset));
  return v;
}

template <class F, bool kDot, int NX, int J>
inline void sub_block(const uint8_t* rec, int h, const Scales& s, const int8_t* const (&xq)[NX],
                      int32x4_t (&isum)[NX][2]) {
  constexpr int kChunks = 64 / F::kSubBlocks;
  int32x4_t part[NX][2];
  for (int c = 0; c < NX; ++c) part[c][0] = part[c][1] = vdupq_n_s32(0);
  [&]<int... T>(std::integer_sequence<int, T...>) {
    ([&] {
      constexpr int ci = J * kChunks + T;
      int8x16_t x[NX];
      for (int c = 0; c < NX; ++c) x[c] = broadcast4(xq[c] + 4 * ci);
      for (int q = 0; q < 2; ++q) {
        const int8x16_t w = chunk_values<F, ci>(rec, h, q);
        for (int c = 0; c < NX; ++c) part[c][q] = dot4<kDot>(part[c][q], w, x[c]);
      }
    }(), ...);
  }(std::make_integer_sequence<int, kChunks>{});
  for (int c = 0; c < NX; ++c)
    for (int q = 0; q < 2; ++q) isum[c][q] = vmlaq_s32(isum[c][q], part[c][q], s.sc[J][q]);
}

template <class F, bool kDot, int NX>
void group_tile(int64_t nsb, const uint8_t* wg, const BlockQ8_K* const (&xr)[NX], float* y, int64_t y_stride) {
  float32x4_t acc[NX][4];
  for (int c = 0; c < NX; ++c)
    for (int q = 0; q < 4; ++q) acc[c][q] = vdupq_n_f32(0.0f);
  for (int64_t b = 0; b < nsb; ++b) {
    const uint8_t* rec = wg + b * F::Layout::bytes;
    const int8_t* xq[NX];
    for (int c = 0; c < NX; ++c) xq[c] = xr[c][b].qs;
    for (int h = 0; h < 2; ++h) {
      Scales s;
      F::scales(rec, h, s);
      int32x4_t isum[NX][2];
      for (int c = 0; c < NX; ++c) isum[c][0] = isum[c][1] = vdupq_n_s32(0);
      [&]<int... J>(std::integer_sequence<int, J...>) {
        (sub_block<F, kDot, NX, J>(rec, h, s, xq, isum), ...);
      }(std::make_integer_sequence<int, F::kSubBlocks>{});
      for (int c = 0; c < NX; ++c) {
        const float dx = xr[c][b].d;
        if constexpr (F::kMins) {  // sum over sub-blocks of min x (the sub-block's block sums)
          int32x4_t osum[2] = {vdupq_n_s32(0), vdupq_n_s32(0)};
          for (int j = 0; j < F::kSubBlocks; ++j) {
            const int16_t bs = F::kSubBlocks == 8 ? (int16_t)(xr[c][b].bsums[2 * j] + xr[c][b].bsums[2 * j + 1])
                                                 : xr[c][b].bsums[j];
            osum[0] = vmlal_n_s16(osum[0], vget_low_s16(s.mn[j]), bs);
            osum[1] = vmlal_n_s16(osum[1], vget_high_s16(s.mn[j]), bs);
          }
          for (int q = 0; q < 2; ++q) {
            float32x4_t& a = acc[c][2 * h + q];
            a = vfmaq_f32(a, vcvtq_f32_s32(isum[c][q]), vmulq_n_f32(s.d[q], dx));
            a = vfmsq_f32(a, vcvtq_f32_s32(osum[q]), vmulq_n_f32(s.dmin[q], dx));
          }
        } else {
          for (int q = 0; q < 2; ++q) {
            acc[c][2 * h + q] = vfmaq_f32(acc[c][2 * h + q], vcvtq_f32_s32(isum[c][q]), vmulq_n_f32(s.d[q], dx));
          }
        }
      }
    }
  }
  for (int c = 0; c < NX; ++c)
    for (int q = 0; q < 4; ++q) vst1q_f32(y + c * y_stride + 4 * q, acc[c][q]);
}

template <class L> struct FormatOf { using type = FK4<L>; };  // Q4_K, Q5_K
template <> struct FormatOf<PackedQ2K> { using type = FQ2K; };
template <> struct FormatOf<PackedQ3K> { using type = FQ3K; };
template <> struct FormatOf<PackedQ6K> { using type = FQ6K; };

// The tile for the layout L (matmul_packed_k_run.h).
template <bool kDot>
struct Tiles {
  template <class L>
  struct Tile {
    using Layout = L;
    using F = typename FormatOf<L>::type;
    template <int NX>
    static void run(int64_t nsb, const uint8_t* wg, const BlockQ8_K* const (&xr)[NX], float* y, int64_t y_stride) {
      group_tile<F, kDot, NX>(nsb, wg, xr, y, y_stride);
    }
  };
};

}  // namespace

bool packed_k_kernel_neon(DType w_type, bool dotprod, PackedKernel* out) {
  return dotprod ? packed_k_kernel<Tiles<true>::Tile, kTileN>(w_type, out)
                 : packed_k_kernel<Tiles<false>::Tile, kTileN>(w_type, out);
}

}  // namespace nm
