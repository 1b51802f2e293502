#include "server/scheduler.h"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace nm::server {
namespace {

using Clock = std::chrono::steady_clock;

ApiError engine_error(nm_status st, const char* message) {
  const bool client = st == NM_ERR_INVALID_ARGUMENT || st == NM_ERR_INVALID_FILE || st == NM_ERR_OUT_OF_RANGE ||
                      st == NM_ERR_UNSUPPORTED;
  ApiError e{client ? 400 : 500, message, client ? "invalid_request_error" : "server_error", {}, {}};
  if (st == NM_ERR_OUT_OF_RANGE) e.code = "context_length_exceeded";
  return e;
}

nm_generate_params generation_params(const InferenceRequest& r, std::vector<const char*>& stops) {
  nm_generate_params gp = nm_generate_default_params();
  gp.n_predict = r.max_tokens;
  gp.ignore_eos = r.ignore_eos ? 1 : 0;
  if (r.temperature) gp.sampling.temperature = *r.temperature;
  if (r.top_p) gp.sampling.top_p = *r.top_p;
  if (r.top_k) gp.sampling.top_k = *r.top_k;
  if (r.min_p) gp.sampling.min_p = *r.min_p;
  if (r.repeat_penalty) gp.sampling.repeat_penalty = *r.repeat_penalty;
  // Without a seed every answer draws differently, as OpenAI's API does.
  gp.sampling.seed = r.seed ? *r.seed : NM_SEED_RANDOM;
  for (const std::string& s : r.stop) stops.push_back(s.c_str());
  gp.stop = stops.data();
  gp.n_stop = (int32_t)stops.size();
  return gp;
}

size_t common_prefix(const std::string& a, const std::string& b) {
  const size_t n = std::min(a.size(), b.size());
  size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  return i;
}

}  // namespace

std::string prompt_key(const InferenceRequest& r) {
  if (r.kind == RequestKind::completion) return r.prompt;
  std::string key;
  for (const MessageIn& m : r.messages) {
    key += m.role;
    key += '\x1f';
    if (m.n_images > 0) key += '\x1e';  // images are evaluated from the start: no reuse past one
    key += m.text;
    key += '\x1d';
  }
  return key;
}

Scheduler::Scheduler(nm_model* model, const SchedulerOptions& options, Metrics& metrics)
    : model_(model), options_(options), metrics_(metrics) {}

std::unique_ptr<Scheduler> Scheduler::create(nm_model* model, const SchedulerOptions& options, Metrics& metrics,
                                             std::string* error) {
  std::unique_ptr<Scheduler> s(new Scheduler(model, options, metrics));
  for (int i = 0; i < std::max(1, options.n_parallel); ++i) {
    Slot slot;
    char err[512];
    if (nm_session_init(model, &options.session, &slot.session, err, sizeof err) != NM_OK) {
      if (error) *error = err;
      return nullptr;
    }
    s->slots_.push_back(slot);
  }
  s->thread_ = std::thread([p = s.get()] { p->loop(); });
  return s;
}

Scheduler::~Scheduler() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    draining_ = true;
    drain_deadline_ = Clock::now();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  for (Slot& s : slots_) nm_session_free(s.session);
}

bool Scheduler::submit(std::shared_ptr<Job> job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    // A job waits in the queue even on its way to a free slot: count those as room too.
    const int free_slots = (int)slots_.size() - busy_;
    if (draining_ || (int)queue_.size() >= options_.max_queue + free_slots) return false;
    queue_.push_back(std::move(job));
  }
  cv_.notify_all();
  return true;
}

SchedulerGauges Scheduler::gauges() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {(int)queue_.size(), busy_, (int)slots_.size()};
}

void Scheduler::drain(Clock::time_point deadline) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    draining_ = true;
    drain_deadline_ = deadline;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Scheduler::Slot* Scheduler::pick_slot(const std::string& key) {
  Slot* best = nullptr;
  size_t best_len = 0;
  for (Slot& s : slots_) {
    if (s.job) continue;
    const size_t len = common_prefix(s.key, key);
    if (!best || len > best_len || (len == best_len && s.last_used < best->last_used)) {
      best = &s;
      best_len = len;
    }
  }
  return best;
}

bool Scheduler::begin(Slot& slot, const std::shared_ptr<Job>& job) {
  const InferenceRequest& r = job->request();
  std::vector<const char*> stops;
  const nm_generate_params gp = generation_params(r, stops);
  nm_status st;
  if (r.kind == RequestKind::chat) {
    std::vector<nm_chat_message> msgs;
    for (const MessageIn& m : r.messages) msgs.push_back({m.role.c_str(), m.text.c_str(), m.n_images});
    std::vector<nm_image_bytes> images;
    for (const auto& bytes : r.images) images.push_back({bytes.data(), bytes.size()});
    st = nm_session_begin_chat(slot.session, msgs.data(), (int32_t)msgs.size(), images.data(), (int32_t)images.size(),
                               &gp);
  } else {
    st = nm_session_begin_completion(slot.session, r.prompt.c_str(), &gp);
  }
  slot.last_used = ++uses_;
  if (st != NM_OK) {
    slot.key.clear();  // what the cache holds after a failed prefill is not worth matching
    job->fail(engine_error(st, nm_session_last_error(slot.session)));
    return false;
  }
  slot.key = prompt_key(r);
  slot.json.reset();
  slot.json_text.clear();
  if (r.json_object) slot.json.emplace();
  slot.job = job;
  job->mark_started();
  return true;
}

