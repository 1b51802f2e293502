// AVX2 kernels for the packed (row-interleaved) Q4_0 / Q8_0 layouts (matmul_packed.h),
// for x86 CPUs without AVX-512: the 64 bytes of one 4-byte chunk of 16 rows are two
// 256-bit registers (rows 0-7, 8-15); maddubs + madd with the activation's matching 4
// bytes broadcast advance 8 rows, each int32 lane one output row. Q4_0 only: its values
// (0..15) go straight into maddubs' unsigned operand. Packed Q8_0 would need the sign
// trick (abs, sign) per chunk, and measured slower than the file layout for matrix-vector
// products here (14.7 vs 17.9 GB/s on one core), so Q8_0 stays unpacked on AVX2.
#include <immintrin.h>

#include <array>
#include <cstring>
#include <utility>

#include "kernels/matmul_kernels.h"
#include "kernels/matmul_packed.h"

namespace nm {
namespace {

constexpr int kTileN = 2;  // 2 x (2 int + 2 float) accumulators + weights fit the 16 registers

inline __m256i broadcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

inline __m256i dot4(__m256i acc, __m256i u8, __m256i s8) {
  return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u8, s8), _mm256_set1_epi16(1)));
}

// One group of 16 weight rows x NX activation rows; y[c * y_stride + r], r < 16.
template <int NX>
void group_tile(int64_t nb, const uint8_t* wg, const BlockQ8_0* const (&xr)[NX], const PackedActBlock* const (&xa)[NX],
                float* y, int64_t y_stride) {
  constexpr int64_t kBlockBytes = kPackRows * 2 + kPackRows * 16;
  __m256 acc[NX][2];
  for (int c = 0; c < NX; ++c) acc[c][0] = acc[c][1] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = wg + b * kBlockBytes;
    const uint8_t* qs = blk + kPackRows * 2;
    __m256i s[NX][2];
    for (int c = 0; c < NX; ++c) s[c][0] = s[c][1] = _mm256_set1_epi32(xa[c][b].offset_sum);
    const __m256i low = _mm256_set1_epi8(0x0f);
    for (int j = 0; j < 4; ++j) {  // low nibbles: values 4j.., high nibbles: 16 + 4j..
      for (int h = 0; h < 2; ++h) {
        const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 64 * j + 32 * h));
        const __m256i lo = _mm256_and_si256(v, low), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
        for (int c = 0; c < NX; ++c) {
          s[c][h] = dot4(dot4(s[c][h], lo, broadcast4(xr[c][b].qs + 4 * j)), hi, broadcast4(xr[c][b].qs + 16 + 4 * j));
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

template <int NX>
void run_groups(int64_t k, const void* wp, int64_t n_groups, const void* x, size_t x_row_bytes,
                const PackedActBlock* act, int64_t act_stride, float* y, int64_t y_stride) {
  const int64_t nb = k / QK8_0;
  const int64_t group_bytes = nb * kPackRows * 18;
  const BlockQ8_0* xr[NX];
  const PackedActBlock* xa[NX];
  packed_act_rows(x, x_row_bytes, act, act_stride, xr, xa);
  for (int64_t g = 0; g < n_groups; ++g) {
    group_tile<NX>(nb, static_cast<const uint8_t*>(wp) + g * group_bytes, xr, xa, y + g * kPackRows, y_stride);
  }
}

void run_packed(int64_t k, const void* wp, int64_t n_groups, const void* x, size_t x_row_bytes,
                const PackedActBlock* act, int64_t act_stride, int nx, float* y, int64_t y_stride) {
  using Fn = void (*)(int64_t, const void*, int64_t, const void*, size_t, const PackedActBlock*, int64_t, float*,
                      int64_t);
  static constexpr auto table = []<int... I>(std::integer_sequence<int, I...>) {
    return std::array<Fn, sizeof...(I)>{&run_groups<I + 1>...};
  }(std::make_integer_sequence<int, kTileN>{});
  table[nx - 1](k, wp, n_groups, x, x_row_bytes, act, act_stride, y, y_stride);
}

}  // namespace

bool packed_kernel_avx2(DType w_type, PackedKernel* out) {
  if (w_type != DType::Q4_0) return false;
  out->tile_n = kTileN;
  out->run = run_packed;
  out->offset = 8;
  return true;
}

}  // namespace nm
