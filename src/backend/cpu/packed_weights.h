// PackedWeights: the CPU's copies of weight matrices in the packed matmul layout
// (kernels/matmul_packed.h), made once per weight and shared by every graph (shape
// bucket) of a brick and, through the C API's model, by every session of the model. Only
// weights inside the given read-only mapping of a model file are packed. They are read
// with pread(), not through the mapping, so the file's pages never join this process's
// resident set; pages of the weight that were mapped already are dropped, and the
// weight's range is marked MADV_RANDOM so that reads of neighbouring tensors cannot map
// them again by fault-around. A model thus costs one copy of its bytes. The copies live in
// one address range as long as the file, each at its weight's file offset, reserved
// 2 MiB aligned for transparent huge pages (core/virtual_buffer.h): decode streams every
// weight once per token, and 4 KiB pages cost it a TLB miss per page. A weight that cannot
// be packed (type, shape, ISA, read error) is used as is.
// On-demand residency gives the copies back after each run. Made with a spill folder, they
// live in an unlinked file there (VirtualBuffer::reserve_file_backed): evict() takes them
// out of the resident set and the next run maps them back from the page cache, without
// reading the model file and packing again (which cost a fifth of an on-demand camera
// stream's CPU time: zeroing fresh pages, pread, repacking). Without one (or where the
// folder cannot hold the file) they are anonymous memory and evict() cannot keep them.
// Thread-safety: get() may be called from any thread; evict() only while no graph reads
// the copies.
// for_memory() packs weights that live in memory the caller owns (Whisper copies its
// files into an arena): they are copied from there, and that memory is left as it is (the
// owner may still read it: embedding rows, other devices), so those copies cost their bytes
// once more.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "core/gguf_reader.h"
#include "core/tensor.h"
#include "core/virtual_buffer.h"
#include "kernels/cpu_features.h"

namespace nm {

class PackedWeights {
 public:
  // [file, file + file_bytes): a read-only private mapping of the file at `path`.
  // spill_dir: where the copies are kept as a file ("" = anonymous memory).
  PackedWeights(const std::string& path, const void* file, size_t file_bytes, std::string spill_dir = "");
  // For a model file opened from a path; null for one parsed from memory.
  static std::shared_ptr<PackedWeights> for_file(const GgufFile& file, const std::string& spill_dir = "");
  // For weights in [base, base + bytes) of memory the caller owns and keeps unchanged for
  // the lifetime of the copies (and of the graphs prepared with them).
  static std::shared_ptr<PackedWeights> for_memory(const void* base, size_t bytes);
  ~PackedWeights();
  PackedWeights(const PackedWeights&) = delete;
  PackedWeights& operator=(const PackedWeights&) = delete;

  // The packed copy of matmul weight w (2-D, rows w.nb[1] apart) for `isa`, or nullptr
  // when the plain layout must be used.
  const void* get(Isa isa, const Tensor& w);

  size_t packed_bytes() const;
  // Takes the copies' pages out of the resident set, keeping the copies (true) where they
  // are file-backed; false where they are not (nothing done: drop this object to free them).
  bool evict();
  // Whether the copies live in a file (spill folder): then a copy's pages may be dropped
  // (core/page_advice.h) and come back from the page cache at its next use, as streaming a
  // one-pass brick's weights layer by layer does (backend/cpu/cpu_executor.h).
  bool copies_file_backed() const;

 private:
  PackedWeights(const void* base, size_t bytes);
  int fd_ = -1;
  bool in_memory_ = false;  // for_memory(): copy from file_ itself, never advise it
  const char* file_;
  size_t file_bytes_;
  std::string spill_dir_;
  mutable std::mutex mu_;
  VirtualBuffer arena_;                                    // reserved at the first get()
  std::unordered_map<const void*, const void*> packed_;  // file address -> copy in arena_
  size_t bytes_ = 0;
};

}  // namespace nm
