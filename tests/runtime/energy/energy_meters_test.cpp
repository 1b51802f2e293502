// Each energy source on fake sysfs trees written by the test: known energy over a known
// interval comes back to within rounding; counters wrap; missing, unreadable and garbage
// files are refused with a message (never a crash, never a negative joule); a gap in the
// readings starts a new epoch instead of being guessed.
#include <gtest/gtest.h>

#include <cmath>

#include "runtime/energy/battery_gauge.h"
#include "runtime/energy/estimated_meter.h"
#include "runtime/energy/hwmon_meter.h"
#include "runtime/energy/rapl_meter.h"
#include "runtime/energy/sysfs_reader.h"
#include "fake_sysfs.h"

namespace nm::energy {
namespace {

using testing::FakeSysfs;

constexpr const char* kPkg = "sys/class/powercap/intel-rapl:0/";
constexpr const char* kDram = "sys/class/powercap/intel-rapl:0:2/";
constexpr long long kRange = 262143328850LL;  // a real package max_energy_range_uj

void rapl_zone(const FakeSysfs& fs, const std::string& dir, const char* name, long long uj, long long range = kRange) {
  fs.write(dir + "name", name);
  fs.write(dir + "energy_uj", uj);
  fs.write(dir + "max_energy_range_uj", range);
}

TEST(SysfsReader, ParsesStrictIntegers) {
  EXPECT_EQ(parse_sysfs_int("42\n", "x").value(), 42);
  EXPECT_EQ(parse_sysfs_int("  -7 ", "x").value(), -7);
  EXPECT_EQ(parse_sysfs_int("+9", "x").value(), 9);
  for (const char* bad : {"", "  ", "12abc", "abc", "1.5", "0x10", "99999999999999999999999", "- 3"}) {
    Result<int64_t> r = parse_sysfs_int(bad, "f");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), ErrorCode::invalid_file) << bad;
    EXPECT_NE(r.status().message().find("f:"), std::string::npos) << r.status().message();
  }
  EXPECT_EQ(sysfs_path("/", "sys/class"), "/sys/class");
  EXPECT_EQ(sysfs_path("/tmp/x/", "/sys"), "/tmp/x/sys");
}

TEST(SysfsReader, ListsDirectoriesInNaturalOrder) {
  FakeSysfs fs;
  for (const char* n : {"hwmon10", "hwmon2", "hwmon1", "hwmon0"}) fs.write(std::string("d/") + n + "/name", "x");
  const std::vector<std::string> names = list_sysfs_dir(fs.path("d"));
  EXPECT_EQ(names, (std::vector<std::string>{"hwmon0", "hwmon1", "hwmon2", "hwmon10"}));
  EXPECT_TRUE(list_sysfs_dir(fs.path("missing")).empty());
}

TEST(RaplMeter, KnownEnergyOverKnownInterval) {
  FakeSysfs fs;
  rapl_zone(fs, kPkg, "package-0", 1'000'000);
  rapl_zone(fs, "sys/class/powercap/intel-rapl:0:0/", "core", 5);  // inside the package: not added
  rapl_zone(fs, kDram, "dram", 2'000'000);
  auto m = RaplMeter::discover(fs.root());
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  EXPECT_EQ((*m)->description(), "RAPL package-0 + dram (powercap)");
  EXPECT_EQ((*m)->rank(), kRankRaplPackage);
  ASSERT_TRUE((*m)->sample(10.0).ok());
  EXPECT_EQ((*m)->total_joules(), 0.0);
  fs.write(std::string(kPkg) + "energy_uj", 3'500'000);  // +2.5 J
  fs.write(std::string(kDram) + "energy_uj", 2'250'000);  // +0.25 J
  fs.write("sys/class/powercap/intel-rapl:0:0/energy_uj", 999'999'999);
  ASSERT_TRUE((*m)->sample(11.0).ok());
  EXPECT_NEAR((*m)->total_joules(), 2.75, 1e-9);
  EXPECT_NEAR((*m)->watts(), 2.75, 1e-9);
}

