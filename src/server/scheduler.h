// Scheduler: the generation loop behind the server. It owns --parallel slots, each an
// nm_session with its own KV cache, and one thread that admits queued jobs into free
// slots (the slot whose last prompt shares the longest prefix with the new one, so the
// KV cache is reused), then steps every busy slot by one token and evaluates all their
// pending tokens together (nm_sessions_decode: one forward pass for all of them where
// the engine batches). Jobs beyond the slots wait in a bounded queue; submit() refuses
// when it is full (the HTTP layer answers 503 + Retry-After). Cancelled jobs leave at
// their next token; jobs past their deadline end with finish reason "length". Answers in
// JSON mode pass through a JsonObjectFilter and end where their object closes.
// Thread-safe: submit/gauges/drain from any thread.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "nanomind/nanomind.h"
#include "server/job.h"
#include "server/json_mode.h"
#include "server/metrics.h"

namespace nm::server {

struct SchedulerOptions {
  int n_parallel = 1;
  int max_queue = 64;
  bool batch = true;  // false: each slot's token in its own forward pass (for A/B measurements)
  nm_session_params session{};  // for every slot (context size, KV type, devices, ...)
};

class Scheduler {
 public:
  // Opens the slots' sessions; on failure returns nullptr and sets *error.
  static std::unique_ptr<Scheduler> create(nm_model* model, const SchedulerOptions& options, Metrics& metrics,
                                           std::string* error);
  ~Scheduler();

  // Queues a job; false when the queue is full or the scheduler is draining.
  bool submit(std::shared_ptr<Job> job);
  SchedulerGauges gauges() const;
  // Stops taking jobs, fails queued ones (503), lets busy slots finish until the
  // deadline, then cancels them; returns when the loop has stopped.
  void drain(std::chrono::steady_clock::time_point deadline);

 private:
  struct Slot {
    nm_session* session = nullptr;
    std::shared_ptr<Job> job;  // null when free
    std::string key;           // the last prompt's text, for prefix matching
    uint64_t last_used = 0;
    std::optional<JsonObjectFilter> json;  // response_format json_object: the answer so far, cut
    std::string json_text;                 // what the filter let through (checked at the end)
  };
  Scheduler(nm_model* model, const SchedulerOptions& options, Metrics& metrics);
  void loop();
  // Starts a job on a slot (prefill); false when it failed (the job is told why).
  bool begin(Slot& slot, const std::shared_ptr<Job>& job);
  // Samples one token for a busy slot; frees the slot when its answer ended.
  void step(Slot& slot);
  void end(Slot& slot, const std::string& finish_reason, bool time_limit = false);
  Slot* pick_slot(const std::string& key);

  nm_model* model_;
  SchedulerOptions options_;
  Metrics& metrics_;
  std::vector<Slot> slots_;
  uint64_t uses_ = 0;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Job>> queue_;
  int busy_ = 0;
  bool draining_ = false;
  std::chrono::steady_clock::time_point drain_deadline_;
  bool stop_ = false;
  std::thread thread_;
};

// The text a prefix match compares: roles and contents in order (or the raw prompt).
std::string prompt_key(const InferenceRequest& r);

}  // namespace nm::server
