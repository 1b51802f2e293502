// DeviceRegistry: every device this machine offers, found once at start-up. All
// backends are registered explicitly in register_backends() (device_registry.cpp):
// CPU clusters first (fastest cluster first, or as NM_CPU_CLUSTERS declares them), then
// OpenCL when built with it.
// Thread-safety: build on one thread; afterwards read-only (devices are thread-safe
// as documented in device.h).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "backend/cpu/cpu_topology.h"
#include "backend/device.h"

namespace nm {

struct DeviceRegistryOptions {
  std::string sysfs_root = "/";  // where cpu_topology reads sysfs/procfs (tests: a fake tree)
  bool opencl = true;            // look for OpenCL platforms (if built with OpenCL)
  // CPU clusters declared by hand instead of detected ("0|1": devices cpu:0 and cpu:1;
  // backend/cpu/cpu_topology.h). Default: the NM_CPU_CLUSTERS environment variable.
  std::string cpu_clusters = cpu_clusters_from_env();
  // Receives one line per noteworthy event (e.g. "no OpenCL platform: using the CPU").
  // Default: printed to stderr as "nanomind: <line>".
  std::function<void(const std::string&)> log;
};

class DeviceRegistry {
 public:
  static DeviceRegistry create(const DeviceRegistryOptions& options = {});

  void add(std::unique_ptr<Device> device);
  const std::vector<std::unique_ptr<Device>>& devices() const { return devices_; }
  // Exact name ("cpu:big", "opencl:1"); or a prefix before ':' picks the first device of
  // that family ("cpu" -> the fastest CPU cluster, "opencl" -> the chosen OpenCL
  // device). nullptr if none.
  Device* find(std::string_view name) const;
  // The fastest CPU cluster: the reference device (always present).
  Device& cpu() const;
  void log(const std::string& line) const;
  // The log function itself, for devices that report later (a copy outlives the registry's moves).
  const std::function<void(const std::string&)>& log_sink() const { return log_; }

 private:
  std::vector<std::unique_ptr<Device>> devices_;
  std::function<void(const std::string&)> log_;
};

// The one place backends are registered. Called by DeviceRegistry::create().
void register_backends(DeviceRegistry& registry, const DeviceRegistryOptions& options);

}  // namespace nm
