// IQ4_NL (4-bit indices into a fixed non-linear grid of 16 int8 values, one fp16 scale per
// 32 elements): scalar reference quantise / dequantise, following ggml's reference
// quantiser (quantize_row_iq4_nl_ref: no scale search, so its bytes are reproducible).
#include <cmath>
#include <cstring>

#include "core/quants.h"

namespace nm {
namespace {

// Index of the grid value nearest to x (the lower one on a tie), as ggml's best_index_int8.
int nearest_grid_index(float x) {
  const int8_t* v = kIq4nlValues;
  if (x <= v[0]) return 0;
  if (x >= v[15]) return 15;
  int lo = 0, hi = 15;  // v[lo] < x < v[hi]
  while (hi - lo > 1) {
    const int mid = (lo + hi) / 2;
    if (x < v[mid]) hi = mid;
    else lo = mid;
  }
  return x - v[hi - 1] < v[hi] - x ? hi - 1 : hi;
}

}  // namespace

void quantize_row_iq4_nl(const float* src, void* dst, int64_t n) {
  auto* y = static_cast<BlockIQ4_NL*>(dst);
  for (int64_t i = 0; i < n / QK4_NL; ++i) {
    const float* x = src + i * QK4_NL;
    float amax = 0.f, max = 0.f;
    for (int j = 0; j < QK4_NL; ++j) {
      if (std::fabs(x[j]) > amax) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    std::memset(y[i].qs, 0, sizeof(y[i].qs));
    if (amax < 1e-15f) {  // ggml's GROUP_MAX_EPS: a zero block
      y[i].d = fp32_to_fp16(0.f);
      continue;
    }
    // The extreme value maps onto the grid's end (-127); then the scale that minimises the
    // x^2-weighted squared error for the chosen levels.
    const float id = 1.0f / (max / (float)kIq4nlValues[0]);
    uint8_t q[QK4_NL];
    float sumqx = 0.f, sumq2 = 0.f;
    for (int j = 0; j < QK4_NL; ++j) {
      q[j] = (uint8_t)nearest_grid_index(id * x[j]);
      const float v = kIq4nlValues[q[j]], w = x[j] * x[j];
      sumqx += w * v * x[j];
      sumq2 += w * v * v;
    }
    y[i].d = fp32_to_fp16(sumqx / sumq2);
    for (int j = 0; j < QK4_NL / 2; ++j) y[i].qs[j] = (uint8_t)(q[j] | q[j + QK4_NL / 2] << 4);
  }
}

void dequantize_row_iq4_nl(const void* src, float* dst, int64_t n) {
  const auto* x = static_cast<const BlockIQ4_NL*>(src);
  for (int64_t i = 0; i < n / QK4_NL; ++i) {
    const float d = fp16_to_fp32(x[i].d);
    float* y = dst + i * QK4_NL;
    for (int j = 0; j < QK4_NL / 2; ++j) {
      y[j] = d * (float)kIq4nlValues[x[i].qs[j] & 0x0F];
      y[j + QK4_NL / 2] = d * (float)kIq4nlValues[x[i].qs[j] >> 4];
    }
  }
}

}  // namespace nm
