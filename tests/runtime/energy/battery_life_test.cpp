// Battery-life arithmetic against hand-computed duty cycles, the automatic mode's
// integral over a discharge against its closed form, and mode costs on a hand-made
// profile against a roofline worked out by hand.
#include "runtime/energy/battery_life.h"

#include <gtest/gtest.h>

#include <cmath>

#include "runtime/energy/mode_costs.h"

namespace nm::energy {
namespace {

TEST(BatteryLife, HandComputedDutyCycle) {
  // 2000 mAh at 3.7 V = 26640 J; 0.3 W idle + a 4.5 J question every 60 s = 0.375 W.
  ModePower m;
  m.mode = PowerMode::on_demand;
  m.base_w = 0.3;
  m.event_j = 4.5;
  Result<BatteryLife> b = battery_life(2.0 * 3600 * 3.7, m, 60);
  ASSERT_TRUE(b.ok()) << b.status().to_string();
  EXPECT_NEAR(b->mean_w, 0.375, 1e-12);
  EXPECT_NEAR(b->hours, 26640.0 / 0.375 / 3600.0, 1e-9);  // 19.73 h
  EXPECT_NE(b->arithmetic.find("= 0.375 W"), std::string::npos) << b->arithmetic;
  EXPECT_NE(b->arithmetic.find("= 19.73 h"), std::string::npos) << b->arithmetic;

  m.stream_w = 2.0;  // plus a continuous 2 W stream
  b = battery_life(26640, m, 60);
  ASSERT_TRUE(b.ok());
  EXPECT_NEAR(b->hours, 26640.0 / 2.375 / 3600.0, 1e-9);

  EXPECT_FALSE(battery_life(0, m, 60).ok());
  EXPECT_FALSE(battery_life(100, m, 0).ok());
  m.event_j = -1;
  EXPECT_FALSE(battery_life(100, m, 60).ok());
  ModePower zero;
  EXPECT_FALSE(battery_life(100, zero, 60).ok());
}

TEST(BatteryLife, DutyCycleText) {
  Result<DutyCycle> d = parse_duty_cycle("camera question every 60s");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->event, "camera question");
  EXPECT_EQ(d->period_s, 60);
  EXPECT_EQ(parse_duty_cycle("text question every 5 min")->period_s, 300);
  EXPECT_EQ(parse_duty_cycle("camera question every 0.5h")->period_s, 1800);
  for (const char* bad : {"camera question", "every 60s", "camera question every s", "camera question every 60 parsecs",
                          "camera question every 0s", "camera question every 99999999h", "x every -5s"})
    EXPECT_FALSE(parse_duty_cycle(bad).ok()) << bad;
}

TEST(BatteryLife, AutomaticModeMatchesTheClosedForm) {
  ModePower par, thr, ond;
  par.base_w = 2.0;
  thr.mode = PowerMode::throttled;
  thr.base_w = 1.0;
  thr.stream_w = 1.0;  // scaled by alpha
  ond.mode = PowerMode::on_demand;
  ond.base_w = 0.5;
  PowerPolicyConfig cfg;  // 50% / 20%, alpha floor 0.1
  const double E = 36000;
  Result<BatteryLife> b = battery_life_auto(E, par, thr, ond, 60, cfg);
  ASSERT_TRUE(b.ok()) << b.status().to_string();
  // Parallel: half the charge at 2 W. On-demand: a fifth at 0.5 W. Throttled: the integral
  // of dB / (1 + alpha(B)) from 20% to 50%, alpha = (B - 0.2) / 0.3 floored at 0.1.
  const double throttled = 0.03 / 1.1 + 0.3 * std::log(2.0 / 1.1);
  const double want_s = E * (0.5 / 2.0 + 0.2 / 0.5 + throttled);
  EXPECT_NEAR(b->hours * 3600, want_s, want_s * 1e-4);
  EXPECT_NE(b->arithmetic.find("on-demand"), std::string::npos);
}

ProfileFigure fig(double v) {
  ProfileFigure f;
  f.value = v;
  f.source = std::string(1, 's');  // not = "s": GCC 12 warns of a memcpy bound there (-Wstringop-overflow, a false positive)
  return f;
}

// A measured matmul entry (read_gbps <= 0: not measured).
ProfileMatmul rate(const char* weight, int tokens, double gflops, double read_gbps = 0) {
  ProfileMatmul m;
  m.weight = weight;
  m.tokens = tokens;
  m.gflops = fig(gflops);
  if (read_gbps > 0) m.read_gbps = fig(read_gbps);
  return m;
}

// A measured attention entry (`matmuls`: the vision brick's form).
ProfileAttention attention(int tokens, int kv, bool matmuls, double gflops) {
  ProfileAttention a;
  a.tokens = tokens;
  a.kv = kv;
  a.matmuls = matmuls;
  a.gflops = fig(gflops);
  return a;
}

DeviceProfile hand_profile() {
  DeviceProfile p;
  p.name = "hand";
  p.idle_w = fig(1.0);
  p.read_gbps = fig(10);
  p.storage_read_gbps = fig(0.5);
  ProfileDevice cpu;
  cpu.name = "cpu", cpu.kind = "cpu", cpu.cores = 4;
  cpu.f32_gflops = fig(100), cpu.int8_gops = fig(400), cpu.active_w = fig(4);
  ProfileDevice npu;
  npu.name = "npu", npu.kind = "npu";
  npu.int8_gops = fig(1000), npu.active_w = fig(1);
  p.devices = {cpu, npu};
  return p;
}

TEST(ModeCosts, RooflineAndModesByHand) {
  std::vector<BrickWork> ev = {
      {"vision", "npu", 150e9, 0.4e9, true, 0.4e9, 1, true, "", 1},
      {"text prefill", "cpu", 100e9, 0.5e9, true, 0.5e9, 1, false, "", 1},
      {"text decode", "cpu", 1e9, 0.5e9, true, 0, 10, false, "", 1},
  };
  const DeviceProfile p = hand_profile();
  // vision: 150 GFLOP at 30% of 1000 GOP/s = 0.5 s (memory 0.04 s) x 1 W = 0.5 J
  Result<WorkTime> v = estimate_work(p, ev[0]);
  ASSERT_TRUE(v.ok());
  EXPECT_NEAR(v->seconds, 0.5, 1e-12);
  EXPECT_NEAR(v->joules, 0.5, 1e-12);
  EXPECT_FALSE(v->memory_bound);
  // decode: 10 x max(1 GFLOP at 200 GOP/s, 0.5 GB at 10 GB/s = 0.05 s) = 0.5 s x 4 W = 2 J
  Result<WorkTime> d = estimate_work(p, ev[2]);
  ASSERT_TRUE(d.ok());
  EXPECT_NEAR(d->seconds, 0.5, 1e-12);
  EXPECT_TRUE(d->memory_bound);

  Result<ModeCosts> c = estimate_mode_costs(p, ev, CameraStream{});
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_NEAR(c->parallel.base_w, 1.0, 1e-12);       // no awake figure: idle assumed
  EXPECT_NEAR(c->parallel.stream_w, 1.0, 1e-12);     // 2 frames/s x 0.5 J
  EXPECT_NEAR(c->parallel.event_j, 4.0, 1e-12);      // prefill 2 J + decode 2 J
  EXPECT_NEAR(c->on_demand.base_w, 1.0, 1e-12);
  EXPECT_NEAR(c->on_demand.event_j, 0.5 + 4.0 + 1.8, 1e-12);  // load 0.9 GB / 0.5 GB/s x 1 W (one core)
  EXPECT_NEAR(c->answer_latency_s[2], 1.8 + 0.5 + 1.0, 1e-12);
  EXPECT_NEAR(c->answer_latency_s[0], 1.0, 1e-12);
  EXPECT_EQ(c->work_lines.size(), 3u);

  Result<ModeCosts> slow = estimate_mode_costs(p, ev, CameraStream{0.5});  // camera at 0.5 fps
  ASSERT_TRUE(slow.ok());
  EXPECT_NEAR(slow->parallel.stream_w, 0.25, 1e-12);

  ev[0].device = "gpu";
  Result<ModeCosts> bad = estimate_mode_costs(p, ev, CameraStream{});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("no device 'gpu'"), std::string::npos);
}

}  // namespace
// A calibrated profile's matmul rate for the brick's weight type replaces the fraction of
// peak, and its launch cost is added per run.
TEST(ModeCosts, MeasuredMatmulRatesAndLaunchCost) {
  DeviceProfile p = hand_profile();
  ProfileDevice& cpu = p.devices[0];
  cpu.matmul = {rate("q4_0", 1, 20), rate("q4_0", 128, 80)};
  cpu.launch_us = fig(100);
  BrickWork pre{"text prefill", "cpu", 160e9, 0.5e9, true, 0.5e9, 1, false, "q4_0", 100};  // nearer 128 than 1
  // 160 GFLOP at the measured 80 GFLOP/s = 2 s (memory 0.05 s) + 0.1 ms launch, x 4 W
  Result<WorkTime> t = estimate_work(p, pre);
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  EXPECT_TRUE(t->measured_rate);
  EXPECT_NEAR(t->seconds, 2.0 + 1e-4, 1e-12);
  EXPECT_NEAR(t->joules, (2.0 + 1e-4) * 4, 1e-12);
  EXPECT_NE(t->line.find("[measured q4_0 x 128 matmul rate]"), std::string::npos) << t->line;
  // decode: 10 x (max(1 GFLOP at 20 GFLOP/s = 0.05 s, 0.5 GB at 10 GB/s = 0.05 s) + 0.1 ms)
  BrickWork dec{"text decode", "cpu", 1e9, 0.4e9, true, 0, 10, false, "q4_0", 1};
  Result<WorkTime> d = estimate_work(p, dec);
  ASSERT_TRUE(d.ok());
  EXPECT_NEAR(d->seconds, 10 * (0.05 + 1e-4), 1e-12);
  EXPECT_FALSE(d->memory_bound);  // 0.04 s of memory < 0.05 s of arithmetic
  // A type the profile has no rate for falls back to the peak guess (int8 at 50%).
  dec.weight_type = "q6_k";
  Result<WorkTime> f = estimate_work(p, dec);
  ASSERT_TRUE(f.ok());
  EXPECT_FALSE(f->measured_rate);
  EXPECT_NEAR(f->seconds, 10 * (std::max(1e9 / 200e9, 0.04) + 1e-4), 1e-12);
}

