// Trace: what ran where and when, written as Chrome trace events (the JSON "Trace Event
// Format" that Perfetto and chrome://tracing open). A device is a process track ("cpu:0",
// "opencl:0", "cpu" for the default placement) and each brick a thread track inside it, so
// bricks sharing a device get their own rows; a brick run is a complete slice ("ph":"X",
// e.g. "vision frame 3", "prefill", "decode") and a token-ring hand-off is a flow arrow
// from the producer's slice to the consumer's ("ph":"s" / "f", bound to the enclosing
// slices). Recording costs one lock and a vector push per event; nothing is recorded when
// a component holds no Trace (a null pointer).
// Thread-safety: every method may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"

namespace nm {

class Trace {
 public:
  using Clock = std::chrono::steady_clock;

  Trace() : t0_(Clock::now()) {}

  // A slice named `name` on brick `brick` of device `device`, from `start` to `end`, with
  // optional numeric arguments shown in the slice's details.
  void slice(const std::string& device, const std::string& brick, const std::string& name, Clock::time_point start,
             Clock::time_point end, const std::vector<std::pair<std::string, double>>& args = {});
  // The two ends of a hand-off arrow `id` (unique per trace): its start inside the
  // producer's slice at `at`, its end inside the consumer's slice at `at`.
  void flow_start(uint64_t id, const std::string& device, const std::string& brick, Clock::time_point at);
  void flow_end(uint64_t id, const std::string& device, const std::string& brick, Clock::time_point at);
  // A fresh flow id.
  uint64_t next_flow_id();

  // The events as a JSON document ({"traceEvents": [...], "displayTimeUnit": "ms"}).
  std::string json() const;
  // Writes json() to `path`; io_error names the file.
  Status write(const std::string& path) const;
  size_t n_events() const;

 private:
  struct Event {
    char ph;  // 'X', 's', 'f'
    int pid, tid;
    std::string name;
    double ts_us, dur_us;
    uint64_t id;
    std::vector<std::pair<std::string, double>> args;
  };
  // Process and thread ids of a device / brick track (assigned on first use). Under mu_.
  std::pair<int, int> track(const std::string& device, const std::string& brick);
  double us(Clock::time_point t) const { return std::chrono::duration<double, std::micro>(t - t0_).count(); }

  Clock::time_point t0_;
  mutable std::mutex mu_;
  std::vector<Event> events_;
  std::map<std::string, int> pids_;                          // device -> pid
  std::map<std::pair<std::string, std::string>, int> tids_;  // (device, brick) -> tid
  uint64_t next_flow_ = 1;
};

// A slice recorded when the scope ends (nothing when trace is null).
class TraceScope {
 public:
  TraceScope(Trace* trace, std::string device, std::string brick, std::string name)
      : trace_(trace), device_(std::move(device)), brick_(std::move(brick)), name_(std::move(name)),
        start_(Trace::Clock::now()) {}
  ~TraceScope() {
    if (trace_) trace_->slice(device_, brick_, name_, start_, Trace::Clock::now(), args_);
  }
  TraceScope(const TraceScope&) = delete;
  TraceScope& operator=(const TraceScope&) = delete;
  void arg(std::string key, double value) { args_.emplace_back(std::move(key), value); }

 private:
  Trace* trace_;
  std::string device_, brick_, name_;
  Trace::Clock::time_point start_;
  std::vector<std::pair<std::string, double>> args_;
};

}  // namespace nm
