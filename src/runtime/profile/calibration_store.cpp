// Calibrated profiles in the user's cache (see calibration_store.h).
#include "runtime/profile/calibration_store.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "kernels/cpu_features.h"

namespace nm {
namespace {

std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    // x86: "model name : ..."; many ARM kernels: "Hardware : ..." or only "CPU part".
    for (const char* key : {"model name", "Hardware", "Model"}) {
      if (line.rfind(key, 0) == 0) {
        const size_t colon = line.find(':');
        if (colon != std::string::npos) {
          std::string v = line.substr(colon + 1);
          v.erase(0, v.find_first_not_of(" \t"));
          if (!v.empty()) return v;
        }
      }
    }
  }
  return "unknown CPU";
}

Status make_dirs(const std::string& dir) {
  std::string part;
  std::stringstream ss(dir);
  std::string path = dir.rfind('/', 0) == 0 ? "/" : "";
  for (std::string item; std::getline(ss, item, '/');) {
    if (item.empty()) continue;
    path += item + "/";
    if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST)
      return error(ErrorCode::io_error, path + ": cannot create the directory: " + std::strerror(errno));
  }
  return Status::ok_status();
}

}  // namespace

std::string machine_description(const std::vector<Device*>& devices) {
  std::string s = cpu_model_name() + " x" + std::to_string(std::thread::hardware_concurrency());
  for (const Device* d : devices) s += " | " + d->name() + ": " + d->description();
  return s;
}

std::string build_description() { return std::string("nanomind 0.1.0 (") + isa_name(best_isa()) + ")"; }

std::string machine_key(const std::string& description) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a 64
  for (unsigned char c : description) h = (h ^ c) * 1099511628211ull;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

std::string nanomind_cache_dir() {
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x == '/') return std::string(x) + "/nanomind";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/nanomind";
  return {};
}

std::string calibrated_profile_path(const std::string& key) {
  const std::string dir = nanomind_cache_dir();
  return dir.empty() ? std::string() : dir + "/calibrated-" + key + ".json";
}

StoredCalibration find_calibration(const std::string& key, const std::string& build, int64_t now) {
  StoredCalibration s;
  s.path = calibrated_profile_path(key);
  if (s.path.empty()) return s;
  struct stat st;
  if (::stat(s.path.c_str(), &st) != 0) return s;
  s.exists = true;
  Result<DeviceProfile> p = load_device_profile(s.path);
  if (!p.ok()) {
    s.status = p.status();
    return s;
  }
  if (p->origin != "calibrated") {
    s.status = error(ErrorCode::invalid_file, s.path + ": not a calibrated profile");
    return s;
  }
  s.profile = std::move(*p);
  s.age_s = static_cast<double>(now - s.profile.calibration.created);
  s.same_build = s.profile.calibration.build == build;
  return s;
}

Status write_calibration(const DeviceProfile& profile, const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0) NM_RETURN_IF_ERROR(make_dirs(path.substr(0, slash)));
  const std::string tmp = path + ".tmp" + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return error(ErrorCode::io_error, tmp + ": cannot write");
    out << device_profile_to_json(profile);
    out.flush();
    if (!out) {
      ::unlink(tmp.c_str());
      return error(ErrorCode::io_error, tmp + ": write failed");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return error(ErrorCode::io_error, path + ": cannot replace: " + std::strerror(errno));
  }
  return Status::ok_status();
}

std::string format_age(double s) {
  char buf[32];
  if (s < 0) return "in the future (clock changed?)";
  if (s < 120) std::snprintf(buf, sizeof buf, "%.0f s", s);
  else if (s < 7200) std::snprintf(buf, sizeof buf, "%.0f min", s / 60);
  else if (s < 3 * 86400) std::snprintf(buf, sizeof buf, "%.1f h", s / 3600);
  else std::snprintf(buf, sizeof buf, "%.0f days", s / 86400);
  return buf;
}

}  // namespace nm
