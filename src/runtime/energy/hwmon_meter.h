// HwmonMeter: one power rail read through Linux hwmon (<root>/sys/class/hwmon/hwmonN):
// an energy counter (energyK_input, uJ), a power sensor (powerK_input or
// powerK_average, uW), or, where a chip exposes only those, bus voltage x current
// (inK_input mV x currK_input mA). The last is how the INA3221 on Jetson modules
// (in1..in3 / curr1..curr3, labels VDD_IN, VDD_CPU_GPU_CV, VDD_SOC) and INA219/INA226
// shunt monitors on RK boards appear. One meter per rail; a rail labelled as the board's
// input (VDD_IN, *_IN, VIN, VSYS, ...) ranks first.
// Thread-safety: as EnergyMeter.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "runtime/energy/energy_meter.h"

namespace nm::energy {

class HwmonMeter final : public EnergyMeter {
 public:
  enum class Reading { energy, power, volt_amp };

  // Every usable rail under `root`, in discovery order (the monitor sorts by rank).
  // `notes` receives one line per sensor that was seen but not used, and why.
  static std::vector<std::unique_ptr<HwmonMeter>> discover(const std::string& root,
                                                           std::vector<std::string>* notes = nullptr);

  Reading reading() const { return reading_; }

 protected:
  Result<std::optional<double>> read_joules(double now_s, double dt_s) override;
  void reset_baseline() override;

 private:
  HwmonMeter(std::string name, std::string description, Reading reading, std::string path_a, std::string path_b);
  Result<double> read_watts() const;

  Reading reading_;
  std::string path_a_;  // energy / power / voltage file
  std::string path_b_;  // current file (volt_amp only)
  WrappingCounter counter_{1e-6, 0};  // energy: uJ, no known range (a decrease is a reset)
  PowerIntegrator integrator_;
};

// True for labels that name a board's or module's input rail ("VDD_IN", "POM_5V_IN",
// "VIN", "VSYS", ...), case-insensitively.
bool is_input_rail_label(const std::string& label);

}  // namespace nm::energy
