// AVX-512 kernels for the packed (row-interleaved) Q4_0 / Q8_0 layouts (matmul_packed.h).
// Per block: the 16 rows' scales in one register, 8 weight registers of 16 rows x 4 values
// meet 4-byte activation broadcasts in vpdpbusd (maddubs + madd without VNNI), and each
// int32 lane is one output row: no horizontal sums, 16 rows per instruction. The weight
// registers are decoded once per block and reused for up to 8 activation rows.
#include "kernels/avx512_gcc_warnings.h"  // before any intrinsics header

#include <immintrin.h>

#include <array>
#include <cstring>
#include <utility>

#include "kernels/matmul_kernels.h"
#include "kernels/matmul_packed.h"

namespace nm {
namespace {

constexpr int kTileN = 8;

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

// Weight register i holds values 4i..4i+3 of the block for each of the 16 rows.
struct PackedQ4_0 {
  static constexpr int64_t kBlockBytes = kPackRows * 2 + kPackRows * 16;
  static void decode(const uint8_t* q, __m512i (&w)[8]) {
    const __m512i low = _mm512_set1_epi8(0x0f);
    for (int j = 0; j < 4; ++j) {
      const __m512i v = _mm512_loadu_si512(q + 64 * j);
      w[j] = _mm512_and_si512(v, low);                             // values 4j..4j+3
      w[j + 4] = _mm512_and_si512(_mm512_srli_epi16(v, 4), low);  // values 16+4j..
    }
  }
};
struct PackedQ8_0 {
  static constexpr int64_t kBlockBytes = kPackRows * 2 + kPackRows * 32;
  static void decode(const uint8_t* q, __m512i (&w)[8]) {
    for (int j = 0; j < 8; ++j) w[j] = _mm512_loadu_si512(q + 64 * j);
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
    const uint8_t* blk = wg + b * P::kBlockBytes;
    const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk)));
    __m512i w[8];
    P::decode(blk + kPackRows * 2, w);
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
    }
  }
  for (int c = 0; c < NX; ++c) _mm512_storeu_ps(y + c * y_stride, acc[c]);
}

template <class P, bool kVnni, int NX>
void run_groups(int64_t k, const void* wp, int64_t n_groups, const void* x, size_t x_row_bytes,
                const PackedActBlock* act, int64_t act_stride, float* y, int64_t y_stride) {
  const int64_t nb = k / QK8_0;
  const BlockQ8_0* xr[NX];
  const PackedActBlock* xa[NX];
  packed_act_rows(x, x_row_bytes, act, act_stride, xr, xa);
  for (int64_t g = 0; g < n_groups; ++g) {
    group_tile<P, kVnni, NX>(nb, static_cast<const uint8_t*>(wp) + g * nb * P::kBlockBytes, xr, xa,
                             y + g * kPackRows, y_stride);
  }
}

template <class P, bool kVnni>
void run_packed(int64_t k, const void* wp, int64_t n_groups, const void* x, size_t x_row_bytes,
                const PackedActBlock* act, int64_t act_stride, int nx, float* y, int64_t y_stride) {
  using Fn = void (*)(int64_t, const void*, int64_t, const void*, size_t, const PackedActBlock*, int64_t, float*,
                      int64_t);
  static constexpr auto table = []<int... I>(std::integer_sequence<int, I...>) {
    return std::array<Fn, sizeof...(I)>{&run_groups<P, kVnni, I + 1>...};
  }(std::make_integer_sequence<int, kTileN>{});
  table[nx - 1](k, wp, n_groups, x, x_row_bytes, act, act_stride, y, y_stride);
}

}  // namespace

bool packed_kernel_avx512(DType w_type, bool vnni, PackedKernel* out) {
  out->tile_n = kTileN;
  if (w_type == DType::Q4_0) {
    out->run = vnni ? run_packed<PackedQ4_0, true> : run_packed<PackedQ4_0, false>;
    out->offset = 8;
    return true;
  }
  if (w_type == DType::Q8_0 && vnni) {  // uint8 q + 128 overflows maddubs' int16 pair sums
    out->run = run_packed<PackedQ8_0, true>;
    out->offset = 128;
    return true;
  }
  return false;
}

}  // namespace nm
