// The power policy applied to a running assistant (see power_controller.h).
#include "runtime/power_controller.h"

#include <chrono>
#include <cmath>
#include <cstdio>

namespace nm {

using energy::PowerMode;

namespace {

int mode_index(PowerMode m) { return static_cast<int>(m); }

std::string level_text(double level) {
  if (!std::isfinite(level)) return "no battery";
  char buf[32];
  std::snprintf(buf, sizeof buf, "battery %.1f%%", level * 100);
  return buf;
}

}  // namespace

Result<std::unique_ptr<PowerController>> PowerController::create(const PowerControllerOptions& o,
                                                                 energy::BatterySource* battery,
                                                                 energy::EnergyMonitor* monitor, PowerTarget* target) {
  if (!target) return error(ErrorCode::invalid_argument, "power controller: no target to drive");
  if (o.max_threads < 1) return error(ErrorCode::invalid_argument, "power controller: max_threads must be at least 1");
  if (!(o.full_rate_interval_s >= 0)) return error(ErrorCode::invalid_argument, "power controller: negative frame interval");
  NM_ASSIGN_OR_RETURN(energy::PowerPolicy policy, energy::PowerPolicy::create(o.policy));
  std::unique_ptr<PowerController> c(new PowerController(o, std::move(policy)));
  c->battery_ = battery;
  c->monitor_ = monitor;
  c->target_ = target;
  c->level_ = NAN;
  if (monitor) {
    c->span_ = monitor->begin();
    c->span_start_ = c->now();
  }
  NM_RETURN_IF_ERROR(c->refresh());
  return c;
}

Result<std::unique_ptr<PowerController>> PowerController::create(const PowerControllerOptions& o,
                                                                 energy::BatterySource* battery,
                                                                 energy::EnergyMonitor* monitor, AssistantTarget* target) {
  NM_ASSIGN_OR_RETURN(std::unique_ptr<PowerController> c, create(o, battery, monitor, static_cast<PowerTarget*>(target)));
  c->assistant_ = target;
  return c;
}

PowerController::~PowerController() = default;

double PowerController::now() const {
  if (options_.clock) return options_.clock();
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

void PowerController::log(const std::string& line) const {
  if (options_.log) options_.log(line);
  else std::fprintf(stderr, "nanomind: power: %s\n", line.c_str());
}

Status PowerController::account_energy() {
  if (!monitor_ || !span_.open()) return Status::ok_status();
  Result<energy::EnergyReading> r = span_.finish();
  const double t = now();
  const int m = mode_index(policy_.mode());
  stats_.seconds[m] += t - span_start_;
  if (r.ok()) {
    stats_.joules[m] += r->joules;
    stats_.measured = r->measured;
    if (battery_) battery_->consume(r->joules);  // a real battery ignores it; a simulated one drains
  }
  span_ = monitor_->begin();
  span_start_ = t;
  return Status::ok_status();
}

Status PowerController::refresh() {
  NM_RETURN_IF_ERROR(account_energy());
  double level = NAN;
  bool external = false;
  if (battery_) {
    Result<energy::BatteryState> st = battery_->read();
    if (st.ok()) {
      level = st->level;
      external = st->status == energy::BatteryStatus::charging || st->status == energy::BatteryStatus::full;
    } else {
      log("cannot read the battery (" + st.status().message() + "); keeping the current mode");
      if (applied_) return Status::ok_status();
    }
  }
  level_ = level;
  const PowerMode before = policy_.mode();
  const int threads_before = policy_.threads(options_.max_threads);
  const size_t changes_before = policy_.changes().size();
  const PowerMode mode = policy_.update(level, external, now());
  const int threads = policy_.threads(options_.max_threads);
  if (applied_ && mode == before && threads == threads_before) return Status::ok_status();
  NM_RETURN_IF_ERROR(target_->apply(mode, threads));
  char buf[160];
  if (!applied_) {
    std::snprintf(buf, sizeof buf, "starting in %s mode (%s, %d thread%s)", energy::power_mode_name(mode),
                  level_text(level).c_str(), threads, threads == 1 ? "" : "s");
    log(buf);
  } else if (mode != before) {
    std::snprintf(buf, sizeof buf, "%s -> %s (%s, alpha %.2f, %d thread%s)", energy::power_mode_name(before),
                  energy::power_mode_name(mode), level_text(level).c_str(), policy_.alpha(), threads,
                  threads == 1 ? "" : "s");
    log(buf);
  }
  if (options_.trace)
    for (size_t i = changes_before; i < policy_.changes().size(); ++i) options_.trace(policy_.changes()[i]);
  applied_ = true;
  return Status::ok_status();
}

Status PowerController::handle(const WakeEvent& e) {
  if (!assistant_) return error(ErrorCode::invalid_argument, "power controller: this target answers no wake events");
  NM_RETURN_IF_ERROR(refresh());
  const PowerMode mode = policy_.mode();
  switch (e.kind) {
    case WakeEvent::Kind::file: {
      last_frame_ = e.text;
      if (mode == PowerMode::on_demand) return Status::ok_status();  // encoded only when asked about
      const double interval = policy_.frame_interval_s(options_.full_rate_interval_s);
      const double t = now();
      if (interval > 0 && t - last_frame_t_ < interval) {
        ++stats_.frames_skipped;
        return Status::ok_status();
      }
      last_frame_t_ = t;
      ++stats_.frames_taken;
      return assistant_->frame(e.text);
    }
    case WakeEvent::Kind::line:
    case WakeEvent::Kind::notify: {
      if (e.text.empty()) return Status::ok_status();
      NM_RETURN_IF_ERROR(assistant_->answer(e.text, last_frame_, mode == PowerMode::on_demand));
      ++stats_.answers[mode_index(mode)];
      return account_energy();  // drain the battery by the answer before the next decision
    }
    case WakeEvent::Kind::end_of_input:
    case WakeEvent::Kind::timeout:
      return Status::ok_status();
  }
  return Status::ok_status();
}

Status PowerController::run(WakeEvents& events, int max_events) {
  for (int handled = 0; max_events <= 0 || handled < max_events;) {
    NM_RETURN_IF_ERROR(refresh());
    if (std::isfinite(level_) && level_ <= 0) {
      log("battery empty: stopping");
      return Status::ok_status();
    }
    NM_ASSIGN_OR_RETURN(WakeEvent e, events.wait(-1));  // blocks: no CPU time while idle
    if (e.kind == WakeEvent::Kind::end_of_input) return Status::ok_status();
    NM_RETURN_IF_ERROR(handle(e));
    ++handled;
  }
  return Status::ok_status();
}

}  // namespace nm
