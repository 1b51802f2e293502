#include "backend/cpu/packed_weights.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>
#include <vector>

#include "core/page_advice.h"
#include "kernels/matmul_packed.h"

namespace nm {
namespace {

bool read_fully(int fd, void* dst, size_t bytes, off_t offset) {
  auto* out = static_cast<char*>(dst);
  while (bytes > 0) {
    const ssize_t n = ::pread(fd, out, bytes, offset);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    out += n;
    bytes -= (size_t)n;
    offset += n;
  }
  return true;
}

}  // namespace

PackedWeights::PackedWeights(const std::string& path, const void* file, size_t file_bytes, std::string spill_dir)
    : fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)),
      file_(static_cast<const char*>(file)),
      file_bytes_(file_bytes),
      spill_dir_(std::move(spill_dir)) {}

PackedWeights::PackedWeights(const void* base, size_t bytes)
    : in_memory_(true), file_(static_cast<const char*>(base)), file_bytes_(bytes) {}

std::shared_ptr<PackedWeights> PackedWeights::for_memory(const void* base, size_t bytes) {
  if (!base || bytes == 0) return nullptr;
  return std::shared_ptr<PackedWeights>(new PackedWeights(base, bytes));
}

std::shared_ptr<PackedWeights> PackedWeights::for_file(const GgufFile& file, const std::string& spill_dir) {
  if (file.path().empty()) return nullptr;
  return std::make_shared<PackedWeights>(file.path(), file.data(), file.file_size(), spill_dir);
}

bool PackedWeights::evict() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!arena_.data()) return true;  // nothing packed yet
  if (!arena_.file_backed()) return false;
  arena_.release_from(0);
  return true;
}

bool PackedWeights::copies_file_backed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return arena_.file_backed();
}

PackedWeights::~PackedWeights() {
  if (fd_ >= 0) ::close(fd_);
}

size_t PackedWeights::packed_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_;
}

const void* PackedWeights::get(Isa isa, const Tensor& w) {
  const char* p = static_cast<const char*>(w.data);
  const int64_t m = w.ne[1], k = w.ne[0];
  const size_t row_bytes = row_size(w.type, k);
  if ((fd_ < 0 && !in_memory_) || !p || w.ne[2] != 1 || w.ne[3] != 1 || w.nb[1] != row_bytes || !matmul_packable(isa, w.type, m, k)) {
    return nullptr;
  }
  const size_t bytes = matmul_packed_bytes(w.type, m, k);
  if (p < file_ || p + bytes > file_ + file_bytes_) return nullptr;  // not file memory: leave it alone

  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = packed_.find(p); it != packed_.end()) return it->second;
  if (!arena_.data()) {
    auto arena = spill_dir_.empty() ? VirtualBuffer::reserve_huge(file_bytes_)
                                    : VirtualBuffer::reserve_file_backed(file_bytes_, spill_dir_);
    if (!arena.ok() && !spill_dir_.empty()) arena = VirtualBuffer::reserve_huge(file_bytes_);
    if (!arena.ok()) return nullptr;
    arena_ = std::move(arena).value();
  }
  char* copy = static_cast<char*>(arena_.data()) + (p - file_);
  if (in_memory_) {  // the owner's memory: copied as it is, left alone
    matmul_pack_weights(w.type, p, row_bytes, m, k, copy);
    bytes_ += bytes;
    return packed_.emplace(p, copy).first->second;
  }
  constexpr int64_t kSliceRows = kPackRows * 64;  // whole groups per read
  std::vector<char> slice(std::min<size_t>(bytes, (size_t)kSliceRows * row_bytes));
  for (int64_t r0 = 0; r0 < m; r0 += kSliceRows) {
    const int64_t rows = std::min(kSliceRows, m - r0);
    if (!read_fully(fd_, slice.data(), (size_t)rows * row_bytes, (off_t)(p - file_) + (off_t)(r0 * row_bytes))) {
      drop_whole_pages(copy, bytes);  // the file layout is used: give the copy's pages back
      return nullptr;
    }
    matmul_pack_weights(w.type, slice.data(), row_bytes, rows, k, copy + r0 * row_bytes);
  }
  // Pages of this weight already mapped leave the resident set (a private read-only file
  // mapping re-reads them if touched again), and reads of neighbouring tensors through the
  // mapping (norms, embedding rows) no longer map them by fault-around: MADV_RANDOM splits
  // the weight's range into its own VMA, and fault-around stays inside one VMA.
  advise_random_whole_pages(p, bytes);
  drop_whole_pages(p, bytes);
  bytes_ += bytes;
  return packed_.emplace(p, copy).first->second;
}

}  // namespace nm
