#include "core/virtual_buffer.h"

#include <sys/mman.h>
#include <unistd.h>

#include <string>
#include <utility>

namespace nm {

Result<VirtualBuffer> VirtualBuffer::reserve(size_t n_bytes) {
  VirtualBuffer b;
  if (n_bytes == 0) return b;
  void* p = mmap(nullptr, n_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    return error(ErrorCode::out_of_memory, "cannot reserve " + std::to_string(n_bytes >> 20) + " MiB of address space");
  }
  b.data_ = p;
  b.size_ = n_bytes;
  return b;
}

VirtualBuffer::~VirtualBuffer() {
  if (data_) munmap(data_, size_);
}

VirtualBuffer::VirtualBuffer(VirtualBuffer&& o) noexcept
    : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}

VirtualBuffer& VirtualBuffer::operator=(VirtualBuffer&& o) noexcept {
  if (this != &o) {
    if (data_) munmap(data_, size_);
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
  }
  return *this;
}

void VirtualBuffer::release_from(size_t offset) {
  const size_t page = (size_t)sysconf(_SC_PAGESIZE);
  offset = (offset + page - 1) / page * page;
  if (!data_ || offset >= size_) return;
  madvise(static_cast<char*>(data_) + offset, size_ - offset, MADV_DONTNEED);
}

}  // namespace nm
