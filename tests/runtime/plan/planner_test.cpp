// The planner against brute force: on hand-made profiles with optima worked out by hand,
// and on random profiles and pipelines (up to 4 bricks x 4 devices, with and without layer
// splits, every objective and workload, random memory budgets) against an enumeration of
// every placement written here from the rules plan_model.h states (the per-device work time
// comes from the cost model, estimate_work_time, which has its own tests).
#include "runtime/plan/planner.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>
#include <tuple>
#include <cstdio>
#include <cstdlib>
#include <random>

#include "plan_fixtures.h"

namespace nm::plan {
namespace {

// Fresh each run (printed; replay with NM_SEED).
uint64_t test_seed() {
  const char* e = std::getenv("NM_SEED");
  const uint64_t v = e ? std::strtoull(e, nullptr, 10) : std::random_device{}();
  std::printf("planner_test seed: %llu (replay with NM_SEED=%llu)\n", (unsigned long long)v, (unsigned long long)v);
  return v;
}

using test::board;
using test::device;
using test::fig;

// A brick of one run of `gflop` f32 arithmetic and no memory traffic: its time on a device
// is gflop / (peak x the cost model's efficiency for the device's kind).
PlanBrick brick(const std::string& name, double gflop, double weight_mb = 0, int layers = 0, bool camera = false) {
  PlanBrick b;
  b.name = name;
  energy::BrickWork w;
  w.name = name;
  w.flops = gflop * 1e9;
  w.quantized = false;
  b.work.push_back(w);
  b.weight_bytes = weight_mb * 1e6;
  b.layers = layers;
  b.camera_only = camera;
  return b;
}

Workload workload(const char* t) { return parse_workload(t).value(); }

TEST(Planner, HandComputedOptimaPerObjectiveAndWorkload) {
  // fast: 100 GFLOP/s x 0.3 (accelerator) = 30 GFLOP/s at 10 W; slow: 20 x 0.5 (CPU) = 10 at 1 W.
  const DeviceProfile p = board({device("fast", "gpu", 100, 10), device("slow", "cpu", 20, 1)});
  const std::vector<PlanBrick> bricks = {brick("vision", 2.4, 0, 0, true), brick("text", 6)};
  // vision: fast 0.08 s, slow 0.24 s; text: fast 0.2 s, slow 0.6 s. Board idle 1 W.
  PlanRequest req;
  req.residency = Residency::keep;

  // One camera question, latency: both on fast, 0.28 s.
  req.workload = workload("camera");
  Result<PlanResult> r = plan_placement(p, bricks, req);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->best.placement.bricks[0].device, 0);
  EXPECT_EQ(r->best.placement.bricks[1].device, 0);
  EXPECT_NEAR(r->best.cost.latency_s, 0.28, 1e-12);
  EXPECT_NEAR(r->best.cost.energy_j, 0.28 * 10 + 0.28 * 1, 1e-12);
  EXPECT_EQ(r->candidates, 4);
  // Runner-up: vision slow, text fast: 0.44 s.
  ASSERT_TRUE(r->runner_up.has_value());
  EXPECT_EQ(r->runner_up->placement.bricks[0].device, 1);
  EXPECT_NEAR(r->runner_up->cost.latency_s, 0.44, 1e-12);

  // Energy: both slow, 0.84 s x 1 W active + 0.84 s x 1 W idle = 1.68 J (both fast: 3.08 J).
  req.objective = Objective::energy;
  r = plan_placement(p, bricks, req);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->best.placement.bricks[0].device, 1);
  EXPECT_EQ(r->best.placement.bricks[1].device, 1);
  EXPECT_NEAR(r->best.cost.energy_j, 1.68, 1e-12);

  // EDP: fast/fast 3.08 x 0.28 = 0.862; slow/slow 1.68 x 0.84 = 1.41; vision slow + text fast
  // (0.24 + 2 + 0.44 = 2.68 J) x 0.44 = 1.18; vision fast + text slow (0.8 + 0.6 + 0.68) x 0.68 = 1.41.
  req.objective = Objective::edp;
  r = plan_placement(p, bricks, req);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->best.placement.bricks[1].device, 0);
  EXPECT_NEAR(r->best.objective, 3.08 * 0.28, 1e-12);

  // A stream pipelines: vision on slow while text runs on fast paces at max(0.24, 0.2) = 0.24 s
  // per answer, beating both on fast (0.08 + 0.2 = 0.28 s on one device).
  req.objective = Objective::latency;
  req.workload = workload("camera:10");
  r = plan_placement(p, bricks, req);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->best.placement.bricks[0].device, 1);
  EXPECT_EQ(r->best.placement.bricks[1].device, 0);
  EXPECT_NEAR(r->best.cost.latency_s, 0.24, 1e-12);
  EXPECT_NEAR(r->best.cost.answer_s, 0.44, 1e-12);

  // A text question leaves the vision brick out: 2 candidates, text on fast.
  req.workload = workload("text");
  r = plan_placement(p, bricks, req);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->candidates, 2);
  EXPECT_EQ(r->best.placement.bricks[1].device, 0);
  EXPECT_NEAR(r->best.cost.latency_s, 0.2, 1e-12);
}

