// Metrics: counters for GET /metrics in the Prometheus text format — requests by endpoint
// and status, prompt and generated tokens, answers cancelled, per-brick time and the
// device each brick ran on (the audio and asr bricks' too, with --asr), seconds of audio
// heard, and the joules each brick used (labelled measured or estimated, as
// nm_session_get_energy says; no samples where neither a sensor nor a device profile
// exists) — plus gauges (queue depth, busy slots) read at render time. Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <utility>

#include "server/job.h"

namespace nm::server {

struct SchedulerGauges {
  int queue_depth = 0;
  int slots_busy = 0;
  int slots_total = 0;
};

class Metrics {
 public:
  void count_request(const std::string& endpoint, int http_status);
  void count_answer(const JobResult& r);
  void count_cancelled();
  std::string render(const SchedulerGauges& g) const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  uint64_t answers_ = 0, cancelled_ = 0, prompt_tokens_ = 0, generated_tokens_ = 0, images_ = 0, audio_parts_ = 0;
  double audio_seconds_ = 0;
  // Seconds per (brick, device).
  std::map<std::pair<std::string, std::string>, double> brick_seconds_;
  // Joules per (brick, device, "measured" | "estimated").
  std::map<std::tuple<std::string, std::string, std::string>, double> brick_joules_;
};

}  // namespace nm::server
