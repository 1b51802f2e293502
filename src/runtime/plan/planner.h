// The planner (issue 15 item 4): chooses each brick's device -- and, when allowed, a split
// of a layered brick (text) over two devices -- and the residency, minimising latency,
// energy or their product (edp) under a memory budget, from a device profile and the
// bricks' work (plan_model.h says how a placement is costed).
//
// The search is exhaustive: every device for every brick, every ordered pair of devices and
// every split point for a splittable brick, both residencies. That is at most
// 2 x prod(D + D(D-1)(L-1)) candidates (4 bricks on 4 devices with a 24-layer text brick:
// 2 x 4^3 x 280 = 35,840, about 10 ms), so no shortcut is needed at the sizes boards have;
// a space above kMaxCandidates is refused rather than searched approximately.
// The choice is deterministic: the lowest objective; within a relative 1e-9 (a tie), the
// lower secondary figure (energy when minimising latency, else latency), then the smaller
// peak memory, then keep before on-demand, then fewer splits, then the earlier devices in
// the profile's order.
// Thread-safety: plain functions.
#pragma once

#include <cstdint>
#include <optional>

#include "runtime/plan/plan_model.h"

namespace nm::plan {

inline constexpr double kMaxCandidates = 5e6;

struct PlanRequest {
  Workload workload;
  Objective objective = Objective::latency;
  double mem_budget_bytes = 0;   // 0: no budget
  bool allow_split = false;      // consider splitting layered bricks over two devices
  std::optional<Residency> residency;  // fixed residency, or the planner chooses
  // Devices the planner may use (indices into the profile's devices); empty: all.
  std::vector<int> devices;
};

struct PlanChoice {
  Placement placement;
  PlacementCost cost;
  double objective = 0;
  double secondary = 0;  // breaks ties: energy for latency, latency for energy and edp (NaN last)
};

struct PlanResult {
  PlanChoice best;
  std::optional<PlanChoice> runner_up;  // the best placement on other devices or residency
  int64_t candidates = 0;               // placements costed
  int64_t over_budget = 0;              // of them, refused by the memory budget
};

// The best placement. Errors: a budget no placement fits ("... the smallest feasible is X"),
// an energy objective on a profile without power figures, a search space over the limit.
Result<PlanResult> plan_placement(const DeviceProfile& profile, const std::vector<PlanBrick>& bricks,
                                  const PlanRequest& request);

// The order plan_placement breaks ties in: true when `a` is preferred to `b` at equal objective.
bool preferred_at_tie(const PlanChoice& a, const PlanChoice& b);

// "1.50 GiB", "640 MiB", "12.0 KiB", "17 B".
std::string bytes_text(double bytes);
// "2G", "1.5GiB", "512M", "800MB", "4096" (bytes): binary units for K/M/G with or without
// "iB", decimal for "KB"/"MB"/"GB".
Result<double> parse_bytes(std::string_view text);

}  // namespace nm::plan
