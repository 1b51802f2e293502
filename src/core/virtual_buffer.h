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
  // The same, 2 MiB aligned and marked for transparent huge pages (where the kernel has
  // them, in "always" or "madvise" mode): a buffer streamed from end to end, such as packed
  // weights, then costs one TLB miss per 2 MiB instead of one per 4 KiB page (on the 2-core
  // Zen 4 VM: 27 -> 34-37 GB/s read with two threads, 21 -> 31 GB/s with one). Resident
  // memory grows in 2 MiB steps, so not for buffers written sparsely (the KV cache).
  static Result<VirtualBuffer> reserve_huge(size_t n_bytes);
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
  void unmap();
  void* map_ = nullptr;  // what mmap returned; data_ may lie above it (alignment)
  size_t map_bytes_ = 0;
  void* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace nm
