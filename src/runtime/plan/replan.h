// Re-planning when reality drifts from the plan (issue 15 item 8, the decision half): the
// executor reports each brick run's measured time beside the cost model's prediction; a
// device that runs over `slow_ratio` (1.5: "more than 50% slower") times its predictions for
// `runs_in_a_row` (3) runs in a row counts as slowed (busy with another process, thermally
// throttled), by the least ratio of that streak. The planner then plans again on the profile
// with that device's rates divided by the slowdown, and says what moves and why in one line.
// A memory budget change re-plans the same way (replan_for_budget).
// Not wired into the executor yet: moving a brick between devices mid-stream needs the
// pipeline to re-place a brick at a frame boundary, which it cannot do today.
// Thread-safety: a Replanner is used by one thread (the executor's); plain functions otherwise.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "runtime/plan/planner.h"

namespace nm::plan {

// The profile as it would be with `device` `factor` times slower: every throughput and
// bandwidth figure of the device divided by it, its launch cost multiplied.
DeviceProfile slowed_profile(const DeviceProfile& profile, const std::string& device, double factor);

class DriftWatch {
 public:
  explicit DriftWatch(double slow_ratio = 1.5, int runs_in_a_row = 3) : ratio_(slow_ratio), runs_(runs_in_a_row) {}
  // One run on `device`. True when it completes a streak of slow runs (the device is slowed).
  bool add(const std::string& device, double predicted_s, double measured_s);
  // The least measured / predicted ratio of the device's current streak (1 if none).
  double slowdown(const std::string& device) const;
  void forget(const std::string& device) { streaks_.erase(device); }

 private:
  struct Streak {
    int runs = 0;
    double least = 0;
  };
  double ratio_;
  int runs_;
  std::map<std::string, Streak> streaks_;
};

struct Replan {
  PlanResult plan;
  std::string line;  // "re-plan: text ran 3.0x slower than predicted on cpu:1 for 3 runs: text cpu:1 -> cpu:0 ..."
  bool moved = false;
};

class Replanner {
 public:
  Replanner(DeviceProfile profile, std::vector<PlanBrick> bricks, PlanRequest request, Placement current);

  // Reports one run of brick `brick` (index into the bricks) that took `measured_s`. When the
  // run completes a slow streak, returns the new plan (moved = whether any brick changes
  // device); the caller moves the bricks at the next input boundary.
  Result<std::optional<Replan>> observe(int brick, double measured_s);
  // The predicted seconds of one run of `brick` where the current placement puts it.
  double predicted(int brick) const;
  // The memory budget changed: plans again under it.
  Result<Replan> replan_for_budget(double mem_budget_bytes);

  const Placement& placement() const { return current_; }
  const DeviceProfile& profile() const { return profile_; }

 private:
  Result<Replan> replan(const std::string& why);
  Status predict();

  DeviceProfile profile_;  // with every slowdown seen so far folded in
  std::vector<PlanBrick> bricks_;
  PlanRequest request_;
  Placement current_;
  std::vector<double> predicted_;  // per brick, one run (all its work items) where it is placed
  DriftWatch watch_;
};

}  // namespace nm::plan
