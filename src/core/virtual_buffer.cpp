#include "core/virtual_buffer.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
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

Result<VirtualBuffer> VirtualBuffer::reserve_file_backed(size_t n_bytes, const std::string& dir) {
  constexpr size_t kHugePage = size_t{2} << 20;
  auto fail = [&](const std::string& what) {
    return error(ErrorCode::io_error, "file-backed buffer in '" + dir + "': " + what + ": " + std::strerror(errno));
  };
  struct statfs fs {};
  if (::statfs(dir.c_str(), &fs) != 0) return fail("statfs");
  if (fs.f_type == TMPFS_MAGIC || fs.f_type == RAMFS_MAGIC) {
    return error(ErrorCode::unsupported, "file-backed buffer in '" + dir + "': an in-memory file system");
  }
  VirtualBuffer b;
  if (n_bytes == 0) return b;
  int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) {  // a file system without O_TMPFILE: a named file, unlinked at once
    std::string name = dir + "/.nanomind-packed-XXXXXX";
    fd = ::mkostemp(name.data(), O_CLOEXEC);
    if (fd < 0) return fail("cannot create a file");
    ::unlink(name.c_str());
  }
  // posix_fallocate would write zeros where the file system cannot allocate: fallocate only.
  if (::fallocate(fd, 0, 0, (off_t)n_bytes) != 0) {
    Status st = fail("cannot allocate " + std::to_string(n_bytes >> 20) + " MiB");
    ::close(fd);
    return st;
  }
  // Reserve an aligned range, then map the file over its 2 MiB-aligned start.
  b.map_bytes_ = n_bytes + kHugePage;
  b.map_ = map_anonymous(b.map_bytes_);
  if (!b.map_) {
    ::close(fd);
    return no_address_space(n_bytes);
  }
  void* at = reinterpret_cast<void*>(((uintptr_t)b.map_ + kHugePage - 1) / kHugePage * kHugePage);
  void* p = mmap(at, n_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
  const int map_errno = errno;
  ::close(fd);  // the mapping keeps the file
  if (p == MAP_FAILED) {
    errno = map_errno;
    return fail("mmap");
  }
  b.data_ = p;
  b.size_ = n_bytes;
  b.file_backed_ = true;
#ifdef MADV_HUGEPAGE
  (void)madvise(b.data_, n_bytes, MADV_HUGEPAGE);  // large page-cache folios, mapped whole where aligned
#endif
  return b;
}

void VirtualBuffer::unmap() {
  if (map_) munmap(map_, map_bytes_);
  map_ = data_ = nullptr;
  map_bytes_ = size_ = 0;
  file_backed_ = false;
}

VirtualBuffer::~VirtualBuffer() { unmap(); }

VirtualBuffer::VirtualBuffer(VirtualBuffer&& o) noexcept
    : map_(std::exchange(o.map_, nullptr)),
      map_bytes_(std::exchange(o.map_bytes_, 0)),
      data_(std::exchange(o.data_, nullptr)),
      size_(std::exchange(o.size_, 0)),
      file_backed_(std::exchange(o.file_backed_, false)) {}

VirtualBuffer& VirtualBuffer::operator=(VirtualBuffer&& o) noexcept {
  if (this != &o) {
    unmap();
    map_ = std::exchange(o.map_, nullptr);
    map_bytes_ = std::exchange(o.map_bytes_, 0);
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
    file_backed_ = std::exchange(o.file_backed_, false);
  }
  return *this;
}

void VirtualBuffer::release_from(size_t offset) {
  const size_t page = (size_t)sysconf(_SC_PAGESIZE);
  offset = (offset + page - 1) / page * page;
  if (!data_ || offset >= size_) return;
  madvise(static_cast<char*>(data_) + offset, size_ - offset, MADV_DONTNEED);
}

void VirtualBuffer::release_range(size_t offset, size_t bytes) {
  if (!data_ || offset >= size_) return;
  const size_t page = (size_t)sysconf(_SC_PAGESIZE);
  // The buffer's own end may lie inside its last page: that page is the buffer's alone.
  const size_t end = offset + bytes >= size_ ? size_ : (offset + bytes) / page * page;
  offset = (offset + page - 1) / page * page;
  if (end > offset) madvise(static_cast<char*>(data_) + offset, end - offset, MADV_DONTNEED);
}

}  // namespace nm
