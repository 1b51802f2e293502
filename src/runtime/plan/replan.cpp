// Re-planning on drift (see replan.h).
#include "runtime/plan/replan.h"

#include <algorithm>
#include <cstdio>

namespace nm::plan {

namespace {

void slow(ProfileFigure& f, double factor) {
  if (f.known()) f.value /= factor;
}

}  // namespace

DeviceProfile slowed_profile(const DeviceProfile& profile, const std::string& device, double factor) {
  DeviceProfile p = profile;
  for (ProfileDevice& d : p.devices) {
    if (d.name != device) continue;
    if (!d.read_gbps.known()) d.read_gbps = p.read_gbps;  // its own now: the board's stays for the others
    for (ProfileFigure* f : {&d.f32_gflops, &d.f16_gflops, &d.int8_gops, &d.read_gbps, &d.elementwise_gbps}) slow(*f, factor);
    for (ProfileMatmul& m : d.matmul) slow(m.gflops, factor), slow(m.read_gbps, factor);
    for (ProfileAttention& a : d.attention) slow(a.gflops, factor);
    if (d.launch_us.known()) d.launch_us.value *= factor;
    if (d.op_us.known()) d.op_us.value *= factor;
    if (d.map_us.known()) d.map_us.value *= factor;
  }
  return p;
}

Drift DriftWatch::add(const std::string& device, double predicted_s, double measured_s) {
  Streak& s = streaks_[device];
  const double ratio = predicted_s > 0 ? measured_s / predicted_s : 1;
  const int side = ratio > ratio_ ? 1 : ratio < 1 / ratio_ ? -1 : 0;
  if (side == 0 || (s.runs != 0 && (s.runs > 0) != (side > 0))) s = Streak{};
  if (side == 0) return Drift::none;
  s.bound = s.runs == 0 ? ratio : side > 0 ? std::min(s.bound, ratio) : std::max(s.bound, ratio);
  s.runs += side;
  if (s.runs >= runs_) return Drift::slowed;
  if (-s.runs >= runs_) return Drift::recovered;
  return Drift::none;
}

double DriftWatch::ratio(const std::string& device) const {
  auto it = streaks_.find(device);
  return it == streaks_.end() || it->second.runs == 0 ? 1.0 : it->second.bound;
}

Replanner::Replanner(DeviceProfile profile, std::vector<PlanBrick> bricks, PlanRequest request, Placement current,
                     ReplanOptions options)
    : original_(profile), profile_(std::move(profile)), bricks_(std::move(bricks)), request_(std::move(request)),
      current_(std::move(current)), options_(options), watch_(options.slow_ratio, options.runs_in_a_row) {}

double Replanner::slowdown(const std::string& device) const {
  auto it = slowdown_.find(device);
  return it == slowdown_.end() ? 1.0 : it->second;
}

Status Replanner::predict() {
  NM_ASSIGN_OR_RETURN(PlacementCost c, evaluate_placement(profile_, bricks_, request_.workload, current_));
  predicted_.assign(bricks_.size(), 0.0);
  for (const PartCost& pc : c.parts)
    for (size_t i = 0; i < bricks_.size(); ++i)
      if (bricks_[i].name == pc.brick) predicted_[i] += pc.seconds;
  return Status();
}

double Replanner::predicted(int brick) const {
  return brick >= 0 && static_cast<size_t>(brick) < predicted_.size() ? predicted_[(size_t)brick] : 0;
}

Result<std::optional<Replan>> Replanner::observe(int brick, double measured_s) {
  if (brick < 0 || static_cast<size_t>(brick) >= bricks_.size())
    return error(ErrorCode::invalid_argument, "observe: no such brick");
  if (!(measured_s >= 0)) return error(ErrorCode::invalid_argument, "observe: the measured time must be a number >= 0");
  if (predicted_.empty()) NM_RETURN_IF_ERROR(predict());
  const BrickPlace& place = current_.bricks[(size_t)brick];
  const std::string device = profile_.devices[(size_t)place.device].name;
  const double predicted_s = predicted_[(size_t)brick];
  Drift drift = watch_.add(device, predicted_s, measured_s);
  const double before = slowdown(device);
  // Faster than predicted only matters on a device taken to be slowed: it is recovering.
  if (drift == Drift::none || (drift == Drift::recovered && before <= 1)) return std::optional<Replan>();
  const double ratio = watch_.ratio(device);
  watch_.forget(device);
  const double after = std::max(1.0, before * ratio);
  slowdown_[device] = after;
  profile_ = original_;
  for (const auto& [name, factor] : slowdown_)
    if (factor > 1) profile_ = slowed_profile(profile_, name, factor);
  char why[256];
  if (drift == Drift::slowed) {
    std::snprintf(why, sizeof why, "%s ran %s %.2fx slower than predicted for %d runs in a row", device.c_str(),
                  bricks_[(size_t)brick].name.c_str(), ratio, options_.runs_in_a_row);
  } else {
    std::snprintf(why, sizeof why, "%s ran %s %.2fx faster than predicted for %d runs in a row (recovering: %.2fx slower than profiled now)",
                  device.c_str(), bricks_[(size_t)brick].name.c_str(), 1 / ratio, options_.runs_in_a_row, after);
  }
  NM_ASSIGN_OR_RETURN(Replan r, replan(why, /*need_gain=*/true));
  r.device = device;
  r.brick = bricks_[(size_t)brick].name;
  r.measured_s = measured_s;
  r.predicted_s = predicted_s;
  r.factor = ratio;
  return std::optional<Replan>(std::move(r));
}

Result<Replan> Replanner::replan_for_budget(double mem_budget_bytes) {
  request_.mem_budget_bytes = mem_budget_bytes;
  return replan("the memory budget is now " + (mem_budget_bytes > 0 ? bytes_text(mem_budget_bytes) : std::string("none")),
                /*need_gain=*/false);
}

Result<Replan> Replanner::replan_for_objective(Objective objective, const std::string& why) {
  request_.objective = objective;
  return replan(why + ": minimising " + objective_name(objective), /*need_gain=*/false);
}

Result<Replan> Replanner::replan(const std::string& why, bool need_gain) {
  NM_ASSIGN_OR_RETURN(PlacementCost before, evaluate_placement(profile_, bricks_, request_.workload, current_));
  Replan r;
  r.why = why;
  NM_ASSIGN_OR_RETURN(r.plan, plan_placement(profile_, bricks_, request_));
  const double stay = objective_value(before, request_.objective);
  const double best = r.plan.best.objective;
  // Hysteresis: a drift alone moves nothing for a gain within min_gain.
  const bool worth = !need_gain || !(best >= stay * (1 - options_.min_gain));
  std::string moves;
  for (size_t i = 0; i < bricks_.size() && worth; ++i) {
    if (!brick_in_workload(bricks_[i], request_.workload)) continue;
    const BrickPlace &a = current_.bricks[i], &b = r.plan.best.placement.bricks[i];
    if (a == b) continue;
    moves += (moves.empty() ? "" : ", ") + bricks_[i].name + " " + profile_.devices[(size_t)a.device].name + " -> " +
             profile_.devices[(size_t)b.device].name;
  }
  if (worth && r.plan.best.placement.residency != current_.residency)
    moves += (moves.empty() ? "" : ", ") + std::string("residency ") + residency_name(current_.residency) + " -> " +
             residency_name(r.plan.best.placement.residency);
  r.moved = !moves.empty();
  char figures[200];
  if (r.moved || !worth) {
    std::snprintf(figures, sizeof figures, " (predicted %.4g s per answer where they are, %.4g s after)", before.latency_s,
                  r.plan.best.cost.latency_s);
  } else {
    std::snprintf(figures, sizeof figures, " (predicted %.4g s per answer)", before.latency_s);
  }
  std::string stays = "the placement stays";
  if (!worth) {
    char gain[120];
    std::snprintf(gain, sizeof gain, " (a move would gain %.0f%%, not over %.0f%%)", 100 * (1 - best / stay),
                  100 * options_.min_gain);
    stays += gain;
  }
  r.line = "re-plan: " + why + ": " + (r.moved ? moves + " at the next input" : stays) + figures;
  if (worth) {
    current_ = r.plan.best.placement;
  } else {  // the plan the caller follows is where the bricks are
    r.plan.best.placement = current_;
    r.plan.best.cost = before;
    r.plan.best.objective = stay;
  }
  NM_RETURN_IF_ERROR(predict());
  return r;
}

}  // namespace nm::plan
