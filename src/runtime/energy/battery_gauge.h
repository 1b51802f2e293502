// The battery fuel gauge (<root>/sys/class/power_supply/<name>, type "Battery"): its
// charge level and status for the power policy, and an EnergyMeter that measures what
// the system draws from it while discharging — from power_now, else voltage_now x
// current_now, else the fall of energy_now (or charge_now x voltage_now). On external
// power the battery does not see the load, so the meter reports itself unavailable and
// the monitor falls back to the next source.
// Thread-safety: plain functions; the meter as EnergyMeter.
#pragma once

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "runtime/energy/energy_meter.h"

namespace nm::energy {

enum class BatteryStatus { unknown, charging, discharging, not_charging, full };

const char* battery_status_name(BatteryStatus status);

struct BatteryState {
  double level = NAN;            // 0..1
  BatteryStatus status = BatteryStatus::unknown;
  double energy_now_j = NAN;     // NaN when the gauge does not say
  double energy_full_j = NAN;
  std::string source;            // "BAT0 (capacity)", "simulated 2000 mAh @ 3.7 V"
};

// Directories of the system's batteries under `root`: type "Battery", not a peripheral's
// (scope "Device"), present. Sorted by name.
std::vector<std::string> find_batteries(const std::string& root);

// One battery's level and status. The level comes from `capacity` (%), else
// energy_now / energy_full, else charge_now / charge_full.
Result<BatteryState> read_battery_state(const std::string& supply_dir);

class BatteryGaugeMeter final : public EnergyMeter {
 public:
  enum class Reading { power_now, volt_amp, energy_now, charge_now };

  // Picks the best reading the gauge offers; an error if it offers none.
  static Result<std::unique_ptr<BatteryGaugeMeter>> open(const std::string& supply_dir);

  Reading reading() const { return reading_; }

 protected:
  Result<std::optional<double>> read_joules(double now_s, double dt_s) override;
  void reset_baseline() override;

 private:
  BatteryGaugeMeter(std::string name, std::string description, std::string dir, Reading reading);
  Result<double> read_stored_joules() const;

  std::string dir_;
  Reading reading_;
  PowerIntegrator integrator_;
  double last_stored_j_ = NAN;
};

}  // namespace nm::energy
