// Legacy 32-element block formats: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1 (scalar reference).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/quants.h"

namespace nm {
namespace {

// Signed value of largest magnitude (first one on ties), as ggml picks it.
float signed_absmax(const float* x, int n) {
  float amax = 0.f, max = 0.f;
  for (int j = 0; j < n; ++j) {
    const float v = x[j];
    if (amax < std::fabs(v)) {
      amax = std::fabs(v);
      max = v;
    }
  }
  return max;
}

// Q4_0/Q5_0 levels: d = signed absmax / -half, q = min(2*half - 1, (int8)(x/d + half + 0.5)).
void absmax_levels(const float* x, int half, uint8_t* q, fp16_t* d_out) {
  const float d = signed_absmax(x, 32) / (float)-half;
  const float id = d != 0.f ? 1.0f / d : 0.0f;
  *d_out = fp32_to_fp16(d);
  for (int j = 0; j < 32; ++j)
    q[j] = (uint8_t)std::min(2 * half - 1, (int)(int8_t)(x[j] * id + ((float)half + 0.5f)));
}

// Q4_1/Q5_1 levels: d = (max - min) / nmax, m = min, q = min(nmax, (int8)((x - min)/d + 0.5)).
void min_max_levels(const float* x, int nmax, uint8_t* q, fp16_t* d_out, fp16_t* m_out) {
  float mn = INFINITY, mx = -INFINITY;
  for (int j = 0; j < 32; ++j) {
    mn = std::min(mn, x[j]);
    mx = std::max(mx, x[j]);
  }
  const float d = (mx - mn) / (float)nmax;
  const float id = d != 0.f ? 1.0f / d : 0.0f;
  *d_out = fp32_to_fp16(d);
  *m_out = fp32_to_fp16(mn);
  for (int j = 0; j < 32; ++j) q[j] = (uint8_t)std::min(nmax, (int)(int8_t)((x[j] - mn) * id + 0.5f));
}

void pack4(const uint8_t* q, uint8_t* qs) {
  for (int j = 0; j < 16; ++j) qs[j] = (uint8_t)(q[j] | (q[j + 16] << 4));
}

// Packs 32 values of 5 bits: low nibbles j / j+16 share qs[j], bit 4 of element j -> bit j of qh.
void pack5(const uint8_t* q, uint8_t* qs, uint8_t* qh_bytes) {
  uint32_t qh = 0;
  for (int j = 0; j < 16; ++j) {
    qs[j] = (uint8_t)((q[j] & 0x0F) | ((q[j + 16] & 0x0F) << 4));
    qh |= (uint32_t)((q[j] >> 4) & 1) << j;
    qh |= (uint32_t)((q[j + 16] >> 4) & 1) << (j + 16);
  }
  std::memcpy(qh_bytes, &qh, 4);
}

void unpack5(const uint8_t* qs, const uint8_t* qh_bytes, int* q) {
  uint32_t qh;
  std::memcpy(&qh, qh_bytes, 4);
  for (int j = 0; j < 16; ++j) {
    q[j] = (qs[j] & 0x0F) | (int)(((qh >> j) & 1) << 4);
    q[j + 16] = (qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
  }
}

}  // namespace

void quantize_row_q4_0(const float* src, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ4_0*>(dst);
  for (int64_t i = 0; i < n / QK4_0; ++i) {
    uint8_t q[QK4_0];
    absmax_levels(src + i * QK4_0, 8, q, &y[i].d);
    pack4(q, y[i].qs);
  }
}

void dequantize_row_q4_0(const void* src, float* dst, int64_t n) {
  const auto* x = static_cast<const BlockQ4_0*>(src);
  for (int64_t i = 0; i < n / QK4_0; ++i) {
    const float d = fp16_to_fp32(x[i].d);
    float* y = dst + i * QK4_0;
    for (int j = 0; j < QK4_0 / 2; ++j) {
      y[j] = (float)((x[i].qs[j] & 0x0F) - 8) * d;
      y[j + QK4_0 / 2] = (float)((x[i].qs[j] >> 4) - 8) * d;
    }
  }
}

void quantize_row_q4_1(const float* src, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ4_1*>(dst);
  for (int64_t i = 0; i < n / QK4_1; ++i) {
    uint8_t q[QK4_1];
    min_max_levels(src + i * QK4_1, 15, q, &y[i].d, &y[i].m);
    pack4(q, y[i].qs);
  }
}

void dequantize_row_q4_1(const void* src, float* dst, int64_t n) {
  const auto* x = static_cast<const BlockQ4_1*>(src);
  for (int64_t i = 0; i < n / QK4_1; ++i) {
    const float d = fp16_to_fp32(x[i].d);
    const float m = fp16_to_fp32(x[i].m);
    float* y = dst + i * QK4_1;
    for (int j = 0; j < QK4_1 / 2; ++j) {
      y[j] = (float)(x[i].qs[j] & 0x0F) * d + m;
      y[j + QK4_1 / 2] = (float)(x[i].qs[j] >> 4) * d + m;
    }
  }
}

void quantize_row_q5_0(const float* src, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ5_0*>(dst);
  for (int64_t i = 0; i < n / QK5_0; ++i) {
    uint8_t q[QK5_0];
    absmax_levels(src + i * QK5_0, 16, q, &y[i].d);
    pack5(q, y[i].qs, y[i].qh);
  }
}

void dequantize_row_q5_0(const void* src, float* dst, int64_t n) {
  const auto* x = static_cast<const BlockQ5_0*>(src);
  for (int64_t i = 0; i < n / QK5_0; ++i) {
    const float d = fp16_to_fp32(x[i].d);
    int q[QK5_0];
    unpack5(x[i].qs, x[i].qh, q);
    for (int j = 0; j < QK5_0; ++j) dst[i * QK5_0 + j] = (float)(q[j] - 16) * d;
  }
}

void quantize_row_q5_1(const float* src, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ5_1*>(dst);
  for (int64_t i = 0; i < n / QK5_1; ++i) {
    uint8_t q[QK5_1];
    min_max_levels(src + i * QK5_1, 31, q, &y[i].d, &y[i].m);
    pack5(q, y[i].qs, y[i].qh);
  }
}

void dequantize_row_q5_1(const void* src, float* dst, int64_t n) {
  const auto* x = static_cast<const BlockQ5_1*>(src);
  for (int64_t i = 0; i < n / QK5_1; ++i) {
    const float d = fp16_to_fp32(x[i].d);
    const float m = fp16_to_fp32(x[i].m);
    int q[QK5_1];
    unpack5(x[i].qs, x[i].qh, q);
    for (int j = 0; j < QK5_1; ++j) dst[i * QK5_1 + j] = (float)q[j] * d + m;
  }
}

namespace {
// Shared by Q8_0 and Q8_1: d = absmax/127, q = roundf(x/d); returns d and sum(q).
float quantize_q8_block(const float* x, int8_t* qs, int* sum) {
  float amax = 0.f;
  for (int j = 0; j < QK8_0; ++j) amax = std::max(amax, std::fabs(x[j]));
  const float d = amax / 127;
  const float id = d != 0.f ? 1.0f / d : 0.0f;
  int s = 0;
  for (int j = 0; j < QK8_0; ++j) {
    qs[j] = (int8_t)std::round(x[j] * id);
    s += qs[j];
  }
  *sum = s;
  return d;
}
}  // namespace

void quantize_row_q8_0(const float* src, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ8_0*>(dst);
  for (int64_t i = 0; i < n / QK8_0; ++i) {
    int sum;
    y[i].d = fp32_to_fp16(quantize_q8_block(src + i * QK8_0, y[i].qs, &sum));
  }
}

void dequantize_row_q8_0(const void* src, float* dst, int64_t n) {
  const auto* x = static_cast<const BlockQ8_0*>(src);
  for (int64_t i = 0; i < n / QK8_0; ++i) {
    const float d = fp16_to_fp32(x[i].d);
    for (int j = 0; j < QK8_0; ++j) dst[i * QK8_0 + j] = (float)x[i].qs[j] * d;
  }
}

void quantize_row_q8_1(const float* src, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ8_1*>(dst);
  for (int64_t i = 0; i < n / QK8_1; ++i) {
    int sum;
    const float d = quantize_q8_block(src + i * QK8_1, y[i].qs, &sum);
    y[i].d = fp32_to_fp16(d);
    y[i].s = fp32_to_fp16((float)sum * d);
  }
}

void dequantize_row_q8_1(const void* src, float* dst, int64_t n) {
  const auto* x = static_cast<const BlockQ8_1*>(src);
  for (int64_t i = 0; i < n / QK8_1; ++i) {
    const float d = fp16_to_fp32(x[i].d);
    for (int j = 0; j < QK8_1; ++j) dst[i * QK8_1 + j] = (float)x[i].qs[j] * d;
  }
}

}  // namespace nm
