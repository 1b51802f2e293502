// Binary cache files: "<16 hex digits of the key>.bin": a 24-byte header ("NMCLBIN1",
// payload size, FNV-1a 64 of the payload; little-endian u64s) then the program binary.
#include "backend/opencl/opencl_program_cache.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
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

constexpr char kMagic[8] = {'N', 'M', 'C', 'L', 'B', 'I', 'N', '1'};
constexpr size_t kHeaderBytes = 24;
// Larger than any program binary (PoCL's largest here: a few MiB); a bigger file is not ours.
constexpr uint64_t kMaxPayload = uint64_t{1} << 30;

uint64_t payload_hash(const unsigned char* p, size_t n) {
  return fnv1a(14695981039346656037ull, std::string_view(reinterpret_cast<const char*>(p), n));
}

void put_u64(unsigned char* at, uint64_t v) {
  for (int i = 0; i < 8; ++i) at[i] = (unsigned char)(v >> (8 * i));
}

uint64_t get_u64(const unsigned char* at) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= (uint64_t)at[i] << (8 * i);
  return v;
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
  const std::string p = path(key);
  std::error_code ec;
  const auto size = std::filesystem::file_size(p, ec);  // also fails for a directory or a FIFO
  if (ec || !std::filesystem::is_regular_file(p, ec) || size < kHeaderBytes || size - kHeaderBytes > kMaxPayload) {
    return std::nullopt;
  }
  std::ifstream f(p, std::ios::binary);
  if (!f) return std::nullopt;
  unsigned char header[kHeaderBytes];
  if (!f.read(reinterpret_cast<char*>(header), kHeaderBytes) || std::memcmp(header, kMagic, sizeof kMagic) != 0) {
    return std::nullopt;
  }
  const uint64_t n = get_u64(header + 8);
  if (n == 0 || n != size - kHeaderBytes) return std::nullopt;
  std::vector<unsigned char> data((size_t)n);
  if (!f.read(reinterpret_cast<char*>(data.data()), (std::streamsize)n)) return std::nullopt;
  if (payload_hash(data.data(), data.size()) != get_u64(header + 16)) return std::nullopt;
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
    unsigned char header[kHeaderBytes];
    std::memcpy(header, kMagic, sizeof kMagic);
    put_u64(header + 8, binary.size());
    put_u64(header + 16, payload_hash(binary.data(), binary.size()));
    f.write(reinterpret_cast<const char*>(header), kHeaderBytes);
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
