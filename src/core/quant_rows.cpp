// Row-batch wrappers over the traits table's scalar converters, with argument checks.
#include <string>

#include "core/quants.h"

namespace nm {
namespace {

Status check_rows(DType type, const TypeTraits* t, bool has_fn, const void* a, const void* b, int64_t n_rows,
                  int64_t n_per_row, const char* what) {
  if (t == nullptr) {
    return error(ErrorCode::unsupported, "unknown tensor type id " + std::to_string((uint32_t)type));
  }
  if (!has_fn) {
    return error(ErrorCode::unsupported, std::string("no ") + what + " converter for type " + t->name);
  }
  if (n_rows < 0 || n_per_row < 0) {
    return error(ErrorCode::invalid_argument, std::string(what) + ": negative row count or row length");
  }
  if (n_per_row % t->block_size != 0) {
    return error(ErrorCode::invalid_argument, std::string(what) + ": row length " +
                                                  std::to_string(n_per_row) + " is not a multiple of " +
                                                  t->name + "'s block size " + std::to_string(t->block_size));
  }
  if (n_rows > 0 && n_per_row > 0 && (a == nullptr || b == nullptr)) {
    return error(ErrorCode::invalid_argument, std::string(what) + ": null buffer");
  }
  return Status::ok_status();
}

}  // namespace

Status quantize_rows(DType type, const float* src, void* dst, int64_t n_rows, int64_t n_per_row) {
  const TypeTraits* t = type_traits(type);
  Status s = check_rows(type, t, t && t->from_float, src, dst, n_rows, n_per_row, "quantize");
  if (!s.ok()) return s;
  const size_t stride = row_size(type, n_per_row);
  for (int64_t r = 0; r < n_rows; ++r) {
    t->from_float(src + r * n_per_row, static_cast<uint8_t*>(dst) + (size_t)r * stride, n_per_row);
  }
  return s;
}

Status dequantize_rows(DType type, const void* src, float* dst, int64_t n_rows, int64_t n_per_row) {
  const TypeTraits* t = type_traits(type);
  Status s = check_rows(type, t, t && t->to_float, src, dst, n_rows, n_per_row, "dequantize");
  if (!s.ok()) return s;
  const size_t stride = row_size(type, n_per_row);
  for (int64_t r = 0; r < n_rows; ++r) {
    t->to_float(static_cast<const uint8_t*>(src) + (size_t)r * stride, dst + r * n_per_row, n_per_row);
  }
  return s;
}

}  // namespace nm
