// The battery-driven mode state machine (see power_policy.h).
#include "runtime/energy/power_policy.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace nm::energy {

const char* power_mode_name(PowerMode mode) {
  switch (mode) {
    case PowerMode::parallel: return "parallel";
    case PowerMode::throttled: return "throttled";
    case PowerMode::on_demand: return "on-demand";
  }
  return "?";
}

Result<PowerModeChoice> parse_power_mode(const std::string& t) {
  if (t == "auto") return PowerModeChoice::automatic;
  if (t == "parallel") return PowerModeChoice::parallel;
  if (t == "throttled") return PowerModeChoice::throttled;
  if (t == "on-demand" || t == "on_demand" || t == "ondemand") return PowerModeChoice::on_demand;
  return error(ErrorCode::invalid_argument, "--power-mode '" + t + "': expected auto, parallel, throttled or on-demand");
}

Result<PowerPolicy> PowerPolicy::create(const PowerPolicyConfig& c) {
  char buf[160];
  if (!(c.t_low >= 0 && c.t_low < c.t_high && c.t_high <= 1)) {
    std::snprintf(buf, sizeof buf, "power thresholds T_low %.3g, T_high %.3g: need 0 <= T_low < T_high <= 1", c.t_low, c.t_high);
    return error(ErrorCode::invalid_argument, buf);
  }
  if (!(c.hysteresis >= 0 && c.t_high + c.hysteresis <= 1)) {
    std::snprintf(buf, sizeof buf, "power hysteresis %.3g: need 0 <= hysteresis <= 1 - T_high", c.hysteresis);
    return error(ErrorCode::invalid_argument, buf);
  }
  if (!(c.min_alpha > 0 && c.min_alpha <= 1) || !(c.forced_alpha > 0 && c.forced_alpha <= 1))
    return error(ErrorCode::invalid_argument, "power policy alpha floor and forced alpha must lie in (0, 1]");
  return PowerPolicy(c);
}

PowerMode PowerPolicy::mode_for_level(double b) const {
  if (b > config_.t_high) return PowerMode::parallel;
  if (b > config_.t_low) return PowerMode::throttled;
  return PowerMode::on_demand;
}

PowerMode PowerPolicy::update(double level, bool external_power, double t_s) {
  const bool known = std::isfinite(level);
  const double b = known ? std::clamp(level, 0.0, 1.0) : NAN;
  PowerMode next = mode_;
  switch (config_.choice) {
    case PowerModeChoice::parallel: next = PowerMode::parallel; break;
    case PowerModeChoice::throttled: next = PowerMode::throttled; break;
    case PowerModeChoice::on_demand: next = PowerMode::on_demand; break;
    case PowerModeChoice::automatic:
      if (!known || external_power) {
        next = PowerMode::parallel;
      } else if (!started_) {
        next = mode_for_level(b);
      } else {
        // Down at the thresholds themselves; up only past threshold + hysteresis.
        const PowerMode down = mode_for_level(b);
        const PowerMode up = mode_for_level(b - config_.hysteresis);
        if (static_cast<int>(down) > static_cast<int>(mode_)) next = down;
        else if (static_cast<int>(up) < static_cast<int>(mode_)) next = up;
      }
      break;
  }
  double alpha = 1.0;
  if (next == PowerMode::on_demand) {
    alpha = 0.0;
  } else if (next == PowerMode::throttled) {
    alpha = known ? (b - config_.t_low) / (config_.t_high - config_.t_low) : config_.forced_alpha;
    alpha = std::clamp(alpha, config_.min_alpha, 1.0);
  }
  if (started_ && next != mode_) changes_.push_back({t_s, mode_, next, known ? b : NAN, alpha});
  if (!started_) changes_.push_back({t_s, next, next, known ? b : NAN, alpha});  // the starting mode
  started_ = true;
  mode_ = next;
  alpha_ = alpha;
  return mode_;
}

int PowerPolicy::threads(int max_threads) const {
  if (max_threads < 1) return 1;
  if (mode_ != PowerMode::throttled) return max_threads;
  return std::clamp(static_cast<int>(std::lround(alpha_ * max_threads)), 1, max_threads);
}

double PowerPolicy::frame_interval_s(double full) const {
  if (mode_ == PowerMode::throttled && alpha_ > 0) return full / alpha_;
  return full;
}

}  // namespace nm::energy
