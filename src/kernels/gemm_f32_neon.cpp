// NEON micro-kernel of the f32 GEMM (gemm_f32.h): 6 rows x 1 panel = 24 accumulators of 4
// lanes, 4 weight loads and 6 broadcasts per 24 FMAs, in the 32 q registers.
#include <arm_neon.h>

#include "kernels/gemm_f32_tile.h"

namespace nm {
namespace {

struct F32x4 {
  using Reg = float32x4_t;
  static constexpr int kLanes = 4;
  static Reg zero() { return vdupq_n_f32(0.0f); }
  static Reg load(const float* p) { return vld1q_f32(p); }
  static Reg set1(float v) { return vdupq_n_f32(v); }
  static Reg fma(Reg a, Reg b, Reg acc) { return vfmaq_f32(acc, a, b); }
  static Reg add(Reg a, Reg b) { return vaddq_f32(a, b); }
  static void store(float* p, Reg v) { vst1q_f32(p, v); }
};

}  // namespace

bool gemm_f32_kernel_neon(GemmF32Kernel* out) {
  *out = gemm_kernel_of<F32x4, 6, 1>();
  return true;
}

}  // namespace nm
