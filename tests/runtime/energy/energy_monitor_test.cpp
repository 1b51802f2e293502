// EnergyMonitor on fake sysfs trees: discovery order, spans answered by the best meter,
// a sensor that vanishes mid-run falls back to the next one with a log line, a sensor
// that appears is picked up, the estimate is labelled, and no meter at all is a clear
// error. The clock is the test's, so every figure is exact.
#include "runtime/energy/energy_monitor.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "fake_sysfs.h"

namespace nm::energy {
namespace {

using testing::FakeSysfs;

struct Harness {
  FakeSysfs fs;
  double t = 100.0;
  std::vector<std::string> logs;

  EnergyMonitorOptions options(std::optional<PowerModel> pm = std::nullopt) {
    EnergyMonitorOptions o;
    o.sysfs_root = fs.root();
    o.power_model = std::move(pm);
    o.log = [this](const std::string& l) { logs.push_back(l); };
    o.clock = [this] { return t; };
    o.sample_period_s = 0;  // the test samples by hand
    o.rescan_period_s = 0;  // look for new sensors at every span
    return o;
  }
  bool logged(const std::string& needle) const {
    for (const auto& l : logs)
      if (l.find(needle) != std::string::npos) return true;
    return false;
  }
};

PowerModel board() { return PowerModel{"testboard", 1.5, {{"cpu", "cpu", 3.0, 4}}}; }

void rapl(const FakeSysfs& fs, long long uj) {
  fs.write("sys/class/powercap/intel-rapl:0/name", "package-0");
  fs.write("sys/class/powercap/intel-rapl:0/energy_uj", uj);
  fs.write("sys/class/powercap/intel-rapl:0/max_energy_range_uj", 262143328850LL);
}

void ina(const FakeSysfs& fs, long long mv, long long ma) {
  fs.write("sys/class/hwmon/hwmon2/name", "ina226");
  fs.write("sys/class/hwmon/hwmon2/in1_input", mv);
  fs.write("sys/class/hwmon/hwmon2/curr1_input", ma);
}

TEST(EnergyMonitor, BestMeterAnswersAndNamesItself) {
  Harness h;
  rapl(h.fs, 0);
  ina(h.fs, 5000, 400);
  auto mon = EnergyMonitor::create(h.options(board()));
  const std::vector<MeterInfo> ms = mon->meters();
  ASSERT_EQ(ms.size(), 3u);
  EXPECT_EQ(ms[0].name, "rapl");
  EXPECT_EQ(ms[1].name, "hwmon:ina226:rail1");
  EXPECT_EQ(ms[2].name, "estimate:testboard");
  EnergySpan span = mon->begin();
  h.t += 2;
  rapl(h.fs, 7'000'000);
  Result<EnergyReading> r = span.finish();
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_NEAR(r->joules, 7.0, 1e-9);
  EXPECT_NEAR(r->seconds, 2.0, 1e-12);
  EXPECT_NEAR(r->watts(), 3.5, 1e-9);
  EXPECT_TRUE(r->measured);
  EXPECT_STREQ(r->how(), "measured");
  EXPECT_EQ(r->source, "RAPL package-0 (powercap)");
  EXPECT_TRUE(mon->measuring());
}

TEST(EnergyMonitor, PreferredMeterFirst) {
  Harness h;
  rapl(h.fs, 0);
  ina(h.fs, 5000, 400);
  EnergyMonitorOptions o = h.options();
  o.prefer = "hwmon:ina226:rail1";
  auto mon = EnergyMonitor::create(o);
  EXPECT_EQ(mon->primary().name, "hwmon:ina226:rail1");
  EnergySpan span = mon->begin();
  h.t += 10;
  Result<EnergyReading> r = span.finish();
  ASSERT_TRUE(r.ok());
  EXPECT_NEAR(r->joules, 20.0, 1e-9);  // 2 W for 10 s
}

TEST(EnergyMonitor, VanishedSensorFallsBackWithALogLine) {
  Harness h;
  rapl(h.fs, 1'000'000);
  ina(h.fs, 5000, 1000);  // 5 W
  auto mon = EnergyMonitor::create(h.options(board()));
  EnergySpan span = mon->begin();
  h.t += 1;
  mon->sample();
  h.fs.remove("sys/class/powercap");  // RAPL disappears mid-span
  h.t += 1;
  Result<EnergyReading> r = span.finish();
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->meter, "hwmon:ina226:rail1");
  EXPECT_NEAR(r->joules, 10.0, 1e-9);
  EXPECT_TRUE(h.logged("falling back to ina226")) << (h.logs.empty() ? "" : h.logs.back());
  const size_t n_logs = h.logs.size();

