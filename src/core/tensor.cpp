#include "core/tensor.h"

namespace nm {

bool Tensor::is_contiguous() const {
  if (nb[0] != type_traits(type)->type_size) return false;
  size_t expect = row_size(type, ne[0]);
  for (int d = 1; d < kMaxDims; ++d) {
    if (ne[d] != 1 && nb[d] != expect) return false;
    expect *= (size_t)ne[d];
  }
  return true;
}

Tensor Tensor::make(DType type, std::array<int64_t, kMaxDims> ne, void* data) {
  Tensor t;
  t.type = type;
  t.ne = ne;
  t.data = data;
  t.nb[0] = type_traits(type)->type_size;
  t.nb[1] = row_size(type, ne[0]);
  t.nb[2] = t.nb[1] * (size_t)ne[1];
  t.nb[3] = t.nb[2] * (size_t)ne[2];
  return t;
}

}  // namespace nm
