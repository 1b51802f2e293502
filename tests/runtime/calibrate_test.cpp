// Calibration on a fake device whose runs advance a simulated clock by work / a known rate:
// every figure calibration writes must be that rate (matmul per weight type and batch,
// attention fused and as matmuls, element-wise bandwidth, launch cost), types the device
// cannot run are left out, the deadline cuts the tail and leaves a valid profile, power
// figures without a sensor are the stand-in profile's marked as estimates, and the result round-trips
// through the profile parser. The store: path under XDG_CACHE_HOME, age, stale builds,
// unusable files. One real run on this machine's CPU checks the figures are positive.
#include "runtime/profile/calibrate.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include "backend/device_registry.h"
#include "core/dtype.h"
#include "kernels/cpu_features.h"
#include "runtime/profile/calibration_store.h"

namespace nm {
namespace {

struct FakeRates {
  std::map<std::pair<DType, bool>, double> matmul_gflops;  // (weight type, prefill?) -> rate
  double attention_gflops[2] = {3, 12};                    // decode, prefill
  double add_gbps = 20;
  double launch_s = 25e-6;                                 // one graph run, added to every run
  double op_s = 3e-6;                                      // each matmul's dispatch, added to its arithmetic
  double read_gbps = 40, fma_gflops = 500;
};

class FakeExecutable final : public Executable {
 public:
  explicit FakeExecutable(Graph g) : g_(std::move(g)) {
    for (Node& n : g_.nodes()) {
      if (n.op != OpKind::input) continue;
      buffers_.emplace_back(n.t.n_bytes());
      n.t.data = buffers_.back().data();
    }
  }
  const Graph& graph() const override { return g_; }
  Status rebind(NodeId, void*) override { return Status::ok_status(); }

 private:
  Graph g_;
  std::vector<std::vector<unsigned char>> buffers_;
};

class FakeDevice final : public Device {
 public:
  FakeDevice(std::string name, DeviceKind kind, FakeRates r, double* clock) : name_(std::move(name)), kind_(kind), r_(r), clock_(clock) {}
  DeviceKind kind() const override { return kind_; }
  const std::string& name() const override { return name_; }
  std::string description() const override { return "fake " + name_; }
  DeviceMemoryInfo memory() const override { return {size_t{1} << 30, true}; }
  bool supports(const Graph& g, const Node& n) const override {
    if (n.op != OpKind::matmul) return true;
    return r_.matmul_gflops.count({g.node(n.src[0]).t.type, false}) > 0;
  }
  Result<std::unique_ptr<DeviceBuffer>> allocate(size_t) override { return error(ErrorCode::unsupported, "fake"); }
  Result<std::unique_ptr<DeviceBuffer>> import_host(void* p, size_t bytes) override {
    struct Buf final : DeviceBuffer {
      void* p;
      size_t n;
      void* host_ptr() const override { return p; }
      size_t size() const override { return n; }
      bool zero_copy() const override { return true; }
    };
    auto b = std::make_unique<Buf>();
    b->p = p;
    b->n = bytes;
    return std::unique_ptr<DeviceBuffer>(std::move(b));
  }
  Result<std::unique_ptr<Executable>> prepare(Graph g) override {
    for (const Node& n : g.nodes())
      if (!supports(g, n)) return error(ErrorCode::unsupported, "fake: no " + std::string(dtype_name(g.node(n.src[0]).t.type)));
    return std::unique_ptr<Executable>(new FakeExecutable(std::move(g)));
  }
  Status run(Executable& exe) override {
    double s = r_.launch_s;
    const Graph& g = exe.graph();
    for (const Node& n : g.nodes()) {
      if (n.op == OpKind::matmul) {
        const Tensor& w = g.node(n.src[0]).t;
        const int64_t m = g.node(n.src[1]).t.ne[1];
        s += 2.0 * (double)w.ne[0] * (double)w.ne[1] * (double)m / (r_.matmul_gflops.at({w.type, m > 1}) * 1e9) + r_.op_s;
      } else if (n.op == OpKind::attention) {
        const Tensor &q = g.node(n.src[0]).t, &k = g.node(n.src[1]).t;
        const double flops = 4.0 * (double)q.ne[0] * (double)k.ne[1] * (double)q.ne[2] * (double)q.ne[1];
        s += flops / (r_.attention_gflops[q.ne[1] > 1 ? 1 : 0] * 1e9);
      } else if (n.op == OpKind::add) {
        s += 3.0 * (double)n.t.n_bytes() / (r_.add_gbps * 1e9);
      }
    }
    *clock_ += s;
    ++runs;
    return Status::ok_status();
  }
  Status synchronize() override { return Status::ok_status(); }
  Result<std::unique_ptr<DeviceEvent>> record_event() override { return error(ErrorCode::unsupported, "fake"); }
  Result<DeviceSpeed> measure_speed() override { return DeviceSpeed{r_.read_gbps, r_.fma_gflops}; }
  int runs = 0;

