#include "runtime/frame_stream.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "backend/cpu/cpu_device.h"
#include "runtime/worker_affinity.h"

namespace nm {
namespace {

using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double, std::milli>(b - a).count(); }

// One asked frame, from the vision worker's point of view. Its fate is final once the
// worker moves on to the next frame: encoded into a ring slot tagged `seq`, or failed.
struct Job {
  uint64_t frame = 0;
  std::string name;
  Status status;
  ImagePlan plan;
  double vision_ms = 0;
};

class Stream {
 public:
  Stream(TextSession& s, FrameSource& src, const FrameStreamParams& p, const AnswerCallback& on_answer,
         const StreamPieceCallback& on_piece)
      : session_(s), pipe_(s.pipeline()), ring_(*s.pipeline().ring()), source_(src), params_(p),
        on_answer_(on_answer), on_piece_(on_piece), t0_(Clock::now()) {}

  // Vision side: the next asked frame, planned and encoded into a committed slot (or
  // failed). False at the end of the source.
  bool produce_one() {
    for (;;) {
      const uint64_t every = (uint64_t)params_.every;
      std::optional<Frame> f = source_.next_if([every](uint64_t index) { return index % every == 0; });
      if (!f) return false;
      if (f->index % every != 0) continue;  // skipped before it was decoded
      Job job;
      job.frame = f->index;
      job.name = f->name;
      const uint64_t seq = n_jobs_;
      if (!f->image.ok()) {
        job.status = f->image.status();
      } else if (auto plan = pipe_.plan_image(f->image->width, f->image->height); !plan.ok()) {
        job.status = plan.status();
      } else {
        job.plan = plan.value();
        const auto t = Clock::now();
        ImageTimings busy;  // the brick's own work, without the wait for the shared pool
        auto slot = params_.copy_embeddings ? encode_and_copy(f->image.value(), job.plan, seq, &busy)
                                            : pipe_.encode_image(f->image.value(), seq, &busy, /*commit=*/false);
        job.vision_ms = ms_between(t, Clock::now());
        if (params_.replan && slot.ok()) {  // the device's part: preprocessing runs on the host
          params_.replan->observe(BrickKind::vision, busy.encode_ms / 1000.0, job.frame,
                                  params_.pipelined);
        }
        // The energy estimate charges busy time. Pipelined on the shared default pool, the
        // text brick's phases (timed by the wall clock) already span the encodes they waited
        // for: charging those again would count them twice.
        const bool shared_pool = !pipe_.vision_device() && !pipe_.text_device();
        if (!(params_.pipelined && shared_pool)) {
          session_.note_vision_busy((busy.preprocess_ms + busy.encode_ms) / 1000.0);
        }
        if (slot.ok()) {
          // Final before its slot can be read: the text worker may answer and forget the
          // job as soon as the slot is committed.
          publish(seq, job);
          job.status = ring_.commit(slot.value());
          if (job.status.ok()) {
            ++n_jobs_;
            return true;
          }
        } else {
          job.status = slot.status();
        }
      }
      publish(seq, job);
      ++n_jobs_;
      return true;
    }
  }

  // Text side: answers the oldest encoded frame; false once the ring is closed and empty.
  bool consume_one(int timeout_ms) {
    auto r = timeout_ms < 0 ? ring_.acquire_read() : ring_.try_acquire_read(timeout_ms);
    if (!r.ok()) return false;
    const int slot = r.value();
    const uint64_t seq = ring_.tag(slot);
    flush_before(seq);
    Job job = job_of(seq);
    FrameAnswer a = start_answer(job);
    const Pipeline::ImageSource taken = [slot](int32_t) -> Result<int> { return slot; };
    TraceScope trace(pipe_.trace(), pipe_.text_device_name(), "text", "answer frame " + std::to_string(job.frame));
    a.status = session_.ask(params_.question, job.plan, taken, params_.n_predict, [&](const std::string& piece, int32_t) {
      a.text += piece;
      if (on_piece_ && !piece.empty()) on_piece_(job.frame, piece);
      return true;
    }, params_.ignore_eos);
    if (ring_.state(slot) == SlotState::reading) (void)ring_.release(slot);  // prefill failed before reading it
    const TextTimings& t = session_.timings();
    a.prefill_ms = t.prompt_ms;
    a.decode_ms = t.generate_ms;
    a.n_generated = t.n_generated;
    if (params_.replan && a.status.ok()) {
      params_.replan->observe(BrickKind::text, (a.prefill_ms + a.decode_ms) / 1000.0, job.frame,
                                  params_.pipelined);
    }
    emit(seq, std::move(a));
    return true;
  }

