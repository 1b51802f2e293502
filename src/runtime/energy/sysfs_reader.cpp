// Strict sysfs file readers (see sysfs_reader.h).
#include "runtime/energy/sysfs_reader.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <filesystem>

namespace nm::energy {

std::string sysfs_root(const std::string& override_root) {
  if (!override_root.empty()) return override_root;
  if (const char* env = std::getenv("NM_SYSFS_ROOT"); env && *env) return env;
  return "/";
}

std::string sysfs_path(const std::string& root, const std::string& rel) {
  std::string out = root;
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  if (out != "/") out.push_back('/');
  size_t start = 0;
  while (start < rel.size() && rel[start] == '/') ++start;
  out.append(rel, start, std::string::npos);
  return out;
}

Result<std::string> read_sysfs_text(const std::string& path) {
  // open/read rather than iostreams: a sysfs read can fail with EIO or ENODATA after a
  // successful open (a sensor that went away), and that must be an error, not "".
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int e = errno;
    return error(ErrorCode::io_error, path + ": " + std::strerror(e));
  }
  char buf[4096];
  size_t n = 0;
  while (n < sizeof buf) {
    const ssize_t r = ::read(fd, buf + n, sizeof buf - n);
    if (r < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      ::close(fd);
      return error(ErrorCode::io_error, path + ": read failed: " + std::strerror(e));
    }
    if (r == 0) break;
    n += static_cast<size_t>(r);
  }
  ::close(fd);
  std::string text(buf, n);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  return text;
}

Result<int64_t> parse_sysfs_int(const std::string& text, const std::string& what) {
  size_t b = 0, e = text.size();
  while (b < e && std::isspace(static_cast<unsigned char>(text[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(text[e - 1]))) --e;
  auto shown = [&] {
    std::string s = text.substr(0, 32);
    for (char& c : s) if (!std::isprint(static_cast<unsigned char>(c))) c = '?';
    return "'" + s + (text.size() > 32 ? "...'" : "'");
  };
  if (b == e) return error(ErrorCode::invalid_file, what + ": empty, expected an integer");
  int64_t v = 0;
  const char* first = text.data() + b;
  const char* last = text.data() + e;
  if (*first == '+') ++first;  // from_chars refuses a leading '+'
  const auto [ptr, ec] = std::from_chars(first, last, v);
  if (ec == std::errc::result_out_of_range)
    return error(ErrorCode::invalid_file, what + ": " + shown() + " is out of range");
  if (ec != std::errc() || ptr != last)
    return error(ErrorCode::invalid_file, what + ": " + shown() + " is not an integer");
  return v;
}

Result<int64_t> read_sysfs_int(const std::string& path) {
  NM_ASSIGN_OR_RETURN(std::string text, read_sysfs_text(path));
  return parse_sysfs_int(text, path);
}

std::vector<std::string> list_sysfs_dir(const std::string& path) {
  std::vector<std::string> names;
  std::error_code ec;
  std::filesystem::directory_iterator it(path, ec), end;
  for (; !ec && it != end; it.increment(ec)) names.push_back(it->path().filename().string());
  // Natural order: a run of digits compares by value, so hwmon2 < hwmon10.
  auto natural_less = [](const std::string& a, const std::string& b) {
    size_t i = 0, j = 0;
    while (i < a.size() && j < b.size()) {
      if (std::isdigit(static_cast<unsigned char>(a[i])) && std::isdigit(static_cast<unsigned char>(b[j]))) {
        size_t i2 = i, j2 = j;
        while (i2 < a.size() && std::isdigit(static_cast<unsigned char>(a[i2]))) ++i2;
        while (j2 < b.size() && std::isdigit(static_cast<unsigned char>(b[j2]))) ++j2;
        std::string_view da(a.data() + i, i2 - i), db(b.data() + j, j2 - j);
        while (da.size() > 1 && da.front() == '0') da.remove_prefix(1);
        while (db.size() > 1 && db.front() == '0') db.remove_prefix(1);
        if (da.size() != db.size()) return da.size() < db.size();
        if (da != db) return da < db;
        i = i2, j = j2;
      } else {
        if (a[i] != b[j]) return a[i] < b[j];
        ++i, ++j;
      }
    }
    return a.size() - i < b.size() - j;
  };
  std::sort(names.begin(), names.end(), natural_less);
  return names;
}

bool sysfs_exists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::exists(path, ec);
}

}  // namespace nm::energy
