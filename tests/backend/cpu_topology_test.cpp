// CPU cluster detection on fake sysfs/procfs trees written by the test into a temp dir:
// RK3588 (4x A55 + 4x A76), RK3566 (4x A55), an Intel hybrid laptop (4 P cores with SMT
// + 8 E cores), a 3-tier phone, and a machine without capacity or cpufreq files.
#include "backend/cpu/cpu_topology.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "backend/cpu/cpu_device.h"
#include "backend/device_registry.h"

namespace nm {
namespace {

namespace fs = std::filesystem;

class FakeSysfs {
 public:
  FakeSysfs() {
    std::random_device rd;
    root_ = fs::temp_directory_path() / ("nm_sysfs_" + std::to_string(rd()));
    fs::create_directories(root_ / "sys/devices/system/cpu");
  }
  ~FakeSysfs() { fs::remove_all(root_); }
  void write(const std::string& rel, const std::string& text) {
    fs::create_directories((root_ / rel).parent_path());
    std::ofstream(root_ / rel) << text << "\n";
  }
  // capacity/freq < 0: file absent.
  void cpu(int n, int capacity, long freq_khz, int cluster, int core_id = -1) {
    const std::string d = "sys/devices/system/cpu/cpu" + std::to_string(n) + "/";
    if (capacity >= 0) write(d + "cpu_capacity", std::to_string(capacity));
    if (freq_khz >= 0) write(d + "cpufreq/cpuinfo_max_freq", std::to_string(freq_khz));
    write(d + "topology/cluster_id", std::to_string(cluster));
    write(d + "topology/physical_package_id", "0");
    write(d + "topology/core_id", std::to_string(core_id >= 0 ? core_id : n));
  }
  std::string root() const { return root_.string(); }

 private:
  fs::path root_;
};

std::string arm_cpuinfo(const std::vector<const char*>& parts) {
  std::string s;
  for (size_t i = 0; i < parts.size(); ++i) {
    s += "processor\t: " + std::to_string(i) + "\nBogoMIPS\t: 48.00\nCPU implementer\t: 0x41\nCPU part\t: " +
         parts[i] + "\n\n";
  }
  return s;
}

TEST(CpuTopology, Rk3588BigLittle) {
  FakeSysfs fs;
  fs.write("sys/devices/system/cpu/online", "0-7");
  for (int i = 0; i < 4; ++i) fs.cpu(i, 414, 1800000, 0);
  for (int i = 4; i < 8; ++i) fs.cpu(i, 1024, 2400000, i < 6 ? 1 : 2);
  fs.write("proc/cpuinfo", arm_cpuinfo({"0xd05", "0xd05", "0xd05", "0xd05", "0xd0b", "0xd0b", "0xd0b", "0xd0b"}));
  std::vector<CpuCluster> c = detect_cpu_clusters(fs.root());
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].name, "cpu:big");
  EXPECT_EQ(c[0].cpus, (std::vector<int>{4, 5, 6, 7}));
  EXPECT_EQ(c[0].physical, (std::vector<int>{4, 5, 6, 7}));
  EXPECT_EQ(c[0].capacity, 1024);
  EXPECT_EQ(c[0].max_freq_khz, 2400000);
  EXPECT_EQ(c[0].part, "Cortex-A76");
  EXPECT_EQ(c[1].name, "cpu:little");
  EXPECT_EQ(c[1].cpus, (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(c[1].part, "Cortex-A55");
  EXPECT_EQ(c[0].description(), "4x Cortex-A76 @ 2.40 GHz (capacity 1024)");
}

TEST(CpuTopology, Rk3566AllAlike) {
  FakeSysfs fs;
  fs.write("sys/devices/system/cpu/online", "0-3");
  for (int i = 0; i < 4; ++i) fs.cpu(i, 1024, 1800000, 0);
  fs.write("proc/cpuinfo", arm_cpuinfo({"0xd05", "0xd05", "0xd05", "0xd05"}));
  std::vector<CpuCluster> c = detect_cpu_clusters(fs.root());
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].name, "cpu");
  EXPECT_EQ(c[0].cpus.size(), 4u);
  EXPECT_EQ(c[0].part, "Cortex-A55");
}

TEST(CpuTopology, HybridLaptopPAndECores) {
  // 4 P cores with 2 SMT threads each (cpus 0-7) + 8 E cores (cpus 8-15). Favoured P
  // cores boost a little higher: that must not split the P cluster.
  FakeSysfs fs;
  fs.write("sys/devices/system/cpu/online", "0-15");
  for (int i = 0; i < 8; ++i) fs.cpu(i, -1, i < 2 ? 4700000 : 4500000, 0, i / 2);
  for (int i = 8; i < 16; ++i) fs.cpu(i, -1, 3300000, 0, 8 + i);
  fs.write("sys/devices/cpu_core/cpus", "0-7");
  fs.write("sys/devices/cpu_atom/cpus", "8-15");
  std::vector<CpuCluster> c = detect_cpu_clusters(fs.root());
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].name, "cpu:big");
  EXPECT_EQ(c[0].cpus, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(c[0].physical, (std::vector<int>{0, 2, 4, 6}));  // one thread per P core
  EXPECT_EQ(c[0].max_freq_khz, 4700000);
  EXPECT_EQ(c[1].name, "cpu:little");
  EXPECT_EQ(c[1].cpus.size(), 8u);
  EXPECT_EQ(c[1].physical.size(), 8u);
}

