// Battery life from a duty cycle: how long a battery lasts when an assistant answers one
// event (a camera question) every `period_s` seconds, in each power mode, with every step
// of the arithmetic kept as text so `nanomind battery` can print it. Pure arithmetic on
// figures given to it (measured, replayed from a trace, or estimated from a device
// profile: the caller says which, and the result carries that label).
// Thread-safety: plain values and functions.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "runtime/energy/power_policy.h"

namespace nm::energy {

// "camera question every 60s", "text question every 5 min", "camera question every 0.5h".
struct DutyCycle {
  std::string event;     // "camera question"
  double period_s = 0;
};
Result<DutyCycle> parse_duty_cycle(const std::string& text);

// What one power mode costs: power between events and energy per event.
struct ModePower {
  PowerMode mode = PowerMode::parallel;
  double base_w = 0;     // drawn all the time (board idle, or awake with bricks resident)
  double stream_w = 0;   // continuous work between events (camera frames encoded), mean W
  double event_j = 0;    // one event, everything it costs above base_w (loads included)
  std::vector<std::string> why;  // how base_w, stream_w and event_j were obtained
};

struct BatteryLife {
  PowerMode mode = PowerMode::parallel;
  double mean_w = 0;
  double hours = 0;
  std::string arithmetic;  // "1.00 W + 0.40 W + 12.3 J / 60 s = 1.61 W; 26640 J / 1.61 W = 4.60 h"
};

// One mode held for the whole battery: mean power = base + stream + event_j / period.
Result<BatteryLife> battery_life(double capacity_j, const ModePower& mode, double period_s);

// The power policy run over a whole discharge (automatic mode): parallel above T_high,
// throttled between the thresholds with stream_w scaled by alpha as the level falls,
// on-demand below T_low. `throttled` is the throttled mode at alpha = 1 (its stream_w is
// scaled here). Integrated in 0.1% steps of charge.
Result<BatteryLife> battery_life_auto(double capacity_j, const ModePower& parallel, const ModePower& throttled,
                                      const ModePower& on_demand, double period_s, const PowerPolicyConfig& policy);

}  // namespace nm::energy
