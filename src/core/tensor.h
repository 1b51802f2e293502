// Tensor: a non-owning view of typed memory (ggml-style: ne = elements per dimension,
// innermost first; nb = byte strides). `owner` optionally keeps the backing memory
// (an mmapped file, an arena) alive. Views are cheap to copy.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "core/dtype.h"

namespace nm {

constexpr int kMaxDims = 4;

struct Tensor {
  DType type = DType::F32;
  std::array<int64_t, kMaxDims> ne{1, 1, 1, 1};
  std::array<size_t, kMaxDims> nb{0, 0, 0, 0};
  void* data = nullptr;
  std::shared_ptr<const void> owner;

  int64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
  int64_t n_rows() const { return ne[1] * ne[2] * ne[3]; }
  size_t n_bytes() const { return row_size(type, ne[0]) * (size_t)n_rows(); }
  bool is_contiguous() const;
  template <class T> T* as() const { return static_cast<T*>(data); }
  void* row(int64_t i1, int64_t i2 = 0, int64_t i3 = 0) const {
    return static_cast<char*>(data) + i1 * nb[1] + i2 * nb[2] + i3 * nb[3];
  }

  // Contiguous view over `data` with the given shape (innermost first).
  static Tensor make(DType type, std::array<int64_t, kMaxDims> ne, void* data);
};

}  // namespace nm
