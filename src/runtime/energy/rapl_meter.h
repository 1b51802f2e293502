// RaplMeter: Intel/AMD RAPL energy counters through Linux powercap
// (<root>/sys/class/powercap/intel-rapl:N[/:M]/energy_uj). Uses the platform ("psys")
// zone where the CPU has one (it covers the whole SoC); otherwise the sum of every
// package zone and its DRAM sub-zone. Each counter wraps at its max_energy_range_uj;
// one wrap between samples is handled, so the monitor samples at least once a second
// while it measures (a package counter wraps after ~262 kJ: minutes at server power).
// Thread-safety: as EnergyMeter.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "runtime/energy/energy_meter.h"

namespace nm::energy {

class RaplMeter final : public EnergyMeter {
 public:
  // Finds the zones under `root` (a sysfs root, "/" for the machine). An error says why
  // there is no usable meter: no powercap, no RAPL zone, or energy_uj readable only by
  // root (Linux >= 5.10 restricts it).
  static Result<std::unique_ptr<RaplMeter>> discover(const std::string& root);

 protected:
  Result<std::optional<double>> read_joules(double now_s, double dt_s) override;
  void reset_baseline() override;

 private:
  struct Zone {
    std::string energy_path;  // .../energy_uj
    std::string label;        // "package-0", "dram", "psys"
    WrappingCounter counter;
  };
  RaplMeter(std::string description, std::vector<Zone> zones);
  std::vector<Zone> zones_;
};

}  // namespace nm::energy
