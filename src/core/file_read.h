// Reading a whole small file that a user or a download names (an image, a device profile, a
// cache entry) without trusting what the path is: devices (/dev/zero never ends), FIFOs
// (opening one without a writer blocks forever) and directories are refused by kind, and the
// byte cap is checked before reading (the size the file reports) and while reading (a file
// that grows meanwhile). Model files are mapped instead (core/mapped_file.h), with the same
// refusal of special files. Thread-safety: plain functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace nm {

// The whole of `path` if it is a regular file of at most max_bytes. `what` names the file
// in messages ("image 'x.png'"); `hint` (may be empty) is appended to the refusal of a
// special file, e.g. "give an image file, or - for standard input".
Result<std::vector<uint8_t>> read_regular_file(const std::string& path, size_t max_bytes, const std::string& what,
                                               const std::string& hint = "");

// Reads fd to its end, refusing more than max_bytes (checked as it goes): for standard input.
Status read_fd_capped(int fd, size_t max_bytes, const std::string& what, std::vector<uint8_t>& out);

// "1 MiB", "256 MiB"; below 1 MiB in KiB or bytes.
std::string byte_size_text(size_t bytes);

}  // namespace nm
