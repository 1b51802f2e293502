// Job: one request travelling from the HTTP thread that received it to the scheduler
// thread that generates its answer, and the text coming back. The scheduler appends
// pieces and finally marks the job done (with a finish reason or an error); the HTTP
// thread takes what is there, waiting with a timeout so it can also notice its client
// leaving (then it cancels, and the scheduler drops the job at its next token).
// Thread-safe: one producer (the scheduler), one consumer (the HTTP thread).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>

#include "nanomind/nanomind.h"
#include "server/api_error.h"
#include "server/request.h"

namespace nm::server {

struct JobResult {
  std::string finish_reason;      // "stop" or "length" (also when the time limit ended the answer)
  bool time_limit_reached = false;
  int32_t n_prompt = 0, n_generated = 0;
  nm_timings timings{};           // per-brick timings of the answer
  nm_energy energy{};             // its joules per brick (valid == 0: not counted)
  SpeechIn speech;                // the request's audio parts, transcribed (none: no audio bricks)
  // response_format json_object: whether an object started, closed and parses as JSON, and
  // how many bytes of the model's text were left out around it.
  bool json_mode = false, json_started = false, json_closed = false, json_valid = false;
  size_t json_dropped_bytes = 0;
};

class Job {
 public:
  using Clock = std::chrono::steady_clock;
  Job(InferenceRequest request, Clock::time_point deadline)
      : request_(std::move(request)), enqueued_(Clock::now()), deadline_(deadline) {}

  const InferenceRequest& request() const { return request_; }
  Clock::time_point enqueued() const { return enqueued_; }
  Clock::time_point deadline() const { return deadline_; }
  void cancel() { cancelled_ = true; }
  bool cancelled() const { return cancelled_; }

  // Scheduler side.
  void mark_started();                     // the prompt is in the context: an answer follows
  void append(const std::string& piece);
  void finish(const JobResult& result);
  void fail(ApiError error);

  // HTTP side. Waits (up to `wait`) until the job started or ended; true when it did.
  bool wait_started(std::chrono::milliseconds wait);
  // Waits (up to `wait`) for new text or the end; returns the text not taken yet.
  std::string take(std::chrono::milliseconds wait);
  bool done() const;
  std::optional<ApiError> error() const;
  JobResult result() const;

 private:
  const InferenceRequest request_;
  const Clock::time_point enqueued_, deadline_;
  std::atomic<bool> cancelled_{false};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool started_ = false, done_ = false;
  std::string text_;  // appended, not taken yet
  std::optional<ApiError> error_;
  JobResult result_;
};

}  // namespace nm::server
