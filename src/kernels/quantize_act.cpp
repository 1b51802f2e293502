// Scalar activation quantisers for the integer matmul paths, with ggml's reference
// rounding: Q8_0/Q8_1 d = absmax/127, q = round(x/d) (half away from zero); Q8_K
// d = max/-127 of the signed extreme, q = nearest (ties to even), bsums over 16.
#include <cmath>
#include <cstring>

#include "kernels/matmul_kernels.h"

namespace nm {

namespace {

// Q8_0 and Q8_1 share the quantisation; Q8_1 also stores s = d * sum(q).
template <class Block>
void quantize_q8_blocks(const float* x, Block* y, int64_t k) {
  for (int64_t b = 0; b < k / QK8_0; ++b) {
    const float* xb = x + b * QK8_0;
    float amax = 0.0f;
    for (int j = 0; j < QK8_0; ++j) amax = std::fmax(amax, std::fabs(xb[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    int sum = 0;
    for (int j = 0; j < QK8_0; ++j) {
      y[b].qs[j] = (int8_t)std::roundf(xb[j] * id);
      sum += y[b].qs[j];
    }
    y[b].d = fp32_to_fp16(d);
    if constexpr (requires { y[b].s; }) {
      y[b].s = fp32_to_fp16((float)sum * d);
    }
  }
}

}  // namespace

void quantize_act_q8_0_scalar(const float* x, void* dst, int64_t k) {
  quantize_q8_blocks(x, static_cast<BlockQ8_0*>(dst), k);
}

void quantize_act_q8_1_scalar(const float* x, void* dst, int64_t k) {
  quantize_q8_blocks(x, static_cast<BlockQ8_1*>(dst), k);
}

void quantize_act_q8_k_scalar(const float* x, void* dst, int64_t k) {
  auto* y = static_cast<BlockQ8_K*>(dst);
  for (int64_t b = 0; b < k / QK_K; ++b) {
    const float* xb = x + b * QK_K;
    float max = 0.0f, amax = 0.0f;
    for (int j = 0; j < QK_K; ++j) {
      if (std::fabs(xb[j]) > amax) { amax = std::fabs(xb[j]); max = xb[j]; }
    }
    if (amax == 0.0f) {
      std::memset(&y[b], 0, sizeof(BlockQ8_K));
      continue;
    }
    const float iscale = -127.0f / max;
    for (int j = 0; j < QK_K; ++j) {
      const int v = (int)std::nearbyintf(iscale * xb[j]);  // default mode: nearest, ties even
      y[b].qs[j] = (int8_t)(v < 127 ? v : 127);
    }
    for (int g = 0; g < QK_K / 16; ++g) {
      int s = 0;
      for (int j = 0; j < 16; ++j) s += y[b].qs[g * 16 + j];
      y[b].bsums[g] = (int16_t)s;
    }
    y[b].d = 1.0f / iscale;
  }
}

}  // namespace nm
