// The energy monitor a NanoMind process uses: every sensor this machine has, plus the
// model-based estimate from a device profile for when there is none. The profile is the
// one named (--power-profile, NM_POWER_PROFILE), else the shipped profile of the board
// this is (device tree), else x86-server-vcpu on x86-64 (a VM's share of a server CPU);
// "none" turns the estimate off.
// Thread-safety: plain functions.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "runtime/energy/energy_monitor.h"

namespace nm::energy {

// The profile the estimate uses on this machine when none is named ("" if none fits).
std::string estimate_profile_for_machine(const std::string& sysfs_root = {});

// `profile`: a shipped name, a .json path, "none", or "" (NM_POWER_PROFILE, else this
// machine's). Errors only for a profile that was named and cannot be loaded.
Result<std::unique_ptr<EnergyMonitor>> open_machine_energy(const std::string& profile,
                                                           std::function<void(const std::string&)> log = {});

// One line for people: "RAPL package-0 (powercap)" or "no power sensor (no powercap, no
// hwmon power rail, no battery): estimated from profile x86-server-vcpu".
std::string describe_energy_source(const EnergyMonitor& monitor);

}  // namespace nm::energy
