// Re-planning wired into a camera stream (see stream_replan.h).
#include "runtime/stream_replan.h"

#include <algorithm>
#include <cstdio>

#include "runtime/plan/plan_bricks.h"

namespace nm {

namespace {

int profile_index(const DeviceProfile& p, const std::string& name) {
  for (size_t i = 0; i < p.devices.size(); ++i)
    if (p.devices[i].name == name) return static_cast<int>(i);
  return -1;
}

// The kind a device name has in a profile ("cpu" for CPU clusters, else the GPU).
std::string kind_of(const std::string& name) { return name == "cpu" || name.rfind("cpu:", 0) == 0 ? "cpu" : "gpu"; }

// Adds `name` to the profile as a copy of its first device of the same kind; error if none.
Status add_like(DeviceProfile& p, const std::string& name, std::vector<std::string>& notes) {
  const std::string kind = kind_of(name);
  for (const ProfileDevice& d : p.devices) {
    if (d.kind != kind) continue;
    ProfileDevice copy = d;
    copy.name = name;
    notes.push_back("re-planning: the profile '" + p.name + "' names no " + name + ": taken as its " + d.name +
                    " (an estimate)");
    p.devices.push_back(std::move(copy));
    return Status();
  }
  return error(ErrorCode::invalid_argument, "re-planning: the profile '" + p.name + "' names no " + name +
                                                " and no device of its kind (" + kind + ")");
}

}  // namespace

Result<std::unique_ptr<StreamReplan>> StreamReplan::create(Pipeline& pipeline, StreamReplanParams params) {
  if (params.warmup_runs < 0 || params.reference_runs < 1)
    return error(ErrorCode::invalid_argument, "re-planning: warm-up runs must be >= 0 and reference runs >= 1");
  if (!(params.options.slow_ratio > 1) || params.options.runs_in_a_row < 1 || !(params.options.min_gain >= 0))
    return error(ErrorCode::invalid_argument, "re-planning: the slow ratio must be over 1, the runs in a row at least 1, "
                                              "the least gain >= 0");
  std::unique_ptr<StreamReplan> s(new StreamReplan(pipeline, std::move(params)));
  StreamReplanParams& p = s->params_;
  std::vector<std::string> notes;
  std::vector<std::string> needed = p.devices;
  for (const std::string& n : {pipeline.vision_device_name(), pipeline.text_device_name()}) needed.push_back(n);
  for (const std::string& n : needed)
    if (profile_index(p.profile, n) < 0) NM_RETURN_IF_ERROR(add_like(p.profile, n, notes));
  for (const std::string& n : notes) s->log(n);
  const PipelineModels& models = pipeline.models();
  energy::EventShape shape;
  shape.prompt_tokens = p.prompt_tokens;
  shape.answer_tokens = p.answer_tokens;
  NM_ASSIGN_OR_RETURN(std::vector<plan::PlanBrick> bricks,
                      plan::bricks_from_files(models.text->file(), models.vision ? &models.vision->file() : nullptr,
                                              shape, nullptr));
  plan::PlanRequest req;
  req.workload.kind = models.vision ? plan::WorkloadKind::camera_stream : plan::WorkloadKind::text_question;
  req.workload.frames = 20;
  req.objective = p.objective;
  req.residency = pipeline.params().residency == Residency::keep ? plan::Residency::keep : plan::Residency::on_demand;
  plan::Placement current;
  current.residency = *req.residency;
  for (size_t i = 0; i < bricks.size(); ++i) {
    const bool vision = bricks[i].name == "vision";
    const std::string name = vision ? pipeline.vision_device_name() : pipeline.text_device_name();
    const int d = profile_index(p.profile, name);
    if (d < 0 || (!models.vision && vision)) return error(ErrorCode::internal, "re-planning: no place for " + name);
    current.bricks.push_back(plan::BrickPlace{d, -1, 0});
    (vision ? s->vision_ : s->text_).index = static_cast<int>(i);
  }
  for (const std::string& name : p.devices) req.devices.push_back(profile_index(p.profile, name));
  for (const plan::BrickPlace& b : current.bricks)
    if (!req.devices.empty() && std::find(req.devices.begin(), req.devices.end(), b.device) == req.devices.end())
      req.devices.push_back(b.device);
  std::sort(req.devices.begin(), req.devices.end());
  s->objective_ = p.objective;
  s->replanner_.emplace(p.profile, std::move(bricks), req, current, p.options);
  NM_RETURN_IF_ERROR(s->replanner_->predict());
  return s;
}

StreamReplan::BrickState* StreamReplan::state(BrickKind kind) {
  BrickState* b = kind == BrickKind::vision ? &vision_ : kind == BrickKind::text ? &text_ : nullptr;
  return b && b->index >= 0 ? b : nullptr;
}

void StreamReplan::log(const std::string& line) const {
  if (params_.log) params_.log(line);
  else std::fprintf(stderr, "nanomind: %s\n", line.c_str());
}

void StreamReplan::observe(BrickKind kind, double seconds, uint64_t frame, bool overlapped) {
  std::lock_guard<std::mutex> lock(mu_);
  BrickState* b = state(kind);
  if (!b || stopped_) return;
  if (b->runs_here++ < params_.warmup_runs || !(seconds > 0)) return;
  const double predicted = replanner_->predicted(b->index);
  if (!(predicted > 0)) return;
  if ((int)b->reference.size() < params_.reference_runs) {  // the brick's scale on this machine
    b->reference.push_back(seconds / predicted);
    if ((int)b->reference.size() == params_.reference_runs) {
      std::vector<double> r = b->reference;
      std::nth_element(r.begin(), r.begin() + (std::ptrdiff_t)(r.size() / 2), r.end());
      b->scale = r[r.size() / 2];  // the median: one lucky or unlucky run does not set it
    }
    return;
  }
  // Overlapped (a pipelined stream), a brick that shares its device with the other waits
  // for the other's runs, and its measured time includes them.
  const plan::Placement& now = replanner_->placement();
  double expected = predicted * b->scale;
  for (BrickState* o : {&vision_, &text_}) {
    if (o == b || o->index < 0 || !overlapped) continue;
    if (now.bricks[(size_t)o->index].device != now.bricks[(size_t)b->index].device) continue;
    if (!(o->scale > 0)) return;  // its share is not known yet
    expected += replanner_->predicted(o->index) * o->scale;
  }
  const plan::Placement before = now;
  Result<std::optional<plan::Replan>> r = replanner_->observe(b->index, seconds * predicted / expected);
  if (!r.ok()) {
    stopped_ = true;
    log("re-plan: stopped (" + r.status().to_string() + "); the bricks stay where they are");
    return;
  }
  if (!r->has_value()) return;
  ReplanEvent e;
  e.measured_s = seconds;
  e.expected_s = expected;
  e.frame = frame;
  e.device = (*r)->device;
  e.brick = (*r)->brick;
  record(std::move(e), std::move(**r), before);
}

void StreamReplan::battery_low(bool low) {
  std::lock_guard<std::mutex> lock(mu_);
  const plan::Objective want = low ? plan::Objective::energy : params_.objective;
  if (stopped_ || want == objective_) return;
  objective_ = want;
  const plan::Placement before = replanner_->placement();
  Result<plan::Replan> r = replanner_->replan_for_objective(want, low ? "the battery is low" : "the battery is no longer low");
  if (!r.ok()) {  // e.g. a profile without power figures: the placement stays
    log("re-plan: " + r.status().to_string() + "; the bricks stay where they are");
    return;
  }
  record(ReplanEvent{}, std::move(r).value(), before);
}

void StreamReplan::record(ReplanEvent e, plan::Replan r, const plan::Placement& before) {
  e.line = r.line;
  e.why = r.why;
  const DeviceProfile& profile = replanner_->profile();
  const plan::Placement& now = replanner_->placement();
  for (BrickState* b : {&vision_, &text_}) {
    if (b->index < 0) continue;
    const int from = before.bricks[(size_t)b->index].device, to = now.bricks[(size_t)b->index].device;
    if (from == to) continue;
    b->target = profile.devices[(size_t)to].name;
    e.moves.push_back({replanner_->bricks()[(size_t)b->index].name, profile.devices[(size_t)from].name, b->target});
  }
  log(e.line);
  if (Trace* trace = pipe_.trace()) {
    std::string name = "replan: ";
    for (const BrickMove& m : e.moves) name += m.brick + " " + m.from + " -> " + m.to + ", ";
    name += e.moves.empty() ? "the placement stays (" + e.why + ")" : "because " + e.why;
    const auto now_t = Trace::Clock::now();
    trace->slice("planner", "replan", name, now_t, now_t,
                 {{"measured s", e.measured_s}, {"expected s", e.expected_s}, {"frame", (double)e.frame}});
  }
  events_.push_back(std::move(e));
}

bool StreamReplan::apply_move(BrickKind kind) {
  std::string to;
  {
    std::lock_guard<std::mutex> lock(mu_);
    BrickState* b = state(kind);
    if (!b || stopped_ || b->target.empty()) return false;
    to = std::move(b->target);
    b->target.clear();
  }
  const bool vision = kind == BrickKind::vision;
  const std::string from = vision ? pipe_.vision_device_name() : pipe_.text_device_name();
  if (from == to) return false;
  const auto t0 = Trace::Clock::now();
  // Only this thread runs the brick: it is idle here, between two of its runs.
  const Status st = vision ? pipe_.move_vision(to) : pipe_.move_text(to);
  std::lock_guard<std::mutex> lock(mu_);
  const std::string brick = vision ? "vision" : "text";
  if (!st.ok()) {
    stopped_ = true;
    log("re-plan: cannot move the " + brick + " brick from " + from + " to " + to + " (" + st.to_string() +
        "); it stays, and re-planning stops");
    return false;
  }
  state(kind)->runs_here = 0;  // its next run prepares its graphs there: a warm-up
  ++moves_done_;
  if (!events_.empty()) events_.back().done.push_back({brick, from, to});
  if (Trace* trace = pipe_.trace()) trace->slice(to, brick, "moved here from " + from, t0, Trace::Clock::now());
  return true;
}

std::vector<ReplanEvent> StreamReplan::events() const {
  std::lock_guard<std::mutex> lock(mu_);
  return events_;
}

int StreamReplan::moves_done() const {
  std::lock_guard<std::mutex> lock(mu_);
  return moves_done_;
}

std::string StreamReplan::placement() const {
  std::lock_guard<std::mutex> lock(mu_);
  return plan::placement_text(replanner_->profile(), replanner_->bricks(), replanner_->placement());
}

}  // namespace nm