 private:
  std::string name_;
  DeviceKind kind_;
  FakeRates r_;
  double* clock_;
};

FakeRates rates() {
  FakeRates r;
  r.matmul_gflops = {{{DType::Q4_0, false}, 40}, {{DType::Q4_0, true}, 160}, {{DType::Q8_0, false}, 30},
                     {{DType::Q8_0, true}, 200}, {{DType::F32, false}, 10}, {{DType::F32, true}, 20}};
  return r;
}

// The rate calibration must report for work w on the fake: the launch cost (and a
// matmul's dispatch) counts.
double expected_rate(double flops, double rate_gflops, double overhead_s) {
  return flops / (flops / (rate_gflops * 1e9) + overhead_s) / 1e9;
}

TEST(Calibrate, RecoversTheRatesOfAFakeDevice) {
  double clock = 1000;
  FakeRates r = rates();
  FakeDevice gpu("fakegpu", DeviceKind::gpu, r, &clock);
  CalibrationOptions o;
  o.weight_types = {DType::Q4_0, DType::Q8_0, DType::Q6_K};  // q6_k: not supported, left out
  o.prefill_tokens = 64;
  o.clock = [&clock] { return clock; };
  o.power_profile = "none";
  o.machine = "fake machine";
  o.build = "test build";
  o.created = 1700000000;
  std::vector<std::string> lines;
  o.progress = [&lines](const std::string& l) { lines.push_back(l); };
  Result<DeviceProfile> p = calibrate_devices({&gpu}, o);
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  ASSERT_EQ(p->devices.size(), 1u);
  const ProfileDevice& d = p->devices[0];
  EXPECT_EQ(d.name, "fakegpu");
  EXPECT_EQ(d.kind, "gpu");
  const double mm = 2.0 * 2048 * 2048;
  for (auto [t, name] : {std::pair{DType::Q4_0, "q4_0"}, std::pair{DType::Q8_0, "q8_0"}}) {
    const ProfileMatmul* dec = d.matmul_for(name, 1);
    const ProfileMatmul* pre = d.matmul_for(name, 64);
    ASSERT_TRUE(dec && pre && dec != pre) << name;
    EXPECT_EQ(dec->tokens, 1);
    EXPECT_EQ(pre->tokens, 64);
    EXPECT_NEAR(dec->gflops.value, expected_rate(mm, r.matmul_gflops[{t, false}], r.launch_s + r.op_s), 1e-6) << name;
    EXPECT_NEAR(pre->gflops.value, expected_rate(mm * 64, r.matmul_gflops[{t, true}], r.launch_s + r.op_s), 1e-6) << name;
    EXPECT_EQ(dec->gflops.source, "measured");
    // Streaming: a chain of 2048x2048 weights larger than the caches, each one matmul with its
    // dispatch; the one launch of the chain is within 1% of its time (at least 64 MiB).
    const double one = static_cast<double>(row_size(t, 2048)) * 2048;
    const double per_matmul = mm / (r.matmul_gflops[{t, false}] * 1e9) + r.op_s;
    ASSERT_TRUE(dec->read_gbps.known()) << name;
    EXPECT_NEAR(dec->read_gbps.value, one / per_matmul / 1e9, 0.01 * one / per_matmul / 1e9) << name;
    EXPECT_LE(dec->read_gbps.value, one / per_matmul / 1e9) << name;
    EXPECT_NE(dec->read_gbps.note.find("larger than the caches"), std::string::npos) << dec->read_gbps.note;
    EXPECT_FALSE(pre->read_gbps.known()) << name;  // prefill: compute-bound, not measured
  }
  EXPECT_EQ(d.matmul_for("q6_k", 1), nullptr);
  EXPECT_NE(std::find_if(lines.begin(), lines.end(), [](const std::string& l) {
              return l.find("matmul q6_k") != std::string::npos && l.find("not measured") != std::string::npos;
            }), lines.end());
  ASSERT_EQ(d.attention.size(), 4u);
  const double attn1 = 4.0 * 64 * 256 * 32 * 1, attn32 = attn1 * 32;
  EXPECT_FALSE(d.attention[0].matmuls);
  EXPECT_NEAR(d.attention[0].gflops.value, expected_rate(attn1, r.attention_gflops[0], r.launch_s), 1e-6);
  EXPECT_NEAR(d.attention[1].gflops.value, expected_rate(attn32, r.attention_gflops[1], r.launch_s), 1e-6);
  // As the vision brick runs it: per head (4 of 64) two f32 matmuls of T x T, each with its
  // dispatch (the fake charges nothing for the softmax and the concats).
  for (int i : {2, 3}) {
    const ProfileAttention& a = d.attention[(size_t)i];
    const int64_t t = i == 2 ? 64 : 576;
    EXPECT_TRUE(a.matmuls);
    EXPECT_EQ(a.tokens, t);
    EXPECT_EQ(a.kv, t);
    const double flops = 4.0 * 64 * (double)t * (double)t * 4;
    EXPECT_NEAR(a.gflops.value, flops / (flops / (r.matmul_gflops[{DType::F32, true}] * 1e9) + 8 * r.op_s + r.launch_s) / 1e9,
                1e-6);
  }
  EXPECT_EQ(d.attention_for(700, 700, true), &d.attention[3]);
  EXPECT_EQ(d.attention_for(9, 9, true), &d.attention[2]);
  EXPECT_EQ(d.attention_for(512, 512, false), &d.attention[1]);
  // Element-wise: 11 floats read or written per value of a 1024 x 576 activation; the fake
  // charges its two adds (3 floats per value each).
  const double values = 1024.0 * 576, add_s = 2 * 3.0 * 4 * values / (r.add_gbps * 1e9);
  EXPECT_NEAR(d.elementwise_gbps.value, 11.0 * 4 * values / (add_s + r.launch_s) / 1e9, 1e-6);
  // Launch: a one-add graph of 16384 floats after a pause (the median run).
  EXPECT_NEAR(d.launch_us.value, (r.launch_s + 3.0 * 4 * 16384 / (r.add_gbps * 1e9)) * 1e6, 1e-6);
  // Per op: one 64x64 f32 matmul of 9 rows and a small add after it, dispatch included;
  // the launch cost is the chain of one's, not counted.
  const double op_s = r.op_s + 2.0 * 64 * 64 * 9 / (r.matmul_gflops[{DType::F32, true}] * 1e9) +
                      3.0 * 64 * 9 * 4 / (r.add_gbps * 1e9);
  EXPECT_NEAR(d.op_us.value, op_s * 1e6, 1e-6);
  EXPECT_EQ(d.op_us.source, "measured");
  EXPECT_EQ(d.read_gbps.value, r.read_gbps);
  EXPECT_EQ(d.f32_gflops.value, r.fma_gflops);
  EXPECT_EQ(p->read_gbps.value, r.read_gbps);  // no CPU measured: the first device's bandwidth
  EXPECT_FALSE(d.active_w.known());  // no sensor, no stand-in ("none")
  EXPECT_EQ(p->calibration.build, "test build");
  EXPECT_GT(p->calibration.seconds, 0.0);

  Result<DeviceProfile> back = parse_device_profile(device_profile_to_json(*p), "written");
  ASSERT_TRUE(back.ok()) << back.status().to_string() << "\n" << device_profile_to_json(*p);
  EXPECT_EQ(back->devices[0].matmul.size(), 4u);
}

TEST(Calibrate, StandInPowerIsMarkedAsAnEstimate) {
  double clock = 0;
  FakeDevice cpu("cpu", DeviceKind::cpu, rates(), &clock);
  CalibrationOptions o;
  o.weight_types = {DType::Q4_0};
  o.clock = [&clock] { return clock; };
  o.power_profile = "x86-server-vcpu";  // 350 W over 112 threads
  o.machine = "m";
  o.build = "b";
  o.created = 5;
  Result<DeviceProfile> p = calibrate_devices({&cpu}, o);
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  const ProfileDevice& d = p->devices[0];
  ASSERT_TRUE(d.active_w.known());
  ASSERT_GT(d.cores, 0);  // a fake "cpu" device: every hardware thread
  EXPECT_NEAR(d.active_w.value, 350.0 / 112 * d.cores, 1e-9);
  EXPECT_TRUE(d.active_w.estimate);
  EXPECT_NE(d.active_w.note.find("not measured (no power sensor)"), std::string::npos) << d.active_w.note;
  EXPECT_NE(p->source(d.active_w.source), nullptr);  // the stand-in's source is cited
  ASSERT_TRUE(p->idle_w.known());
  EXPECT_TRUE(p->idle_w.estimate);
  EXPECT_EQ(p->read_gbps.value, 40);  // the CPU's bandwidth is the board's
  Result<DeviceProfile> back = parse_device_profile(device_profile_to_json(*p), "written");
  ASSERT_TRUE(back.ok()) << back.status().to_string();
}

TEST(Calibrate, DeadlineLeavesAValidProfile) {
  double clock = 0;
  FakeRates slow = rates();
  slow.matmul_gflops = {{{DType::Q4_0, false}, 0.001}, {{DType::Q4_0, true}, 0.001},
                        {{DType::Q8_0, false}, 0.001}, {{DType::Q8_0, true}, 0.001}};  // 8.4 s per decode run
  FakeDevice a("a", DeviceKind::gpu, slow, &clock), b("b", DeviceKind::gpu, rates(), &clock);
  CalibrationOptions o;
  o.weight_types = {DType::Q4_0, DType::Q8_0};
  o.clock = [&clock] { return clock; };
  o.power_profile = "none";
  o.max_total_s = 10;
  o.machine = "m";
  o.build = "b";
  o.created = 5;
  std::vector<std::string> lines;
  o.progress = [&lines](const std::string& l) { lines.push_back(l); };
  Result<DeviceProfile> p = calibrate_devices({&a, &b}, o);
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  // Device a: bandwidth, launch, map and the first decode matmul (warm-up + one run) fit; then
  // the deadline passed: nothing else ran, on a or on b.
  ASSERT_EQ(p->devices.size(), 1u);
  EXPECT_EQ(p->devices[0].matmul.size(), 1u);
  EXPECT_EQ(b.runs, 0);
  EXPECT_NE(std::find_if(lines.begin(), lines.end(), [](const std::string& l) {
              return l.find("past the 10 s calibration budget") != std::string::npos;
            }), lines.end());
  EXPECT_TRUE(parse_device_profile(device_profile_to_json(*p), "w").ok());
}

TEST(Calibrate, RefusesNothingToMeasure) {
  CalibrationOptions o;
  EXPECT_EQ(calibrate_devices({}, o).status().code(), ErrorCode::invalid_argument);
  double clock = 0;
  FakeDevice a("a", DeviceKind::gpu, rates(), &clock);
  o.prefill_tokens = 1;
  EXPECT_EQ(calibrate_devices({&a}, o).status().code(), ErrorCode::invalid_argument);
}

// The real CPU, briefly: every figure positive and the profile valid (speed itself lives in bench/).
TEST(Calibrate, ThisMachinesCpu) {
  DeviceRegistryOptions ro;
  ro.opencl = false;
  ro.log = [](const std::string&) {};
  DeviceRegistry reg = DeviceRegistry::create(ro);
  CalibrationOptions o;
  o.weight_types = {DType::Q4_0, DType::F16};
  o.prefill_tokens = 16;
  o.budget_s = 0;
  o.read_bytes = size_t{32} << 20;  // enough to leave the caches; quick under qemu and ASan
  o.power_profile = "none";
  o.machine = "this";
  o.build = "b";
  o.created = 5;
  Result<DeviceProfile> p = calibrate_devices({&reg.cpu()}, o);
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  const ProfileDevice& d = p->devices[0];
  EXPECT_EQ(d.api, "cpu");
  EXPECT_GT(d.cores, 0);
  ASSERT_EQ(d.matmul.size(), 4u);
  for (const ProfileMatmul& m : d.matmul) EXPECT_GT(m.gflops.value, 0.0) << m.weight << " x " << m.tokens;
  EXPECT_EQ(d.attention.size(), 4u);
  EXPECT_TRUE(d.launch_us.known());
  EXPECT_TRUE(d.elementwise_gbps.known());
  EXPECT_TRUE(d.op_us.known());
  EXPECT_GE(d.op_us.value, 0.0);
  EXPECT_GT(d.read_gbps.value, 0.0);
  EXPECT_GT(d.f32_gflops.value, 0.0);
  EXPECT_NE(d.f32_gflops.note.find(isa_name(best_isa())), std::string::npos) << d.f32_gflops.note;
  EXPECT_TRUE(parse_device_profile(device_profile_to_json(*p), "w").ok());
}

class CalibrationStore : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("nm_cal_" + std::to_string(std::random_device{}()));
    std::filesystem::create_directories(dir_);
    const char* old = std::getenv("XDG_CACHE_HOME");
    if (old) old_ = old, had_ = true;
    ::setenv("XDG_CACHE_HOME", dir_.c_str(), 1);
  }
  void TearDown() override {
    if (had_) ::setenv("XDG_CACHE_HOME", old_.c_str(), 1);
    else ::unsetenv("XDG_CACHE_HOME");
    std::filesystem::remove_all(dir_);
  }
  std::filesystem::path dir_;
  std::string old_;
  bool had_ = false;
};

