// get_rows (embedding lookup, any row type -> f32) and rank-4 concat.
#include <cstring>
#include <string>

#include "kernels/ops.h"

namespace nm::kernels {

Status get_rows(const void* src, DType type, int64_t n_src_rows, int64_t n, const int32_t* ids,
                int64_t n_ids, float* dst, int ith, int nth) {
  const TypeTraits* tt = type_traits(type);
  if (!tt) return error(ErrorCode::unsupported, "get_rows: unknown type id " + std::to_string((uint32_t)type));
  if (n % tt->block_size != 0)
    return error(ErrorCode::invalid_argument, "get_rows: row length " + std::to_string(n) +
                 " is not a multiple of the " + tt->name + " block size");
  const bool direct = type == DType::F32 || type == DType::F16 || type == DType::BF16;
  if (!direct && !tt->to_float)
    return error(ErrorCode::unsupported, std::string("get_rows: no dequantisation for type ") + tt->name);
  for (int64_t i = 0; i < n_ids; ++i) {
    if (ids[i] < 0 || ids[i] >= n_src_rows)
      return error(ErrorCode::invalid_argument, "get_rows: id " + std::to_string(ids[i]) +
                   " out of range [0, " + std::to_string(n_src_rows) + ")");
  }
  const size_t rs = row_size(type, n);
  const RowRange r = split_rows(n_ids, ith, nth);
  for (int64_t i = r.begin; i < r.end; ++i) {
    const char* s = (const char*)src + (size_t)ids[i] * rs;
    float* d = dst + i * n;
    switch (type) {
      case DType::F32: std::memcpy(d, s, (size_t)n * sizeof(float)); break;
      case DType::F16: for (int64_t j = 0; j < n; ++j) d[j] = fp16_to_fp32(((const fp16_t*)s)[j]); break;
      case DType::BF16: for (int64_t j = 0; j < n; ++j) d[j] = bf16_to_fp32(((const bf16_t*)s)[j]); break;
      default: tt->to_float(s, d, n); break;
    }
  }
  return Status::ok_status();
}

Status concat(const float* a, const int64_t a_ne[4], const float* b, const int64_t b_ne[4],
              int dim, float* dst, int ith, int nth) {
  if (dim < 0 || dim > 3) return error(ErrorCode::invalid_argument, "concat: dim must be 0..3");
  for (int i = 0; i < 4; ++i) {
    if (i != dim && a_ne[i] != b_ne[i])
      return error(ErrorCode::invalid_argument, "concat: shapes differ outside dim " + std::to_string(dim));
  }
  // View both as [outer, inner_a|inner_b] where inner = prod(ne[0..dim]).
  int64_t inner_a = 1, inner_b = 1, outer = 1;
  for (int i = 0; i <= dim; ++i) { inner_a *= a_ne[i]; inner_b *= b_ne[i]; }
  for (int i = dim + 1; i < 4; ++i) outer *= a_ne[i];
  const RowRange r = split_rows(outer, ith, nth);
  for (int64_t o = r.begin; o < r.end; ++o) {
    float* d = dst + o * (inner_a + inner_b);
    std::memcpy(d, a + o * inner_a, (size_t)inner_a * sizeof(float));
    std::memcpy(d + inner_a, b + o * inner_b, (size_t)inner_b * sizeof(float));
  }
  return Status::ok_status();
}

}  // namespace nm::kernels
