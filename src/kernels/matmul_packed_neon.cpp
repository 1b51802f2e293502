// NEON + sdot kernels for the packed (row-interleaved) layouts of matmul_packed.h (Q4_0,
// Q4_1, Q5_0, Q5_1, IQ4_NL, Q8_0): the 64 bytes of one 4-byte chunk of 16 rows are four
// 128-bit registers (rows 0-3, 4-7, 8-11, 12-15); vdotq_s32 with the activation's matching
// 4 bytes broadcast advances 4 rows per instruction, each int32 lane one output row.
// Packed Q8_0 stores q + 128; it is flipped back to signed q here, so its offset is 0;
// IQ4_NL's indices become signed grid values through one table lookup (vqtbl1q).
#include <arm_neon.h>

#include <cstring>

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
template <DType T, int NX>
void group_tile(int64_t nb, const uint8_t* wg, const BlockQ8_0* const (&xr)[NX], const PackedActBlock* const (&xa)[NX],
                float* y, int64_t y_stride) {
  constexpr PackedBlockLayout kLayout = packed_block_layout(T);
  [[maybe_unused]] const int8x16_t grid = vld1q_s8(kIq4nlValues);
  float32x4_t acc[NX][4];
  for (int c = 0; c < NX; ++c)
    for (int q = 0; q < 4; ++q) acc[c][q] = vdupq_n_f32(0.0f);
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = wg + b * kLayout.bytes;
    const uint8_t* qs = blk + kLayout.qs;
    int32x4_t s[NX][4];
    for (int c = 0; c < NX; ++c)
      for (int q = 0; q < 4; ++q) s[c][q] = vdupq_n_s32(xa[c][b].offset_sum);
    if constexpr (T != DType::Q8_0) {
      [[maybe_unused]] uint8x16_t qh[4];  // bit j of each byte: the 5th bit of register j's value
      if constexpr (kLayout.qh >= 0) {
        for (int q = 0; q < 4; ++q) qh[q] = vld1q_u8(blk + kLayout.qh + 16 * q);
      }
      for (int j = 0; j < 4; ++j) {  // low nibbles: values 4j.., high nibbles: 16 + 4j..
        int8x16_t xl[NX], xh[NX];
        for (int c = 0; c < NX; ++c) {
          xl[c] = broadcast4(xr[c][b].qs + 4 * j);
          xh[c] = broadcast4(xr[c][b].qs + 16 + 4 * j);
        }
        for (int q = 0; q < 4; ++q) {
          const uint8x16_t v = vld1q_u8(qs + 64 * j + 16 * q);
          int8x16_t lo = vreinterpretq_s8_u8(vandq_u8(v, vdupq_n_u8(0x0f)));
          int8x16_t hi = vreinterpretq_s8_u8(vshrq_n_u8(v, 4));
          if constexpr (kLayout.qh >= 0) {
            const uint8x16_t sixteen = vdupq_n_u8(16);
            lo = vorrq_s8(lo, vreinterpretq_s8_u8(vandq_u8(vtstq_u8(qh[q], vdupq_n_u8((uint8_t)(1 << j))), sixteen)));
            hi = vorrq_s8(hi, vreinterpretq_s8_u8(vandq_u8(vtstq_u8(qh[q], vdupq_n_u8((uint8_t)(16 << j))), sixteen)));
          }
          if constexpr (T == DType::IQ4_NL) {
            lo = vqtbl1q_s8(grid, vreinterpretq_u8_s8(lo));
            hi = vqtbl1q_s8(grid, vreinterpretq_u8_s8(hi));
          }
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
      [[maybe_unused]] float32x4_t dm;
      if constexpr (kLayout.m >= 0) {
        dm = vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(reinterpret_cast<const uint16_t*>(blk + kLayout.m) + 4 * q)));
      }
      for (int c = 0; c < NX; ++c) {
        acc[c][q] = vfmaq_f32(acc[c][q], vcvtq_f32_s32(s[c][q]), vmulq_n_f32(dw, xa[c][b].scale));
        if constexpr (kLayout.m >= 0) acc[c][q] = vfmaq_n_f32(acc[c][q], dm, xa[c][b].sum);
      }
    }
  }
  for (int c = 0; c < NX; ++c)
    for (int q = 0; q < 4; ++q) vst1q_f32(y + c * y_stride + 4 * q, acc[c][q]);
}

template <DType T>
struct Tile {
  static constexpr int64_t kBlockBytes = packed_block_layout(T).bytes;
  template <int NX>
  static void run(int64_t nb, const uint8_t* wg, const BlockQ8_0* const (&xr)[NX],
                  const PackedActBlock* const (&xa)[NX], float* y, int64_t y_stride) {
    group_tile<T, NX>(nb, wg, xr, xa, y, y_stride);
  }
};

}  // namespace

bool packed_kernel_neon(DType w_type, bool dotprod, PackedKernel* out) {
  if (!dotprod) return false;  // the layout's win is sdot: 4 rows per instruction
  switch (w_type) {
    case DType::Q4_0: return use_packed_tile<Tile<DType::Q4_0>, kTileN>(8, out);
    case DType::Q4_1: return use_packed_tile<Tile<DType::Q4_1>, kTileN>(0, out);
    case DType::Q5_0: return use_packed_tile<Tile<DType::Q5_0>, kTileN>(16, out);
    case DType::Q5_1: return use_packed_tile<Tile<DType::Q5_1>, kTileN>(0, out);
    case DType::IQ4_NL: return use_packed_tile<Tile<DType::IQ4_NL>, kTileN>(0, out);  // sdot takes the signed grid
    case DType::Q8_0: return use_packed_tile<Tile<DType::Q8_0>, kTileN>(0, out);
    default: return false;
  }
}

}  // namespace nm
