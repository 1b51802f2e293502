// PowerController with a fake pipeline, a simulated battery and the estimate on a test
// clock: draining the battery moves parallel -> throttled -> on-demand at the policy's
// thresholds; threads follow alpha; throttled frames are taken at the scaled interval and
// the rest skipped; on-demand encodes no frames and answers with the cascade; every mode
// change is logged and traced; the battery drains by exactly the joules the monitor
// reports.
#include "runtime/power_controller.h"

#include <gtest/gtest.h>

#include <cmath>

namespace nm {
namespace {

using energy::PowerMode;

// prefix + number (not "literal" + std::to_string: gcc 12 warns wrongly on that).
std::string numbered(const char* prefix, int i) {
  std::string s(prefix);
  s += std::to_string(i);
  return s;
}

struct FakePipeline : AssistantTarget {
  double* clock = nullptr;
  energy::EnergyMonitor* monitor = nullptr;
  int threads = 0;
  PowerMode mode = PowerMode::parallel;
  std::vector<std::pair<PowerMode, int>> applied;
  std::vector<std::string> frames;
  struct Answer {
    std::string question, frame;
    bool cascade;
    int threads;
  };
  std::vector<Answer> answers;

  Status apply(PowerMode m, int n) override {
    mode = m, threads = n;
    applied.emplace_back(m, n);
    return Status::ok_status();
  }
  Status frame(const std::string& path) override {
    frames.push_back(path);
    work(0.1);
    return Status::ok_status();
  }
  Status answer(const std::string& q, const std::string& f, bool cascade) override {
    answers.push_back({q, f, cascade, threads});
    work(1.0);
    return Status::ok_status();
  }
  // The work takes `s` seconds of the test clock on all the threads it was given.
  void work(double s) {
    *clock += s;
    monitor->note_busy("cpu", s, threads);
  }
};

struct Rig {
  double t = 0;
  std::vector<std::string> logs;
  std::vector<energy::PowerModeChange> traced;
  std::unique_ptr<energy::EnergyMonitor> monitor;
  energy::SimulatedBattery battery{200.0, 3.7, 1.0};  // 200 J
  FakePipeline pipe;
  std::unique_ptr<PowerController> ctl;