void Scheduler::end(Slot& slot, const std::string& finish_reason, bool time_limit) {
  JobResult res;
  res.finish_reason = finish_reason;
  res.time_limit_reached = time_limit;
  nm_session_usage(slot.session, &res.n_prompt, &res.n_generated);
  nm_session_get_timings(slot.session, &res.timings);
  nm_session_get_energy(slot.session, &res.energy);
  res.speech = slot.job->request().speech;
  if (slot.json) {
    res.json_mode = true;
    res.json_started = slot.json->started();
    res.json_closed = slot.json->closed();
    res.json_dropped_bytes = slot.json->dropped_bytes();
    res.json_valid = res.json_closed && nlohmann::json::accept(slot.json_text);
  }
  metrics_.count_answer(res);
  slot.job->finish(res);
  slot.job.reset();
  std::lock_guard<std::mutex> lock(mu_);
  busy_--;
}

void Scheduler::step(Slot& slot) {
  Job& job = *slot.job;
  if (job.cancelled()) {
    metrics_.count_cancelled();
    slot.job->fail(ApiError{499, "the client closed the connection", "cancelled", {}, {}});
    slot.job.reset();
    std::lock_guard<std::mutex> lock(mu_);
    busy_--;
    return;
  }
  bool over_time;
  {
    std::lock_guard<std::mutex> lock(mu_);
    over_time = Clock::now() > job.deadline() || (draining_ && Clock::now() > drain_deadline_);
  }
  if (over_time) return end(slot, "length", true);
  const char* piece = nullptr;
  int32_t token = -1;
  nm_finish finished = NM_FINISH_NONE;
  const nm_status st = nm_session_next(slot.session, &piece, &token, &finished);
  if (st != NM_OK) {
    slot.job->fail(engine_error(st, nm_session_last_error(slot.session)));
    slot.job.reset();
    slot.key.clear();
    std::lock_guard<std::mutex> lock(mu_);
    busy_--;
    return;
  }
  if (slot.json) {
    const std::string kept = slot.json->feed(piece);
    slot.json_text += kept;
    job.append(kept);
    if (slot.json->closed() && finished == NM_FINISH_NONE) return end(slot, "stop");
  } else {
    job.append(piece);
  }
  // The key grows with the answer: a follow-up request repeats it as an assistant message.
  if (finished == NM_FINISH_STOP) end(slot, "stop");
  if (finished == NM_FINISH_LENGTH) end(slot, "length");
}

void Scheduler::loop() {
  std::vector<nm_session*> pending;
  for (;;) {
    std::vector<std::shared_ptr<Job>> admitted;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || draining_ || busy_ > 0 || !queue_.empty(); });
      if (draining_) {
        for (auto& j : queue_) j->fail(ApiError{503, "the server is shutting down", "server_error", {}, {}});
        queue_.clear();
        if (busy_ == 0) return;
      }
      const int free_slots = (int)slots_.size() - busy_;
      for (int i = 0; i < free_slots && !queue_.empty(); ++i) {
        admitted.push_back(std::move(queue_.front()));
        queue_.pop_front();
        busy_++;
      }
    }
    for (auto& job : admitted) {
      bool started = false;
      if (job->cancelled()) {
        metrics_.count_cancelled();
        job->fail(ApiError{499, "the client closed the connection", "cancelled", {}, {}});
      } else if (Clock::now() > job->deadline()) {
        job->fail(ApiError{503, "the request waited longer than its time limit for a free slot", "server_error", {},
                           "queue_timeout"});
      } else {
        started = begin(*pick_slot(prompt_key(job->request())), job);
      }
      if (!started) {
        std::lock_guard<std::mutex> lock(mu_);
        busy_--;
      }
    }
    for (Slot& s : slots_)
      if (s.job) step(s);
    // Every busy slot now has one pending token: evaluate them together.
    pending.clear();
    for (Slot& s : slots_)
      if (s.job) pending.push_back(s.session);
    if (!pending.empty()) {
      nm_status st = NM_OK;
      if (options_.batch) {
        st = nm_sessions_decode(pending.data(), (int32_t)pending.size());
      } else {
        for (size_t i = 0; i < pending.size() && st == NM_OK; ++i) st = nm_sessions_decode(&pending[i], 1);
      }
      if (st != NM_OK) {
        for (Slot& s : slots_) {
          if (!s.job) continue;
          s.job->fail(engine_error(st, nm_session_last_error(s.session)));
          s.job.reset();
          s.key.clear();
          std::lock_guard<std::mutex> lock(mu_);
          busy_--;
        }
      }
    }
  }
}

}  // namespace nm::server
