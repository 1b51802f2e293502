// /proc/self readers (see process_memory.h).
#include "core/process_memory.h"

#include <filesystem>
#include <fstream>
#include <sstream>

namespace nm {

namespace {

// "VmRSS:	  123456 kB" from /proc/self/status.
Result<size_t> status_kib(const char* key) {
  std::ifstream f("/proc/self/status");
  if (!f) return error(ErrorCode::io_error, "/proc/self/status cannot be read");
  const std::string k = std::string(key) + ":";
  for (std::string line; std::getline(f, line);) {
    if (line.rfind(k, 0) != 0) continue;
    std::istringstream in(line.substr(k.size()));
    size_t kib = 0;
    if (!(in >> kib)) break;
    return kib * 1024;
  }
  return error(ErrorCode::unsupported, std::string("/proc/self/status has no ") + key);
}

}  // namespace

Result<size_t> resident_bytes() { return status_kib("VmRSS"); }
Result<size_t> peak_resident_bytes() { return status_kib("VmHWM"); }

Result<size_t> resident_bytes_of_file(const std::string& path) {
  std::error_code ec;
  const std::string want = std::filesystem::weakly_canonical(path, ec).string();
  std::ifstream f("/proc/self/smaps");
  if (!f) return error(ErrorCode::io_error, "/proc/self/smaps cannot be read");
  size_t total = 0;
  bool in_file = false;
  for (std::string line; std::getline(f, line);) {
    // A mapping header: "start-end perms offset dev inode [path]"; its fields follow as "Key: value kB".
    const size_t colon = line.find(':');
    const bool header = colon == std::string::npos || line.find(' ') < colon;
    if (header) {
      std::istringstream in(line);
      std::string range, perms, offset, dev, inode, name;
      in >> range >> perms >> offset >> dev >> inode;
      std::getline(in, name);
      const size_t b = name.find_first_not_of(' ');
      name = b == std::string::npos ? "" : name.substr(b);
      in_file = !name.empty() && name == want;
      continue;
    }
    if (in_file && line.rfind("Rss:", 0) == 0) {
      std::istringstream in(line.substr(4));
      size_t kib = 0;
      in >> kib;
      total += kib * 1024;
    }
  }
  return total;
}

}  // namespace nm