// Where calibration measured how fast a weight type streams from DRAM at decode shape (its
// kernel may dequantise slower than the memory delivers), decode is bounded by that rate,
// not by the device's read bandwidth; a rate above the bandwidth changes nothing.
TEST(ModeCosts, MeasuredStreamingRateBoundsDecode) {
  DeviceProfile p = hand_profile();
  ProfileDevice& cpu = p.devices[0];
  cpu.matmul = {rate("q8_0", 1, 200, 4), rate("q8_0", 128, 80)};
  // decode: 10 x max(1 GFLOP at 200 GFLOP/s = 5 ms, 0.4 GB at 4 GB/s = 0.1 s)
  BrickWork dec{"text decode", "cpu", 1e9, 0.4e9, true, 0, 10, false, "q8_0", 1};
  Result<WorkTime> d = estimate_work_time(p, dec);
  ASSERT_TRUE(d.ok()) << d.status().to_string();
  EXPECT_NEAR(d->seconds, 10 * 0.1, 1e-12);
  EXPECT_TRUE(d->memory_bound);
  EXPECT_NE(d->note.find("[measured q8_0 weights' streaming rate]"), std::string::npos) << d->note;
  // Prefill: 160 GFLOP at the measured 80 GFLOP/s = 2 s, above the 0.1 s the weights take to stream.
  BrickWork pre{"text prefill", "cpu", 160e9, 0.4e9, true, 0.4e9, 1, false, "q8_0", 128};
  Result<WorkTime> t = estimate_work_time(p, pre);
  ASSERT_TRUE(t.ok());
  EXPECT_NEAR(t->seconds, 2.0, 1e-12);
  // A streaming rate above the read bandwidth (10 GB/s): the bandwidth bounds it.
  cpu.matmul[0].read_gbps = fig(50);
  Result<WorkTime> fast = estimate_work_time(p, dec);
  ASSERT_TRUE(fast.ok());
  EXPECT_NEAR(fast->seconds, 10 * 0.04, 1e-12);
  EXPECT_EQ(fast->note.find("streaming rate"), std::string::npos);
}