TEST(Planner, MemoryBudgetChoosesOnDemandAndSplitsOrNamesTheSmallestFeasible) {
  // Two equal devices; a 4-layer text brick of 1000 MB; storage reads 1 GB/s.
  const DeviceProfile p = board({device("a", "gpu", 100, 2), device("b", "gpu", 100, 2)});
  const std::vector<PlanBrick> bricks = {brick("text", 3, 1000, 4)};
  PlanRequest req;
  req.workload = workload("text");
  req.allow_split = true;
  // No budget: keep (no load) on a, whole.
  Result<PlanResult> r = plan_placement(p, bricks, req);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->best.placement.residency, Residency::keep);
  EXPECT_FALSE(r->best.placement.bricks[0].is_split());
  EXPECT_EQ(r->best.placement.bricks[0].device, 0);
  EXPECT_NEAR(r->best.cost.latency_s, 0.1, 1e-12);
  EXPECT_EQ(r->candidates, 2 * (2 + 2 * 3));
  // 600 MB: only on-demand with 2 + 2 layers fits (largest part 500 MB); loads 1 s in all.
  req.mem_budget_bytes = 600e6;
  r = plan_placement(p, bricks, req);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->best.placement.residency, Residency::on_demand);
  EXPECT_EQ(r->best.placement.bricks[0], (BrickPlace{0, 1, 2}));
  EXPECT_NEAR(r->best.cost.peak_bytes, 500e6, 1);
  EXPECT_NEAR(r->best.cost.latency_s, 0.1 + 1.0, 1e-12);
  EXPECT_EQ(r->over_budget, 2 * (2 + 2 * 3) - 2);
  // 400 MB fits nothing: the error names 500 MB (the smallest feasible budget).
  req.mem_budget_bytes = 400e6;
  r = plan_placement(p, bricks, req);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("smallest feasible budget is " + bytes_text(500e6)), std::string::npos)
      << r.status().message();
  // Without splits the smallest is the whole brick.
  req.allow_split = false;
  r = plan_placement(p, bricks, req);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find(bytes_text(1000e6)), std::string::npos) << r.status().message();
}

TEST(Planner, TiesBreakTheSameWayEveryTime) {
  const DeviceProfile p = board({device("a", "gpu", 100, 2), device("b", "gpu", 100, 2), device("c", "gpu", 100, 2)});
  const std::vector<PlanBrick> bricks = {brick("vision", 1, 0, 0, true), brick("text", 1)};
  PlanRequest req;
  for (int i = 0; i < 3; ++i) {
    Result<PlanResult> r = plan_placement(p, bricks, req);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->best.placement.bricks[0].device, 0);
    EXPECT_EQ(r->best.placement.bricks[1].device, 0);
    EXPECT_EQ(r->best.placement.residency, Residency::keep);
  }
}

TEST(Planner, RefusesWhatItCannotDo) {
  DeviceProfile p = board({device("a", "gpu", 100, 2)});
  p.devices[0].active_w = ProfileFigure{};
  PlanRequest req;
  req.objective = Objective::energy;
  Result<PlanResult> r = plan_placement(p, {brick("text", 1)}, req);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("states no power"), std::string::npos);
  req.objective = Objective::latency;
  EXPECT_TRUE(plan_placement(p, {brick("text", 1)}, req).ok());
  EXPECT_FALSE(plan_placement(p, {}, req).ok());
  EXPECT_FALSE(parse_objective("fast").ok());
  EXPECT_FALSE(parse_workload("camera:0").ok());
  EXPECT_FALSE(parse_workload("camera:x").ok());
  EXPECT_FALSE(parse_workload("video").ok());
  EXPECT_EQ(parse_bytes("1.5G").value(), 1.5 * 1073741824.0);
  EXPECT_EQ(parse_bytes("800MB").value(), 800e6);
  EXPECT_EQ(parse_bytes("4096").value(), 4096);
  for (const char* bad : {"", "G", "-1G", "0", "1T", "nanG", "1e300G", "12 MB"}) EXPECT_FALSE(parse_bytes(bad).ok()) << bad;
}

