// Binary cache files: "<16 hex digits of the key>.bin" holding the program binary.
#include "backend/opencl/opencl_program_cache.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace nm {
namespace {

uint64_t fnv1a(uint64_t h, std::string_view s) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::string default_dir() {
  if (const char* d = std::getenv("NM_OPENCL_CACHE_DIR"); d && *d) return d;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/nanomind/opencl";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/nanomind/opencl";
  return "";
}

}  // namespace

OpenClProgramCache::OpenClProgramCache(std::string dir) : dir_(dir.empty() ? default_dir() : std::move(dir)) {}

uint64_t OpenClProgramCache::key(std::string_view device_id, std::string_view options, std::string_view source) {
  uint64_t h = 14695981039346656037ull;
  h = fnv1a(h, device_id);
  h = fnv1a(h, "\x1f");
  h = fnv1a(h, options);
  h = fnv1a(h, "\x1f");
  return fnv1a(h, source);
}

std::string OpenClProgramCache::path(uint64_t key) const {
  char name[32];
  std::snprintf(name, sizeof name, "%016llx.bin", (unsigned long long)key);
  return dir_ + "/" + name;
}

std::optional<std::vector<unsigned char>> OpenClProgramCache::load(uint64_t key) const {
  if (dir_.empty()) return std::nullopt;
  std::ifstream f(path(key), std::ios::binary);
  if (!f) return std::nullopt;
  std::vector<unsigned char> data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (data.empty()) return std::nullopt;
  return data;
}

void OpenClProgramCache::store(uint64_t key, const std::vector<unsigned char>& binary) const {
  if (dir_.empty() || binary.empty()) return;
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  const std::string final_path = path(key);
  const std::string tmp = final_path + ".tmp" + std::to_string(getpid());
  {
    std::ofstream f(tmp, std::ios::binary);
    if (!f) return;
    f.write(reinterpret_cast<const char*>(binary.data()), (std::streamsize)binary.size());
    if (!f) {
      std::filesystem::remove(tmp, ec);
      return;
    }
  }
  std::filesystem::rename(tmp, final_path, ec);
  if (ec) std::filesystem::remove(tmp, ec);
}

}  // namespace nm
