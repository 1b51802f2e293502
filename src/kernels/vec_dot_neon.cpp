// NEON matmul kernels for aarch64 (compiled only there, with +dotprod+fp16 flags):
// Q4_0 and Q8_0 weights x Q8_0 activations, one row pair at a time. sdot (vdotq_s32) is
// used only when the caller passes dotprod = true (Isa::neon_dotprod).
#include <arm_neon.h>

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

template <bool kDot>
float dot_q4_0(int64_t k, const void* w, const void* x) {
  const auto* a = static_cast<const BlockQ4_0*>(w);
  const auto* b = static_cast<const BlockQ8_0*>(x);
  const uint8x16_t m4 = vdupq_n_u8(0x0f);
  const int8x16_t eight = vdupq_n_s8(8);
  float32x4_t acc = vdupq_n_f32(0.0f);
  for (int64_t i = 0; i < k / QK4_0; ++i) {
    const uint8x16_t q = vld1q_u8(a[i].qs);
    const int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q, m4)), eight);
    const int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), eight);
    int32x4_t p = dot16<kDot>(vdupq_n_s32(0), lo, vld1q_s8(b[i].qs));
    p = dot16<kDot>(p, hi, vld1q_s8(b[i].qs + 16));
    acc = vmlaq_n_f32(acc, vcvtq_f32_s32(p), fp16_to_fp32(a[i].d) * fp16_to_fp32(b[i].d));
  }
  return vaddvq_f32(acc);
}

template <bool kDot>
float dot_q8_0(int64_t k, const void* w, const void* x) {
  const auto* a = static_cast<const BlockQ8_0*>(w);
  const auto* b = static_cast<const BlockQ8_0*>(x);
  float32x4_t acc = vdupq_n_f32(0.0f);
  for (int64_t i = 0; i < k / QK8_0; ++i) {
    int32x4_t p = dot16<kDot>(vdupq_n_s32(0), vld1q_s8(a[i].qs), vld1q_s8(b[i].qs));
    p = dot16<kDot>(p, vld1q_s8(a[i].qs + 16), vld1q_s8(b[i].qs + 16));
    acc = vmlaq_n_f32(acc, vcvtq_f32_s32(p), fp16_to_fp32(a[i].d) * fp16_to_fp32(b[i].d));
  }
  return vaddvq_f32(acc);
}

template <bool kDot>
bool neon_kernel(DType w_type, MatmulKernel* out) {
  MatmulKernel kern;
  switch (w_type) {
    case DType::Q4_0: kern.tile = tile_by_rows<dot_q4_0<kDot>>; break;
    case DType::Q8_0: kern.tile = tile_by_rows<dot_q8_0<kDot>>; break;
    default: return false;
  }
  kern.act_type = DType::Q8_0;  // quantize stays nullptr: the scalar quantiser is used
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
