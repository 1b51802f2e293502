// A camera stream under the battery's power policy (see powered_stream.h).
#include "runtime/powered_stream.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "runtime/energy/trace_replay.h"

namespace nm {

using energy::PowerMode;

namespace {

// The stream as the policy's target: apply() records the setting, which the stream puts
// into effect between segments (a worker may still be answering when the battery is read).
class StreamTarget final : public PowerTarget {
 public:
  Status apply(PowerMode mode, int threads) override {
    mode_ = mode;
    threads_ = threads;
    pending_ = true;
    return Status::ok_status();
  }
  bool pending() const { return pending_; }
  // Puts the recorded setting into effect on the pipeline (no brick is running).
  Status put_into_effect(Pipeline& pipe) {
    pending_ = false;
    NM_RETURN_IF_ERROR(pipe.set_threads(threads_));
    pipe.set_residency(mode_ == PowerMode::on_demand ? Residency::on_demand : Residency::keep);
    return Status::ok_status();
  }
  PowerMode mode() const { return mode_; }
  int threads() const { return threads_; }

 private:
  PowerMode mode_ = PowerMode::parallel;
  int threads_ = 1;
  bool pending_ = false;
};

// The frames of one segment: those the mode asks about, until the setting changes (the
// frame that saw the change is held for the next segment) or the source ends. Read by
// one thread at a time (the vision worker of a segment); the states it records are read
// by the answering thread under mu_.
class GatedSource final : public FrameSource {
 public:
  GatedSource(FrameSource& inner, PowerController& controller, StreamTarget& target, int every,
              PoweredStreamStats& stats)
      : inner_(inner), controller_(controller), target_(target), every_(every), stats_(stats) {}

  std::optional<Frame> next() override {
    for (;;) {
      if (done_) return std::nullopt;
      std::optional<Frame> f;
      if (held_) {  // decided on already: asked in the segment that starts now
        f = std::move(held_);
        held_.reset();
        return admit(std::move(*f));
      }
      // Frames the gate will skip (not every K-th; throttled) are not decoded.
      f = inner_.next_if([this](uint64_t index) {
        return index % (uint64_t)every_ == 0 && index / (uint64_t)every_ >= next_g_;
      });
      if (!f) {
        done_ = true;
        return std::nullopt;
      }
      if (f->index % (uint64_t)every_ != 0) continue;
      const uint64_t g = f->index / (uint64_t)every_;  // the frame's place among the K-th frames
      if (g < next_g_) {
        ++stats_.skipped;  // throttled: a full-rate stream would have asked it
        continue;
      }
      status_ = controller_.refresh();
      if (!status_.ok()) {
        done_ = true;
        return std::nullopt;
      }
      const double level = controller_.battery_level();
      if (std::isfinite(level) && level <= 0) {
        stats_.battery_empty = true;
        done_ = true;
        return std::nullopt;
      }
      if (target_.pending()) {  // a new setting: this segment ends, the frame opens the next
        held_ = std::move(f);
        return std::nullopt;
      }
      return admit(std::move(*f));
    }
  }

  // The policy's state when frame `index` was asked about.
  PowerState state_of(uint64_t index) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = states_.find(index);
    if (it == states_.end()) return PowerState{};
    PowerState s = it->second;
    states_.erase(it);
    return s;
  }
  bool done() const { return done_; }
  const Status& status() const { return status_; }

 private:
  Frame admit(Frame f) {
    const energy::PowerPolicy& policy = controller_.policy();
    PowerState s;
    s.mode = policy.mode();
    s.level = controller_.battery_level();
    s.alpha = policy.alpha();
    s.threads = target_.threads();
    // Throttled, one K-th frame in round(1 / alpha) is asked (alpha >= min_alpha > 0).
    const uint64_t step = s.mode == PowerMode::throttled && s.alpha > 0
                              ? (uint64_t)std::max(1L, std::lround(1.0 / s.alpha))
                              : 1;
    next_g_ = f.index / (uint64_t)every_ + step;
    {
      std::lock_guard<std::mutex> lock(mu_);
      states_[f.index] = s;
    }
    return f;
  }

  FrameSource& inner_;
  PowerController& controller_;
  StreamTarget& target_;
  const int every_;
  PoweredStreamStats& stats_;  // skipped, battery_empty (this reader's thread)
  std::optional<Frame> held_;
  uint64_t next_g_ = 0;
  bool done_ = false;
  Status status_;
  std::mutex mu_;
  std::map<uint64_t, PowerState> states_;
};

}  // namespace