TEST(RaplMeter, PlatformZoneAloneWhenPresent) {
  FakeSysfs fs;
  rapl_zone(fs, kPkg, "package-0", 0);
  rapl_zone(fs, "sys/class/powercap/intel-rapl:1/", "psys", 0);
  rapl_zone(fs, "sys/class/powercap/intel-rapl-mmio:0/", "package-0", 0);
  auto m = RaplMeter::discover(fs.root());
  ASSERT_TRUE(m.ok());
  EXPECT_EQ((*m)->description(), "RAPL psys (powercap)");
  EXPECT_EQ((*m)->rank(), kRankBoardInput);
  ASSERT_TRUE((*m)->sample(0).ok());
  fs.write("sys/class/powercap/intel-rapl:1/energy_uj", 7'000'000);
  fs.write(std::string(kPkg) + "energy_uj", 5'000'000);
  ASSERT_TRUE((*m)->sample(1).ok());
  EXPECT_NEAR((*m)->total_joules(), 7.0, 1e-9);
}

TEST(RaplMeter, CounterWrapsAtItsRange) {
  FakeSysfs fs;
  rapl_zone(fs, kPkg, "package-0", kRange - 1'000'000);
  auto m = RaplMeter::discover(fs.root());
  ASSERT_TRUE(m.ok());
  ASSERT_TRUE((*m)->sample(0).ok());
  fs.write(std::string(kPkg) + "energy_uj", 3'000'000);  // wrapped: 1 J before the wrap, 3 J after
  ASSERT_TRUE((*m)->sample(1).ok());
  EXPECT_NEAR((*m)->total_joules(), 4.0, 1e-9);
  EXPECT_EQ((*m)->epoch(), 0u);
}

TEST(RaplMeter, GarbageMissingAndOutOfRangeAreRefusedAndTheTotalNeverFalls) {
  FakeSysfs fs;
  rapl_zone(fs, kPkg, "package-0", 1'000'000);
  auto m = RaplMeter::discover(fs.root());
  ASSERT_TRUE(m.ok());
  EnergyMeter& meter = **m;
  ASSERT_TRUE(meter.sample(0).ok());
  fs.write(std::string(kPkg) + "energy_uj", 2'000'000);
  ASSERT_TRUE(meter.sample(1).ok());
  EXPECT_NEAR(meter.total_joules(), 1.0, 1e-9);

  fs.write(std::string(kPkg) + "energy_uj", "12abc");
  Status s = meter.sample(2);
  EXPECT_EQ(s.code(), ErrorCode::invalid_file);
  EXPECT_NE(s.message().find("not an integer"), std::string::npos) << s.message();
  EXPECT_FALSE(meter.healthy());
  EXPECT_NEAR(meter.total_joules(), 1.0, 1e-9);

  fs.write(std::string(kPkg) + "energy_uj", kRange + 5);
  EXPECT_NE(meter.sample(3).message().find("above its range"), std::string::npos);
  fs.write(std::string(kPkg) + "energy_uj", -5);
  EXPECT_NE(meter.sample(3.5).message().find("negative"), std::string::npos);

  fs.remove(std::string(kPkg) + "energy_uj");
  EXPECT_EQ(meter.sample(4).code(), ErrorCode::io_error);
  EXPECT_NEAR(meter.total_joules(), 1.0, 1e-9);

  // Back again: a new baseline in a new epoch, nothing guessed for the gap.
  fs.write(std::string(kPkg) + "energy_uj", 50'000'000);
  ASSERT_TRUE(meter.sample(5).ok());
  EXPECT_EQ(meter.epoch(), 1u);
  EXPECT_NEAR(meter.total_joules(), 1.0, 1e-9);
  fs.write(std::string(kPkg) + "energy_uj", 50'500'000);
  ASSERT_TRUE(meter.sample(6).ok());
  EXPECT_NEAR(meter.total_joules(), 1.5, 1e-9);
}