// ---- brute force -------------------------------------------------------------------------

struct Oracle {
  const DeviceProfile& p;
  const std::vector<PlanBrick>& bricks;
  const Workload& w;

  double io_w() const {
    for (const ProfileDevice& d : p.devices)
      if (d.kind == "cpu") return d.active_w.value / d.cores;
    return 0;
  }
  mutable std::map<std::tuple<const PlanBrick*, int, double>, double> memo;
  double part_seconds(const PlanBrick& b, int dev, double f) const {
    auto [it, fresh] = memo.emplace(std::make_tuple(&b, dev, f), 0.0);
    if (!fresh) return it->second;
    double& s = it->second;
    for (energy::BrickWork x : b.work) {
      x.device = p.devices[(size_t)dev].name;
      x.flops *= f;
      x.bytes_read *= f;
      s += energy::estimate_work_time(p, x).value().seconds;
    }
    return s;
  }
  // {latency, energy, peak}
  std::array<double, 3> cost(const Placement& pl) const {
    const bool on_demand = pl.residency == Residency::on_demand;
    const bool stream = w.kind == WorkloadKind::camera_stream;
    double sum_s = 0, joules = 0, held = 0, largest = 0, pace = 0;
    std::vector<double> dev_busy(p.devices.size(), 0.0);
    for (size_t i = 0; i < bricks.size(); ++i) {
      const PlanBrick& b = bricks[i];
      if (b.camera_only && w.kind == WorkloadKind::text_question) continue;
      const BrickPlace& x = pl.bricks[i];
      std::vector<std::pair<int, double>> parts;
      if (x.is_split()) parts = {{x.device, double(x.split) / b.layers}, {x.second, double(b.layers - x.split) / b.layers}};
      else parts = {{x.device, 1.0}};
      double worker = 0;
      for (auto [dev, f] : parts) {
        const double s = part_seconds(b, dev, f);
        const double load = on_demand ? b.weight_bytes * f / (p.storage_read_gbps.value * 1e9) : 0;
        const double bytes = (b.weight_bytes + b.kv_bytes) * f + b.activation_bytes;
        sum_s += s + load;
        joules += s * p.devices[(size_t)dev].active_w.value + load * io_w();
        held += bytes;
        largest = std::max(largest, bytes);
        dev_busy[(size_t)dev] += s;
        worker += s;
      }
      pace = std::max(pace, worker);
    }
    for (double d : dev_busy) pace = std::max(pace, d);
    const double latency = on_demand || !stream ? sum_s : pace;
    const double base = !on_demand && p.awake_w.known() ? p.awake_w.value : p.idle_w.value;
    return {latency, joules + base * latency, on_demand ? largest : held};
  }
  // Every placement, in no particular order.
  void each(bool split, const std::function<void(const Placement&)>& fn) const {
    Placement pl;
    pl.bricks.resize(bricks.size());
    std::function<void(size_t)> rec = [&](size_t i) {
      if (i == bricks.size()) return fn(pl);
      const int n = static_cast<int>(p.devices.size());
      if (bricks[i].camera_only && w.kind == WorkloadKind::text_question) {
        pl.bricks[i] = BrickPlace{0, -1, 0};
        return rec(i + 1);
      }
      for (int d = 0; d < n; ++d) {
        pl.bricks[i] = BrickPlace{d, -1, 0};
        rec(i + 1);
        if (!split || bricks[i].layers < 2) continue;
        for (int e = 0; e < n; ++e)
          for (int s = 1; s < bricks[i].layers && e != d; ++s) {
            pl.bricks[i] = BrickPlace{d, e, s};
            rec(i + 1);
          }
      }
    };
    for (Residency r : {Residency::keep, Residency::on_demand}) {
      pl.residency = r;
      rec(0);
    }
  }
};

