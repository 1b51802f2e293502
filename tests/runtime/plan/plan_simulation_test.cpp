// The discrete-event simulation against timelines worked out by hand: two bricks on two
// devices with the ring's slot rule, the same two on one device, the sequential reference,
// on-demand loads, and the figures derived from the timeline (first answer, answers per
// minute, joules per answer).
#include "runtime/plan/plan_simulation.h"

#include <gtest/gtest.h>

#include "plan_fixtures.h"

namespace nm::plan {
namespace {

using test::fig;

// Two accelerators of 100/3 GFLOP/s peak: at the cost model's 30% they do 10 GFLOP/s, so
// a work item of g GFLOP takes g / 10 s. Board idle 1 W, storage 1 GB/s.
DeviceProfile two_devices() {
  DeviceProfile p = test::board({test::device("a", "gpu", 100.0 / 3.0, 2), test::device("b", "gpu", 100.0 / 3.0, 4)});
  p.read_gbps = fig(1000);
  return p;
}

// vision 0.25 s per frame; text prefill 1 s then decode 1 s.
std::vector<PlanBrick> bricks(double weight_mb = 0) { return test::vision_and_text(2.5, 10, 10, weight_mb, 2 * weight_mb); }

Placement place(int vision, int text, Residency r = Residency::keep) { return Placement{{{vision, -1, 0}, {text, -1, 0}}, r}; }

void expect_event(const SimEvent& e, const char* brick, const char* what, int frame, double start, double end) {
  EXPECT_EQ(e.brick, brick);
  EXPECT_EQ(e.what, what);
  EXPECT_EQ(e.frame, frame);
  EXPECT_NEAR(e.start, start, 1e-12) << brick << " " << what << " " << frame;
  EXPECT_NEAR(e.end, end, 1e-12) << brick << " " << what << " " << frame;
}

TEST(PlanSimulation, TwoDevicesPipelineUnderTheRingRule) {
  // Vision on a, text on b, 2 ring slots, 4 frames. Vision encodes frames 0 and 1 at once
  // (0-0.25, 0.25-0.5); frame 2 needs the slot frame 0 holds, freed when its prefill ends at
  // 1.25; frame 3 waits for frame 1's prefill (ends 3.25). Text answers back to back from 0.25.
  const DeviceProfile p = two_devices();
  Result<SimResult> r = simulate(p, bricks(), parse_workload("camera:4").value(), place(0, 1), SimOptions{});
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ASSERT_EQ(r->events.size(), 12u);
  std::vector<SimEvent> v, t;
  for (const SimEvent& e : r->events) (e.brick == "vision" ? v : t).push_back(e);
  expect_event(v[0], "vision", "encode", 0, 0, 0.25);
  expect_event(v[1], "vision", "encode", 1, 0.25, 0.5);
  expect_event(v[2], "vision", "encode", 2, 1.25, 1.5);
  expect_event(v[3], "vision", "encode", 3, 3.25, 3.5);
  const double text_start[] = {0.25, 2.25, 4.25, 6.25};
  for (int f = 0; f < 4; ++f) {
    expect_event(t[(size_t)(2 * f)], "text", "prefill", f, text_start[f], text_start[f] + 1);
    expect_event(t[(size_t)(2 * f + 1)], "text", "decode", f, text_start[f] + 1, text_start[f] + 2);
    EXPECT_EQ(t[(size_t)(2 * f)].device, 1);
  }
  EXPECT_NEAR(r->first_answer_s, 2.25, 1e-12);
  EXPECT_NEAR(r->total_s, 8.25, 1e-12);
  EXPECT_NEAR(r->answers_per_minute, 60.0 * 4 / 8.25, 1e-9);
  // 4 x (0.25 s x 2 W + 2 s x 4 W) + 1 W x 8.25 s, over 4 answers.
  EXPECT_NEAR(r->joules_per_answer, (4 * (0.5 + 8) + 8.25) / 4, 1e-9);

  // Three slots: frame 2 encodes at once (0.5-0.75); frame 3 needs frame 0's slot (freed 1.25).
  SimOptions three;
  three.ring_slots = 3;
  r = simulate(p, bricks(), parse_workload("camera:4").value(), place(0, 1), three);
  ASSERT_TRUE(r.ok());
  std::vector<SimEvent> v3;
  for (const SimEvent& e : r->events)
    if (e.brick == "vision") v3.push_back(e);
  expect_event(v3[2], "vision", "encode", 2, 0.5, 0.75);
  expect_event(v3[3], "vision", "encode", 3, 1.25, 1.5);
  EXPECT_NEAR(r->total_s, 8.25, 1e-12);
}

TEST(PlanSimulation, OneDeviceSharedTakesTurnsOlderFrameFirst) {
  // Both on a: vision 0 (0-0.25); then vision 1 and text 0 both wait for a at 0.25: the older
  // frame (text 0) goes first, 0.25-2.25; vision 1 2.25-2.5; at 2.5 text 1 and vision 2 (frame
  // 0's slot, free since 1.25) tie again: text 1 2.5-4.5; vision 2 4.5-4.75; text 2 4.75-6.75.
  const DeviceProfile p = two_devices();
  Result<SimResult> r = simulate(p, bricks(), parse_workload("camera:3").value(), place(0, 0), SimOptions{});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->events.size(), 9u);
  expect_event(r->events[0], "vision", "encode", 0, 0, 0.25);
  expect_event(r->events[1], "text", "prefill", 0, 0.25, 1.25);
  expect_event(r->events[2], "text", "decode", 0, 1.25, 2.25);
  expect_event(r->events[3], "vision", "encode", 1, 2.25, 2.5);
  expect_event(r->events[4], "text", "prefill", 1, 2.5, 3.5);
  expect_event(r->events[6], "vision", "encode", 2, 4.5, 4.75);
  expect_event(r->events[7], "text", "prefill", 2, 4.75, 5.75);
  EXPECT_NEAR(r->total_s, 6.75, 1e-12);
}

TEST(PlanSimulation, SequentialAndOnDemandLoadEachBrick) {
  const DeviceProfile p = two_devices();
  // Sequential, keep, 100 MB vision + 200 MB text at 1 GB/s: each loads once (0.1 s, 0.2 s).
  SimOptions seq;
  seq.pipelined = false;
  Result<SimResult> r = simulate(p, bricks(100), parse_workload("camera:2").value(), place(0, 1), seq);
  ASSERT_TRUE(r.ok());
  // load v 0-0.1, v 0.1-0.35, load t 0.35-0.55, text 0.55-2.55; v 2.55-2.8, text 2.8-4.8.
  EXPECT_NEAR(r->first_answer_s, 2.55, 1e-12);
  EXPECT_NEAR(r->total_s, 4.8, 1e-12);
  EXPECT_EQ(r->events.size(), 5u + 3);  // frame 0: load, vision, load, prefill, decode; frame 1: no loads
  // On demand: loaded before every run, one at a time, even when asked to pipeline.
  r = simulate(p, bricks(100), parse_workload("camera:2").value(), place(0, 1, Residency::on_demand), SimOptions{});
  ASSERT_TRUE(r.ok());
  EXPECT_NEAR(r->total_s, 2 * 2.55, 1e-12);
  EXPECT_NEAR(r->peak_bytes, 200e6, 1);
  // A text question runs the text brick alone.
  r = simulate(p, bricks(), parse_workload("text").value(), place(0, 1), SimOptions{});
  ASSERT_TRUE(r.ok());
  EXPECT_NEAR(r->total_s, 2, 1e-12);
  EXPECT_EQ(r->answers, 1);
  // The picture has one lane per device and says it is a simulation.
  const std::string svg = timeline_svg(p, *r, "test & <title>");
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("SIMULATION"), std::string::npos);
  EXPECT_NE(svg.find("test &amp; &lt;title&gt;"), std::string::npos);
  EXPECT_NE(svg.find(">a</text>"), std::string::npos);
  EXPECT_NE(svg.find(">b</text>"), std::string::npos);
}

TEST(PlanSimulation, RefusesASplit) {
  std::vector<PlanBrick> b = bricks();
  b[1].layers = 4;
  Placement pl = place(0, 1);
  pl.bricks[1] = BrickPlace{0, 1, 2};
  Result<SimResult> r = simulate(two_devices(), b, parse_workload("camera:2").value(), pl, SimOptions{});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("split"), std::string::npos);
}

}  // namespace
}  // namespace nm::plan
