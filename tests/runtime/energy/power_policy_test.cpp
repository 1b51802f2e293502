// The power policy and the simulated battery: draining switches modes exactly at T_high
// and T_low, charging comes back only past the hysteresis, a wobbling gauge does not
// flap, alpha scales threads and frame interval as stated, and battery specs parse or
// are refused with a message.
#include "runtime/energy/power_policy.h"

#include <gtest/gtest.h>

#include <random>

#include "runtime/energy/battery.h"

namespace nm::energy {
namespace {

PowerPolicy make(PowerPolicyConfig c = {}) {
  Result<PowerPolicy> p = PowerPolicy::create(c);
  EXPECT_TRUE(p.ok()) << p.status().to_string();
  return std::move(p).value();
}

TEST(PowerPolicy, DrainingSwitchesExactlyAtTheThresholds) {
  PowerPolicy p = make();
  std::vector<std::pair<int, PowerMode>> switches;  // (level in 0.1%, new mode)
  PowerMode last = p.update(1.0, false, 0);
  EXPECT_EQ(last, PowerMode::parallel);
  for (int k = 999; k >= 0; --k) {
    const PowerMode m = p.update(k / 1000.0, false, 1000 - k);
    if (m != last) switches.emplace_back(k, m);
    last = m;
  }
  ASSERT_EQ(switches.size(), 2u);
  EXPECT_EQ(switches[0], std::make_pair(500, PowerMode::throttled));  // B <= T_high
  EXPECT_EQ(switches[1], std::make_pair(200, PowerMode::on_demand));  // B <= T_low
  ASSERT_EQ(p.changes().size(), 3u);  // the starting mode, then the two switches
  EXPECT_EQ(p.changes()[0].to, PowerMode::parallel);
  EXPECT_DOUBLE_EQ(p.changes()[1].level, 0.5);
  EXPECT_EQ(p.changes()[2].from, PowerMode::throttled);
}

TEST(PowerPolicy, ChargingComesBackOnlyPastTheHysteresis) {
  PowerPolicy p = make();
  p.update(0.10, false, 0);
  ASSERT_EQ(p.mode(), PowerMode::on_demand);
  std::vector<std::pair<int, PowerMode>> switches;
  PowerMode last = p.mode();
  for (int k = 101; k <= 1000; ++k) {
    const PowerMode m = p.update(k / 1000.0, false, k);
    if (m != last) switches.emplace_back(k, m);
    last = m;
  }
  ASSERT_EQ(switches.size(), 2u);
  EXPECT_EQ(switches[0], std::make_pair(251, PowerMode::throttled));  // > 20% + 5
  EXPECT_EQ(switches[1], std::make_pair(551, PowerMode::parallel));   // > 50% + 5
}

TEST(PowerPolicy, AWobblingGaugeDoesNotFlap) {
  PowerPolicy p = make();
  p.update(0.6, false, 0);
  int t = 1;
  for (double b : {0.50, 0.51, 0.49, 0.53, 0.50, 0.54, 0.52, 0.55}) p.update(b, false, t++);
  EXPECT_EQ(p.mode(), PowerMode::throttled);
  EXPECT_EQ(p.changes().size(), 2u);  // start + one switch down
  for (double b : {0.21, 0.20, 0.22, 0.19, 0.24, 0.25, 0.21}) p.update(b, false, t++);
  EXPECT_EQ(p.mode(), PowerMode::on_demand);
  EXPECT_EQ(p.changes().size(), 3u);
}

// Invariants for any sequence of levels: the mode is never better than the level allows
// (down at once), and never worse than the level less the hysteresis gives (up once past).
TEST(PowerPolicy, RandomWalksKeepTheInvariants) {
  const unsigned seed0 = std::random_device{}();
  for (unsigned s = 0; s < 200; ++s) {
    const unsigned seed = seed0 + s;
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> u(0, 1);
    PowerPolicyConfig c;
    c.t_low = 0.05 + 0.3 * u(rng);
    c.t_high = c.t_low + 0.05 + 0.4 * u(rng);
    c.hysteresis = 0.1 * u(rng) * (1 - c.t_high);
    PowerPolicy p = make(c);
    auto mode_for = [&](double b) {
      return b > c.t_high ? PowerMode::parallel : b > c.t_low ? PowerMode::throttled : PowerMode::on_demand;
    };
    double b = u(rng);
    for (int i = 0; i < 300; ++i) {
      b = std::clamp(b + (u(rng) - 0.55) * 0.05, 0.0, 1.0);
      const PowerMode m = p.update(b, false, i);
      ASSERT_GE(static_cast<int>(m), static_cast<int>(mode_for(b))) << "seed " << seed << " step " << i;
      ASSERT_LE(static_cast<int>(m), static_cast<int>(mode_for(b - c.hysteresis))) << "seed " << seed << " step " << i;
      if (m == PowerMode::throttled) {
        const double want = std::clamp((b - c.t_low) / (c.t_high - c.t_low), c.min_alpha, 1.0);
        ASSERT_NEAR(p.alpha(), want, 1e-12) << "seed " << seed;
      }
    }
  }
}

TEST(PowerPolicy, AlphaScalesThreadsAndFrameInterval) {
  PowerPolicy p = make();
  p.update(0.35, false, 0);  // halfway between 20% and 50%
  ASSERT_EQ(p.mode(), PowerMode::throttled);
  EXPECT_NEAR(p.alpha(), 0.5, 1e-12);
  EXPECT_EQ(p.threads(4), 2);
  EXPECT_NEAR(p.frame_interval_s(1.0), 2.0, 1e-12);
  p.update(0.44, false, 1);
  EXPECT_NEAR(p.alpha(), 0.8, 1e-12);
  EXPECT_EQ(p.threads(8), 6);  // 6.4
  EXPECT_NEAR(p.frame_interval_s(0.2), 0.25, 1e-12);
  p.update(0.205, false, 2);  // alpha 1/60: floored at 0.1
  EXPECT_NEAR(p.alpha(), 0.1, 1e-12);
  EXPECT_EQ(p.threads(4), 1);
  EXPECT_NEAR(p.frame_interval_s(1.0), 10.0, 1e-12);
  p.update(0.9, false, 3);
  EXPECT_EQ(p.alpha(), 1.0);
  EXPECT_EQ(p.threads(4), 4);
  EXPECT_EQ(p.frame_interval_s(0.5), 0.5);
  p.update(0.1, false, 4);
  EXPECT_EQ(p.mode(), PowerMode::on_demand);
  EXPECT_EQ(p.alpha(), 0.0);
  EXPECT_EQ(p.threads(4), 4);  // an event runs at full speed, then everything sleeps
}

TEST(PowerPolicy, ForcedModesExternalPowerAndNoBattery) {
  PowerPolicyConfig c;
  c.choice = PowerModeChoice::on_demand;
  PowerPolicy forced = make(c);
  EXPECT_EQ(forced.update(1.0, true, 0), PowerMode::on_demand);
  c.choice = PowerModeChoice::throttled;
  PowerPolicy thr = make(c);
  thr.update(NAN, false, 0);
  EXPECT_EQ(thr.mode(), PowerMode::throttled);
  EXPECT_EQ(thr.alpha(), 0.5);  // forced_alpha when there is no level to scale by
  thr.update(0.95, false, 1);
  EXPECT_EQ(thr.alpha(), 1.0);
  c.choice = PowerModeChoice::parallel;
  EXPECT_EQ(make(c).update(0.01, false, 0), PowerMode::parallel);

  PowerPolicy a = make();
  EXPECT_EQ(a.update(NAN, false, 0), PowerMode::parallel);  // no battery
  EXPECT_EQ(a.update(0.1, true, 1), PowerMode::parallel);   // plugged in
  EXPECT_EQ(a.update(0.1, false, 2), PowerMode::on_demand); // unplugged
}

TEST(PowerPolicy, BadConfigurationsAreRefused) {
  auto bad = [](double lo, double hi, double h, double amin) {
    PowerPolicyConfig c;
    c.t_low = lo, c.t_high = hi, c.hysteresis = h, c.min_alpha = amin;
    Result<PowerPolicy> p = PowerPolicy::create(c);
    return !p.ok() && p.status().code() == ErrorCode::invalid_argument;
  };
  EXPECT_TRUE(bad(0.5, 0.5, 0.05, 0.1));
  EXPECT_TRUE(bad(0.6, 0.5, 0.05, 0.1));
  EXPECT_TRUE(bad(-0.1, 0.5, 0.05, 0.1));
  EXPECT_TRUE(bad(0.2, 1.1, 0.0, 0.1));
  EXPECT_TRUE(bad(0.2, 0.98, 0.05, 0.1));
  EXPECT_TRUE(bad(0.2, 0.5, -0.01, 0.1));
  EXPECT_TRUE(bad(0.2, 0.5, 0.05, 0.0));
  EXPECT_TRUE(bad(0.2, 0.5, NAN, 0.1));
  EXPECT_FALSE(bad(0.0, 1.0, 0.0, 1.0));
  EXPECT_EQ(parse_power_mode("on-demand").value(), PowerModeChoice::on_demand);
  EXPECT_EQ(parse_power_mode("auto").value(), PowerModeChoice::automatic);
  EXPECT_FALSE(parse_power_mode("turbo").ok());
}

TEST(BatterySpec, ParsesTheDocumentedForms) {
  Result<BatterySpec> s = parse_battery_spec("sim:2000mAh@3.7V,start=80%");
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  EXPECT_EQ(s->kind, BatterySpec::Kind::sim);
  EXPECT_NEAR(s->capacity_j, 2.0 * 3600 * 3.7, 1e-9);  // 26640 J = 7.4 Wh
  EXPECT_DOUBLE_EQ(s->start_level, 0.8);
  s = parse_battery_spec("sim:7.4Wh");
  ASSERT_TRUE(s.ok());
  EXPECT_NEAR(s->capacity_j, 26640, 1e-9);
  EXPECT_EQ(s->start_level, 1.0);
  s = parse_battery_spec("sim:5mAh,start=0.5");  // 3.7 V by default
  ASSERT_TRUE(s.ok());
  EXPECT_NEAR(s->capacity_j, 5e-3 * 3600 * 3.7, 1e-9);
  EXPECT_EQ(parse_battery_spec("sysfs:BAT1")->sysfs_name, "BAT1");
  EXPECT_EQ(parse_battery_spec("none")->kind, BatterySpec::Kind::none);
  EXPECT_NEAR(parse_battery_capacity("26.64kJ", 0).value(), 26640, 1e-9);
  EXPECT_NEAR(parse_battery_capacity("7400 mWh", 0).value(), 26640, 1e-9);
  for (const char* bad : {"sim:", "sim:2000", "sim:2000mA", "sim:-5Wh", "sim:0Wh", "sim:2000mAh@0V", "sim:2000mAh@3.7A",
                          "sim:1e9Wh", "sim:2000mAh,start=120%", "sim:2000mAh,begin=5%", "sysfs:../../etc", "battery",
                          "sim:2000mAh@V", "sim:nanWh", "sim:1..2Wh"}) {
    Result<BatterySpec> r = parse_battery_spec(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), ErrorCode::invalid_argument) << bad;
    }
  }
}

