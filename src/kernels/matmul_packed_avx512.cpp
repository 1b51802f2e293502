// AVX-512 kernels for the packed (row-interleaved) layouts of matmul_packed.h (Q4_0, Q4_1,
// Q5_0, Q5_1, IQ4_NL, Q8_0).
// Per block: the 16 rows' scales in one register, 8 weight registers of 16 rows x 4 values
// meet 4-byte activation broadcasts in vpdpbusd (maddubs + madd without VNNI), and each
// int32 lane is one output row: no horizontal sums, 16 rows per instruction. The weight
// registers are decoded once per block and reused for up to 8 activation rows. Q5_0/Q5_1
// OR in their 5th bits with one masked add per register, IQ4_NL maps its indices through
// the grid with one byte shuffle, Q4_1/Q5_1 add min * (activation scale * sum) per block.
#include "kernels/avx512_gcc_warnings.h"  // before any intrinsics header

#include <immintrin.h>

#include <cstring>

#include "kernels/matmul_kernels.h"
#include "kernels/matmul_packed.h"

namespace nm {
namespace {

constexpr int kTileN = compiled_tile(8);

// acc + sum of 4 u8 x s8 products per int32 lane. Without VNNI the pair sums go through
// int16 (maddubs saturates above 32767: fine for Q4_0's 0..15, not for packed Q8_0).
template <bool kVnni>
inline __m512i dpbusd(__m512i acc, __m512i u8, __m512i s8) {
  if constexpr (kVnni) return _mm512_dpbusd_epi32(acc, u8, s8);
  return _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_maddubs_epi16(u8, s8), _mm512_set1_epi16(1)));
}

inline __m512i broadcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

// Weight register j holds values 4j..4j+3 of the block for each of the 16 rows, as the
// unsigned bytes the dot instruction takes: q (Q4_0, Q4_1: 0..15; Q5_0, Q5_1: 0..31),
// grid value + 128 (IQ4_NL), q + 128 (Q8_0).
template <DType T>
struct Packed {
  static constexpr PackedBlockLayout kLayout = packed_block_layout(T);
  static constexpr bool kHasMin = kLayout.m >= 0;
  static void decode(const uint8_t* blk, __m512i (&w)[8]) {
    const uint8_t* q = blk + kLayout.qs;
    if constexpr (T == DType::Q8_0) {
      for (int j = 0; j < 8; ++j) w[j] = _mm512_loadu_si512(q + 64 * j);
      return;
    }
    const __m512i low = _mm512_set1_epi8(0x0f);
    for (int j = 0; j < 4; ++j) {
      const __m512i v = _mm512_loadu_si512(q + 64 * j);
      w[j] = _mm512_and_si512(v, low);                             // values 4j..4j+3
      w[j + 4] = _mm512_and_si512(_mm512_srli_epi16(v, 4), low);  // values 16+4j..
    }
    if constexpr (kLayout.qh >= 0) {  // 5th bits: bit j of each byte belongs to register j
      const __m512i qh = _mm512_loadu_si512(blk + kLayout.qh);
      const __m512i sixteen = _mm512_set1_epi8(16);
      for (int j = 0; j < 8; ++j) {
        w[j] = _mm512_mask_add_epi8(w[j], _mm512_test_epi8_mask(qh, _mm512_set1_epi8((char)(1 << j))), w[j], sixteen);
      }
    }
    if constexpr (T == DType::IQ4_NL) {
      alignas(16) uint8_t grid[16];
      for (int i = 0; i < 16; ++i) grid[i] = (uint8_t)(kIq4nlValues[i] + 128);
      const __m512i table = _mm512_broadcast_i32x4(_mm_load_si128(reinterpret_cast<const __m128i*>(grid)));
      for (int j = 0; j < 8; ++j) w[j] = _mm512_shuffle_epi8(table, w[j]);
    }
  }
};