  // Moves the brick to where re-planning put it, between two of its runs; true if it moved.
  bool move(BrickKind kind) { return params_.replan && params_.replan->apply_move(kind); }

  // Every frame not answered yet, in order: failed, or dropped by the ring.
  void flush_all() { flush_before(UINT64_MAX); }

  const FrameStreamStats& stats() const { return stats_; }

 private:
  // The copying path of the ablation: encode into own memory, copy into a WRITING slot.
  Result<int> encode_and_copy(const Image& image, const ImagePlan& plan, uint64_t seq, ImageTimings* timings) {
    const size_t n = (size_t)plan.n_tokens * (size_t)pipe_.vision()->n_embd_out();
    copy_buffer_.resize(n);
    NM_RETURN_IF_ERROR(pipe_.encode_image_into(image, plan, copy_buffer_, timings));
    NM_ASSIGN_OR_RETURN(int slot, ring_.acquire_write(plan.n_tokens, pipe_.vision()->n_embd_out(), seq));
    std::span<float> dst = ring_.data(slot);
    std::copy(copy_buffer_.begin(), copy_buffer_.end(), dst.begin());
    ring_.count_copy(n * sizeof(float));
    return slot;
  }

  void publish(uint64_t seq, const Job& job) {
    std::lock_guard<std::mutex> lock(mu_);
    jobs_[seq] = job;
  }
  Job job_of(uint64_t seq) {
    std::lock_guard<std::mutex> lock(mu_);
    return jobs_[seq];
  }
  FrameAnswer start_answer(const Job& job) const {
    FrameAnswer a;
    a.frame = job.frame;
    a.name = job.name;
    a.vision_ms = job.vision_ms;
    return a;
  }
  void flush_before(uint64_t seq) {
    for (;;) {
      Job job;
      uint64_t at;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (jobs_.empty() || jobs_.begin()->first >= seq) return;
        at = jobs_.begin()->first;
        job = jobs_.begin()->second;
      }
      FrameAnswer a = start_answer(job);
      if (job.status.ok()) {
        a.dropped = true;
        a.status = error(ErrorCode::out_of_range, "frame dropped: the next frames arrived before it was answered");
      } else {
        a.status = job.status;
      }
      emit(at, std::move(a));
    }
  }
  void emit(uint64_t seq, FrameAnswer a) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      jobs_.erase(seq);
    }
    a.done_ms = ms_between(t0_, Clock::now());
    stats_.asked++;
    if (a.dropped) {
      stats_.dropped++;
    } else if (a.status.ok()) {
      stats_.answered++;
    } else {
      stats_.failed++;
    }
    if (stats_.asked == 1) stats_.first_answer_ms = a.done_ms;
    if (on_answer_) on_answer_(a);
  }

  TextSession& session_;
  Pipeline& pipe_;
  TokenRing& ring_;
  FrameSource& source_;
  const FrameStreamParams& params_;
  const AnswerCallback& on_answer_;
  const StreamPieceCallback& on_piece_;
  Clock::time_point t0_;
  uint64_t n_jobs_ = 0;        // vision side only
  std::vector<float> copy_buffer_;  // vision side only (copy_embeddings)
  std::mutex mu_;
  std::map<uint64_t, Job> jobs_;  // asked, not answered yet
  FrameStreamStats stats_;        // text side only
};

// How long a waiting worker waits for a run of the other pool to help with before it looks
// at the ring again; a change of the ring interrupts the wait at once.
constexpr int64_t kHelpWaitUs = 5000;

// One worker's lending: helps `pool` while the ring makes it wait, and traces the time
// it spent in the other brick's work as "lent" slices on its own device's track (calls
// less than 2 ms apart merge into one slice). Used by its worker thread only.
class Lender {
 public:
  Lender(ThreadPool* pool, Trace* trace, std::string device, std::string track)
      : pool_(pool), trace_(trace), device_(std::move(device)), track_(std::move(track)),
        interrupts_(pool->interrupt_count()) {}
  ~Lender() { flush(); }
  void help() {
    int64_t worked_ns = 0;
    // A ring change since the last call (even one before this call began) ends it at once.
    if (!pool_->help(kHelpWaitUs, &worked_ns, &interrupts_)) return;
    const auto end = Clock::now(), start = end - std::chrono::nanoseconds(worked_ns);
    if (open_ && start - last_ < std::chrono::milliseconds(2)) {
      last_ = end;
      return;
    }
    flush();
    first_ = start;
    last_ = end;
    open_ = true;
  }

