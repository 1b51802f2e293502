// PowerController: the power policy applied to a running assistant. It reads the battery
// (a fuel gauge, or a simulated battery it drains by the joules the energy monitor reports),
// lets PowerPolicy pick the mode, and drives a PowerTarget (the pipeline) accordingly:
//   parallel   every brick resident, all threads, every camera frame encoded on arrival;
//   throttled  threads scaled by alpha, frames taken at most every full-interval / alpha
//              (the others skipped);
//   on-demand  nothing resident between events, no frames encoded; a question loads, runs
//              and releases each brick in turn (the cascade) on the latest frame.
// Each mode change is logged and handed to the trace callback. The target is an interface
// so that the runtime's pipeline implements it and tests use a fake.
// Thread-safety: one thread drives a controller.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "runtime/energy/battery.h"
#include "runtime/energy/energy_monitor.h"
#include "runtime/energy/power_policy.h"
#include "runtime/wake_events.h"

namespace nm {

// What the policy drives: the mode and the threads. A camera stream implements only this
// (runtime/powered_stream.h: it takes its frames from its source).
class PowerTarget {
 public:
  virtual ~PowerTarget() = default;
  // Enter `mode` with `threads` threads per CPU pool (parallel/throttled: load every brick;
  // on-demand: release everything).
  virtual Status apply(energy::PowerMode mode, int threads) = 0;
};

// An assistant driven by wake events (handle(), run()): frames and questions arrive apart.
class AssistantTarget : public PowerTarget {
 public:
  // A camera frame to encode now (parallel/throttled), so a question finds it ready.
  virtual Status frame(const std::string& path) = 0;
  // Answer `question` about `frame_path` ("" for none). In on-demand mode (`cascade`) each
  // brick is loaded, run and released in turn.
  virtual Status answer(const std::string& question, const std::string& frame_path, bool cascade) = 0;
};

struct PowerControllerOptions {
  energy::PowerPolicyConfig policy;
  int max_threads = 1;
  double full_rate_interval_s = 0;  // camera frame interval at full rate (0: every frame)
  std::function<void(const std::string&)> log;  // default: stderr "nanomind: power: ..."
  // A mode change, for the trace: (time s, from, to, battery level, alpha).
  std::function<void(const energy::PowerModeChange&)> trace;
  std::function<double()> clock;  // monotonic seconds; default steady_clock
};

struct PowerStats {
  int answers[3] = {0, 0, 0};       // per mode (parallel, throttled, on-demand)
  int frames_taken = 0, frames_skipped = 0;
  double joules[3] = {0, 0, 0};     // energy drawn in each mode
  double seconds[3] = {0, 0, 0};    // time spent in each mode
  bool measured = false;            // the joules came from a sensor (else estimated)
};

class PowerController {
 public:
  // `battery` and `monitor` may be null (no battery: parallel unless forced; no monitor:
  // a simulated battery does not drain).
  static Result<std::unique_ptr<PowerController>> create(const PowerControllerOptions& options,
                                                         energy::BatterySource* battery,
                                                         energy::EnergyMonitor* monitor, PowerTarget* target);
  // The same for an assistant driven by wake events (handle(), run() need one).
  static Result<std::unique_ptr<PowerController>> create(const PowerControllerOptions& options,
                                                         energy::BatterySource* battery,
                                                         energy::EnergyMonitor* monitor, AssistantTarget* target);
  ~PowerController();

  // Reads the battery (after draining a simulated one by the energy used since the last
  // refresh), updates the policy and applies a change of mode.
  Status refresh();
  // Charges the energy used since the last refresh to the current mode (draining a
  // simulated battery) without deciding anything: at the end of a run, for the stats.
  Status settle() { return account_energy(); }
  // One wake event: a file is a camera frame, a line or a notification a question
  // (an error unless created with an AssistantTarget).
  Status handle(const WakeEvent& event);
  // Waits for events and handles them until `max_events` were handled (<= 0: no limit),
  // the input ends, or the battery is empty.
  Status run(WakeEvents& events, int max_events);

  energy::PowerMode mode() const { return policy_.mode(); }
  const energy::PowerPolicy& policy() const { return policy_; }
  const PowerStats& stats() const { return stats_; }
  double battery_level() const { return level_; }

 private:
  PowerController(const PowerControllerOptions& o, energy::PowerPolicy policy) : options_(o), policy_(std::move(policy)) {}
  double now() const;
  void log(const std::string& line) const;
  Status account_energy();

  PowerControllerOptions options_;
  energy::PowerPolicy policy_;
  energy::BatterySource* battery_ = nullptr;
  energy::EnergyMonitor* monitor_ = nullptr;
  PowerTarget* target_ = nullptr;
  AssistantTarget* assistant_ = nullptr;  // the same target, when it answers events
  energy::EnergySpan span_;
  double span_start_ = 0;
  double level_ = 0;
  bool applied_ = false;
  double last_frame_t_ = -1e300;
  std::string last_frame_;
  PowerStats stats_;
};

}  // namespace nm