// One group of 16 weight rows x NX activation rows; y[c * y_stride + r], r < 16. Each
// column's block is one chain of 8 dots (NX chains interleave; one column alone splits
// its chain in two to hide the dot latency).
template <class P, bool kVnni, int NX>
void group_tile(int64_t nb, const uint8_t* wg, const BlockQ8_0* const (&xr)[NX], const PackedActBlock* const (&xa)[NX],
                float* y, int64_t y_stride) {
  __m512 acc[NX];
  for (int c = 0; c < NX; ++c) acc[c] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = wg + b * P::kLayout.bytes;
    const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk)));
    __m512 dm = _mm512_setzero_ps();
    if constexpr (P::kHasMin) {
      dm = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + P::kLayout.m)));
    }
    __m512i w[8];
    P::decode(blk, w);
    // Unrolled so that acc[] stays in registers (GCC 12 kept Q5_1's in memory: batch 64
    // ran 1.4x slower than Q5_0)
#pragma GCC unroll 8
    for (int c = 0; c < NX; ++c) {
      const int8_t* q = xr[c][b].qs;
      __m512i s = _mm512_set1_epi32(xa[c][b].offset_sum);  // the weights' offset, -offset * sum(x)
      if constexpr (NX == 1) {
        __m512i s1 = _mm512_setzero_si512();
        for (int i = 0; i < 8; i += 2) {
          s = dpbusd<kVnni>(s, w[i], broadcast4(q + 4 * i));
          s1 = dpbusd<kVnni>(s1, w[i + 1], broadcast4(q + 4 * i + 4));
        }
        s = _mm512_add_epi32(s, s1);
      } else {
        for (int i = 0; i < 8; ++i) s = dpbusd<kVnni>(s, w[i], broadcast4(q + 4 * i));
      }
      const __m512 scaled = _mm512_mul_ps(_mm512_cvtepi32_ps(s), _mm512_set1_ps(xa[c][b].scale));
      acc[c] = _mm512_fmadd_ps(scaled, dw, acc[c]);
      if constexpr (P::kHasMin) acc[c] = _mm512_fmadd_ps(dm, _mm512_set1_ps(xa[c][b].sum), acc[c]);
    }
  }
  for (int c = 0; c < NX; ++c) _mm512_storeu_ps(y + c * y_stride, acc[c]);
}

template <class P, bool kVnni>
struct Tile {
  static constexpr int64_t kBlockBytes = P::kLayout.bytes;
  template <int NX>
  static void run(int64_t nb, const uint8_t* wg, const BlockQ8_0* const (&xr)[NX],
                  const PackedActBlock* const (&xa)[NX], float* y, int64_t y_stride) {
    group_tile<P, kVnni, NX>(nb, wg, xr, xa, y, y_stride);
  }
};

template <DType T>
bool use(bool vnni, int offset, PackedKernel* out) {
  return vnni ? use_packed_tile<Tile<Packed<T>, true>, kTileN>(offset, out)
              : use_packed_tile<Tile<Packed<T>, false>, kTileN>(offset, out);
}

}  // namespace

bool packed_kernel_avx512(DType w_type, bool vnni, PackedKernel* out) {
  // Without VNNI the pair sums go through maddubs' int16: fine for values up to 31, not for
  // the +128 bytes of IQ4_NL and Q8_0.
  if (!vnni && (w_type == DType::IQ4_NL || w_type == DType::Q8_0)) return false;
  switch (w_type) {
    case DType::Q4_0: return use<DType::Q4_0>(vnni, 8, out);
    case DType::Q4_1: return use<DType::Q4_1>(vnni, 0, out);
    case DType::Q5_0: return use<DType::Q5_0>(vnni, 16, out);
    case DType::Q5_1: return use<DType::Q5_1>(vnni, 0, out);
    case DType::IQ4_NL: return use<DType::IQ4_NL>(vnni, 128, out);
    case DType::Q8_0: return use<DType::Q8_0>(vnni, 128, out);
    default: return false;
  }
}

}  // namespace nm