 private:
  void flush() {
    if (open_ && trace_) trace_->slice(device_, track_, "lent", first_, last_);
    open_ = false;
  }
  ThreadPool* pool_;
  Trace* trace_;
  std::string device_, track_;
  Clock::time_point first_, last_;
  bool open_ = false;
  uint32_t interrupts_;  // interrupt_guests() calls seen (ThreadPool::help)
};

// While it lives, the two workers of a pipelined stream lend their cores to each other's
// pools when the ring makes them wait (FrameStreamParams::lend_idle_cores).
class LentCores {
 public:
  LentCores(Pipeline& pipe, TokenRing& ring) : ring_(ring) {
    auto* v = dynamic_cast<CpuDevice*>(pipe.vision_device());
    auto* t = dynamic_cast<CpuDevice*>(pipe.text_device());
    if (!v || !t || v == t) return;
    vision_ = &v->pool();
    text_ = &t->pool();
    vision_->accept_guests(true);
    text_->accept_guests(true);
    // The text worker waits for frames (helping vision), the vision worker for slots.
    auto to_vision = std::make_shared<Lender>(vision_, pipe.trace(), pipe.text_device_name(), "lent to vision");
    auto to_text = std::make_shared<Lender>(text_, pipe.trace(), pipe.vision_device_name(), "lent to text");
    ThreadPool* vp = vision_;
    ThreadPool* tp = text_;
    ring_.set_wait_hooks([to_vision] { to_vision->help(); }, [to_text] { to_text->help(); },
                         [vp, tp] {  // a slot the waiter wants may be there: stop helping
                           vp->interrupt_guests();
                           tp->interrupt_guests();
                         });
  }
  ~LentCores() {
    if (!vision_) return;
    ring_.set_wait_hooks(nullptr, nullptr);  // the Lenders go with the hooks (their slices are recorded)
    vision_->accept_guests(false);
    text_->accept_guests(false);
  }
  LentCores(const LentCores&) = delete;
  LentCores& operator=(const LentCores&) = delete;

 private:
  TokenRing& ring_;
  ThreadPool* vision_ = nullptr;
  ThreadPool* text_ = nullptr;
};

}  // namespace

Result<FrameStreamStats> run_frame_stream(TextSession& session, FrameSource& source, const FrameStreamParams& params,
                                          const AnswerCallback& on_answer, const StreamPieceCallback& on_piece) {
  Pipeline& pipe = session.pipeline();
  if (!pipe.has_vision()) return pipe.plan_image(1, 1).status();
  if (params.every < 1) return error(ErrorCode::invalid_argument, "--every must be at least 1");
  if (params.n_predict < 1) return error(ErrorCode::invalid_argument, "the answer length must be at least 1 token");
  if (params.question.empty()) return error(ErrorCode::invalid_argument, "the question is empty");
  TokenRing& ring = *pipe.ring();
  Stream stream(session, source, params, on_answer, on_piece);
  const auto t0 = Clock::now();
  if (!params.pipelined) {
    for (;;) {
      stream.move(BrickKind::vision);
      stream.move(BrickKind::text);
      if (!stream.produce_one()) break;
      while (stream.consume_one(0)) {
      }
    }
  } else {
    // The vision worker runs ahead through the ring; this thread is the text worker. Each
    // worker moves its own brick between two frames and re-pins itself to its new device.
    std::optional<LentCores> lent;
    if (params.lend_idle_cores) lent.emplace(pipe, ring);
    std::thread vision([&] {
      std::optional<PinnedThread> pin(std::in_place, pipe.vision_device());
      for (;;) {
        if (stream.move(BrickKind::vision)) {
          pin.reset();
          pin.emplace(pipe.vision_device());
        }
        if (!stream.produce_one()) break;
      }
      ring.close();  // wakes the text worker once the last slot is taken
    });
    {
      std::optional<PinnedThread> pin(std::in_place, pipe.text_device());
      for (;;) {
        if (stream.move(BrickKind::text)) {
          pin.reset();
          pin.emplace(pipe.text_device());
        }
        if (!stream.consume_one(-1)) break;
      }
    }
    vision.join();
    ring.reopen();
  }
  stream.flush_all();
  FrameStreamStats stats = stream.stats();
  stats.total_ms = ms_between(t0, Clock::now());
  return stats;
}

}  // namespace nm
