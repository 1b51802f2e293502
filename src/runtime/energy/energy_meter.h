// EnergyMeter: one source of joules (a RAPL counter, an hwmon power sensor, the battery
// fuel gauge, or the model-based estimate), sampled by EnergyMonitor. Each concrete
// meter lives in its own file; this header holds what they share: the running total,
// continuity (an "epoch" that changes whenever a gap makes the total untrustworthy
// across it), and the two ways raw readings become joules (a wrapping counter, or
// power integrated between samples).
// Thread-safety: not thread-safe; EnergyMonitor serialises every call.
#pragma once

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>

#include "core/status.h"

namespace nm::energy {

enum class EnergySourceKind {
  counter,   // a hardware energy counter (RAPL, hwmon energy*_input): exact over any interval
  power,     // a power sensor (or voltage x current) integrated between samples
  gauge,     // the battery fuel gauge: power_now, V x I, or energy_now deltas while discharging
  estimate,  // watts from a device profile times measured busy time: never a measurement
};

const char* energy_source_kind_name(EnergySourceKind kind);

// Which meter speaks for the machine when several exist, best first: a counter or sensor
// on the whole board's input, then the CPU package counters (all compute, not the rest
// of the board), then a power-monitor chip's first rail, then the battery (whole system,
// but its gauge updates only every few seconds), then any other power sensor (often one
// component, e.g. a GPU), and the estimate last.
inline constexpr int kRankBoardInput = 10;
inline constexpr int kRankRaplPackage = 20;
inline constexpr int kRankPowerMonitor = 30;
inline constexpr int kRankBattery = 40;
inline constexpr int kRankOtherSensor = 50;
inline constexpr int kRankEstimate = 100;

// Readings above this are refused as implausible for the devices NanoMind runs on (a
// bad shunt value or a counter that jumped), rather than reported.
inline constexpr double kMaxPlausibleWatts = 5000.0;

class EnergyMeter {
 public:
  EnergyMeter(std::string name, std::string description, EnergySourceKind kind)
      : name_(std::move(name)), description_(std::move(description)), kind_(kind) {}
  virtual ~EnergyMeter() = default;
  EnergyMeter(const EnergyMeter&) = delete;
  EnergyMeter& operator=(const EnergyMeter&) = delete;

  // Reads the source at monotonic time `now_s` (seconds) and adds the energy since the
  // previous good sample to the total. On failure (file gone, unreadable, garbage,
  // implausible) the total is unchanged and the error says why; the next good sample
  // starts a new epoch instead of guessing what happened in the gap.
  Status sample(double now_s);

  // Short stable name: "rapl", "hwmon:ina3221:VDD_IN", "battery:BAT0", "estimate:rk3566".
  const std::string& name() const { return name_; }
  // What outputs print as the source: "RAPL package-0 + dram (powercap)".
  const std::string& description() const { return description_; }
  EnergySourceKind kind() const { return kind_; }
  bool measured() const { return kind_ != EnergySourceKind::estimate; }
  // Preference when several meters exist (lower is better; see kRank* below).
  int rank() const { return rank_; }
  void set_rank(int rank) { rank_ = rank; }

  // Joules accumulated over good samples; never negative, never decreasing.
  double total_joules() const { return total_j_; }
  // Changes whenever continuity is lost (a failed sample followed by a good one). A
  // difference of totals is an energy only between two good samples of one epoch.
  uint64_t epoch() const { return epoch_; }
  // The last sample succeeded.
  bool healthy() const { return healthy_; }
  // Power over the last interval between good samples (W); NaN before two samples.
  double watts() const { return watts_; }
  const Status& last_error() const { return last_error_; }

 protected:
  // Reads the source once; returns the joules since the previous call, or nullopt when
  // this call only set a baseline (first call, after a reset). `dt_s` > 0 is the time
  // since the previous read (0 on the first). Errors leave the meter to rebaseline.
  virtual Result<std::optional<double>> read_joules(double now_s, double dt_s) = 0;
  // Forget the baseline: the next read_joules only sets one.
  virtual void reset_baseline() = 0;

 private:
  std::string name_, description_;
  EnergySourceKind kind_;
  int rank_ = 0;
  double total_j_ = 0;
  double watts_ = NAN;
  double last_t_ = NAN;
  uint64_t epoch_ = 0;
  bool healthy_ = false;
  bool broken_ = false;  // a sample failed since the last good one
  Status last_error_;
};

// A counter in `unit_j` joules per count that wraps to 0 after `max_count` (0: unknown,
// then a decrease is a reset). Returns the joules since the previous value, nullopt for
// a baseline.
class WrappingCounter {
 public:
  WrappingCounter(double unit_j, uint64_t max_count) : unit_j_(unit_j), max_count_(max_count) {}
  Result<std::optional<double>> update(int64_t value, const std::string& what);
  void reset() { last_.reset(); }
  void set_max(uint64_t max_count) { max_count_ = max_count; }

 private:
  double unit_j_;
  uint64_t max_count_;
  std::optional<uint64_t> last_;
};

// Power readings integrated with the trapezoidal rule between consecutive samples.
class PowerIntegrator {
 public:
  // Returns the joules since the previous reading (nullopt for the first).
  std::optional<double> update(double watts, double dt_s);
  void reset() { last_w_.reset(); }

 private:
  std::optional<double> last_w_;
};

// Refuses a negative, non-finite or implausible power reading with a message naming
// `what`.
Status check_plausible_watts(double watts, const std::string& what);

}  // namespace nm::energy
