// AVX2 kernels for the packed (row-interleaved) layouts (matmul_packed.h: Q4_0, Q4_1, Q5_0,
// Q5_1, IQ4_NL, Q8_0), for x86 CPUs without AVX-512: the 64 bytes of one 4-byte chunk of 16
// rows are two 256-bit registers (rows 0-7, 8-15); maddubs + madd with the activation's
// matching 4 bytes broadcast advance 8 rows, each int32 lane one output row. The values
// (0..31) go straight into maddubs' unsigned operand; IQ4_NL's signed grid values and Q8_0's
// take the sign trick (|w| x (x with w's sign)), Q8_0 with |w| decoded once per register for
// 4 activation rows (1 core, 8960 x 1536 x 512: 112 GOP/s against 52 for the file layout's
// tiles; matrix-vector 13.4-13.9 GB/s against 12.6-13.7).
#include <immintrin.h>

#include <cstring>

#include "kernels/matmul_kernels.h"
#include "kernels/matmul_packed.h"

namespace nm {
namespace {

constexpr int kTileN = 2;  // 2 x (2 int + 2 float) accumulators + weights fit the 16 registers
// Q8_0: 4 x 2 int32 sums + the weights' two forms in registers, the float sums in L1
constexpr int kTileNQ8 = compiled_tile(4);

inline __m256i broadcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

inline __m256i dot4(__m256i acc, __m256i u8, __m256i s8) {
  return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u8, s8), _mm256_set1_epi16(1)));
}

// One group of 16 weight rows x NX activation rows; y[c * y_stride + r], r < 16.
template <DType T, int NX>
void group_tile(int64_t nb, const uint8_t* wg, const BlockQ8_0* const (&xr)[NX], const PackedActBlock* const (&xa)[NX],
                float* y, int64_t y_stride) {
  constexpr PackedBlockLayout kLayout = packed_block_layout(T);
  constexpr bool kGrid = T == DType::IQ4_NL;  // signed grid values: |w| x (x with w's sign)
  const __m256i low = _mm256_set1_epi8(0x0f);
  [[maybe_unused]] const __m256i grid =
      _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kIq4nlValues)));
  __m256 acc[NX][2];
  for (int c = 0; c < NX; ++c) acc[c][0] = acc[c][1] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = wg + b * kLayout.bytes;
    const uint8_t* qs = blk + kLayout.qs;
    __m256i s[NX][2];
    for (int c = 0; c < NX; ++c) s[c][0] = s[c][1] = _mm256_set1_epi32(xa[c][b].offset_sum);
    [[maybe_unused]] __m256i qh[2];  // rows 0-7, 8-15
    if constexpr (kLayout.qh >= 0) {
      for (int h = 0; h < 2; ++h) qh[h] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + kLayout.qh + 32 * h));
    }
    for (int j = 0; j < 4; ++j) {  // low nibbles: values 4j.., high nibbles: 16 + 4j..
      for (int h = 0; h < 2; ++h) {
        const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 64 * j + 32 * h));
        __m256i lo = _mm256_and_si256(v, low), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
        if constexpr (kLayout.qh >= 0) {  // bit j (low nibbles) and j + 4 (high) of each byte -> 16
          const __m256i bit4 = _mm256_set1_epi8(16);
          lo = _mm256_or_si256(lo, _mm256_and_si256(_mm256_sll_epi16(qh[h], _mm_cvtsi32_si128(4 - j)), bit4));
          hi = _mm256_or_si256(hi, _mm256_and_si256(_mm256_srl_epi16(qh[h], _mm_cvtsi32_si128(j)), bit4));
        }
        if constexpr (kGrid) {
          lo = _mm256_shuffle_epi8(grid, lo);
          hi = _mm256_shuffle_epi8(grid, hi);
        }
        for (int c = 0; c < NX; ++c) {
          const __m256i xl = broadcast4(xr[c][b].qs + 4 * j), xh = broadcast4(xr[c][b].qs + 16 + 4 * j);
          if constexpr (kGrid) {
            s[c][h] = dot4(dot4(s[c][h], _mm256_abs_epi8(lo), _mm256_sign_epi8(xl, lo)), _mm256_abs_epi8(hi),
                           _mm256_sign_epi8(xh, hi));
          } else {
            s[c][h] = dot4(dot4(s[c][h], lo, xl), hi, xh);
          }
        }
      }
    }
    for (int h = 0; h < 2; ++h) {
      const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 16 * h)));
      [[maybe_unused]] __m256 dm;
      if constexpr (kLayout.m >= 0) {
        dm = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + kLayout.m + 16 * h)));
      }
      for (int c = 0; c < NX; ++c) {
        acc[c][h] = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(s[c][h]), _mm256_set1_ps(xa[c][b].scale)), dw,
                                    acc[c][h]);
        if constexpr (kLayout.m >= 0) acc[c][h] = _mm256_fmadd_ps(dm, _mm256_set1_ps(xa[c][b].sum), acc[c][h]);
      }
    }
  }
  for (int c = 0; c < NX; ++c) {
    _mm256_storeu_ps(y + c * y_stride, acc[c][0]);
    _mm256_storeu_ps(y + c * y_stride + 8, acc[c][1]);
  }
}

