// EnergyMeter's shared bookkeeping (see energy_meter.h).
#include "runtime/energy/energy_meter.h"

#include <cstdio>

namespace nm::energy {

const char* energy_source_kind_name(EnergySourceKind kind) {
  switch (kind) {
    case EnergySourceKind::counter: return "counter";
    case EnergySourceKind::power: return "power sensor";
    case EnergySourceKind::gauge: return "fuel gauge";
    case EnergySourceKind::estimate: return "estimated";
  }
  return "?";
}

Status check_plausible_watts(double watts, const std::string& what) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g W", watts);
  if (!std::isfinite(watts)) return error(ErrorCode::invalid_file, what + ": power is not a finite number");
  if (watts < 0) return error(ErrorCode::invalid_file, what + ": negative power " + buf + " refused");
  if (watts > kMaxPlausibleWatts)
    return error(ErrorCode::invalid_file, what + ": implausible power " + buf + " refused");
  return Status::ok_status();
}

Status EnergyMeter::sample(double now_s) {
  const double dt = std::isnan(last_t_) ? 0.0 : now_s - last_t_;
  if (broken_) {
    // Whatever happened during the gap is unknown: start over from a new baseline.
    reset_baseline();
  }
  Result<std::optional<double>> r = read_joules(now_s, dt > 0 ? dt : 0.0);
  if (!r.ok()) {
    healthy_ = false;
    broken_ = true;
    last_error_ = r.status();
    return r.status();
  }
  if (broken_) {
    ++epoch_;
    broken_ = false;
  }
  healthy_ = true;
  last_error_ = Status::ok_status();
  if (r->has_value()) {
    const double j = **r;
    total_j_ += j;
    if (dt > 0) watts_ = j / dt;
  }
  last_t_ = now_s;
  return Status::ok_status();
}

Result<std::optional<double>> WrappingCounter::update(int64_t value, const std::string& what) {
  if (value < 0) return error(ErrorCode::invalid_file, what + ": negative counter value " + std::to_string(value) + " refused");
  const uint64_t v = static_cast<uint64_t>(value);
  if (max_count_ > 0 && v > max_count_)
    return error(ErrorCode::invalid_file, what + ": counter " + std::to_string(v) + " is above its range " +
                                              std::to_string(max_count_));
  if (!last_) {
    last_ = v;
    return std::optional<double>();
  }
  uint64_t delta;
  if (v >= *last_) {
    delta = v - *last_;
  } else if (max_count_ > 0) {
    // The counter ran past max_count and restarted at 0 (RAPL: max_energy_range_uj).
    delta = (max_count_ - *last_) + v;
  } else {
    // No known range: a decrease is a reset, not a wrap. Rebaseline without a guess.
    last_ = v;
    return error(ErrorCode::invalid_file, what + ": counter went backwards (reset?); starting again");
  }
  last_ = v;
  return std::optional<double>(static_cast<double>(delta) * unit_j_);
}

std::optional<double> PowerIntegrator::update(double watts, double dt_s) {
  std::optional<double> out;
  if (last_w_ && dt_s > 0) out = 0.5 * (*last_w_ + watts) * dt_s;
  else if (last_w_) out = 0.0;
  last_w_ = watts;
  return out;
}

}  // namespace nm::energy
