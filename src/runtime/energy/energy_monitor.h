// EnergyMonitor: every energy source this machine has, found at start-up, and the one
// API the runtime, the CLI and the server use to ask "how many joules did this take?".
// A span is opened before the work and finished after it; the answer names its source
// and says whether it was measured or estimated. While a span is open a sampler thread
// reads the power sensors every `sample_period_s` (they are integrated between samples);
// with no span open, or no power sensor at all (counters and the estimate need no
// sampling), it sleeps on a condition variable, so an idle process stays idle. If the best meter fails during a span (a
// sensor vanished, the charger was plugged in) the span is answered by the next meter
// that covered it, with one log line; sensors that appear later are picked up by a
// rescan at the next span.
// Thread-safety: every public method may be called from any thread.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "runtime/energy/energy_meter.h"
#include "runtime/energy/power_model.h"

namespace nm::energy {

struct EnergyReading {
  double joules = 0;
  double seconds = 0;
  std::string meter;     // "rapl", "estimate:rk3566"
  std::string source;    // "RAPL package-0 (powercap)", "estimated from profile rk3566: ..."
  bool measured = false;
  double watts() const { return seconds > 0 ? joules / seconds : 0.0; }
  // "measured" or "estimated", for table columns.
  const char* how() const { return measured ? "measured" : "estimated"; }
};

struct MeterInfo {
  std::string name, description;
  EnergySourceKind kind;
  int rank;
  bool healthy;
  std::string last_error;  // empty when healthy
};

struct EnergyMonitorOptions {
  std::string sysfs_root;                   // "": $NM_SYSFS_ROOT, else "/"
  std::optional<PowerModel> power_model;    // the estimate's figures; none: no estimate
  std::string prefer;                       // a meter name to use before the others ("": by rank)
  bool discover = true;                     // false: only meters added by hand (tests)
  // One line per noteworthy event; default: stderr as "nanomind: energy: <line>".
  std::function<void(const std::string&)> log;
  std::function<double()> clock;            // monotonic seconds; default: steady_clock
  double sample_period_s = 0.1;             // while a span is open; 0: no sampler thread
  double rescan_period_s = 30;              // how often a span start looks for new sensors
};

class EnergyMonitor;

// An open measurement. finish() answers it once; a span dropped unfinished just closes.
class EnergySpan {
 public:
  EnergySpan() = default;
  EnergySpan(EnergySpan&& other) noexcept;
  EnergySpan& operator=(EnergySpan&& other) noexcept;
  ~EnergySpan();

  // Joules since the span began, from the best meter that covered all of it; an error
  // only when no meter did (no sensor and no estimate, or every source failed).
  Result<EnergyReading> finish();
  // The same without closing the span (e.g. a running total).
  Result<EnergyReading> peek() const;
  bool open() const { return monitor_ != nullptr; }

 private:
  friend class EnergyMonitor;
  struct MeterMark {
    double total_j;
    uint64_t epoch;
  };
  EnergyMonitor* monitor_ = nullptr;
  double t0_ = 0;
  std::map<std::string, MeterMark> marks_;  // healthy meters at the start, by name
};

class EnergyMonitor {
 public:
  static std::unique_ptr<EnergyMonitor> create(EnergyMonitorOptions options = {});
  ~EnergyMonitor();
  EnergyMonitor(const EnergyMonitor&) = delete;
  EnergyMonitor& operator=(const EnergyMonitor&) = delete;

  EnergySpan begin();

  // A brick kept `runtime_device` (of `kind` "cpu"/"gpu"/"npu" when known) busy for
  // `seconds` with `threads` threads: feeds the estimate (measured meters see it anyway).
  void note_busy(const std::string& runtime_device, double seconds, int threads = 0, const std::string& kind = {});

  // The meter a span started now would use first (nullptr-like empty name if none).
  MeterInfo primary() const;
  bool has_meter() const;
  // True when a sensor (not the estimate) is healthy.
  bool measuring() const;
  std::vector<MeterInfo> meters() const;
  // Looks for sensors that appeared since the last look (also done at span starts,
  // at most every rescan_period_s).
  void rescan();
  // Adds a meter (tests; boards with a sensor NanoMind does not discover).
  void add_meter(std::unique_ptr<EnergyMeter> meter);
  // Samples every meter now (the sampler thread does this while a span is open).
  void sample();

 private:
  friend class EnergySpan;
  explicit EnergyMonitor(EnergyMonitorOptions options);
  void rescan_locked(bool log_summary);
  void add_locked(std::unique_ptr<EnergyMeter> meter);
  void sample_locked(double now);
  void close_span();
  Result<EnergyReading> read_span(const EnergySpan& span);
  void sampler_main();
  bool needs_sampling_locked() const;
  double now() const;
  void log(const std::string& line) const;

  EnergyMonitorOptions options_;
  std::string root_;
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<EnergyMeter>> meters_;  // sorted: preferred, then by rank
  mutable std::string last_used_;                     // meter of the last answered span
  double last_rescan_ = -1e300;
  int open_spans_ = 0;
  bool stopping_ = false;
  std::condition_variable cv_;
  std::thread sampler_;
};

// Every sensor under `root` (RAPL, hwmon rails, batteries), unsorted; `notes` receives
// why sources that exist were not usable.
std::vector<std::unique_ptr<EnergyMeter>> discover_meters(const std::string& root, std::vector<std::string>* notes);

}  // namespace nm::energy