TEST(RaplMeter, AnImplausibleJumpIsRefused) {
  FakeSysfs fs;
  rapl_zone(fs, kPkg, "package-0", 0);
  auto m = RaplMeter::discover(fs.root());
  ASSERT_TRUE(m.ok());
  ASSERT_TRUE((*m)->sample(0).ok());
  fs.write(std::string(kPkg) + "energy_uj", 100'000'000'000LL);  // 100 kJ in 1 s
  Status s = (*m)->sample(1);
  EXPECT_NE(s.message().find("implausible"), std::string::npos) << s.message();
  EXPECT_EQ((*m)->total_joules(), 0.0);
}

TEST(RaplMeter, AbsentAndUnreadable) {
  FakeSysfs fs;
  EXPECT_EQ(RaplMeter::discover(fs.root()).status().code(), ErrorCode::unsupported);
  fs.write("sys/class/powercap/dtpm/name", "dtpm");  // ARM powercap without RAPL
  EXPECT_EQ(RaplMeter::discover(fs.root()).status().code(), ErrorCode::unsupported);
  rapl_zone(fs, kPkg, "package-0", 1);
  // A file that cannot be read (here a directory in its place): a clear error.
  fs.remove(std::string(kPkg) + "energy_uj");
  fs.write(std::string(kPkg) + "energy_uj/x", "1");
  Result<std::unique_ptr<RaplMeter>> dir = RaplMeter::discover(fs.root());
  ASSERT_FALSE(dir.ok());
  EXPECT_EQ(dir.status().code(), ErrorCode::io_error);
  EXPECT_NE(dir.status().message().find("package-0"), std::string::npos) << dir.status().message();
}

TEST(RaplMeter, ReadableOnlyByRoot) {
  if (!FakeSysfs::can_test_permissions()) GTEST_SKIP() << "running as root: permissions are not enforced";
  FakeSysfs fs;
  rapl_zone(fs, kPkg, "package-0", 1);
  fs.make_unreadable(std::string(kPkg) + "energy_uj");
  Result<std::unique_ptr<RaplMeter>> r = RaplMeter::discover(fs.root());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("only by root"), std::string::npos) << r.status().message();
}

// The INA3221 as the Jetson Orin Nano module exposes it through hwmon.
void jetson_ina3221(const FakeSysfs& fs, const std::string& hw = "sys/class/hwmon/hwmon1/") {
  fs.write(hw + "name", "ina3221");
  const char* labels[] = {"VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC"};
  for (int k = 1; k <= 3; ++k) {
    fs.write(hw + "in" + std::to_string(k) + "_label", labels[k - 1]);
    fs.write(hw + "in" + std::to_string(k) + "_input", 5000);           // mV
    fs.write(hw + "curr" + std::to_string(k) + "_input", 1000 / k);     // mA
    fs.write(hw + "in" + std::to_string(k + 3) + "_input", 12);          // shunt mV
  }
  fs.write(hw + "curr4_input", 1833);  // summation channel: no bus voltage to pair with
  fs.write(hw + "in7_input", 30);
}

TEST(HwmonMeter, Ina3221RailsAsVoltageTimesCurrent) {
  FakeSysfs fs;
  jetson_ina3221(fs);
  fs.write("sys/class/hwmon/hwmon0/name", "cpu_thermal");
  fs.write("sys/class/hwmon/hwmon0/temp1_input", 45000);
  std::vector<std::string> notes;
  auto meters = HwmonMeter::discover(fs.root(), &notes);
  ASSERT_EQ(meters.size(), 3u);
  EXPECT_EQ(meters[0]->name(), "hwmon:ina3221:VDD_IN");
  EXPECT_EQ(meters[0]->reading(), HwmonMeter::Reading::volt_amp);
  EXPECT_EQ(meters[0]->rank(), kRankBoardInput + 1);
  EXPECT_EQ(meters[1]->name(), "hwmon:ina3221:VDD_CPU_GPU_CV");
  EXPECT_EQ(meters[1]->rank(), kRankOtherSensor);
  EnergyMeter& in = *meters[0];
  ASSERT_TRUE(in.sample(0).ok());
  ASSERT_TRUE(in.sample(2).ok());  // 5 V x 1 A for 2 s
  EXPECT_NEAR(in.total_joules(), 10.0, 1e-9);
  fs.write("sys/class/hwmon/hwmon1/curr1_input", 2000);  // 10 W now: trapezoid of 5 and 10 W
  ASSERT_TRUE(in.sample(3).ok());
  EXPECT_NEAR(in.total_joules(), 17.5, 1e-9);
  EXPECT_NEAR(in.watts(), 7.5, 1e-9);
}

