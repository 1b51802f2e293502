// Explicit backend registration: adding a backend adds one block here.
#include "backend/device_registry.h"

#include <cstdio>

#include "backend/cpu/cpu_device.h"
#include "backend/cpu/cpu_topology.h"
#ifdef NM_HAVE_OPENCL
#include "backend/opencl/opencl_device.h"
#endif

namespace nm {

void register_backends(DeviceRegistry& registry, const DeviceRegistryOptions& options) {
  std::vector<CpuCluster> clusters = detect_cpu_clusters(options.sysfs_root);
  if (!options.cpu_clusters.empty()) {
    Result<std::vector<CpuCoreInfo>> cores = read_cpu_cores(options.sysfs_root);
    Result<std::vector<CpuCluster>> declared =
        cores.ok() ? declared_cpu_clusters(options.cpu_clusters, cores.value()) : Result<std::vector<CpuCluster>>(cores.status());
    if (declared.ok()) {
      clusters = std::move(declared).value();
    } else {
      registry.log(declared.status().message() + "; using the detected CPU clusters");
    }
  }
  for (CpuCluster& cluster : clusters) registry.add(std::make_unique<CpuDevice>(std::move(cluster)));
#ifdef NM_HAVE_OPENCL
  if (options.opencl) add_opencl_devices(registry, registry.log_sink());
#endif
}

DeviceRegistry DeviceRegistry::create(const DeviceRegistryOptions& options) {
  DeviceRegistry r;
  r.log_ = options.log;
  if (!r.log_) r.log_ = [](const std::string& line) { std::fprintf(stderr, "nanomind: %s\n", line.c_str()); };
  register_backends(r, options);
  return r;
}

void DeviceRegistry::add(std::unique_ptr<Device> device) { devices_.push_back(std::move(device)); }

Device* DeviceRegistry::find(std::string_view name) const {
  for (const auto& d : devices_) {
    if (d->name() == name) return d.get();
  }
  for (const auto& d : devices_) {
    const std::string& n = d->name();
    if (n.size() > name.size() && n.compare(0, name.size(), name) == 0 && n[name.size()] == ':') return d.get();
  }
  return nullptr;
}

Device& DeviceRegistry::cpu() const {
  for (const auto& d : devices_) {
    if (d->kind() == DeviceKind::cpu) return *d;
  }
  assert(false && "register_backends always adds a CPU device");
  return *devices_.front();
}

void DeviceRegistry::log(const std::string& line) const {
  if (log_) log_(line);
}

}  // namespace nm