  // The next span no longer sees RAPL at all; no new fallback line for the same choice.
  EnergySpan span2 = mon->begin();
  h.fs.remove("sys/class/hwmon");  // and now the INA goes too: the estimate answers
  h.t += 4;
  r = span2.finish();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->meter, "estimate:testboard");
  EXPECT_FALSE(r->measured);
  EXPECT_NEAR(r->joules, 1.5 * 4, 1e-9);
  EXPECT_GT(h.logs.size(), n_logs);
  EXPECT_TRUE(h.logged("falling back to estimated from profile testboard"));
  EXPECT_FALSE(mon->measuring());
}

TEST(EnergyMonitor, SensorThatAppearsIsUsedFromTheNextSpan) {
  Harness h;
  auto mon = EnergyMonitor::create(h.options(board()));
  ASSERT_EQ(mon->meters().size(), 1u);
  EnergySpan before = mon->begin();
  ina(h.fs, 12000, 250);  // 3 W, appears mid-span
  h.t += 2;
  Result<EnergyReading> r = before.finish();
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->measured);  // the new sensor did not cover the whole span
  EnergySpan after = mon->begin();
  EXPECT_TRUE(h.logged("new sensor: ina226"));
  h.t += 2;
  r = after.finish();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->meter, "hwmon:ina226:rail1");
  EXPECT_NEAR(r->joules, 6.0, 1e-9);
}

TEST(EnergyMonitor, EstimateChargesIdleAndBusyTime) {
  Harness h;
  auto mon = EnergyMonitor::create(h.options(board()));
  EXPECT_FALSE(mon->measuring());
  EnergySpan span = mon->begin();
  h.t += 10;
  mon->note_busy("cpu", 4.0, 2);  // half the cores for 4 s: +1.5 W x 4 s
  Result<EnergyReading> r = span.finish();
  ASSERT_TRUE(r.ok());
  EXPECT_NEAR(r->joules, 1.5 * 10 + 1.5 * 4, 1e-9);
  EXPECT_FALSE(r->measured);
  EXPECT_STREQ(r->how(), "estimated");
  EXPECT_NE(r->source.find("estimated from profile testboard"), std::string::npos);
}

TEST(EnergyMonitor, NoMeterIsAClearError) {
  Harness h;
  auto mon = EnergyMonitor::create(h.options());
  EXPECT_FALSE(mon->has_meter());
  EnergySpan span = mon->begin();
  Result<EnergyReading> r = span.finish();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("no energy meter"), std::string::npos);
  EXPECT_FALSE(span.finish().ok());  // twice: an error, not a crash
}

TEST(EnergyMonitor, GarbageEverywhereNeverGivesNegativeJoules) {
  Harness h;
  rapl(h.fs, 5'000'000);
  auto mon = EnergyMonitor::create(h.options(board()));
  for (int i = 0; i < 20; ++i) {
    EnergySpan span = mon->begin();
    h.t += 0.5;
    switch (i % 4) {
      case 0: h.fs.write("sys/class/powercap/intel-rapl:0/energy_uj", "-1"); break;
      case 1: h.fs.write("sys/class/powercap/intel-rapl:0/energy_uj", "nan"); break;
      case 2: h.fs.write("sys/class/powercap/intel-rapl:0/energy_uj", 1'000'000); break;  // backwards: a wrap
      case 3: h.fs.write("sys/class/powercap/intel-rapl:0/energy_uj", 1'200'000); break;
    }
    Result<EnergyReading> r = span.finish();
    ASSERT_TRUE(r.ok());
    EXPECT_GE(r->joules, 0.0);
    EXPECT_TRUE(std::isfinite(r->joules));
  }
}

TEST(EnergyMonitor, SamplerThreadIntegratesWhileASpanIsOpenAndStops) {
  FakeSysfs fs;
  ina(fs, 10000, 100);  // 1 W
  EnergyMonitorOptions o;
  o.sysfs_root = fs.root();
  o.log = [](const std::string&) {};
  o.sample_period_s = 0.01;
  auto mon = EnergyMonitor::create(o);
  EnergySpan span = mon->begin();
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  Result<EnergyReading> r = span.finish();
  ASSERT_TRUE(r.ok());
  // Real time: the power is constant, so joules = 1 W x the span's own duration.
  EXPECT_NEAR(r->joules, r->seconds * 1.0, 1e-6);
  EXPECT_GE(r->seconds, 0.05);
  mon.reset();  // joins the sampler: must not hang
}

}  // namespace
}  // namespace nm::energy
