// EnergyAccount: the joules of one request (an answer), split by phase — vision (image
// encode), prefill and decode — as `run -v`, `bench` and the server's /metrics report
// them. Each phase is a span on the process's EnergyMonitor: measured when a sensor
// exists (the whole machine's energy during the phase), otherwise the estimate, which is
// charged here with the time the phase kept its device busy. The report names its
// source and says which it was. Phases may nest (images encoded while a prefill runs):
// an outer phase is charged only what its inner phases did not use.
// Concurrent requests on one machine overlap in time: a measured phase then includes the
// other requests' work. Answers generated step by step together (the server's batched
// decode) are charged per step instead: each step's joules are split among the answers
// it advanced (add_to_phase), and the answer's total is the sum of its phases.
// Thread-safety: one request at a time per account (one account per session).
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "runtime/energy/energy_monitor.h"

namespace nm::energy {

enum class EnergyPhase { vision, prefill, decode };
inline constexpr int kEnergyPhases = 3;
const char* energy_phase_name(EnergyPhase phase);  // "vision", "prefill", "decode"

struct PhaseEnergy {
  double joules = 0;
  double seconds = 0;
  int tokens = 0;  // prefill: prompt tokens; decode: generated tokens; vision: image tokens
  double joules_per_token() const { return tokens > 0 ? joules / tokens : 0.0; }
};

struct EnergyReport {
  bool valid = false;        // false: no meter (nothing to report)
  double joules = 0;         // the whole request
  double seconds = 0;
  bool measured = false;
  std::string source;        // the meter's description ("estimated from profile ...")
  PhaseEnergy phases[kEnergyPhases];
  const PhaseEnergy& phase(EnergyPhase p) const { return phases[static_cast<int>(p)]; }
  double mean_watts() const { return seconds > 0 ? joules / seconds : 0.0; }
};

class EnergyAccount {
 public:
  explicit EnergyAccount(EnergyMonitor* monitor) : monitor_(monitor) {}

  // `phases_only`: the request's total is the sum of its phases rather than a span over its
  // whole time — for answers generated step by step among others (the server), whose
  // wall time includes the other answers' work.
  void begin_request(bool phases_only = false);
  void begin_phase(EnergyPhase phase);
  // A share of one step's reading (a batched decode step of `share` = 1/n sessions): adds
  // share x its joules, its seconds (the time the answer waited for it) and `tokens`.
  void add_to_phase(EnergyPhase phase, const EnergyReading& step, double share, int tokens);
  // Replaces a phase's token count (the answer's generated tokens once it ends).
  void set_phase_tokens(EnergyPhase phase, int tokens);
  // The innermost open phase (which must be `phase`) ran on `device` (of `kind` "cpu",
  // "gpu", "npu" when known) with `threads` threads and handled `tokens` tokens.
  void end_phase(EnergyPhase phase, const std::string& device, int threads, int tokens, const std::string& kind = {});
  // Closes the request; the report stays readable until the next begin_request().
  const EnergyReport& end_request();
  const EnergyReport& last() const { return report_; }

 private:
  struct OpenPhase {
    EnergyPhase phase;
    EnergySpan span;
    std::chrono::steady_clock::time_point start;
    double inner_j = 0, inner_s = 0, inner_busy_s = 0;  // what nested phases used
  };
  EnergyMonitor* monitor_;
  void note_reading(const EnergyReading& r);
  EnergySpan request_;
  bool phases_only_ = false;
  std::vector<OpenPhase> open_;
  EnergyReport pending_, report_;
};

}  // namespace nm::energy
