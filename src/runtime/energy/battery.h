// The battery the power policy reads: the machine's fuel gauge, or a simulated battery
// that drains by the joules the energy monitor reports (so a laptop or this build VM can
// run the policy through every mode). `--battery` specs:
//   sim:2000mAh@3.7V,start=80%   simulated: capacity (mAh/Ah need a voltage, default
//                                3.7 V; Wh/mWh/J/kJ do not), start level (default 100%)
//   sysfs  or  sysfs:BAT0        the fuel gauge (the first system battery, or that one)
//   none                         no battery: the policy stays in parallel mode
// Thread-safety: SimulatedBattery and SysfsBattery are not thread-safe; the runtime's
// power controller owns them.
#pragma once

#include <memory>
#include <string>

#include "core/status.h"
#include "runtime/energy/battery_gauge.h"

namespace nm::energy {

// "2000mAh" (with `volts`), "7.4Wh", "7400mWh", "26640J", "26.6kJ" -> joules. Refuses
// anything else, zero, negative or absurd (> 10 MJ) capacities.
Result<double> parse_battery_capacity(const std::string& text, double volts);

// "80%" or "0.8" -> 0.8; must lie in [0, 1].
Result<double> parse_level(const std::string& text);

struct BatterySpec {
  enum class Kind { none, sysfs, sim } kind = Kind::none;
  std::string sysfs_name;    // sysfs: "" = the first system battery
  double capacity_j = 0;     // sim
  double volts = 3.7;        // sim: nominal voltage, for printing mAh
  double start_level = 1.0;  // sim
  std::string text;          // the spec as given
};

Result<BatterySpec> parse_battery_spec(const std::string& text);

class BatterySource {
 public:
  virtual ~BatterySource() = default;
  virtual Result<BatteryState> read() = 0;
  // Joules drawn from the battery since the last call: a simulated battery drains by
  // them; a real one measures itself and ignores them.
  virtual void consume(double joules) = 0;
  virtual std::string describe() const = 0;
};

class SimulatedBattery final : public BatterySource {
 public:
  SimulatedBattery(double capacity_j, double volts, double start_level);
  Result<BatteryState> read() override;
  void consume(double joules) override;
  std::string describe() const override;
  double capacity_j() const { return capacity_j_; }
  double remaining_j() const { return remaining_j_; }

 private:
  double capacity_j_, volts_, remaining_j_;
};

class SysfsBattery final : public BatterySource {
 public:
  explicit SysfsBattery(std::string supply_dir) : dir_(std::move(supply_dir)) {}
  Result<BatteryState> read() override { return read_battery_state(dir_); }
  void consume(double) override {}
  std::string describe() const override;

 private:
  std::string dir_;
};

// The source a spec names; nullptr for "none". `sysfs_root` as for the meters.
Result<std::unique_ptr<BatterySource>> open_battery(const BatterySpec& spec, const std::string& sysfs_root);

}  // namespace nm::energy
