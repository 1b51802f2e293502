// Where calibrated profiles live and whether one fits this machine and build: one JSON file
// per machine in the user's cache ($XDG_CACHE_HOME/nanomind/, else ~/.cache/nanomind/),
// named calibrated-<key>.json where the key hashes the machine's description (CPU model,
// CPU count, every device's description). The file records the build that measured it; a
// profile from another build is still used, but `nanomind devices` says it is stale
// (kernels change between builds).
// Thread-safety: plain functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "backend/device.h"
#include "runtime/profile/device_profile.h"

namespace nm {

// "Intel(R) Xeon(R) Processor x2 | cpu: 2x core (capacity 1024) | opencl: pthread-..."
std::string machine_description(const std::vector<Device*>& devices);
// "nanomind 0.1.0 (avx512_vnni)": the library version and the kernels' instruction set.
std::string build_description();
// 16 hex digits of a hash of the machine description.
std::string machine_key(const std::string& machine_description);

// $XDG_CACHE_HOME/nanomind, else $HOME/.cache/nanomind ("" when neither is set).
std::string nanomind_cache_dir();
std::string calibrated_profile_path(const std::string& machine_key);

struct StoredCalibration {
  std::string path;
  bool exists = false;
  Status status;            // a file that exists but does not parse
  DeviceProfile profile;    // when it parsed
  double age_s = 0;         // now - created
  bool same_build = false;  // measured by this build
};
// The calibrated profile of this machine, if there is one. `now` is Unix seconds.
StoredCalibration find_calibration(const std::string& machine_key, const std::string& build, int64_t now);

// Writes `profile` to `path` (creating the directory; atomically via a temporary file).
Status write_calibration(const DeviceProfile& profile, const std::string& path);

// "3 min", "2.5 h", "4 days".
std::string format_age(double seconds);

}  // namespace nm
