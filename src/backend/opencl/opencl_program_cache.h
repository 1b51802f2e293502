// On-disk cache of compiled OpenCL programs, keyed by a hash of device name, driver
// version, platform version, build options and source. Directory: $NM_OPENCL_CACHE_DIR,
// else $XDG_CACHE_HOME/nanomind/opencl, else ~/.cache/nanomind/opencl. A missing,
// stale or unreadable entry just means "compile from source"; writes are atomic
// (temp file + rename), so concurrent processes are safe. Each file carries a header
// (magic, payload size, FNV-1a hash of the payload) checked before the bytes reach the
// driver: a truncated, bit-flipped or foreign file is treated as absent (and replaced on
// the next store) instead of being handed to clCreateProgramWithBinary.
// Thread-safety: stateless apart from the directory path.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nm {

class OpenClProgramCache {
 public:
  // dir "" = the default directory above.
  explicit OpenClProgramCache(std::string dir = "");

  static uint64_t key(std::string_view device_id, std::string_view options, std::string_view source);
  std::optional<std::vector<unsigned char>> load(uint64_t key) const;
  void store(uint64_t key, const std::vector<unsigned char>& binary) const;  // best effort
  const std::string& dir() const { return dir_; }

 private:
  std::string path(uint64_t key) const;
  std::string dir_;
};

}  // namespace nm