Result<PoweredStreamStats> run_powered_stream(TextSession& session, FrameSource& source,
                                              const PoweredStreamParams& params, energy::BatterySource* battery,
                                              energy::EnergyMonitor* monitor, const PoweredAnswerCallback& on_answer) {
  Pipeline& pipe = session.pipeline();
  if (!pipe.has_vision()) return pipe.plan_image(1, 1).status();
  if (params.stream.every < 1) return error(ErrorCode::invalid_argument, "--every must be at least 1");
  PowerControllerOptions po = params.power;
  po.max_threads = pipe.pool().size();  // the pipeline's own threads are the full rate
  std::optional<PowerMode> last_mode;
  int changes = 0;
  const std::function<void(const energy::PowerModeChange&)> user_trace = po.trace;
  po.trace = [&](const energy::PowerModeChange& c) {
    if (last_mode && *last_mode != c.to) ++changes;
    last_mode = c.to;
    // Re-planning minimises energy while the battery is below parallel's threshold.
    if (params.stream.replan) params.stream.replan->battery_low(c.to != PowerMode::parallel);
    if (user_trace) user_trace(c);
    if (Trace* trace = pipe.trace()) {
      char name[96];
      if (c.from == c.to) std::snprintf(name, sizeof name, "start: %s", energy::power_mode_name(c.to));
      else std::snprintf(name, sizeof name, "%s -> %s", energy::power_mode_name(c.from), energy::power_mode_name(c.to));
      const auto now = Trace::Clock::now();
      trace->slice("power", "policy", name, now, now, {{"battery %", c.level * 100}, {"alpha", c.alpha}});
    }
  };
  // The session's own setting comes back when the stream ends, however it ends.
  struct Restore {
    Pipeline& pipe;
    Residency residency;
    ~Restore() {
      (void)pipe.set_threads(std::numeric_limits<int>::max());  // the whole pool
      pipe.set_residency(residency);
    }
  } restore{pipe, pipe.params().residency};
  StreamTarget target;
  NM_ASSIGN_OR_RETURN(std::unique_ptr<PowerController> controller,
                      PowerController::create(po, battery, monitor, &target));
  last_mode = controller->mode();
  PoweredStreamStats stats;
  GatedSource gate(source, *controller, target, params.stream.every, stats);
  const auto t0 = std::chrono::steady_clock::now();
  bool first = true;
  while (!gate.done()) {
    if (target.pending()) NM_RETURN_IF_ERROR(target.put_into_effect(pipe));
    FrameStreamParams p = params.stream;
    p.every = 1;  // the gate picks the frames
    p.pipelined = params.stream.pipelined && target.mode() != PowerMode::on_demand;
    NM_ASSIGN_OR_RETURN(FrameStreamStats s, run_frame_stream(session, gate, p, [&](const FrameAnswer& a) {
      const PowerState st = gate.state_of(a.frame);
      if (a.status.ok()) ++stats.answered[static_cast<int>(st.mode)];
      if (on_answer) on_answer(a, st);
    }));
    if (first && s.asked > 0) {
      stats.stream.first_answer_ms = s.first_answer_ms;
      first = false;
    }
    stats.stream.asked += s.asked;
    stats.stream.answered += s.answered;
    stats.stream.failed += s.failed;
    stats.stream.dropped += s.dropped;
  }
  NM_RETURN_IF_ERROR(gate.status());
  if (stats.battery_empty) {
    if (po.log) po.log("battery empty: stopping");
    else std::fprintf(stderr, "nanomind: power: battery empty: stopping\n");
  }
  NM_RETURN_IF_ERROR(controller->settle());
  stats.stream.total_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  stats.mode_changes = changes;
  stats.power = controller->stats();
  if (Trace* trace = pipe.trace()) {  // what `nanomind battery --replay` reads back
    std::vector<std::pair<std::string, double>> args;
    for (int m = 0; m < 3; ++m) {
      const std::string name = energy::power_mode_name(static_cast<PowerMode>(m));
      args.emplace_back(name + " answers", stats.answered[m]);
      args.emplace_back(name + " joules", stats.power.joules[m]);
      args.emplace_back(name + " seconds", stats.power.seconds[m]);
    }
    args.emplace_back("measured", stats.power.measured ? 1 : 0);
    args.emplace_back("mode changes", changes);
    const auto now = Trace::Clock::now();
    trace->slice("power", "policy", energy::kPowerSummarySlice, now, now, args);
  }
  return stats;
}

}  // namespace nm
