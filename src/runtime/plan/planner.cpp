// Exhaustive placement search (see planner.h).
#include "runtime/plan/planner.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <map>
#include <tuple>

namespace nm::plan {

namespace {

// Placements that differ only in split points share a key: the runner-up is the best
// placement with another key (other devices or residency), not the same one split elsewhere.
using PlacementKey = std::vector<int>;
PlacementKey key_of(const Placement& p) {
  PlacementKey k{static_cast<int>(p.residency)};
  for (const BrickPlace& b : p.bricks) k.push_back(b.device), k.push_back(b.second);
  return k;
}

bool same_value(double a, double b) { return std::fabs(a - b) <= 1e-9 * std::max(std::fabs(a), std::fabs(b)); }

bool better(const PlanChoice& a, const PlanChoice& b) {
  if (!same_value(a.objective, b.objective)) return a.objective < b.objective;
  return preferred_at_tie(a, b);
}

std::vector<BrickPlace> options_for(const PlanBrick& b, const std::vector<int>& devices, bool in_workload,
                                    bool allow_split) {
  std::vector<BrickPlace> out;
  if (!in_workload) return {BrickPlace{devices.front(), -1, 0}};
  for (int d : devices) out.push_back(BrickPlace{d, -1, 0});
  if (allow_split && b.layers >= 2)
    for (int d1 : devices)
      for (int d2 : devices)
        if (d1 != d2)
          for (int s = 1; s < b.layers; ++s) out.push_back(BrickPlace{d1, d2, s});
  return out;
}

}  // namespace

bool preferred_at_tie(const PlanChoice& a, const PlanChoice& b) {
  const bool a_known = std::isfinite(a.secondary), b_known = std::isfinite(b.secondary);
  if (a_known != b_known) return a_known;
  if (a_known && !same_value(a.secondary, b.secondary)) return a.secondary < b.secondary;
  if (a.cost.peak_bytes != b.cost.peak_bytes) return a.cost.peak_bytes < b.cost.peak_bytes;
  if (a.placement.residency != b.placement.residency) return a.placement.residency == Residency::keep;
  auto splits = [](const Placement& p) {
    return std::count_if(p.bricks.begin(), p.bricks.end(), [](const BrickPlace& x) { return x.is_split(); });
  };
  if (splits(a.placement) != splits(b.placement)) return splits(a.placement) < splits(b.placement);
  for (size_t i = 0; i < a.placement.bricks.size() && i < b.placement.bricks.size(); ++i) {
    const BrickPlace &x = a.placement.bricks[i], &y = b.placement.bricks[i];
    if (std::tie(x.device, x.second, x.split) != std::tie(y.device, y.second, y.split))
      return std::tie(x.device, x.second, x.split) < std::tie(y.device, y.second, y.split);
  }
  return false;
}

Result<PlanResult> plan_placement(const DeviceProfile& profile, const std::vector<PlanBrick>& bricks,
                                  const PlanRequest& req) {
  if (bricks.empty()) return error(ErrorCode::invalid_argument, "nothing to place: the pipeline has no bricks");
  if (profile.devices.empty()) return error(ErrorCode::invalid_argument, "profile " + profile.name + " has no devices");
  if (!(req.mem_budget_bytes >= 0)) return error(ErrorCode::invalid_argument, "the memory budget must be >= 0");
  std::vector<int> devices = req.devices;
  if (devices.empty())
    for (int i = 0; i < static_cast<int>(profile.devices.size()); ++i) devices.push_back(i);
  for (int d : devices)
    if (d < 0 || d >= static_cast<int>(profile.devices.size()))
      return error(ErrorCode::invalid_argument, "device index out of range");

  std::vector<std::vector<BrickPlace>> options;
  double space = 1;
  for (const PlanBrick& b : bricks) {
    options.push_back(options_for(b, devices, brick_in_workload(b, req.workload), req.allow_split));
    space *= static_cast<double>(options.back().size());
  }
  std::vector<Residency> residencies;
  if (req.residency) residencies.push_back(*req.residency);
  else residencies = {Residency::keep, Residency::on_demand};
  space *= static_cast<double>(residencies.size());
  if (space > kMaxCandidates) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "%.3g placements to search is above the planner's limit of %.3g", space, kMaxCandidates);
    return error(ErrorCode::invalid_argument, std::string(buf) + " (fewer devices, or no --allow-split)");
  }

  PlanResult r;
  std::map<PlacementKey, PlanChoice> best_per_key;
  std::optional<PlanChoice> smallest;  // the least peak memory seen, for an infeasible budget
  std::vector<size_t> at(bricks.size(), 0);
  PartCache parts;
  for (Residency res : residencies) {
    std::fill(at.begin(), at.end(), 0);
    for (;;) {
      PlanChoice c;
      c.placement.residency = res;
      for (size_t i = 0; i < bricks.size(); ++i) c.placement.bricks.push_back(options[i][at[i]]);
      NM_ASSIGN_OR_RETURN(c.cost, evaluate_placement(profile, bricks, req.workload, c.placement, &parts));
      c.objective = objective_value(c.cost, req.objective);
      c.secondary = req.objective == Objective::latency ? c.cost.energy_j : c.cost.latency_s;
      if (req.objective != Objective::latency && !c.cost.has_energy())
        return error(ErrorCode::invalid_argument,
                     "profile " + profile.name + " states no power for some of its devices (or the board's idle power): "
                     "--objective " + objective_name(req.objective) + " needs them (latency does not)");
      ++r.candidates;
      if (!smallest || c.cost.peak_bytes < smallest->cost.peak_bytes) smallest = c;
      if (req.mem_budget_bytes > 0 && c.cost.peak_bytes > req.mem_budget_bytes) {
        ++r.over_budget;
      } else {
        auto [it, fresh] = best_per_key.emplace(key_of(c.placement), c);
        if (!fresh && better(c, it->second)) it->second = std::move(c);
      }
      size_t i = 0;
      while (i < at.size() && ++at[i] == options[i].size()) at[i++] = 0;
      if (i == at.size()) break;
    }
  }
  if (best_per_key.empty())
    return error(ErrorCode::out_of_range,
                 "no placement fits the memory budget of " + bytes_text(req.mem_budget_bytes) +
                     ": the smallest feasible budget is " + bytes_text(smallest->cost.peak_bytes) + " (" +
                     std::to_string(static_cast<int64_t>(std::ceil(smallest->cost.peak_bytes))) + " bytes: " +
                     placement_text(profile, bricks, smallest->placement) + ")");
  // Linear scans, not a sort: equality within a tolerance is not a strict weak order.
  const PlanChoice* best = nullptr;
  for (const auto& [k, c] : best_per_key)
    if (!best || better(c, *best)) best = &c;
  const PlanChoice* second = nullptr;
  for (const auto& [k, c] : best_per_key)
    if (&c != best && (!second || better(c, *second))) second = &c;
  r.best = *best;
  if (second) r.runner_up = *second;
  return r;
}

