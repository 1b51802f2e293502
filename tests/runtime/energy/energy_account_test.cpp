// EnergyAccount: per-phase joules of a request from a measured sensor (a constant 5 W
// rail: joules = 5 W x each phase's own duration) and from the estimate (busy time x the
// device's power share), with the source named and per-token figures derived.
#include "runtime/energy/energy_account.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "fake_sysfs.h"

namespace nm::energy {
namespace {

void busy_for(double s) { std::this_thread::sleep_for(std::chrono::duration<double>(s)); }

TEST(EnergyAccount, MeasuredPhasesFromASensor) {
  testing::FakeSysfs fs;
  fs.write("sys/class/hwmon/hwmon0/name", "ina226");
  fs.write("sys/class/hwmon/hwmon0/in1_input", 5000);
  fs.write("sys/class/hwmon/hwmon0/curr1_input", 1000);  // 5 W
  EnergyMonitorOptions o;
  o.sysfs_root = fs.root();
  o.log = [](const std::string&) {};
  auto mon = EnergyMonitor::create(o);
  EnergyAccount acc(mon.get());
  acc.begin_request();
  acc.begin_phase(EnergyPhase::prefill);
  busy_for(0.03);
  acc.end_phase(EnergyPhase::prefill, "cpu", 2, 12);
  acc.begin_phase(EnergyPhase::decode);
  busy_for(0.02);
  acc.end_phase(EnergyPhase::decode, "cpu", 2, 8);
  const EnergyReport& r = acc.end_request();
  ASSERT_TRUE(r.valid);
  EXPECT_TRUE(r.measured);
  EXPECT_NE(r.source.find("ina226"), std::string::npos);
  const PhaseEnergy& pre = r.phase(EnergyPhase::prefill);
  const PhaseEnergy& dec = r.phase(EnergyPhase::decode);
  EXPECT_NEAR(pre.joules, 5.0 * pre.seconds, 1e-9);
  EXPECT_NEAR(dec.joules, 5.0 * dec.seconds, 1e-9);
  EXPECT_GE(pre.seconds, 0.03);
  EXPECT_EQ(pre.tokens, 12);
  EXPECT_NEAR(dec.joules_per_token(), dec.joules / 8, 1e-12);
  EXPECT_NEAR(r.joules, 5.0 * r.seconds, 1e-9);
  EXPECT_GE(r.joules, pre.joules + dec.joules);
  EXPECT_EQ(r.phase(EnergyPhase::vision).joules, 0.0);
}

TEST(EnergyAccount, EstimatedPhasesChargeBusyTime) {
  EnergyMonitorOptions o;
  o.discover = false;
  o.power_model = PowerModel{"board", 0.5, {{"cpu", "cpu", 4.0, 4}}};
  o.log = [](const std::string&) {};
  auto mon = EnergyMonitor::create(o);
  EnergyAccount acc(mon.get());
  acc.begin_request();
  acc.begin_phase(EnergyPhase::vision);
  busy_for(0.04);
  acc.end_phase(EnergyPhase::vision, "cpu", 2, 9);  // half the cores: +2 W
  const EnergyReport& r = acc.end_request();
  ASSERT_TRUE(r.valid);
  EXPECT_FALSE(r.measured);
  EXPECT_NE(r.source.find("estimated"), std::string::npos);
  const PhaseEnergy& v = r.phase(EnergyPhase::vision);
  // idle 0.5 W over the span + 2 W over the busy time (the same interval, timed separately)
  EXPECT_NEAR(v.joules, 2.5 * v.seconds, 0.05 * v.joules);
  EXPECT_GE(v.seconds, 0.04);
}

TEST(EnergyAccount, NoMonitorNoReport) {
  EnergyAccount acc(nullptr);
  acc.begin_request();
  acc.begin_phase(EnergyPhase::decode);
  acc.end_phase(EnergyPhase::decode, "cpu", 1, 3);
  EXPECT_FALSE(acc.end_request().valid);
  EXPECT_EQ(acc.last().phase(EnergyPhase::decode).tokens, 3);
}

}  // namespace
}  // namespace nm::energy

namespace nm::energy {
namespace {

TEST(EnergyAccount, NestedPhasesChargeTheOuterOnlyItsOwnPart) {
  testing::FakeSysfs fs;
  fs.write("sys/class/hwmon/hwmon0/name", "ina226");
  fs.write("sys/class/hwmon/hwmon0/power1_input", 2'000'000);  // 2 W
  EnergyMonitorOptions o;
  o.sysfs_root = fs.root();
  o.log = [](const std::string&) {};
  auto mon = EnergyMonitor::create(o);
  EnergyAccount acc(mon.get());
  acc.begin_request();
  acc.begin_phase(EnergyPhase::prefill);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  acc.begin_phase(EnergyPhase::vision);  // an image encoded during the prefill
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  acc.end_phase(EnergyPhase::vision, "cpu", 2, 9);
  acc.end_phase(EnergyPhase::decode, "cpu", 2, 1);  // not the innermost: ignored
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  acc.end_phase(EnergyPhase::prefill, "cpu", 2, 30);
  const EnergyReport& r = acc.end_request();
  const PhaseEnergy& v = r.phase(EnergyPhase::vision);
  const PhaseEnergy& p = r.phase(EnergyPhase::prefill);
  EXPECT_GE(v.seconds, 0.03);
  EXPECT_GE(p.seconds, 0.04);
  EXPECT_LT(p.seconds, r.seconds);
  EXPECT_NEAR(v.joules, 2.0 * v.seconds, 1e-9);
  EXPECT_NEAR(p.joules, 2.0 * p.seconds, 1e-9);
  EXPECT_NEAR(v.joules + p.joules, 2.0 * (v.seconds + p.seconds), 1e-9);
  EXPECT_EQ(r.phase(EnergyPhase::decode).tokens, 0);
  EXPECT_EQ(p.tokens, 30);
}

}  // namespace
}  // namespace nm::energy
