// Re-planning when reality drifts from the plan (issue 15 item 8): the executor reports each
// brick run's measured time beside the cost model's prediction (runtime/stream_replan.h
// does, for a camera stream); a device that runs over `slow_ratio` (1.5: "more than 50%
// slower") times its predictions for `runs_in_a_row` (3) runs in a row counts as slowed
// (busy with another process, thermally throttled), by the least ratio of that streak. The
// planner then plans again on the profile with that device's rates divided by the slowdown,
// and says what moves and why in one line. A memory budget change re-plans the same way
// (replan_for_budget), and so does a new objective (replan_for_objective: a low battery).
//
// Hysteresis, so that a device that wobbles or recovers does not make bricks flap:
//   - a streak needs `runs_in_a_row` runs on the same side; one normal run ends it;
//   - a slowed device that then runs under 1 / slow_ratio of its (slowed) predictions for
//     `runs_in_a_row` runs counts as recovered by the greatest ratio of that streak (never
//     faster than the profile says);
//   - a drift re-plan moves bricks only when the new placement's objective beats the
//     current one's by more than `min_gain` (10%) on the updated profile: a recovered device
//     that is merely as good as where the bricks now are does not draw them back.
// Thread-safety: a Replanner is used by one thread at a time; plain functions otherwise.
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

struct ReplanOptions {
  double slow_ratio = 1.5;  // measured / predicted over this is a slow run (under its inverse: a fast one)
  int runs_in_a_row = 3;
  double min_gain = 0.1;    // a drift moves bricks only for a predicted gain over this fraction
};

enum class Drift { none, slowed, recovered };

class DriftWatch {
 public:
  explicit DriftWatch(double slow_ratio = 1.5, int runs_in_a_row = 3) : ratio_(slow_ratio), runs_(runs_in_a_row) {}
  // One run on `device`. `slowed` when it completes a streak of slow runs, `recovered` when
  // it completes a streak of fast ones (under 1 / slow_ratio).
  Drift add(const std::string& device, double predicted_s, double measured_s);
  // The least measured / predicted ratio of the device's current slow streak, or the
  // greatest of its fast streak (1 if none).
  double ratio(const std::string& device) const;
  void forget(const std::string& device) { streaks_.erase(device); }

 private:
  struct Streak {
    int runs = 0;       // > 0: slow runs in a row; < 0: fast runs in a row
    double bound = 1;   // least ratio of a slow streak, greatest of a fast one
  };
  double ratio_;
  int runs_;
  std::map<std::string, Streak> streaks_;
};

struct Replan {
  PlanResult plan;
  std::string line;  // "re-plan: cpu:1 ran text 3.00x slower than predicted for 3 runs in a row: text cpu:1 -> cpu:0 ..."
  bool moved = false;
  std::string why;   // the part of the line before the moves
  // The drift that caused it (observe): the device, the brick whose run completed the
  // streak, and that run's measured and predicted seconds; factor = the streak's ratio.
  std::string device, brick;
  double measured_s = 0, predicted_s = 0, factor = 1;
};

class Replanner {
 public:
  Replanner(DeviceProfile profile, std::vector<PlanBrick> bricks, PlanRequest request, Placement current,
            ReplanOptions options = {});

  // Reports one run of brick `brick` (index into the bricks) that took `measured_s`. When the
  // run completes a slow (or, on a slowed device, a fast) streak, returns the new plan
  // (moved = whether any brick changes device); the caller moves the bricks at the next
  // input boundary.
  Result<std::optional<Replan>> observe(int brick, double measured_s);
  // The predicted seconds of one run of `brick` where the current placement puts it.
  double predicted(int brick) const;
  // The memory budget changed: plans again under it (moves whatever the gain).
  Result<Replan> replan_for_budget(double mem_budget_bytes);
  // The objective changed (e.g. energy on a low battery): plans again for it, `why` says why.
  Result<Replan> replan_for_objective(Objective objective, const std::string& why);

  const Placement& placement() const { return current_; }
  const DeviceProfile& profile() const { return profile_; }
  const std::vector<PlanBrick>& bricks() const { return bricks_; }
  const PlanRequest& request() const { return request_; }
  // How much slower than the original profile the device is taken to be now (1: as profiled).
  double slowdown(const std::string& device) const;
  // Predicts every brick's run where it is placed (observe does it first if not done).
  // Errors name what the profile lacks.
  Status predict();

 private:
  Result<Replan> replan(const std::string& why, bool need_gain);

  DeviceProfile original_;
  DeviceProfile profile_;  // original_ with every device's current slowdown folded in
  std::map<std::string, double> slowdown_;
  std::vector<PlanBrick> bricks_;
  PlanRequest request_;
  Placement current_;
  ReplanOptions options_;
  std::vector<double> predicted_;  // per brick, one run (all its work items) where it is placed
  DriftWatch watch_;
};

}  // namespace nm::plan
