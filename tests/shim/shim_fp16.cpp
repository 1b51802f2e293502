#include "core/fp16.h"
#include "tests/shim/shim.h"

NM_SHIM int nm_shim_fp32_to_fp16(const float* src, uint16_t* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = nm::fp32_to_fp16(src[i]);
  return 0;
}

NM_SHIM int nm_shim_fp16_to_fp32(const uint16_t* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = nm::fp16_to_fp32(src[i]);
  return 0;
}

NM_SHIM int nm_shim_fp32_to_bf16(const float* src, uint16_t* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = nm::fp32_to_bf16(src[i]);
  return 0;
}
