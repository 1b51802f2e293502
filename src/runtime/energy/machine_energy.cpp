// This process's energy monitor (see machine_energy.h).
#include "runtime/energy/machine_energy.h"

#include <cstdlib>

#include "runtime/profile/device_profile.h"

namespace nm::energy {

std::string estimate_profile_for_machine(const std::string& sysfs_root) {
  std::string board = builtin_profile_for_machine(sysfs_root);
  if (!board.empty()) return board;
#if defined(__x86_64__)
  return "x86-server-vcpu";
#else
  return {};
#endif
}

Result<std::unique_ptr<EnergyMonitor>> open_machine_energy(const std::string& profile_in,
                                                           std::function<void(const std::string&)> log) {
  std::string profile = profile_in;
  if (profile.empty())
    if (const char* env = std::getenv("NM_POWER_PROFILE"); env && *env) profile = env;
  EnergyMonitorOptions o;
  o.log = std::move(log);
  if (profile != "none") {
    const std::string name = profile.empty() ? estimate_profile_for_machine() : profile;
    if (!name.empty()) {
      Result<DeviceProfile> p = load_device_profile(name);
      if (!p.ok()) return p.status();
      o.power_model = p->power_model();
    }
  }
  return EnergyMonitor::create(std::move(o));
}

std::string describe_energy_source(const EnergyMonitor& monitor) {
  const MeterInfo p = monitor.primary();
  if (p.name.empty()) return "no power sensor and no device profile: energy is not reported";
  if (p.kind != EnergySourceKind::estimate) return p.description;
  return "no power sensor (no powercap, no hwmon power rail, no battery): " + p.description;
}

}  // namespace nm::energy
