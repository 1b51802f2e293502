// Strided copies and gathers; scalar code (these ops are memory bound and small).
#include "backend/cpu/cpu_data_movement.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "core/fp16.h"

namespace nm {
namespace {

bool is_float_type(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }

inline float load_float(const char* p, DType t) {
  switch (t) {
    case DType::F16: { fp16_t h; std::memcpy(&h, p, 2); return fp16_to_fp32(h); }
    case DType::BF16: { bf16_t h; std::memcpy(&h, p, 2); return bf16_to_fp32(h); }
    default: { float f; std::memcpy(&f, p, 4); return f; }
  }
}

inline void store_float(char* p, DType t, float v) {
  switch (t) {
    case DType::F16: { fp16_t h = fp32_to_fp16(v); std::memcpy(p, &h, 2); return; }
    case DType::BF16: { bf16_t h = fp32_to_bf16(v); std::memcpy(p, &h, 2); return; }
    default: std::memcpy(p, &v, 4); return;
  }
}

// n dense float elements of type st -> dt (both float types).
void convert_row(const char* s, DType st, char* d, DType dt, int64_t n) {
  if (st == DType::F32 && dt == DType::F16) {
    const auto* x = reinterpret_cast<const float*>(s);
    for (int64_t i = 0; i < n; ++i) {
      const fp16_t h = fp32_to_fp16(x[i]);
      std::memcpy(d + 2 * i, &h, 2);
    }
    return;
  }
  const size_t ss = type_traits(st)->type_size, ds = type_traits(dt)->type_size;
  for (int64_t i = 0; i < n; ++i) store_float(d + (size_t)i * ds, dt, load_float(s + (size_t)i * ss, st));
}

// Rows with contiguous elements (nb0 = element/block size).
bool rows_dense(const Tensor& t) { return t.nb[0] == type_traits(t.type)->type_size; }

// [begin, end) share of n items for thread ith of nth.
inline void split(int64_t n, int ith, int nth, int64_t& begin, int64_t& end) {
  const int64_t per = (n + nth - 1) / nth;
  begin = std::min<int64_t>(n, per * ith);
  end = std::min<int64_t>(n, begin + per);
}

// Multi-index of flattened element i in shape ne.
inline void unflatten(int64_t i, const std::array<int64_t, kMaxDims>& ne, int64_t idx[kMaxDims]) {
  for (int d = 0; d < kMaxDims; ++d) {
    idx[d] = i % ne[(size_t)d];
    i /= ne[(size_t)d];
  }
}

inline size_t byte_offset(const Tensor& t, const int64_t idx[kMaxDims]) {
  return (size_t)idx[0] * t.nb[0] + (size_t)idx[1] * t.nb[1] + (size_t)idx[2] * t.nb[2] + (size_t)idx[3] * t.nb[3];
}

inline void step(const std::array<int64_t, kMaxDims>& ne, int64_t idx[kMaxDims]) {
  for (int d = 0; d < kMaxDims; ++d) {
    if (++idx[d] < ne[(size_t)d]) return;
    idx[d] = 0;
  }
}

}  // namespace

// F32 rows quantised into a block type (e.g. a Q8_0 KV cache), row by row.
bool quantizing_copy(const Tensor& src, const Tensor& dst) {
  const TypeTraits* td = type_traits(dst.type);
  return src.type == DType::F32 && td->is_quantized && td->from_float && src.ne == dst.ne && rows_dense(src) &&
         rows_dense(dst) && dst.ne[0] % td->block_size == 0;
}

bool cpu_copy_supported(const Tensor& src, const Tensor& dst) {
  if (src.n_elements() != dst.n_elements()) return false;
  if (quantizing_copy(src, dst)) return true;
  const TypeTraits* ts = type_traits(src.type);
  if (src.type == dst.type && ts->is_quantized) {
    // Whole blocks only: either equal shapes with dense rows, or both fully contiguous.
    return (src.ne == dst.ne && rows_dense(src) && rows_dense(dst)) || (src.is_contiguous() && dst.is_contiguous());
  }
  return src.type == dst.type || (is_float_type(src.type) && is_float_type(dst.type));
}

Status cpu_copy(const Tensor& src, const Tensor& dst, int ith, int nth) {
  if (!cpu_copy_supported(src, dst)) {
    return error(ErrorCode::unsupported, "cpy: no CPU copy path for these dtypes/layouts");
  }
  int64_t begin = 0, end = 0;
  if (src.type == dst.type && src.is_contiguous() && dst.is_contiguous()) {
    split((int64_t)src.n_bytes(), ith, nth, begin, end);
    if (end > begin) std::memcpy(static_cast<char*>(dst.data) + begin, static_cast<const char*>(src.data) + begin, (size_t)(end - begin));
    return Status::ok_status();
  }
  if (quantizing_copy(src, dst)) {
    const FromFloatFn from_float = type_traits(dst.type)->from_float;
    split(src.n_rows(), ith, nth, begin, end);
    for (int64_t r = begin; r < end; ++r) {
      const int64_t i1 = r % src.ne[1], i2 = (r / src.ne[1]) % src.ne[2], i3 = r / (src.ne[1] * src.ne[2]);
      from_float(static_cast<const float*>(src.row(i1, i2, i3)), dst.row(i1, i2, i3), src.ne[0]);
    }
    return Status::ok_status();
  }
  if (src.type == dst.type && src.ne == dst.ne && rows_dense(src) && rows_dense(dst)) {
    const size_t row_bytes = row_size(src.type, src.ne[0]);
    split(src.n_rows(), ith, nth, begin, end);
    for (int64_t r = begin; r < end; ++r) {
      const int64_t i1 = r % src.ne[1], i2 = (r / src.ne[1]) % src.ne[2], i3 = r / (src.ne[1] * src.ne[2]);
      std::memcpy(dst.row(i1, i2, i3), src.row(i1, i2, i3), row_bytes);
    }
    return Status::ok_status();
  }
  if (src.ne == dst.ne && rows_dense(src) && rows_dense(dst)) {
    // Float rows of another float type (a KV cache's f16 rows): converted row by row. The
    // element path below spends most of its time on index arithmetic: this was 6% of a
    // SmolLM2-135M prefill on one thread.
    split(src.n_rows(), ith, nth, begin, end);
    for (int64_t r = begin; r < end; ++r) {
      const int64_t i1 = r % src.ne[1], i2 = (r / src.ne[1]) % src.ne[2], i3 = r / (src.ne[1] * src.ne[2]);
      convert_row(static_cast<const char*>(src.row(i1, i2, i3)), src.type, static_cast<char*>(dst.row(i1, i2, i3)),
                  dst.type, src.ne[0]);
    }
    return Status::ok_status();
  }
  // Element path (non-quantised): flattened order, each thread a contiguous range.
  split(src.n_elements(), ith, nth, begin, end);
  if (begin >= end) return Status::ok_status();
  int64_t is[kMaxDims], id[kMaxDims];
  unflatten(begin, src.ne, is);
  unflatten(begin, dst.ne, id);
  const auto* s = static_cast<const char*>(src.data);
  auto* d = static_cast<char*>(dst.data);
  if (src.type == dst.type) {
    const size_t es = type_traits(src.type)->type_size;
    for (int64_t i = begin; i < end; ++i, step(src.ne, is), step(dst.ne, id)) {
      std::memcpy(d + byte_offset(dst, id), s + byte_offset(src, is), es);
    }
  } else {
    for (int64_t i = begin; i < end; ++i, step(src.ne, is), step(dst.ne, id)) {
      store_float(d + byte_offset(dst, id), dst.type, load_float(s + byte_offset(src, is), src.type));
    }
  }
  return Status::ok_status();
}

void cpu_concat(const Tensor& a, const Tensor& b, int dim, const Tensor& dst, int ith, int nth) {
  const size_t es = type_traits(dst.type)->type_size;
  int64_t begin = 0, end = 0;
  split(dst.n_rows(), ith, nth, begin, end);
  for (int64_t r = begin; r < end; ++r) {
    int64_t o[kMaxDims] = {0, r % dst.ne[1], (r / dst.ne[1]) % dst.ne[2], r / (dst.ne[1] * dst.ne[2])};
    char* out = static_cast<char*>(dst.row(o[1], o[2], o[3]));
    for (o[0] = 0; o[0] < dst.ne[0]; ++o[0]) {
      int64_t i[kMaxDims] = {o[0], o[1], o[2], o[3]};
      const Tensor* s = &a;
      if (i[dim] >= a.ne[(size_t)dim]) {
        i[dim] -= a.ne[(size_t)dim];
        s = &b;
      }
      std::memcpy(out + o[0] * (int64_t)es, static_cast<const char*>(s->data) + byte_offset(*s, i), es);
    }
  }
}

Status cpu_get_rows(const Tensor& table, const Tensor& ids, const Tensor& dst, int ith, int nth) {
  const ToFloatFn to_float = type_traits(table.type)->to_float;
  int64_t begin = 0, end = 0;
  split(ids.ne[0], ith, nth, begin, end);
  for (int64_t r = begin; r < end; ++r) {
    int32_t id = 0;
    std::memcpy(&id, static_cast<const char*>(ids.data) + r * (int64_t)ids.nb[0], sizeof(id));
    if (id < 0 || id >= table.ne[1]) {
      return error(ErrorCode::out_of_range, "get_rows: id " + std::to_string(id) + " at position " +
                                                std::to_string(r) + " is outside the table's " +
                                                std::to_string(table.ne[1]) + " rows");
    }
    to_float(table.row(id), static_cast<float*>(dst.row(r)), table.ne[0]);
  }
  return Status::ok_status();
}

}  // namespace nm
