#include <arm_neon.h>

#include "kernels/fma_loops.h"

namespace nm {

float fma_loop_neon(long iters) {
  float32x4_t a[kFmaChains];
  for (int j = 0; j < kFmaChains; ++j) a[j] = vdupq_n_f32((float)j);
  const float32x4_t b = vdupq_n_f32(0.999999f), c = vdupq_n_f32(1e-7f);
  for (long i = 0; i < iters; ++i)
    for (int j = 0; j < kFmaChains; ++j) a[j] = vfmaq_f32(c, a[j], b);
  float32x4_t s = a[0];
  for (int j = 1; j < kFmaChains; ++j) s = vaddq_f32(s, a[j]);
  return vgetq_lane_f32(s, 0) + vgetq_lane_f32(s, 3);
}

}  // namespace nm