TEST(CpuTopology, HybridByFrequencyWithoutLists) {
  // Older kernels: no cpu_core/cpu_atom lists, only differing max frequencies.
  FakeSysfs fs;
  for (int i = 0; i < 4; ++i) fs.cpu(i, -1, 4400000, 0);
  for (int i = 4; i < 12; ++i) fs.cpu(i, -1, 3300000, 0);
  std::vector<CpuCluster> c = detect_cpu_clusters(fs.root());  // no "online" file: directory scan
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].cpus, (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(c[1].cpus.size(), 8u);
}

TEST(CpuTopology, ThreeTierPhone) {
  FakeSysfs fs;
  fs.write("sys/devices/system/cpu/online", "0-7");
  for (int i = 0; i < 4; ++i) fs.cpu(i, 325, 1800000, 0);
  for (int i = 4; i < 7; ++i) fs.cpu(i, 870, 2500000, 1);
  fs.cpu(7, 1024, 3000000, 2);
  std::vector<CpuCluster> c = detect_cpu_clusters(fs.root());
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c[0].name, "cpu:big");
  EXPECT_EQ(c[0].cpus, (std::vector<int>{7}));
  EXPECT_EQ(c[1].name, "cpu:mid");
  EXPECT_EQ(c[1].cpus, (std::vector<int>{4, 5, 6}));
  EXPECT_EQ(c[2].name, "cpu:little");
}

TEST(CpuTopology, NoCapacityOrFrequencyFilesAllAlike) {
  FakeSysfs fs;
  fs.write("sys/devices/system/cpu/online", "0-5");
  for (int i = 0; i < 6; ++i) fs.cpu(i, -1, -1, 0);
  std::vector<CpuCluster> c = detect_cpu_clusters(fs.root());
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].name, "cpu");
  EXPECT_EQ(c[0].cpus.size(), 6u);
  EXPECT_EQ(c[0].capacity, -1);
  EXPECT_EQ(c[0].description(), "6x core");
}

TEST(CpuTopology, MissingTreeFallsBackToOneCluster) {
  std::vector<CpuCluster> c = detect_cpu_clusters("/nonexistent/nm");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].name, "cpu");
  EXPECT_FALSE(c[0].cpus.empty());
}

TEST(CpuTopology, ParseCpuList) {
  EXPECT_EQ(parse_cpu_list("0-3,8,10-11\n"), (std::vector<int>{0, 1, 2, 3, 8, 10, 11}));
  EXPECT_EQ(parse_cpu_list(""), std::vector<int>{});
  EXPECT_EQ(parse_cpu_list("x,3-1,5"), std::vector<int>{5});
}

TEST(CpuTopology, RegistryMakesOneDevicePerCluster) {
  FakeSysfs fs;
  fs.write("sys/devices/system/cpu/online", "0-7");
  for (int i = 0; i < 4; ++i) fs.cpu(i, 414, 1800000, 0);
  for (int i = 4; i < 8; ++i) fs.cpu(i, 1024, 2400000, 1);
  DeviceRegistryOptions opt;
  opt.sysfs_root = fs.root();
  opt.opencl = false;
  DeviceRegistry reg = DeviceRegistry::create(opt);
  ASSERT_EQ(reg.devices().size(), 2u);
  EXPECT_EQ(reg.cpu().name(), "cpu:big");
  ASSERT_NE(reg.find("cpu:little"), nullptr);
  EXPECT_EQ(reg.find("cpu"), &reg.cpu());
  EXPECT_EQ(reg.find("npu"), nullptr);
  auto* little = static_cast<CpuDevice*>(reg.find("cpu:little"));
  EXPECT_EQ(little->n_threads(), 4);
  EXPECT_EQ(little->kind(), DeviceKind::cpu);
  EXPECT_TRUE(little->memory().unified);
}

TEST(CpuTopology, DeclaredClustersSplitAlikeCores) {
  FakeSysfs fs;
  fs.write("sys/devices/system/cpu/online", "0-3");
  for (int i = 0; i < 4; ++i) fs.cpu(i, 1024, 2400000, 0);
  DeviceRegistryOptions opt;
  opt.sysfs_root = fs.root();
  opt.opencl = false;
  opt.cpu_clusters = "0|1-3";
  DeviceRegistry reg = DeviceRegistry::create(opt);
  ASSERT_EQ(reg.devices().size(), 2u);
  auto* c0 = static_cast<CpuDevice*>(reg.find("cpu:0"));
  auto* c1 = static_cast<CpuDevice*>(reg.find("cpu:1"));
  ASSERT_NE(c0, nullptr);
  ASSERT_NE(c1, nullptr);
  EXPECT_EQ(c0->cluster().cpus, (std::vector<int>{0}));
  EXPECT_EQ(c1->cluster().cpus, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(c1->n_threads(), 3);
  EXPECT_EQ(reg.find("cpu"), c0);  // "cpu" picks the first declared cluster

  // A bad declaration is reported once and the detected clusters are used.
  for (const char* bad : {"0|0", "0|9", "0||1", "a|b", "0-1|"}) {
    std::vector<std::string> lines;
    opt.cpu_clusters = bad;
    opt.log = [&](const std::string& l) { lines.push_back(l); };
    DeviceRegistry r = DeviceRegistry::create(opt);
    ASSERT_EQ(r.devices().size(), 1u) << bad;
    EXPECT_EQ(r.devices()[0]->name(), "cpu") << bad;
    ASSERT_EQ(lines.size(), 1u) << bad;
    EXPECT_NE(lines[0].find("NM_CPU_CLUSTERS"), std::string::npos) << lines[0];
  }
}

}  // namespace
}  // namespace nm