TEST(Planner, EqualsBruteForceOnRandomBoardsAndPipelines) {
  const uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  int cases = 0, with_budget = 0, infeasible = 0, split_chosen = 0;
  for (int trial = 0; trial < 48; ++trial) {
    std::vector<ProfileDevice> devs;
    const int n_dev = 1 + (int)(rng() % 4);
    for (int d = 0; d < n_dev; ++d) {
      const bool cpu = rng() % 2;
      devs.push_back(device("d" + std::to_string(d), cpu ? "cpu" : "gpu", 5 + 200 * u(rng), 0.2 + 5 * u(rng),
                            cpu ? 1 + (int)(rng() % 8) : 0));
      devs.back().read_gbps = fig(1 + 20 * u(rng));
    }
    DeviceProfile p = board(devs, 0.1 + 2 * u(rng), 0.05 + u(rng));
    if (rng() % 2) p.awake_w = fig(p.idle_w.value * (1 + u(rng)));
    std::vector<PlanBrick> bricks;
    const int n_bricks = 1 + (int)(rng() % 4);
    for (int b = 0; b < n_bricks; ++b) {
      const bool layered = b == n_bricks - 1 && rng() % 3 != 0;
      PlanBrick x = brick("b" + std::to_string(b), 0.1 + 10 * u(rng), 10 + 1000 * u(rng), layered ? 2 + (int)(rng() % 4) : 0,
                          b == 0 && n_bricks > 1 && rng() % 2);
      x.work[0].bytes_read = 1e9 * u(rng);
      x.work[0].runs = 1 + (int)(rng() % 3);
      if (rng() % 2) {  // a second work item, like prefill + decode
        energy::BrickWork y = x.work[0];
        y.name += " decode";
        y.flops *= u(rng);
        y.runs = 1 + (int)(rng() % 16);
        x.work.push_back(y);
      }
      x.kv_bytes = 1e8 * u(rng);
      x.activation_bytes = 1e7 * u(rng);
      bricks.push_back(x);
    }
    const char* kWorkloads[] = {"text", "camera", "camera:20"};
    for (const char* wl : kWorkloads)
      for (Objective obj : {Objective::latency, Objective::energy, Objective::edp})
        for (bool split : {false, true}) {
          PlanRequest req;
          req.workload = workload(wl);
          req.objective = obj;
          req.allow_split = split;
          Oracle o{p, bricks, req.workload, {}};
          double lo = INFINITY, hi = 0;
          o.each(split, [&](const Placement& pl) {
            const auto c = o.cost(pl);
            lo = std::min(lo, c[2]);
            hi = std::max(hi, c[2]);
          });
          const int budget_kind = (int)(rng() % 3);  // none, random between the extremes, below the least
          if (budget_kind == 1) req.mem_budget_bytes = lo + (hi - lo) * u(rng);
          if (budget_kind == 2) req.mem_budget_bytes = lo * (0.5 + 0.49 * u(rng));
          double best = INFINITY;
          int64_t n = 0;
          o.each(split, [&](const Placement& pl) {
            ++n;
            const auto c = o.cost(pl);
            if (req.mem_budget_bytes > 0 && c[2] > req.mem_budget_bytes) return;
            const double v = obj == Objective::latency ? c[0] : obj == Objective::energy ? c[1] : c[0] * c[1];
            best = std::min(best, v);
          });
          const std::string what = "seed " + std::to_string(seed) + " trial " + std::to_string(trial) + " " + wl + " " +
                                   objective_name(obj) + (split ? " split" : "");
          Result<PlanResult> r = plan_placement(p, bricks, req);
          ++cases;
          if (budget_kind == 2) {
            ASSERT_FALSE(r.ok()) << what;
            EXPECT_NE(r.status().message().find("smallest feasible budget is " + bytes_text(lo)), std::string::npos)
                << what << ": " << r.status().message();
            ++infeasible;
            continue;
          }
          ASSERT_TRUE(r.ok()) << what << ": " << r.status().to_string();
          with_budget += budget_kind == 1;
          EXPECT_EQ(r->candidates, n) << what;
          // The chosen placement is feasible, costs what the oracle says, and is the optimum.
          const auto c = o.cost(r->best.placement);
          const double v = obj == Objective::latency ? c[0] : obj == Objective::energy ? c[1] : c[0] * c[1];
          EXPECT_NEAR(r->best.objective, v, 1e-9 * std::fabs(v)) << what;
          EXPECT_NEAR(r->best.cost.peak_bytes, c[2], 1e-6 * c[2]) << what;
          if (req.mem_budget_bytes > 0) {
            EXPECT_LE(r->best.cost.peak_bytes, req.mem_budget_bytes) << what;
          }
          EXPECT_LE(r->best.objective, best * (1 + 1e-9)) << what;
          EXPECT_GE(r->best.objective, best * (1 - 1e-9)) << what;
          if (r->runner_up) {
            EXPECT_GE(r->runner_up->objective, best * (1 - 1e-9)) << what;
          }
          for (const BrickPlace& b : r->best.placement.bricks) split_chosen += b.is_split();
        }
  }
  EXPECT_EQ(cases, 48 * 18);
  EXPECT_GT(with_budget, 20);
  EXPECT_GT(infeasible, 20);
  EXPECT_GT(split_chosen, 0);  // budgets between the extremes make splits worth choosing
}

}  // namespace
}  // namespace nm::plan
