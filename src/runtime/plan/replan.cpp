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
    for (ProfileMatmul& m : d.matmul) slow(m.gflops, factor);
    for (ProfileAttention& a : d.attention) slow(a.gflops, factor);
    if (d.launch_us.known()) d.launch_us.value *= factor;
    if (d.map_us.known()) d.map_us.value *= factor;
  }
  return p;
}

bool DriftWatch::add(const std::string& device, double predicted_s, double measured_s) {
  Streak& s = streaks_[device];
  const double ratio = predicted_s > 0 ? measured_s / predicted_s : 0;
  if (!(ratio > ratio_)) {
    s = Streak{};
    return false;
  }
  s.least = s.runs == 0 ? ratio : std::min(s.least, ratio);
  return ++s.runs >= runs_;
}

double DriftWatch::slowdown(const std::string& device) const {
  auto it = streaks_.find(device);
  return it == streaks_.end() || it->second.runs == 0 ? 1.0 : it->second.least;
}

Replanner::Replanner(DeviceProfile profile, std::vector<PlanBrick> bricks, PlanRequest request, Placement current)
    : profile_(std::move(profile)), bricks_(std::move(bricks)), request_(std::move(request)), current_(std::move(current)) {}

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
  if (predicted_.empty()) NM_RETURN_IF_ERROR(predict());
  const std::string device = profile_.devices[(size_t)current_.bricks[(size_t)brick].device].name;
  if (!watch_.add(device, predicted_[(size_t)brick], measured_s)) return std::optional<Replan>();
  const double factor = watch_.slowdown(device);
  watch_.forget(device);
  profile_ = slowed_profile(profile_, device, factor);
  char why[256];
  std::snprintf(why, sizeof why, "%s ran %s %.2fx slower than predicted for 3 runs in a row", device.c_str(),
                bricks_[(size_t)brick].name.c_str(), factor);
  NM_ASSIGN_OR_RETURN(Replan r, replan(why));
  return std::optional<Replan>(std::move(r));
}

Result<Replan> Replanner::replan_for_budget(double mem_budget_bytes) {
  request_.mem_budget_bytes = mem_budget_bytes;
  return replan("the memory budget is now " + (mem_budget_bytes > 0 ? bytes_text(mem_budget_bytes) : std::string("none")));
}

Result<Replan> Replanner::replan(const std::string& why) {
  NM_ASSIGN_OR_RETURN(PlacementCost before, evaluate_placement(profile_, bricks_, request_.workload, current_));
  Replan r;
  NM_ASSIGN_OR_RETURN(r.plan, plan_placement(profile_, bricks_, request_));
  std::string moves;
  for (size_t i = 0; i < bricks_.size(); ++i) {
    if (!brick_in_workload(bricks_[i], request_.workload)) continue;
    const BrickPlace &a = current_.bricks[i], &b = r.plan.best.placement.bricks[i];
    if (a == b) continue;
    moves += (moves.empty() ? "" : ", ") + bricks_[i].name + " " + profile_.devices[(size_t)a.device].name + " -> " +
             profile_.devices[(size_t)b.device].name;
  }
  if (r.plan.best.placement.residency != current_.residency)
    moves += (moves.empty() ? "" : ", ") + std::string("residency ") + residency_name(current_.residency) + " -> " +
             residency_name(r.plan.best.placement.residency);
  r.moved = !moves.empty();
  char figures[160];
  std::snprintf(figures, sizeof figures, " (predicted %.4g s per answer where they are, %.4g s after)", before.latency_s,
                r.plan.best.cost.latency_s);
  r.line = "re-plan: " + why + ": " + (r.moved ? moves + " at the next input" + figures : "the placement stays" + std::string(figures));
  current_ = r.plan.best.placement;
  NM_RETURN_IF_ERROR(predict());
  return r;
}

}  // namespace nm::plan
