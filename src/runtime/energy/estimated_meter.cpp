// The model-based estimate (see estimated_meter.h).
#include "runtime/energy/estimated_meter.h"

#include <cstdio>

namespace nm::energy {

namespace {

std::string describe(const PowerModel& m) {
  char buf[96];
  std::snprintf(buf, sizeof buf, ": idle %.2f W", m.idle_w);
  std::string s = "estimated from profile " + m.profile + buf;
  for (const DevicePower& d : m.devices) {
    if (d.kind == "cpu" && d.cores > 0)
      std::snprintf(buf, sizeof buf, ", %s +%.2f W per busy core", d.name.c_str(), d.active_w / d.cores);
    else
      std::snprintf(buf, sizeof buf, ", %s +%.2f W busy", d.name.c_str(), d.active_w);
    s += buf;
  }
  return s;
}

}  // namespace

EstimatedEnergyMeter::EstimatedEnergyMeter(PowerModel model)
    : EnergyMeter("estimate:" + model.profile, describe(model), EnergySourceKind::estimate), model_(std::move(model)) {
  set_rank(kRankEstimate);
}

void EstimatedEnergyMeter::add_busy(const std::string& runtime_device, double seconds, int threads,
                                    const std::string& kind) {
  if (!(seconds > 0)) return;
  pending_busy_j_ += model_.busy_watts(runtime_device, threads, kind) * seconds;
}

Result<std::optional<double>> EstimatedEnergyMeter::read_joules(double /*now_s*/, double dt_s) {
  if (!started_) {
    started_ = true;
    pending_busy_j_ = 0;
    return std::optional<double>();
  }
  const double j = model_.idle_w * dt_s + pending_busy_j_;
  pending_busy_j_ = 0;
  return std::optional<double>(j);
}

void EstimatedEnergyMeter::reset_baseline() {
  started_ = false;
  pending_busy_j_ = 0;
}

}  // namespace nm::energy
