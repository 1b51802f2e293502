// Re-planning decisions: a device that runs over 1.5x its predictions three runs in a row
// is taken as slowed by the least ratio of the streak, the plan is made again on the slowed
// profile and the brick moves; shorter streaks, mild slowness and a streak broken by a normal
// run move nothing; a budget change re-plans. The "device wrapper" here injects delay into
// the measured times the executor would report (the executor does not call this yet).
#include "runtime/plan/replan.h"

#include <gtest/gtest.h>

#include <cmath>

#include "plan_fixtures.h"

namespace nm::plan {
namespace {

using test::fig;

// Two CPU clusters of 100 GFLOP/s peak (x 0.5 for a CPU: 50 GFLOP/s), 2 W busy.
DeviceProfile two_clusters() {
  DeviceProfile p = test::board({test::device("cpu:0", "cpu", 100, 2, 2), test::device("cpu:1", "cpu", 100, 2, 2)});
  p.read_gbps = fig(1000);
  return p;
}

// vision 0.02 s, text 0.04 + 0.04 s on either cluster; 100 MB and 300 MB of weights.
std::vector<PlanBrick> bricks() { return test::vision_and_text(1, 2, 2, 100, 300); }

Replanner start() {
  PlanRequest req;
  req.workload = parse_workload("camera:20").value();
  const DeviceProfile p = two_clusters();
  const std::vector<PlanBrick> b = bricks();
  PlanResult first = plan_placement(p, b, req).value();
  // Pipelined on two clusters: vision on cpu:0, text on cpu:1 (0.08 s per answer, not 0.10).
  EXPECT_EQ(first.best.placement.bricks[0].device, 0);
  EXPECT_EQ(first.best.placement.bricks[1].device, 1);
  return Replanner(p, b, req, first.best.placement);
}

TEST(Replan, SlowedDeviceMovesTheBrickAfterThreeSlowRuns) {
  Replanner r = start();
  // The wrapper makes cpu:1 three times slower than predicted.
  for (int run = 0; run < 2; ++run) {
    Result<std::optional<Replan>> x = r.observe(1, 3 * 0.08);
    ASSERT_TRUE(x.ok()) << x.status().to_string();
    EXPECT_FALSE(x->has_value()) << "run " << run;
    EXPECT_NEAR(r.predicted(1), 0.08, 1e-12);
  }
  Result<std::optional<Replan>> x = r.observe(1, 3.2 * 0.08);
  ASSERT_TRUE(x.ok());
  ASSERT_TRUE(x->has_value());
  const Replan& rp = **x;
  EXPECT_TRUE(rp.moved);
  // cpu:1 at a third of its rate: text 0.24 s there; text on cpu:0 and vision on cpu:1
  // (0.02 x 3 = 0.06 s) paces at 0.08 s again.
  EXPECT_EQ(rp.plan.best.placement.bricks[1].device, 0);
  EXPECT_EQ(rp.plan.best.placement.bricks[0].device, 1);
  EXPECT_NEAR(rp.plan.best.cost.latency_s, 0.08, 1e-12);
  EXPECT_NE(rp.line.find("cpu:1 ran text 3.00x slower than predicted for 3 runs in a row"), std::string::npos) << rp.line;
  EXPECT_NE(rp.line.find("text cpu:1 -> cpu:0"), std::string::npos) << rp.line;
  EXPECT_NE(rp.line.find("vision cpu:0 -> cpu:1"), std::string::npos) << rp.line;
  // The new predictions are the slowed profile's: vision now 0.06 s on cpu:1.
  EXPECT_NEAR(r.predicted(0), 0.06, 1e-12);
  EXPECT_EQ(r.placement(), rp.plan.best.placement);
}

TEST(Replan, MildOrBrokenStreaksMoveNothing) {
  Replanner r = start();
  for (int run = 0; run < 6; ++run) {  // 1.4x: slower, but not over 50% slower
    Result<std::optional<Replan>> x = r.observe(1, 1.4 * 0.08);
    ASSERT_TRUE(x.ok());
    EXPECT_FALSE(x->has_value());
  }
  for (int round = 0; round < 3; ++round) {  // two slow runs, then a normal one: the streak restarts
    EXPECT_FALSE(r.observe(1, 3 * 0.08)->has_value());
    EXPECT_FALSE(r.observe(1, 3 * 0.08)->has_value());
    EXPECT_FALSE(r.observe(1, 0.08)->has_value());
  }
  // Slow vision runs count against cpu:0, not cpu:1.
  EXPECT_FALSE(r.observe(0, 3 * 0.02)->has_value());
  EXPECT_FALSE(r.observe(1, 3 * 0.08)->has_value());
  EXPECT_FALSE(r.observe(0, 3 * 0.02)->has_value());
  EXPECT_FALSE(r.observe(1, 3 * 0.08)->has_value());
  EXPECT_FALSE(r.observe(2, 1).ok());
}

TEST(Replan, ARecoveredDeviceNoBetterThanWhereTheBricksAreDrawsNothingBack) {
  Replanner r = start();
  for (int run = 0; run < 3; ++run) ASSERT_TRUE(r.observe(1, 3 * 0.08).ok());
  ASSERT_EQ(r.placement().bricks[1].device, 0);  // text cpu:1 -> cpu:0, vision cpu:0 -> cpu:1
  ASSERT_EQ(r.placement().bricks[0].device, 1);
  EXPECT_NEAR(r.slowdown("cpu:1"), 3, 1e-12);
  // cpu:1 recovers: vision runs there at its profiled 0.02 s, a third of the slowed 0.06 s.
  EXPECT_FALSE(r.observe(0, 0.02)->has_value());
  EXPECT_FALSE(r.observe(0, 0.02)->has_value());
  Result<std::optional<Replan>> x = r.observe(0, 0.021);
  ASSERT_TRUE(x.ok());
  ASSERT_TRUE(x->has_value());
  EXPECT_FALSE((*x)->moved) << (*x)->line;
  // The greatest ratio of the streak (0.021 / 0.06 = 0.35) takes the slowdown from 3 to 1.05.
  EXPECT_NEAR(r.slowdown("cpu:1"), 1.05, 1e-9);
  EXPECT_NE((*x)->line.find("cpu:1 ran vision 2.86x faster than predicted"), std::string::npos) << (*x)->line;
  EXPECT_NE((*x)->line.find("the placement stays (a move would gain 0%, not over 10%)"), std::string::npos) << (*x)->line;
  EXPECT_EQ(r.placement().bricks[1].device, 0);
  // Steady runs after that move nothing, and fast runs on a device never slowed are no news.
  for (int run = 0; run < 6; ++run) {
    EXPECT_FALSE(r.observe(0, 0.021)->has_value());
    EXPECT_FALSE(r.observe(1, 0.02)->has_value());  // text on cpu:0 at a quarter of its 0.08 s
  }
  EXPECT_EQ(r.slowdown("cpu:0"), 1);
}

TEST(Replan, AWobblingDeviceMovesNothing) {
  Replanner r = start();
  for (int run = 0; run < 12; ++run) {
    Result<std::optional<Replan>> x = r.observe(1, (run % 2 ? 1 : 3) * 0.08);
    ASSERT_TRUE(x.ok());
    EXPECT_FALSE(x->has_value()) << "run " << run;
  }
  EXPECT_FALSE(r.observe(1, -1).ok());  // a measured time must be a number >= 0
  EXPECT_FALSE(r.observe(1, std::nan("")).ok());
}

TEST(Replan, ANewObjectivePlansAgain) {
  Replanner r = start();
  Result<Replan> x = r.replan_for_objective(Objective::energy, "the battery is low");
  ASSERT_TRUE(x.ok()) << x.status().to_string();
  EXPECT_NE(x->line.find("re-plan: the battery is low: minimising energy"), std::string::npos) << x->line;
  EXPECT_EQ(r.request().objective, Objective::energy);
}

TEST(Replan, ABudgetChangePlansAgain) {
  Replanner r = start();
  // 350 MB: both bricks (400 MB) no longer fit together: on-demand, one at a time.
  Result<Replan> x = r.replan_for_budget(350e6);
  ASSERT_TRUE(x.ok()) << x.status().to_string();
  EXPECT_TRUE(x->moved);
  EXPECT_EQ(x->plan.best.placement.residency, Residency::on_demand);
  EXPECT_NE(x->line.find("residency keep -> on-demand"), std::string::npos) << x->line;
  // 200 MB holds neither: the error names 300 MB.
  x = r.replan_for_budget(200e6);
  ASSERT_FALSE(x.ok());
  EXPECT_NE(x.status().message().find("smallest feasible budget is " + bytes_text(300e6)), std::string::npos);
}

TEST(Replan, SlowedProfileDividesTheDevicesRates) {
  DeviceProfile p = two_clusters();
  p.devices[1].launch_us = fig(10);
  p.devices[1].op_us = fig(2);
  ProfileMatmul mm;
  mm.weight = "f32";
  mm.tokens = 1;
  mm.gflops = fig(40);
  mm.read_gbps = fig(8);
  p.devices[1].matmul.push_back(mm);
  const DeviceProfile s = slowed_profile(p, "cpu:1", 4);
  EXPECT_EQ(s.devices[1].f32_gflops.value, 25);
  EXPECT_EQ(s.devices[1].matmul[0].gflops.value, 10);
  EXPECT_EQ(s.devices[1].matmul[0].read_gbps.value, 2);
  EXPECT_EQ(s.devices[1].read_gbps.value, 250);
  EXPECT_EQ(s.devices[1].launch_us.value, 40);
  EXPECT_EQ(s.devices[1].op_us.value, 8);
  EXPECT_EQ(s.devices[0].f32_gflops.value, 100);  // the other cluster is untouched
  EXPECT_FALSE(s.devices[0].read_gbps.known());
  EXPECT_EQ(s.read_gbps.value, 1000);
}

}  // namespace
}  // namespace nm::plan
