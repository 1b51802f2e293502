// NEON matmul kernels for aarch64 (compiled only there, with +dotprod+fp16 flags), file
// layout: Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL and Q8_0 weights x Q8_0 (Q8_1 for Q4_1 / Q5_1)
// activations, one row pair at a time; F32, F16 and BF16 weights x f32 activations. sdot (vdotq_s32) is used only when the caller
// passes dotprod = true (Isa::neon_dotprod).
#include <arm_neon.h>

#include <cstring>
#include <type_traits>

#include "core/fp16.h"
#include "kernels/matmul_kernels.h"

namespace nm {

namespace {

// acc + sum of a[i] * b[i] over 16 int8 lanes, folded into 4 int32 lanes.
template <bool kDot>
inline int32x4_t dot16(int32x4_t acc, int8x16_t a, int8x16_t b) {
  if constexpr (kDot) {
    return vdotq_s32(acc, a, b);
  } else {
    const int16x8_t lo = vmull_s8(vget_low_s8(a), vget_low_s8(b));
    const int16x8_t hi = vmull_s8(vget_high_s8(a), vget_high_s8(b));
    return vpadalq_s16(vpadalq_s16(acc, lo), hi);
  }
}

// Byte i of the result is 16 where bit i of `bits` is set, else 0: Q5_0 / Q5_1 5th bits
// as the value they add.
inline int8x16_t fifth_bits(uint16_t bits) {
  const uint8x16_t bytes = vcombine_u8(vdup_n_u8((uint8_t)bits), vdup_n_u8((uint8_t)(bits >> 8)));
  static constexpr uint8_t kBit[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
  return vreinterpretq_s8_u8(vandq_u8(vtstq_u8(bytes, vld1q_u8(kBit)), vdupq_n_u8(16)));
}

// Weight block decoders: the block's 32 values as int8 in two registers (elements 0-15,
// 16-31). kHasMin: x = d*q + m, with Q8_1 activations whose s = d * sum(q).
inline int8x16_t low_nibbles(uint8x16_t q) { return vreinterpretq_s8_u8(vandq_u8(q, vdupq_n_u8(0x0f))); }
inline int8x16_t high_nibbles(uint8x16_t q) { return vreinterpretq_s8_u8(vshrq_n_u8(q, 4)); }

struct NQ4_0 {
  using Block = BlockQ4_0;
  using XBlock = BlockQ8_0;
  static constexpr bool kHasMin = false;
  static void load(const Block& b, int8x16_t& lo, int8x16_t& hi) {
    const uint8x16_t q = vld1q_u8(b.qs);
    lo = vsubq_s8(low_nibbles(q), vdupq_n_s8(8));
    hi = vsubq_s8(high_nibbles(q), vdupq_n_s8(8));
  }
};
struct NQ4_1 {
  using Block = BlockQ4_1;
  using XBlock = BlockQ8_1;
  static constexpr bool kHasMin = true;
  static void load(const Block& b, int8x16_t& lo, int8x16_t& hi) {
    const uint8x16_t q = vld1q_u8(b.qs);
    lo = low_nibbles(q);
    hi = high_nibbles(q);
  }
};
template <class B, bool kMin>
struct NQ5 {
  using Block = B;
  using XBlock = std::conditional_t<kMin, BlockQ8_1, BlockQ8_0>;
  static constexpr bool kHasMin = kMin;
  static void load(const Block& b, int8x16_t& lo, int8x16_t& hi) {
    const uint8x16_t q = vld1q_u8(b.qs);
    uint32_t qh;
    std::memcpy(&qh, b.qh, 4);
    lo = vorrq_s8(low_nibbles(q), fifth_bits((uint16_t)qh));
    hi = vorrq_s8(high_nibbles(q), fifth_bits((uint16_t)(qh >> 16)));
    if constexpr (!kMin) {
      lo = vsubq_s8(lo, vdupq_n_s8(16));
      hi = vsubq_s8(hi, vdupq_n_s8(16));
    }
  }
};
struct NIQ4_NL {
  using Block = BlockIQ4_NL;
  using XBlock = BlockQ8_0;
  static constexpr bool kHasMin = false;
  static void load(const Block& b, int8x16_t& lo, int8x16_t& hi) {
    const uint8x16_t q = vld1q_u8(b.qs);
    const int8x16_t grid = vld1q_s8(kIq4nlValues);
    lo = vqtbl1q_s8(grid, vandq_u8(q, vdupq_n_u8(0x0f)));
    hi = vqtbl1q_s8(grid, vshrq_n_u8(q, 4));
  }
};
struct NQ8_0 {
  using Block = BlockQ8_0;
  using XBlock = BlockQ8_0;
  static constexpr bool kHasMin = false;
  static void load(const Block& b, int8x16_t& lo, int8x16_t& hi) {
    lo = vld1q_s8(b.qs);
    hi = vld1q_s8(b.qs + 16);
  }
};

template <class W, bool kDot>
float dot_blocks(int64_t k, const void* w, const void* x) {
  const auto* a = static_cast<const typename W::Block*>(w);
  const auto* b = static_cast<const typename W::XBlock*>(x);
  float32x4_t acc = vdupq_n_f32(0.0f);
  float mins = 0.0f;  // sum of m * s over the blocks (formats with a minimum)
  for (int64_t i = 0; i < k / QK8_0; ++i) {
    int8x16_t lo, hi;
    W::load(a[i], lo, hi);
    int32x4_t p = dot16<kDot>(vdupq_n_s32(0), lo, vld1q_s8(b[i].qs));
    p = dot16<kDot>(p, hi, vld1q_s8(b[i].qs + 16));
    acc = vmlaq_n_f32(acc, vcvtq_f32_s32(p), fp16_to_fp32(a[i].d) * fp16_to_fp32(b[i].d));
    if constexpr (W::kHasMin) mins += fp16_to_fp32(a[i].m) * fp16_to_fp32(b[i].s);
  }
  return vaddvq_f32(acc) + mins;
}

// Float weights (F32; F16 and BF16 widened to f32: ARMv8.0's fcvtl, a shift) x f32
// activations: 16 lanes per step in four accumulators, a 4-lane step, an in-order tail.
// The scalar path ran these one element at a time: an F16 vision encoder (most mmproj
// files) or Whisper's F16 weights on a board.
struct NF32 {
  using T = float;
  static float32x4_t load(const float* p) { return vld1q_f32(p); }
  static float one(float v) { return v; }
};
struct NF16 {
  using T = fp16_t;
  static float32x4_t load(const fp16_t* p) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p))); }
  static float one(fp16_t v) { return fp16_to_fp32(v); }
};
struct NBF16 {
  using T = bf16_t;
  static float32x4_t load(const bf16_t* p) { return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16)); }
  static float one(bf16_t v) { return bf16_to_fp32(v); }
};