  explicit Rig(energy::PowerModeChoice choice = energy::PowerModeChoice::automatic) {
    energy::EnergyMonitorOptions mo;
    mo.discover = false;
    mo.clock = [this] { return t; };
    mo.sample_period_s = 0;
    mo.power_model = energy::PowerModel{"test", 0.0, {{"cpu", "cpu", 8.0, 4}}};  // 2 W per busy thread
    monitor = energy::EnergyMonitor::create(mo);
    pipe.clock = &t;
    pipe.monitor = monitor.get();
    PowerControllerOptions o;
    o.policy.choice = choice;
    o.max_threads = 4;
    o.full_rate_interval_s = 0.5;
    o.clock = [this] { return t; };
    o.log = [this](const std::string& l) { logs.push_back(l); };
    o.trace = [this](const energy::PowerModeChange& c) { traced.push_back(c); };
    Result<std::unique_ptr<PowerController>> c = PowerController::create(o, &battery, monitor.get(), &pipe);
    EXPECT_TRUE(c.ok()) << c.status().to_string();
    ctl = std::move(c).value();
  }
  void frame(const std::string& name) { ASSERT_TRUE(ctl->handle({WakeEvent::Kind::file, name}).ok()); }
  void ask(const std::string& q) { ASSERT_TRUE(ctl->handle({WakeEvent::Kind::line, q}).ok()); }
};

TEST(PowerController, DrainsThroughTheModesAndAppliesThem) {
  Rig r;
  ASSERT_EQ(r.pipe.applied.size(), 1u);
  EXPECT_EQ(r.pipe.applied[0], std::make_pair(PowerMode::parallel, 4));
  EXPECT_NE(r.logs[0].find("starting in parallel mode (battery 100.0%"), std::string::npos) << r.logs[0];
  // Each question: 1 s on 4 threads = 8 J of 200 J (4%).
  int asked = 0;
  while (r.ctl->mode() == PowerMode::parallel && asked < 100) r.ask(numbered("q", asked++));
  EXPECT_EQ(r.ctl->mode(), PowerMode::throttled);
  // 13 questions x 8 J = 104 J leave 96 J = 48% <= 50%: the 14th question's refresh
  // switches (the first reading at or below T_high) and is answered throttled.
  EXPECT_EQ(asked, 14);
  EXPECT_EQ(r.ctl->stats().answers[0], 13);
  EXPECT_NEAR(r.battery.remaining_j(), 200 - 14 * 8.0, 1e-9);
  EXPECT_EQ(r.pipe.applied.back().first, PowerMode::throttled);
  // alpha = (0.48 - 0.2) / 0.3 = 0.933: round(3.73) = 4 threads still.
  EXPECT_EQ(r.pipe.applied.back().second, 4);
  while (r.ctl->mode() == PowerMode::throttled && asked < 100) r.ask(numbered("q", asked++));
  EXPECT_EQ(r.ctl->mode(), PowerMode::on_demand);
  EXPECT_LE(r.ctl->battery_level(), 0.2 + 1e-12);
  EXPECT_GT(r.ctl->battery_level(), 0.2 - 0.04 - 1e-12);  // within one question of T_low
  // Threads fell with alpha during the throttled stretch.
  int min_threads = 4;
  for (const auto& a : r.pipe.answers) min_threads = std::min(min_threads, a.threads);
  EXPECT_LT(min_threads, 4);
  // On demand: answered with the cascade, all threads for the short burst.
  r.ask("last");
  EXPECT_TRUE(r.pipe.answers.back().cascade);
  EXPECT_EQ(r.pipe.answers.back().threads, 4);
  EXPECT_FALSE(r.pipe.answers.front().cascade);
  // Logged and traced: the start, then parallel -> throttled -> on-demand.
  ASSERT_EQ(r.traced.size(), 3u);
  EXPECT_EQ(r.traced[1].from, PowerMode::parallel);
  EXPECT_EQ(r.traced[1].to, PowerMode::throttled);
  EXPECT_EQ(r.traced[2].to, PowerMode::on_demand);
  bool logged = false;
  for (const auto& l : r.logs) logged = logged || l.find("throttled -> on-demand") != std::string::npos;
  EXPECT_TRUE(logged);
  const PowerStats& s = r.ctl->stats();
  EXPECT_EQ(s.answers[0], 13);
  EXPECT_EQ(s.answers[0] + s.answers[1] + s.answers[2], static_cast<int>(r.pipe.answers.size()));
  EXPECT_FALSE(s.measured);
  EXPECT_NEAR(s.joules[0] + s.joules[1] + s.joules[2], 200.0 - r.battery.remaining_j(), 1e-9);
}

TEST(PowerController, ThrottledFramesFollowAlphaAndOnDemandTakesNone) {
  Rig r(energy::PowerModeChoice::throttled);
  // No drain between frames in this test: the battery stays at 100% -> alpha 1 forced
  // throttled at full level: interval 0.5 s. Frames every 0.2 s (plus 0.1 s of work each).
  for (int i = 0; i < 10; ++i) {
    r.t += 0.2;
    r.frame(numbered("f", i));
  }
  const PowerStats& s = r.ctl->stats();
  EXPECT_EQ(s.frames_taken + s.frames_skipped, 10);
  EXPECT_EQ(s.frames_taken, 5);  // one every 0.6 s of clock at most every 0.5 s: every other frame
  // A question uses the latest frame, taken or not.
  r.ask("what is this?");
  EXPECT_EQ(r.pipe.answers.back().frame, "f9");

  Rig d(energy::PowerModeChoice::on_demand);
  d.frame("a");
  d.frame("b");
  EXPECT_TRUE(d.pipe.frames.empty());
  EXPECT_EQ(d.ctl->stats().frames_taken, 0);
  d.ask("and now?");
  EXPECT_EQ(d.pipe.answers.back().frame, "b");
  EXPECT_TRUE(d.pipe.answers.back().cascade);
}

TEST(PowerController, RunStopsWhenTheBatteryIsEmptyOrInputEnds) {
  Rig r(energy::PowerModeChoice::parallel);  // 8 J per answer throughout
  auto ev = WakeEvents::create();
  ASSERT_TRUE(ev.ok());
  for (int i = 0; i < 40; ++i) (*ev)->notify(numbered("question ", i));
  ASSERT_TRUE(r.ctl->run(**ev, 0).ok());
  EXPECT_LE(r.battery.remaining_j(), 0.0);
  EXPECT_EQ(r.pipe.answers.size(), 25u);  // 200 J / 8 J
  bool stopped = false;
  for (const auto& l : r.logs) stopped = stopped || l.find("battery empty") != std::string::npos;
  EXPECT_TRUE(stopped);
}

TEST(PowerController, RefusesBadSetups) {
  PowerControllerOptions o;
  EXPECT_FALSE(PowerController::create(o, nullptr, nullptr, static_cast<PowerTarget*>(nullptr)).ok());
  // A target that only takes modes (a camera stream) answers no wake events.
  struct ModesOnly : PowerTarget {
    Status apply(PowerMode, int) override { return Status::ok_status(); }
  } modes;
  auto modes_only = PowerController::create(o, nullptr, nullptr, &modes);
  ASSERT_TRUE(modes_only.ok()) << modes_only.status().to_string();
  EXPECT_FALSE(modes_only.value()->handle({WakeEvent::Kind::line, "what is this?"}).ok());
  FakePipeline p;
  o.max_threads = 0;
  EXPECT_FALSE(PowerController::create(o, nullptr, nullptr, &p).ok());
  o.max_threads = 2;
  o.policy.t_low = 0.9;
  EXPECT_FALSE(PowerController::create(o, nullptr, nullptr, &p).ok());
  o.policy.t_low = 0.2;
  o.log = [](const std::string&) {};
  Result<std::unique_ptr<PowerController>> c = PowerController::create(o, nullptr, nullptr, &p);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ((*c)->mode(), PowerMode::parallel);  // no battery: parallel
}

}  // namespace
}  // namespace nm
