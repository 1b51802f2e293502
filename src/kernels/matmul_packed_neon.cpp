// NEON + sdot kernels for the packed (row-interleaved) Q4_0 / Q8_0 layouts
// (matmul_packed.h): the 64 bytes of one 4-byte chunk of 16 rows are four 128-bit
// registers (rows 0-3, 4-7, 8-11, 12-15); vdotq_s32 with the activation's matching 4
// bytes broadcast advances 4 rows per instruction, each int32 lane one output row.
// Packed Q8_0 stores q + 128; it is flipped back to signed q here, so its offset is 0.
#include <arm_neon.h>

#include <array>
#include <cstring>
#include <utility>

#include "kernels/matmul_kernels.h"
#include "kernels/matmul_packed.h"

namespace nm {
namespace {

constexpr int kTileN = 2;  // 2 x 16 int32 + 2 x 16 float accumulators in the 32 registers

inline int8x16_t broadcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return vreinterpretq_s8_s32(vdupq_n_s32(v));
}

// One group of 16 weight rows x NX activation rows; y[c * y_stride + r], r < 16.
template <bool kQ4, int NX>
void group_tile(int64_t nb, const uint8_t* wg, const BlockQ8_0* const (&xr)[NX], const PackedActBlock* const (&xa)[NX],
                float* y, int64_t y_stride) {
  constexpr int64_t kBlockBytes = kPackRows * 2 + kPackRows * (kQ4 ? 16 : 32);
  float32x4_t acc[NX][4];
  for (int c = 0; c < NX; ++c)
    for (int q = 0; q < 4; ++q) acc[c][q] = vdupq_n_f32(0.0f);
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = wg + b * kBlockBytes;
    const uint8_t* qs = blk + kPackRows * 2;
    int32x4_t s[NX][4];
    for (int c = 0; c < NX; ++c)
      for (int q = 0; q < 4; ++q) s[c][q] = vdupq_n_s32(xa[c][b].offset_sum);
    if constexpr (kQ4) {
      for (int j = 0; j < 4; ++j) {  // low nibbles: values 4j.., high nibbles: 16 + 4j..
        int8x16_t xl[NX], xh[NX];
        for (int c = 0; c < NX; ++c) {
          xl[c] = broadcast4(xr[c][b].qs + 4 * j);
          xh[c] = broadcast4(xr[c][b].qs + 16 + 4 * j);
        }
        for (int q = 0; q < 4; ++q) {
          const uint8x16_t v = vld1q_u8(qs + 64 * j + 16 * q);
          const int8x16_t lo = vreinterpretq_s8_u8(vandq_u8(v, vdupq_n_u8(0x0f)));
          const int8x16_t hi = vreinterpretq_s8_u8(vshrq_n_u8(v, 4));
          for (int c = 0; c < NX; ++c) s[c][q] = vdotq_s32(vdotq_s32(s[c][q], lo, xl[c]), hi, xh[c]);
        }
      }
    } else {
      for (int j = 0; j < 8; ++j) {
        int8x16_t xv[NX];
        for (int c = 0; c < NX; ++c) xv[c] = broadcast4(xr[c][b].qs + 4 * j);
        for (int q = 0; q < 4; ++q) {
          const int8x16_t w = vreinterpretq_s8_u8(veorq_u8(vld1q_u8(qs + 64 * j + 16 * q), vdupq_n_u8(0x80)));
          for (int c = 0; c < NX; ++c) s[c][q] = vdotq_s32(s[c][q], w, xv[c]);
        }
      }
    }
    for (int q = 0; q < 4; ++q) {
      const float32x4_t dw = vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(reinterpret_cast<const uint16_t*>(blk) + 4 * q)));
      for (int c = 0; c < NX; ++c) {
        acc[c][q] = vfmaq_f32(acc[c][q], vcvtq_f32_s32(s[c][q]), vmulq_n_f32(dw, xa[c][b].scale));
      }
    }
  }
  for (int c = 0; c < NX; ++c)
    for (int q = 0; q < 4; ++q) vst1q_f32(y + c * y_stride + 4 * q, acc[c][q]);
}

template <bool kQ4, int NX>
void run_groups(int64_t k, const void* wp, int64_t n_groups, const void* x, size_t x_row_bytes,
                const PackedActBlock* act, int64_t act_stride, float* y, int64_t y_stride) {
  const int64_t nb = k / QK8_0;
  const int64_t group_bytes = nb * kPackRows * (kQ4 ? 18 : 34);
  const BlockQ8_0* xr[NX];
  const PackedActBlock* xa[NX];
  packed_act_rows(x, x_row_bytes, act, act_stride, xr, xa);
  for (int64_t g = 0; g < n_groups; ++g) {
    group_tile<kQ4, NX>(nb, static_cast<const uint8_t*>(wp) + g * group_bytes, xr, xa, y + g * kPackRows, y_stride);
  }
}

template <bool kQ4>
void run_packed(int64_t k, const void* wp, int64_t n_groups, const void* x, size_t x_row_bytes,
                const PackedActBlock* act, int64_t act_stride, int nx, float* y, int64_t y_stride) {
  using Fn = void (*)(int64_t, const void*, int64_t, const void*, size_t, const PackedActBlock*, int64_t, float*,
                      int64_t);
  static constexpr auto table = []<int... I>(std::integer_sequence<int, I...>) {
    return std::array<Fn, sizeof...(I)>{&run_groups<kQ4, I + 1>...};
  }(std::make_integer_sequence<int, kTileN>{});
  table[nx - 1](k, wp, n_groups, x, x_row_bytes, act, act_stride, y, y_stride);
}

}  // namespace

bool packed_kernel_neon(DType w_type, bool dotprod, PackedKernel* out) {
  if (!dotprod) return false;  // the layout's win is sdot: 4 rows per instruction
  out->tile_n = kTileN;
  if (w_type == DType::Q4_0) {
    out->run = run_packed<true>;
    out->offset = 8;
    return true;
  }
  if (w_type == DType::Q8_0) {
    out->run = run_packed<false>;
    out->offset = 0;
    return true;
  }
  return false;
}

}  // namespace nm