// The profile's per-op cost is paid by every op of every run, beside the launch cost and in
// series with the arithmetic; without it (a published profile) the ops cost nothing.
TEST(ModeCosts, PerOpCostIsAddedForEveryOpOfEveryRun) {
  DeviceProfile p = hand_profile();
  ProfileDevice& cpu = p.devices[0];
  cpu.matmul = {rate("q4_0", 1, 20)};
  cpu.launch_us = fig(100);
  BrickWork dec{"text decode", "cpu", 1e9, 0.4e9, true, 0, 10, false, "q4_0", 1};
  dec.ops = 250;
  Result<WorkTime> before = estimate_work_time(p, dec);
  ASSERT_TRUE(before.ok());
  EXPECT_NEAR(before->seconds, 10 * (0.05 + 1e-4), 1e-12);  // no op_us: as before
  cpu.op_us = fig(4);
  // 10 x (0.05 s of arithmetic + 0.1 ms launch + 250 ops x 4 us = 1 ms)
  Result<WorkTime> t = estimate_work_time(p, dec);
  ASSERT_TRUE(t.ok());
  EXPECT_NEAR(t->seconds, 10 * (0.05 + 1e-4 + 1e-3), 1e-12);
  EXPECT_NE(t->note.find("250 ops per run x 4 us = 1 ms"), std::string::npos) << t->note;
  dec.ops = 0;
  Result<WorkTime> none = estimate_work_time(p, dec);
  ASSERT_TRUE(none.ok());
  EXPECT_NEAR(none->seconds, 10 * (0.05 + 1e-4), 1e-12);
}