TEST(SimulatedBattery, DrainsThroughTheModes) {
  Result<BatterySpec> spec = parse_battery_spec("sim:10Wh,start=80%");
  ASSERT_TRUE(spec.ok());
  Result<std::unique_ptr<BatterySource>> b = open_battery(*spec, "");
  ASSERT_TRUE(b.ok());
  BatterySource& bat = **b;
  EXPECT_NE(bat.describe().find("simulated"), std::string::npos);
  PowerPolicy p = make();
  // 36 J per step = 0.1% of 10 Wh: the policy must see the switch at exactly 50% and 20%.
  int step = 0, at_throttled = -1, at_on_demand = -1;
  for (; step < 1000; ++step) {
    Result<BatteryState> st = bat.read();
    ASSERT_TRUE(st.ok());
    const PowerMode before = p.mode();
    const PowerMode m = p.update(st->level, false, step);
    if (m == PowerMode::throttled && before != m) at_throttled = step;
    if (m == PowerMode::on_demand && before != m) at_on_demand = step;
    bat.consume(36.0);
  }
  EXPECT_EQ(at_throttled, 300);  // 80% - 300 x 0.1%
  EXPECT_EQ(at_on_demand, 600);
  Result<BatteryState> empty = bat.read();
  EXPECT_EQ(empty->level, 0.0);  // never below empty
  bat.consume(-5);
  bat.consume(NAN);
  EXPECT_EQ(bat.read()->level, 0.0);
}

}  // namespace
}  // namespace nm::energy
