#include "core/quants.h"
#include "tests/shim/shim.h"

// Returns 0 on success, otherwise the nm::ErrorCode value.
NM_SHIM int nm_shim_quantize_rows(uint32_t type, const float* src, void* dst, int64_t n_rows,
                                  int64_t n_per_row) {
  return (int)nm::quantize_rows(static_cast<nm::DType>(type), src, dst, n_rows, n_per_row).code();
}

NM_SHIM int nm_shim_dequantize_rows(uint32_t type, const void* src, float* dst, int64_t n_rows,
                                    int64_t n_per_row) {
  return (int)nm::dequantize_rows(static_cast<nm::DType>(type), src, dst, n_rows, n_per_row).code();
}

NM_SHIM int64_t nm_shim_row_size(uint32_t type, int64_t n) {
  return (int64_t)nm::row_size(static_cast<nm::DType>(type), n);
}
