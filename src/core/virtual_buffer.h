// VirtualBuffer: a large zero-filled buffer reserved in virtual memory only; physical
// pages arrive when first written. The KV cache and activation arenas use it so that
// resident memory follows what is used, not the worst case (e.g. the full context).
// Not copyable; movable. Thread-safety: none needed (plain memory).
#pragma once

#include <cstddef>

#include "core/status.h"

namespace nm {

class VirtualBuffer {
 public:
  VirtualBuffer() = default;
  static Result<VirtualBuffer> reserve(size_t n_bytes);
  ~VirtualBuffer();
  VirtualBuffer(VirtualBuffer&& o) noexcept;
  VirtualBuffer& operator=(VirtualBuffer&& o) noexcept;
  VirtualBuffer(const VirtualBuffer&) = delete;
  VirtualBuffer& operator=(const VirtualBuffer&) = delete;

  void* data() const { return data_; }
  size_t size() const { return size_; }
  // Gives the pages from `offset` on back to the OS (contents read as zero afterwards).
  void release_from(size_t offset);

 private:
  void* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace nm
