#include "runtime/memory_usage.h"

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace nm {
namespace {

// "VmRSS:     1234 kB" -> bytes; false when the line is not `key`.
bool kib_field(const std::string& line, const char* key, size_t& out) {
  const size_t n = std::strlen(key);
  if (line.compare(0, n, key) != 0 || line.size() <= n || line[n] != ':') return false;
  unsigned long long kib = 0;
  if (std::sscanf(line.c_str() + n + 1, "%llu", &kib) != 1) return false;
  out = (size_t)kib * 1024;
  return true;
}

}  // namespace

Result<ProcessMemory> parse_proc_status(const std::string& text) {
  ProcessMemory m;
  bool rss = false;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    rss |= kib_field(line, "VmRSS", m.rss);
    kib_field(line, "RssAnon", m.rss_anon);
    kib_field(line, "RssFile", m.rss_file);
    kib_field(line, "VmHWM", m.peak_rss);
  }
  if (!rss) return error(ErrorCode::unsupported, "no VmRSS line in the process status");
  return m;
}

Result<ProcessMemory> read_process_memory() {
  std::ifstream f("/proc/self/status");
  if (!f) return error(ErrorCode::unsupported, "cannot read /proc/self/status: resident memory is not measurable here");
  std::stringstream ss;
  ss << f.rdbuf();
  return parse_proc_status(ss.str());
}

Status reset_peak_rss() {
  std::ofstream f("/proc/self/clear_refs");
  if (f) f << "5";
  if (!f) return error(ErrorCode::unsupported, std::string("cannot reset the peak resident memory: ") + std::strerror(errno));
  return Status();
}

Result<size_t> mapped_file_rss(const std::string& path) {
  std::error_code ec;
  const std::string want = std::filesystem::weakly_canonical(path, ec).string();
  std::ifstream f("/proc/self/smaps");
  if (!f) return error(ErrorCode::unsupported, "cannot read /proc/self/smaps");
  size_t total = 0;
  bool in_file = false;
  for (std::string line; std::getline(f, line);) {
    // A mapping's header: "start-end perms offset dev inode   pathname".
    if (!line.empty() && std::isxdigit((unsigned char)line[0]) && line.find('-') < line.find(' ')) {
      const size_t slash = line.find('/');
      in_file = slash != std::string::npos && line.compare(slash, std::string::npos, want) == 0;
      continue;
    }
    size_t bytes = 0;
    if (in_file && kib_field(line, "Rss", bytes)) total += bytes;
  }
  return total;
}

}  // namespace nm