template <class W>
float dot_float(int64_t k, const void* wp, const void* xp) {
  const auto* w = static_cast<const typename W::T*>(wp);
  const auto* x = static_cast<const float*>(xp);
  float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0, a2 = a0, a3 = a0;
  int64_t i = 0;
  for (; i + 16 <= k; i += 16) {
    a0 = vfmaq_f32(a0, W::load(w + i), vld1q_f32(x + i));
    a1 = vfmaq_f32(a1, W::load(w + i + 4), vld1q_f32(x + i + 4));
    a2 = vfmaq_f32(a2, W::load(w + i + 8), vld1q_f32(x + i + 8));
    a3 = vfmaq_f32(a3, W::load(w + i + 12), vld1q_f32(x + i + 12));
  }
  for (; i + 4 <= k; i += 4) a0 = vfmaq_f32(a0, W::load(w + i), vld1q_f32(x + i));
  float s = vaddvq_f32(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3)));
  for (; i < k; ++i) s += W::one(w[i]) * x[i];
  return s;
}

template <bool kDot>
bool neon_kernel(DType w_type, MatmulKernel* out) {
  MatmulKernel kern;
  switch (w_type) {
    case DType::F32: kern.tile = tile_by_rows<dot_float<NF32>>; break;
    case DType::F16: kern.tile = tile_by_rows<dot_float<NF16>>; break;
    case DType::BF16: kern.tile = tile_by_rows<dot_float<NBF16>>; break;
    case DType::Q4_0: kern.tile = tile_by_rows<dot_blocks<NQ4_0, kDot>>; break;
    case DType::Q4_1: kern.tile = tile_by_rows<dot_blocks<NQ4_1, kDot>>; break;
    case DType::Q5_0: kern.tile = tile_by_rows<dot_blocks<NQ5<BlockQ5_0, false>, kDot>>; break;
    case DType::Q5_1: kern.tile = tile_by_rows<dot_blocks<NQ5<BlockQ5_1, true>, kDot>>; break;
    case DType::IQ4_NL: kern.tile = tile_by_rows<dot_blocks<NIQ4_NL, kDot>>; break;
    case DType::Q8_0: kern.tile = tile_by_rows<dot_blocks<NQ8_0, kDot>>; break;
    default: return false;
  }
  kern.act_type = matmul_act_type(w_type);  // quantize stays nullptr: the scalar quantiser is used
  kern.tile_m = 4;
  kern.tile_n = 4;
  *out = kern;
  return true;
}

}  // namespace

bool matmul_kernel_neon(DType w_type, bool dotprod, MatmulKernel* out) {
  return dotprod ? neon_kernel<true>(w_type, out) : neon_kernel<false>(w_type, out);
}

}  // namespace nm
