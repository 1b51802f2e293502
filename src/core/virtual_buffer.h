// VirtualBuffer: a large zero-filled buffer reserved in virtual memory only; physical
// pages arrive when first written. The KV cache and activation arenas use it so that
// resident memory follows what is used, not the worst case (e.g. the full context).
// Not copyable; movable. Thread-safety: none needed (plain memory).
#pragma once

#include <cstddef>
#include <string>

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
  // As reserve_huge, but the memory is an unlinked file made in the folder `dir`, mapped
  // shared: evict() then takes its pages out of the process's resident set and they keep
  // their contents in the page cache, from where the next touch maps them again (no
  // zeroing, no rewriting; the kernel may write them to the file and drop them when memory
  // is short). The file's blocks are allocated up front, so a full disk is an error here,
  // never a SIGBUS later. Refused on tmpfs (its pages would stay in memory, not evictable
  // without swap) and where the folder cannot hold such a file: callers fall back to reserve_huge.
  static Result<VirtualBuffer> reserve_file_backed(size_t n_bytes, const std::string& dir);
  ~VirtualBuffer();
  VirtualBuffer(VirtualBuffer&& o) noexcept;
  VirtualBuffer& operator=(VirtualBuffer&& o) noexcept;
  VirtualBuffer(const VirtualBuffer&) = delete;
  VirtualBuffer& operator=(const VirtualBuffer&) = delete;

  void* data() const { return data_; }
  size_t size() const { return size_; }
  // Gives the pages from `offset` on back to the OS (contents read as zero afterwards;
  // a file-backed buffer's come back from the file instead).
  void release_from(size_t offset);
  // The same for the whole pages inside [offset, offset + bytes).
  void release_range(size_t offset, size_t bytes);
  bool file_backed() const { return file_backed_; }

 private:
  void unmap();
  void* map_ = nullptr;  // what mmap returned; data_ may lie above it (alignment)
  size_t map_bytes_ = 0;
  void* data_ = nullptr;
  size_t size_ = 0;
  bool file_backed_ = false;
};

}  // namespace nm