// Where the profile measured them, attention runs at the attention rate of the brick's form
// (the entry of the nearest shape) and element-wise traffic at the element-wise bandwidth,
// both with the matmuls on the arithmetic side of the roofline; without them (a published
// profile, or no entry of that form) attention runs at the matmul rate and element-wise
// ops cost nothing, as before.
TEST(ModeCosts, AttentionAndElementwiseAtTheirOwnRates) {
  DeviceProfile p = hand_profile();
  ProfileDevice& cpu = p.devices[0];
  cpu.matmul = {rate("f16", 128, 100)};
  BrickWork v{"vision", "cpu", 12e9, 0.1e9, false, 0.1e9, 1, true, "f16", 729};
  v.attention_flops = 2e9;
  v.attention_tokens = v.attention_kv = 729;
  v.attention_matmuls = true;
  v.elementwise_bytes = 3e9;
  // Nothing measured for them: 12 GFLOP at 100 GFLOP/s.
  Result<WorkTime> before = estimate_work_time(p, v);
  ASSERT_TRUE(before.ok()) << before.status().to_string();
  EXPECT_NEAR(before->seconds, 0.12, 1e-12);
  // A fused-form entry does not price matmul-form attention.
  cpu.attention.push_back(attention(1, 256, false, 5));
  Result<WorkTime> fused_only = estimate_work_time(p, v);
  ASSERT_TRUE(fused_only.ok());
  EXPECT_NEAR(fused_only->seconds, 0.12, 1e-12);
  // 10 GFLOP at 100 + 2 GFLOP at 40 (the 576 x 576 entry, nearer 729 than 64) + 3 GB at 60 GB/s
  cpu.attention.push_back(attention(64, 64, true, 10));
  cpu.attention.push_back(attention(576, 576, true, 40));
  cpu.elementwise_gbps = fig(60);
  Result<WorkTime> t = estimate_work_time(p, v);
  ASSERT_TRUE(t.ok());
  EXPECT_NEAR(t->seconds, 0.1 + 0.05 + 0.05, 1e-12);
  EXPECT_NE(t->line.find("+ attention 2 GFLOP at 40 GFLOP/s + element-wise 3000 MB at 60 GB/s"), std::string::npos) << t->line;
  // Still a roofline: memory-bound work is unchanged by them.
  v.bytes_read = 3e9;  // 0.3 s at 10 GB/s
  Result<WorkTime> m = estimate_work_time(p, v);
  ASSERT_TRUE(m.ok());
  EXPECT_NEAR(m->seconds, 0.3, 1e-12);
  EXPECT_TRUE(m->memory_bound);
}

// A calibrated profile without power figures cannot give joules: a clear error.
TEST(ModeCosts, NoPowerFiguresIsAClearError) {
  DeviceProfile p = hand_profile();
  p.devices[0].active_w = ProfileFigure{};
  BrickWork w{"text decode", "cpu", 1e9, 0.4e9, true, 0, 10, false, "", 1};
  Result<WorkTime> t = estimate_work(p, w);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("states no active power"), std::string::npos);
  p = hand_profile();
  p.idle_w = ProfileFigure{};
  Result<ModeCosts> c = estimate_mode_costs(p, {w}, CameraStream{});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("states no idle power"), std::string::npos);
}

}  // namespace nm::energy
