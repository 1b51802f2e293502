// Read-only mmap of a file; see mapped_file.h.
#include "core/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace nm {

Result<std::shared_ptr<MappedFile>> MappedFile::open(const std::string& path) {
  // O_NONBLOCK: opening a FIFO without a writer returns at once (and is refused below as not
  // a regular file) instead of blocking forever; it changes nothing for regular files.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT) return error(ErrorCode::io_error, "file not found: '" + path + "'");
    return error(ErrorCode::io_error, "cannot open '" + path + "': " + std::strerror(err));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return error(ErrorCode::io_error, "cannot stat '" + path + "': " + std::strerror(err));
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    return error(ErrorCode::io_error, "'" + path + "' is a directory, not a file");
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return error(ErrorCode::io_error, "'" + path + "' is not a regular file");
  }
  if (st.st_size == 0) {
    ::close(fd);
    return error(ErrorCode::invalid_file, "'" + path + "' is empty");
  }
  size_t size = static_cast<size_t>(st.st_size);
  void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  int err = errno;
  ::close(fd);
  if (p == MAP_FAILED) {
    return error(ErrorCode::io_error, "cannot map '" + path + "': " + std::strerror(err));
  }
  return std::shared_ptr<MappedFile>(new MappedFile(path, static_cast<const uint8_t*>(p), size));
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(const_cast<uint8_t*>(data_), size_);
}

void MappedFile::advise_sequential() const {
  (void)::madvise(const_cast<uint8_t*>(data_), size_, MADV_SEQUENTIAL);
}

void MappedFile::advise_random() const {
  (void)::madvise(const_cast<uint8_t*>(data_), size_, MADV_RANDOM);
}

void MappedFile::advise_willneed(size_t offset, size_t length) const {
  if (offset >= size_) return;
  if (length > size_ - offset) length = size_ - offset;
  long page = ::sysconf(_SC_PAGESIZE);
  size_t start = offset - offset % static_cast<size_t>(page);
  (void)::madvise(const_cast<uint8_t*>(data_) + start, length + (offset - start), MADV_WILLNEED);
}

}  // namespace nm