TEST(HwmonMeter, PowerAndEnergyAttributesAndOldLayout) {
  FakeSysfs fs;
  fs.write("sys/class/hwmon/hwmon3/device/name", "ina226");  // attributes under device/
  fs.write("sys/class/hwmon/hwmon3/device/power1_input", 2'500'000);  // uW
  fs.write("sys/class/hwmon/hwmon3/device/in1_input", 5000);
  fs.write("sys/class/hwmon/hwmon3/device/curr1_input", 500);
  fs.write("sys/class/hwmon/hwmon3/device/in0_input", 3);  // shunt, no current of its own
  fs.write("sys/class/hwmon/hwmon4/name", "acpi_power");
  fs.write("sys/class/hwmon/hwmon4/energy1_input", 1'000'000);
  fs.write("sys/class/hwmon/hwmon4/energy1_label", "board");
  auto meters = HwmonMeter::discover(fs.root());
  ASSERT_EQ(meters.size(), 2u);
  EXPECT_EQ(meters[0]->name(), "hwmon:ina226:rail1");
  EXPECT_EQ(meters[0]->reading(), HwmonMeter::Reading::power);
  EXPECT_EQ(meters[0]->rank(), kRankPowerMonitor);
  EXPECT_EQ(meters[1]->reading(), HwmonMeter::Reading::energy);
  EXPECT_EQ(meters[1]->rank(), kRankBoardInput);
  for (auto& m : meters) ASSERT_TRUE(m->sample(0).ok());
  fs.write("sys/class/hwmon/hwmon4/energy1_input", 4'000'000);
  for (auto& m : meters) ASSERT_TRUE(m->sample(4).ok());
  EXPECT_NEAR(meters[0]->total_joules(), 10.0, 1e-9);  // 2.5 W x 4 s
  EXPECT_NEAR(meters[1]->total_joules(), 3.0, 1e-9);
  // An energy counter that goes backwards without a known range is a reset, not a wrap.
  fs.write("sys/class/hwmon/hwmon4/energy1_input", 10);
  EXPECT_NE(meters[1]->sample(5).message().find("backwards"), std::string::npos);
  EXPECT_NEAR(meters[1]->total_joules(), 3.0, 1e-9);
}

TEST(HwmonMeter, BadReadingsAreRefused) {
  FakeSysfs fs;
  jetson_ina3221(fs);
  auto meters = HwmonMeter::discover(fs.root());
  ASSERT_FALSE(meters.empty());
  EnergyMeter& m = *meters[0];
  ASSERT_TRUE(m.sample(0).ok());
  fs.write("sys/class/hwmon/hwmon1/curr1_input", -300);
  EXPECT_NE(m.sample(1).message().find("reverse flow"), std::string::npos);
  fs.write("sys/class/hwmon/hwmon1/curr1_input", "garbage");
  EXPECT_EQ(m.sample(2).code(), ErrorCode::invalid_file);
  fs.write("sys/class/hwmon/hwmon1/curr1_input", 99'000'000);  // 495 kW
  EXPECT_NE(m.sample(3).message().find("implausible"), std::string::npos);
  fs.remove("sys/class/hwmon/hwmon1");
  EXPECT_EQ(m.sample(4).code(), ErrorCode::io_error);
  EXPECT_EQ(m.total_joules(), 0.0);
  EXPECT_FALSE(m.healthy());
}

