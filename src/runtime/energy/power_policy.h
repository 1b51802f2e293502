// PowerPolicy: the battery-driven choice between three ways of running an assistant
// (the published NanoMind policy, made concrete), as a pure state machine fed battery
// levels; the runtime applies its decisions.
//   parallel   (B > T_high):          bricks run concurrently at full rate, all resident.
//   throttled  (T_low < B <= T_high): camera frame rate and threads scaled by
//                                     alpha = (B - T_low) / (T_high - T_low), floored at
//                                     min_alpha so the assistant still answers.
//   on-demand  (B <= T_low):          idle until an event, then each brick load -> execute
//                                     -> release, one at a time; nothing resident between.
// Draining, the mode drops exactly when B reaches a threshold. Rising (charging), it goes
// back up only once B exceeds the threshold by `hysteresis`, so a gauge that wobbles
// around a threshold does not flap. On external power (charging or full) auto mode runs
// parallel. Defaults and why:
//   T_low = 20%: where phones first offer their low-power mode (iOS at 20%), and below
//     which a Li-ion's level reading is least certain; the cascade's idle floor matters
//     most there.
//   T_high = 50%: above half a charge the user gets full speed; throttling over the
//     30 points below it ramps alpha linearly from 1 down to min_alpha.
//   hysteresis = 5 points: above a fuel gauge's 1% step and the few points a level
//     estimated from voltage rebounds by when load is removed.
//   min_alpha = 0.1: one frame in ten, and at least one thread.
// Thread-safety: not thread-safe (one controller owns it).
#pragma once

#include <string>
#include <vector>

#include "core/status.h"

namespace nm::energy {

enum class PowerMode { parallel, throttled, on_demand };
enum class PowerModeChoice { automatic, parallel, throttled, on_demand };

const char* power_mode_name(PowerMode mode);  // "parallel", "throttled", "on-demand"
// "auto", "parallel", "throttled", "on-demand" (also "on_demand", "ondemand").
Result<PowerModeChoice> parse_power_mode(const std::string& text);

struct PowerPolicyConfig {
  double t_high = 0.50;
  double t_low = 0.20;
  double hysteresis = 0.05;
  double min_alpha = 0.10;
  PowerModeChoice choice = PowerModeChoice::automatic;
  double forced_alpha = 0.5;  // throttled forced with no battery level to scale by
};

struct PowerModeChange {
  double t_s;
  PowerMode from, to;
  double level;  // NaN when unknown
  double alpha;
};

class PowerPolicy {
 public:
  // Refuses thresholds outside 0 <= T_low < T_high <= 1, a negative hysteresis or one that
  // would put a way back up above 100%, and min_alpha outside (0, 1].
  static Result<PowerPolicy> create(const PowerPolicyConfig& config);

  // A new battery reading at time t_s: level in [0, 1] (NaN: no battery), and whether
  // the machine is on external power. Returns the mode to run in from now on; a change
  // is recorded in changes().
  PowerMode update(double level, bool external_power, double t_s);

  PowerMode mode() const { return mode_; }
  // 1 in parallel, in [min_alpha, 1] throttled, 0 in on-demand (no streaming at all).
  double alpha() const { return alpha_; }
  // Threads to use out of `max_threads`: all in parallel and on-demand (an event runs
  // at full speed, then the device sleeps), alpha's share throttled, at least one.
  int threads(int max_threads) const;
  // Seconds between camera frames given the full-rate interval (throttled: longer by
  // 1/alpha). On-demand mode takes no frames between events.
  double frame_interval_s(double full_rate_interval_s) const;
  const std::vector<PowerModeChange>& changes() const { return changes_; }
  const PowerPolicyConfig& config() const { return config_; }

 private:
  explicit PowerPolicy(const PowerPolicyConfig& c) : config_(c) {}
  PowerMode mode_for_level(double level) const;

  PowerPolicyConfig config_;
  PowerMode mode_ = PowerMode::parallel;
  double alpha_ = 1.0;
  bool started_ = false;
  std::vector<PowerModeChange> changes_;
};

}  // namespace nm::energy