std::string bytes_text(double b) {
  char buf[64];
  if (b >= 1024.0 * 1024 * 1024) std::snprintf(buf, sizeof buf, "%.2f GiB", b / (1024.0 * 1024 * 1024));
  else if (b >= 1024.0 * 1024) std::snprintf(buf, sizeof buf, "%.1f MiB", b / (1024.0 * 1024));
  else if (b >= 1024.0) std::snprintf(buf, sizeof buf, "%.1f KiB", b / 1024.0);
  else std::snprintf(buf, sizeof buf, "%.0f B", b);
  return buf;
}

Result<double> parse_bytes(std::string_view t) {
  const std::string text(t);
  double v = 0;
  auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  std::string_view unit(end, static_cast<size_t>(t.data() + t.size() - end));
  static const std::pair<std::string_view, double> kUnits[] = {
      {"", 1},          {"B", 1},          {"K", 1024.0},     {"KiB", 1024.0},  {"KB", 1e3},
      {"M", 1048576.0}, {"MiB", 1048576.0}, {"MB", 1e6},      {"G", 1073741824.0}, {"GiB", 1073741824.0},
      {"GB", 1e9}};
  if (ec == std::errc() && std::isfinite(v) && v > 0) {
    for (const auto& [name, scale] : kUnits)
      if (unit == name && v * scale <= 1e15) return v * scale;
  }
  return error(ErrorCode::invalid_argument,
               "size '" + text + "': expected a positive number with an optional unit (B, K/KiB, M/MiB, G/GiB, KB, MB, GB), "
               "e.g. 1.5G or 800MB, at most 1 PB");
}

}  // namespace nm::plan