TEST_F(CalibrationStore, WritesFindsAndAges) {
  const std::string key = machine_key("a machine");
  EXPECT_EQ(key.size(), 16u);
  EXPECT_NE(key, machine_key("another machine"));
  const std::string path = calibrated_profile_path(key);
  EXPECT_EQ(path, (dir_ / "nanomind" / ("calibrated-" + key + ".json")).string());
  EXPECT_FALSE(find_calibration(key, "b1", 100).exists);

  double clock = 0;
  FakeDevice a("a", DeviceKind::gpu, rates(), &clock);
  CalibrationOptions o;
  o.weight_types = {DType::Q4_0};
  o.clock = [&clock] { return clock; };
  o.power_profile = "none";
  o.name = "calibrated-" + key;
  o.machine = "a machine";
  o.build = "b1";
  o.created = 1000;
  Result<DeviceProfile> p = calibrate_devices({&a}, o);
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  ASSERT_TRUE(write_calibration(*p, path).ok());

  StoredCalibration s = find_calibration(key, "b1", 1000 + 7200);
  ASSERT_TRUE(s.exists);
  ASSERT_TRUE(s.status.ok()) << s.status.to_string();
  EXPECT_EQ(s.age_s, 7200);
  EXPECT_TRUE(s.same_build);
  EXPECT_EQ(format_age(s.age_s), "2.0 h");
  EXPECT_FALSE(find_calibration(key, "b2", 2000).same_build);

  std::ofstream(path, std::ios::trunc) << "{\"schema\": \"nanomind.device-profile/1\"";  // damaged
  s = find_calibration(key, "b1", 2000);
  EXPECT_TRUE(s.exists);
  EXPECT_FALSE(s.status.ok());
  EXPECT_NE(s.status.message().find(path), std::string::npos) << s.status.message();
}

}  // namespace
}  // namespace nm