TEST(HwmonMeter, MismatchedLabelsAreNotPaired) {
  FakeSysfs fs;
  fs.write("sys/class/hwmon/hwmon0/name", "odd");
  fs.write("sys/class/hwmon/hwmon0/in1_input", 5000);
  fs.write("sys/class/hwmon/hwmon0/in1_label", "VBAT");
  fs.write("sys/class/hwmon/hwmon0/curr1_input", 100);
  fs.write("sys/class/hwmon/hwmon0/curr1_label", "IGPU");
  std::vector<std::string> notes;
  EXPECT_TRUE(HwmonMeter::discover(fs.root(), &notes).empty());
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_NE(notes[0].find("labels differ"), std::string::npos);
}

TEST(HwmonMeter, InputRailLabels) {
  for (const char* l : {"VDD_IN", "POM_5V_IN", "vin", "VSYS", "total", "VIN_5V"}) EXPECT_TRUE(is_input_rail_label(l)) << l;
  for (const char* l : {"VDD_CPU_GPU_CV", "VDD_SOC", "INTERNAL", "vddgfx"}) EXPECT_FALSE(is_input_rail_label(l)) << l;
}

constexpr const char* kBat = "sys/class/power_supply/BAT0/";

void battery(const FakeSysfs& fs, const char* status) {
  fs.write(std::string(kBat) + "type", "Battery");
  fs.write(std::string(kBat) + "status", status);
  fs.write(std::string(kBat) + "present", 1);
  fs.write(std::string(kBat) + "capacity", 80);
}

TEST(BatteryGauge, FindsSystemBatteriesOnly) {
  FakeSysfs fs;
  battery(fs, "Discharging");
  fs.write("sys/class/power_supply/AC/type", "Mains");
  fs.write("sys/class/power_supply/hid-mouse/type", "Battery");
  fs.write("sys/class/power_supply/hid-mouse/scope", "Device");
  fs.write("sys/class/power_supply/BAT1/type", "Battery");
  fs.write("sys/class/power_supply/BAT1/present", 0);
  const std::vector<std::string> found = find_batteries(fs.root());
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0], fs.path("sys/class/power_supply/BAT0"));
}

TEST(BatteryGauge, PowerNowIntegratedWhileDischarging) {
  FakeSysfs fs;
  battery(fs, "Discharging");
  fs.write(std::string(kBat) + "power_now", -2'000'000);  // some drivers sign it
  fs.write(std::string(kBat) + "voltage_now", 3'800'000);
  auto m = BatteryGaugeMeter::open(fs.path(kBat));
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  EXPECT_EQ((*m)->reading(), BatteryGaugeMeter::Reading::power_now);
  EXPECT_EQ((*m)->name(), "battery:BAT0");
  ASSERT_TRUE((*m)->sample(0).ok());
  ASSERT_TRUE((*m)->sample(3).ok());
  EXPECT_NEAR((*m)->total_joules(), 6.0, 1e-9);
  // Plugged in: the battery no longer sees the load.
  fs.write(std::string(kBat) + "status", "Charging");
  Status s = (*m)->sample(4);
  EXPECT_EQ(s.code(), ErrorCode::unsupported);
  EXPECT_NE(s.message().find("external power"), std::string::npos);
  EXPECT_NEAR((*m)->total_joules(), 6.0, 1e-9);
}

