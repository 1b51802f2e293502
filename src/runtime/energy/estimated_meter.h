// EstimatedEnergyMeter: the model-based estimate, used only where no sensor exists. It
// charges the board's idle watts for wall time and, for the time each brick kept a
// device busy (reported by the runtime through add_busy), the watts that device adds.
// Its description always says "estimated" and names the profile.
// Thread-safety: as EnergyMeter (EnergyMonitor serialises add_busy with sampling).
#pragma once

#include <string>

#include "runtime/energy/energy_meter.h"
#include "runtime/energy/power_model.h"

namespace nm::energy {

class EstimatedEnergyMeter final : public EnergyMeter {
 public:
  explicit EstimatedEnergyMeter(PowerModel model);

  // A brick ran `seconds` on `runtime_device` (of `kind` "cpu"/"gpu"/"npu" when known)
  // with `threads` threads (0: all its cores).
  void add_busy(const std::string& runtime_device, double seconds, int threads = 0, const std::string& kind = {});
  const PowerModel& model() const { return model_; }

 protected:
  Result<std::optional<double>> read_joules(double now_s, double dt_s) override;
  void reset_baseline() override;

 private:
  PowerModel model_;
  double pending_busy_j_ = 0;
  bool started_ = false;
};

}  // namespace nm::energy