// Packed Q8_0 (bytes q + 128): maddubs would saturate on (q + 128) x x, so each weight
// register is turned back into q and |q| once for the NX activation rows, and each of them
// meets x with q's sign (|q| <= 128 and |x| <= 127: a pair of products stays below 32767).
template <int NX>
void group_tile_q8(int64_t nb, const uint8_t* wg, const BlockQ8_0* const (&xr)[NX],
                   const PackedActBlock* const (&xa)[NX], float* y, int64_t y_stride) {
  constexpr PackedBlockLayout kLayout = packed_block_layout(DType::Q8_0);
  const __m256i bias = _mm256_set1_epi8((char)0x80), ones = _mm256_set1_epi16(1);
  __m256 acc[NX][2];
  for (int c = 0; c < NX; ++c) acc[c][0] = acc[c][1] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = wg + b * kLayout.bytes;
    __m256i s[NX][2];
    for (int c = 0; c < NX; ++c) s[c][0] = s[c][1] = _mm256_setzero_si256();
    for (int j = 0; j < 8; ++j) {
      for (int h = 0; h < 2; ++h) {
        const __m256i q = _mm256_xor_si256(
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + kLayout.qs + 64 * j + 32 * h)), bias);
        const __m256i aq = _mm256_abs_epi8(q);
        for (int c = 0; c < NX; ++c) {
          const __m256i p = _mm256_maddubs_epi16(aq, _mm256_sign_epi8(broadcast4(xr[c][b].qs + 4 * j), q));
          s[c][h] = _mm256_add_epi32(s[c][h], _mm256_madd_epi16(p, ones));
          __asm__("" : "+x"(s[c][h]));  // one register per sum: see in_register (matmul_packed_k_avx2.cpp)
        }
      }
    }
    for (int h = 0; h < 2; ++h) {
      const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 16 * h)));
      for (int c = 0; c < NX; ++c) {
        acc[c][h] = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(s[c][h]), _mm256_set1_ps(xa[c][b].scale)), dw,
                                    acc[c][h]);
      }
    }
  }
  for (int c = 0; c < NX; ++c) {
    _mm256_storeu_ps(y + c * y_stride, acc[c][0]);
    _mm256_storeu_ps(y + c * y_stride + 8, acc[c][1]);
  }
}

template <DType T>
struct Tile {
  static constexpr int64_t kBlockBytes = packed_block_layout(T).bytes;
  template <int NX>
  static void run(int64_t nb, const uint8_t* wg, const BlockQ8_0* const (&xr)[NX],
                  const PackedActBlock* const (&xa)[NX], float* y, int64_t y_stride) {
    if constexpr (T == DType::Q8_0) group_tile_q8<NX>(nb, wg, xr, xa, y, y_stride);
    else group_tile<T, NX>(nb, wg, xr, xa, y, y_stride);
  }
};

}  // namespace

bool packed_kernel_avx2(DType w_type, PackedKernel* out) {
  switch (w_type) {
    case DType::Q4_0: return use_packed_tile<Tile<DType::Q4_0>, kTileN>(8, out);
    case DType::Q4_1: return use_packed_tile<Tile<DType::Q4_1>, kTileN>(0, out);
    case DType::Q5_0: return use_packed_tile<Tile<DType::Q5_0>, kTileN>(16, out);
    case DType::Q5_1: return use_packed_tile<Tile<DType::Q5_1>, kTileN>(0, out);
    case DType::IQ4_NL: return use_packed_tile<Tile<DType::IQ4_NL>, kTileN>(0, out);
    case DType::Q8_0: return use_packed_tile<Tile<DType::Q8_0>, kTileNQ8>(0, out);
    default: return false;
  }
}

}  // namespace nm