TEST(BatteryGauge, VoltageTimesCurrentAndStoredEnergy) {
  FakeSysfs fs;
  battery(fs, "Discharging");
  fs.write(std::string(kBat) + "voltage_now", 4'000'000);
  fs.write(std::string(kBat) + "current_now", 500'000);
  auto va = BatteryGaugeMeter::open(fs.path(kBat));
  ASSERT_TRUE(va.ok());
  EXPECT_EQ((*va)->reading(), BatteryGaugeMeter::Reading::volt_amp);
  ASSERT_TRUE((*va)->sample(0).ok());
  ASSERT_TRUE((*va)->sample(10).ok());
  EXPECT_NEAR((*va)->total_joules(), 20.0, 1e-9);

  FakeSysfs fs2;
  battery(fs2, "Discharging");
  fs2.write(std::string(kBat) + "energy_now", 10'000'000);  // uWh
  auto en = BatteryGaugeMeter::open(fs2.path(kBat));
  ASSERT_TRUE(en.ok());
  EXPECT_EQ((*en)->reading(), BatteryGaugeMeter::Reading::energy_now);
  ASSERT_TRUE((*en)->sample(0).ok());
  fs2.write(std::string(kBat) + "energy_now", 9'999'000);  // 1 mWh = 3.6 J
  ASSERT_TRUE((*en)->sample(5).ok());
  EXPECT_NEAR((*en)->total_joules(), 3.6, 1e-9);
  fs2.write(std::string(kBat) + "energy_now", 9'999'500);  // rose while discharging
  EXPECT_NE((*en)->sample(6).message().find("rose"), std::string::npos);
  EXPECT_NEAR((*en)->total_joules(), 3.6, 1e-9);

  FakeSysfs fs3;
  battery(fs3, "Discharging");
  EXPECT_EQ(BatteryGaugeMeter::open(fs3.path(kBat)).status().code(), ErrorCode::unsupported);
}

TEST(BatteryGauge, LevelFromCapacityOrRatios) {
  FakeSysfs fs;
  battery(fs, "Discharging");
  Result<BatteryState> st = read_battery_state(fs.path(kBat));
  ASSERT_TRUE(st.ok());
  EXPECT_DOUBLE_EQ(st->level, 0.8);
  EXPECT_EQ(st->status, BatteryStatus::discharging);
  fs.write(std::string(kBat) + "capacity", 150);
  EXPECT_EQ(read_battery_state(fs.path(kBat)).status().code(), ErrorCode::invalid_file);
  fs.remove(std::string(kBat) + "capacity");
  fs.write(std::string(kBat) + "charge_now", 1'500'000);
  fs.write(std::string(kBat) + "charge_full", 2'000'000);
  st = read_battery_state(fs.path(kBat));
  ASSERT_TRUE(st.ok());
  EXPECT_DOUBLE_EQ(st->level, 0.75);
  fs.write(std::string(kBat) + "energy_now", 3'000'000);
  fs.write(std::string(kBat) + "energy_full", 12'000'000);
  st = read_battery_state(fs.path(kBat));
  ASSERT_TRUE(st.ok());
  EXPECT_DOUBLE_EQ(st->level, 0.25);
  EXPECT_NEAR(st->energy_now_j, 10800.0, 1e-6);  // 3 Wh
  fs.write(std::string(kBat) + "energy_now", "x");
  fs.write(std::string(kBat) + "charge_now", "y");
  EXPECT_FALSE(read_battery_state(fs.path(kBat)).ok());
}

TEST(EstimatedMeter, IdlePlusBusyDevicePower) {
  PowerModel pm{"board", 1.0, {{"cpu:big", "cpu", 4.0, 4}, {"gpu", "gpu", 2.0, 0}}};
  EstimatedEnergyMeter m(pm);
  EXPECT_FALSE(m.measured());
  EXPECT_NE(m.description().find("estimated"), std::string::npos);
  ASSERT_TRUE(m.sample(0).ok());
  m.add_busy("cpu:0", 2.0, 2);     // half the big cores for 2 s: 2 W x 2 s
  m.add_busy("opencl:0", 1.5);     // the GPU for 1.5 s: 3 J
  m.add_busy("npu", 10.0);         // no NPU in the profile: nothing
  ASSERT_TRUE(m.sample(10).ok());
  EXPECT_NEAR(m.total_joules(), 10.0 + 4.0 + 3.0, 1e-12);
  EXPECT_EQ(pm.match("npu"), nullptr);
  EXPECT_EQ(pm.match("cpu:big")->name, "cpu:big");
}

}  // namespace
}  // namespace nm::energy
