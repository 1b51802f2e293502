#include "core/virtual_buffer.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <utility>

namespace nm {

namespace {

void* map_anonymous(size_t n_bytes) {
  void* p = mmap(nullptr, n_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

Status no_address_space(size_t n_bytes) {
  return error(ErrorCode::out_of_memory, "cannot reserve " + std::to_string(n_bytes >> 20) + " MiB of address space");
}

}  // namespace

Result<VirtualBuffer> VirtualBuffer::reserve(size_t n_bytes) {
  VirtualBuffer b;
  if (n_bytes == 0) return b;
  b.map_ = map_anonymous(n_bytes);
  if (!b.map_) return no_address_space(n_bytes);
  b.map_bytes_ = n_bytes;
  b.data_ = b.map_;
  b.size_ = n_bytes;
  return b;
}

Result<VirtualBuffer> VirtualBuffer::reserve_huge(size_t n_bytes) {
  constexpr size_t kHugePage = size_t{2} << 20;
  VirtualBuffer b;
  if (n_bytes == 0) return b;
  b.map_bytes_ = n_bytes + kHugePage;
  b.map_ = map_anonymous(b.map_bytes_);
  if (!b.map_) return no_address_space(n_bytes);
  b.data_ = reinterpret_cast<void*>(((uintptr_t)b.map_ + kHugePage - 1) / kHugePage * kHugePage);
  b.size_ = n_bytes;
#ifdef MADV_HUGEPAGE
  (void)madvise(b.data_, n_bytes, MADV_HUGEPAGE);  // a hint: without THP the pages stay 4 KiB
#endif
  return b;
}

void VirtualBuffer::unmap() {
  if (map_) munmap(map_, map_bytes_);
  map_ = data_ = nullptr;
  map_bytes_ = size_ = 0;
}

VirtualBuffer::~VirtualBuffer() { unmap(); }

VirtualBuffer::VirtualBuffer(VirtualBuffer&& o) noexcept
    : map_(std::exchange(o.map_, nullptr)),
      map_bytes_(std::exchange(o.map_bytes_, 0)),
      data_(std::exchange(o.data_, nullptr)),
      size_(std::exchange(o.size_, 0)) {}

VirtualBuffer& VirtualBuffer::operator=(VirtualBuffer&& o) noexcept {
  if (this != &o) {
    unmap();
    map_ = std::exchange(o.map_, nullptr);
    map_bytes_ = std::exchange(o.map_bytes_, 0);
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
