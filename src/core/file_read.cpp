// Capped reads of regular files; see file_read.h.
#include "core/file_read.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace nm {

std::string byte_size_text(size_t bytes) {
  if (bytes >= (size_t)1 << 20 && bytes % ((size_t)1 << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
  if (bytes >= 1024 && bytes % 1024 == 0) return std::to_string(bytes >> 10) + " KiB";
  return std::to_string(bytes) + " bytes";
}

Status read_fd_capped(int fd, size_t max_bytes, const std::string& what, std::vector<uint8_t>& out) {
  uint8_t buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n == 0) return Status();
    if (n < 0) {
      if (errno == EINTR) continue;
      return error(ErrorCode::io_error, "cannot read " + what + ": " + std::strerror(errno));
    }
    if (out.size() + (size_t)n > max_bytes) {
      return error(ErrorCode::invalid_file, what + " is larger than the " + byte_size_text(max_bytes) + " limit");
    }
    out.insert(out.end(), buf, buf + n);
  }
}

Result<std::vector<uint8_t>> read_regular_file(const std::string& path, size_t max_bytes, const std::string& what,
                                               const std::string& hint) {
  // O_NONBLOCK: opening a FIFO without a writer returns at once instead of waiting forever
  // (it is then refused as not a regular file); it changes nothing for regular files.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return error(ErrorCode::io_error, "cannot open " + what + ": " + std::strerror(errno));
  struct stat st {};
  Status status;
  std::vector<uint8_t> bytes;
  if (::fstat(fd, &st) != 0) {
    status = error(ErrorCode::io_error, "cannot stat " + what + ": " + std::strerror(errno));
  } else if (!S_ISREG(st.st_mode)) {
    const char* kind = S_ISDIR(st.st_mode)                          ? "a directory"
                       : S_ISFIFO(st.st_mode)                       ? "a FIFO"
                       : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device"
                       : S_ISSOCK(st.st_mode)                       ? "a socket"
                                                                    : "not a file";
    status = error(ErrorCode::invalid_argument,
                   what + " is not a regular file (" + kind + ")" + (hint.empty() ? "" : ": " + hint));
  } else if ((uint64_t)st.st_size > max_bytes) {
    status = error(ErrorCode::invalid_file, what + " is " + byte_size_text((size_t)st.st_size) + ", larger than the " +
                                                byte_size_text(max_bytes) + " limit");
  } else {
    bytes.reserve((size_t)st.st_size);
    status = read_fd_capped(fd, max_bytes, what, bytes);  // the cap holds even if the file grows meanwhile
  }
  ::close(fd);
  NM_RETURN_IF_ERROR(status);
  return bytes;
}

}  // namespace nm
