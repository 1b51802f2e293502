// Re-planning wired into a running camera stream (runtime/stream_replan.h) on the demo model,
// with the bricks on two declared CPU clusters (vision=cpu:0, text=cpu:1) behind delay-
// injecting wrappers (delay_device.h):
// - a device made several times slower mid-stream loses the text brick within a bounded
//   number of frames; the trace and the log say what moved, why, measured vs expected;
//   every answer is token for token that of a stream that never moved (the same kernels on
//   either cluster), none is lost and they arrive in frame order -- pipelined and sequential;
// - a device that recovers does not draw the bricks back and forth (hysteresis);
// - real load: busy threads pinned to the text brick's core move it (run only when asked,
//   NM_REAL_LOAD_TEST=1: on a shared 2-vCPU machine or under qemu other processes' load is
//   indistinguishable from the test's, so its bound could not hold there).
// The thresholds are the defaults (over 1.5x expected, 3 runs in a row); the injected
// factor (40x) is far enough above them that a loaded machine's jitter does not decide the
// outcome. Runs are bounded by a watchdog.
#include "runtime/stream_replan.h"

#include <gtest/gtest.h>
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "delay_device.h"
#include "demo_models.h"
#include "plan/plan_fixtures.h"
#include "runtime/frame_stream.h"

namespace nm {
namespace {

using test::DelayDevice;
using test::kModels;

constexpr int kFrames = 18;
constexpr int kAnswerTokens = 16;
// The injection starts after this many answers: two warm-up and three reference runs first.
constexpr int kSlowFrom = 6;
const char* const kPlacement = "vision=cpu:0,text=cpu:1";
// The injected slowdown. A pipelined answer of the demo model takes 2 ms here, or 10-30 ms
// when another process shares the text worker's core (measured on the shared 2-vCPU
// machine): 40x puts a slowed answer well above that noise.
constexpr double kSlow = 40;

bool two_cpus() { return sysconf(_SC_NPROCESSORS_ONLN) >= 2; }

// The machine's two declared clusters, each behind a delay wrapper.
struct Rig {
  DeviceRegistry machine = DeviceRegistry::create([] {
    DeviceRegistryOptions o;
    o.opencl = false;
    o.cpu_clusters = "0|1";
    return o;
  }());
  DeviceRegistry wrapped;
  Rig() {
    for (const char* n : {"cpu:0", "cpu:1"}) wrapped.add(std::make_unique<DelayDevice>(*machine.find(n)));
  }
};

std::unique_ptr<TextSession> session(const DeviceRegistry* registry) {
  TextSessionParams p;
  p.pipeline.n_threads = 2;
  p.pipeline.devices = kPlacement;
  p.pipeline.cpu_clusters = "0|1";
  p.pipeline.registry = registry;
  p.sampling.temperature = 0;
  auto s = TextSession::create(test::demo_models(), p);
  EXPECT_TRUE(s.ok()) << s.status().to_string();
  return s.ok() ? std::move(s).value() : nullptr;
}

// Two alike clusters (the scale each brick learns absorbs the absolute rates).
DeviceProfile two_clusters() {
  return plan::test::board({plan::test::device("cpu:0", "cpu", 100, 2, 1), plan::test::device("cpu:1", "cpu", 100, 2, 1)});
}

std::vector<Image> scenes() {
  std::vector<Image> v;
  for (const char* s : {"scene_3", "scene_7", "scene_11", "scene_21", "scene_42"}) {
    auto img = load_image(kModels + "samples/" + s + ".png");
    EXPECT_TRUE(img.ok()) << img.status().to_string();
    if (img.ok()) v.push_back(std::move(img).value());
  }
  return v;
}

struct Answered {
  FrameAnswer answer;
  std::string text_device;  // where the text brick answered it
};

// The stream under a watchdog; `after(n)` runs on the text worker after the n-th answer.
std::vector<Answered> run(TextSession& s, bool pipelined, std::shared_ptr<StreamReplan> replan, const std::function<void(int)>& after) {
  std::vector<Answered> out;
  auto f = std::async(std::launch::async, [&] {
    ListSource src(scenes(), kFrames);
    FrameStreamParams p;
    p.question = "How many shapes are there?";
    p.n_predict = kAnswerTokens;
    p.ignore_eos = true;
    p.pipelined = pipelined;
    p.replan = replan;
    return run_frame_stream(s, src, p, [&](const FrameAnswer& a) {
      out.push_back({a, s.pipeline().text_device_name()});
      if (after) after((int)out.size());
    });
  });
  if (f.wait_for(std::chrono::seconds(120)) != std::future_status::ready) {
    ADD_FAILURE() << "the stream did not finish in 120 s";
    std::abort();  // a hung worker cannot be joined
  }
  auto st = f.get();
  EXPECT_TRUE(st.ok()) << st.status().to_string();
  if (st.ok()) {
    EXPECT_EQ(st->answered, kFrames);
    EXPECT_EQ(st->dropped + st->failed, 0);
  }
  return out;
}

std::shared_ptr<StreamReplan> replanner(TextSession& s, std::vector<std::string>& lines) {
  StreamReplanParams rp;
  rp.profile = two_clusters();
  rp.prompt_tokens = 40;
  rp.answer_tokens = kAnswerTokens;
  rp.log = [&lines](const std::string& l) { lines.push_back(l); };
  auto r = StreamReplan::create(s.pipeline(), rp);
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  return r.ok() ? std::move(r).value() : nullptr;
}

// Every answer present, in frame order, token for token the reference's.
void expect_same_answers(const std::vector<Answered>& ref, const std::vector<Answered>& got) {
  ASSERT_EQ(got.size(), (size_t)kFrames);
  ASSERT_EQ(ref.size(), (size_t)kFrames);
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].answer.frame, i);
    EXPECT_TRUE(got[i].answer.status.ok()) << got[i].answer.status.to_string();
    EXPECT_EQ(got[i].answer.n_generated, kAnswerTokens);
    EXPECT_EQ(got[i].answer.text, ref[i].answer.text) << "frame " << i;
  }
}

TEST(StreamReplan, ASlowedDeviceLosesTheTextBrickAndNoAnswerChanges) {
  if (!two_cpus()) GTEST_SKIP() << "needs two CPUs to declare two clusters";
  for (const bool pipelined : {true, false}) {
    SCOPED_TRACE(pipelined ? "pipelined" : "sequential");
    Rig ref_rig;
    auto ref_session = session(&ref_rig.wrapped);
    ASSERT_NE(ref_session, nullptr);
    const std::vector<Answered> ref = run(*ref_session, pipelined, nullptr, nullptr);
    for (const Answered& a : ref) EXPECT_EQ(a.text_device, "cpu:1");

    Rig rig;
    auto s = session(&rig.wrapped);
    ASSERT_NE(s, nullptr);
    Trace trace;
    s->pipeline().set_trace(&trace);
    std::vector<std::string> lines;
    auto replan = replanner(*s, lines);
    ASSERT_NE(replan, nullptr);
    std::string slowed;
    const std::vector<Answered> got = run(*s, pipelined, replan, [&](int n) {
      if (n != kSlowFrom) return;
      // Wherever the text brick is now (load may already have moved it): kSlow x slower.
      slowed = s->pipeline().text_device_name();
      static_cast<DelayDevice*>(s->pipeline().text_device())->set_factor(kSlow);
    });
    s->pipeline().set_trace(nullptr);
    for (const std::string& l : lines) std::printf("  %s\n", l.c_str());
    expect_same_answers(ref, got);

    // Three slow answers (frames 6, 7, 8) complete the streak; the brick moves before its
    // next frame (9). Two frames of slack for a noisy reference.
    int left = -1;
    for (int i = kSlowFrom; i < kFrames && left < 0; ++i)
      if (got[(size_t)i].text_device != slowed) left = i;
    ASSERT_GE(left, 0) << "the text brick never left " << slowed;
    EXPECT_LE(left, kSlowFrom + 3 + 2);
    for (int i = left; i < kFrames; ++i) EXPECT_NE(got[(size_t)i].text_device, slowed) << "frame " << i << " went back";

    const std::vector<ReplanEvent> events = replan->events();
    const ReplanEvent* move = nullptr;
    for (const ReplanEvent& e : events)
      for (const BrickMove& m : e.moves)
        if (m.brick == "text" && m.from == slowed && !move) move = &e;
    ASSERT_NE(move, nullptr);
    EXPECT_EQ(move->device, slowed);
    EXPECT_GT(move->measured_s, 1.5 * move->expected_s);  // the drift as measured
    bool done = false;  // (the vision worker, ahead, may have no frame left to move before)
    for (const BrickMove& m : move->done) done |= m.brick == "text" && m.from == slowed;
    EXPECT_TRUE(done) << "the text brick's move was not carried out";
    EXPECT_NE(move->line.find(slowed + " ran text"), std::string::npos) << move->line;
    bool logged = false;
    for (const std::string& l : lines) logged |= l == move->line;
    EXPECT_TRUE(logged);
    const std::string json = trace.json();
    EXPECT_NE(json.find("text " + slowed + " -> "), std::string::npos) << json;
    EXPECT_NE(json.find("\"measured s\""), std::string::npos);
    EXPECT_NE(json.find("moved here from " + slowed), std::string::npos);
  }
}

TEST(StreamReplan, ADeviceThatRecoversDoesNotDrawTheBricksBack) {
  if (!two_cpus()) GTEST_SKIP() << "needs two CPUs to declare two clusters";
  Rig rig;
  auto s = session(&rig.wrapped);
  ASSERT_NE(s, nullptr);
  std::vector<std::string> lines;
  auto replan = replanner(*s, lines);
  ASSERT_NE(replan, nullptr);
  DelayDevice* slowed = nullptr;
  int lifted_at = -1;
  // Sequential: its times hold still on a loaded machine (pipelined answers vary 2-30 ms
  // here), so that no move but the injected slowdown's and the recovery's is expected.
  const std::vector<Answered> got = run(*s, false, replan, [&](int n) {
    Pipeline& pipe = s->pipeline();
    if (n == kSlowFrom) {
      slowed = static_cast<DelayDevice*>(pipe.text_device());
      slowed->set_factor(kSlow);
    } else if (slowed && lifted_at < 0 && pipe.text_device() != slowed) {
      slowed->set_factor(1);  // it recovers as soon as the text brick has left it
      lifted_at = n;
    }
  });
  ASSERT_EQ(got.size(), (size_t)kFrames);
  ASSERT_GT(lifted_at, 0) << "the text brick never moved";
  // Flapping would move the text brick away and back again and again. It moves once when
  // slowed; once recovered, at most once more (back to a placement predicted better by over
  // 10%; a placement merely as good draws nothing back).
  int changes = 0;
  for (size_t i = 1; i < got.size(); ++i) changes += got[i].text_device != got[i - 1].text_device;
  EXPECT_GE(changes, 1);
  EXPECT_LE(changes, 2);
  for (const std::string& l : lines) std::printf("  %s\n", l.c_str());
}

TEST(StreamReplan, AProfileWithoutTheDevicesIsFilledByKindOrRefused) {
  if (!two_cpus()) GTEST_SKIP() << "needs two CPUs to declare two clusters";
  Rig rig;
  auto s = session(&rig.wrapped);
  ASSERT_NE(s, nullptr);
  // A profile of one "cpu" (as the built-in x86 estimate): the declared clusters are taken as it.
  StreamReplanParams rp;
  rp.profile = plan::test::board({plan::test::device("cpu", "cpu", 100, 2, 2)});
  std::vector<std::string> lines;
  rp.log = [&lines](const std::string& l) { lines.push_back(l); };
  auto r = StreamReplan::create(s->pipeline(), rp);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "re-planning: the profile 'hand' names no cpu:0: taken as its cpu (an estimate)");
  EXPECT_EQ((*r)->placement(), "vision -> cpu:0, text -> cpu:1, keep");
  // One with no CPU at all cannot stand for them.
  rp.profile = plan::test::board({plan::test::device("gpu", "gpu", 100, 2)});
  r = StreamReplan::create(s->pipeline(), rp);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("names no cpu:0 and no device of its kind (cpu)"), std::string::npos)
      << r.status().message();
  rp.options.slow_ratio = 1;  // no ratio over 1 can say "slower"
  EXPECT_FALSE(StreamReplan::create(s->pipeline(), rp).ok());
}

// Busy threads pinned to the text brick's core: real load instead of an injected delay.
TEST(StreamReplanRealLoad, BusyThreadsOnTheTextBricksCoreMoveIt) {
  const char* on = std::getenv("NM_REAL_LOAD_TEST");
  if (!on || std::string(on) != "1")
    GTEST_SKIP() << "set NM_REAL_LOAD_TEST=1 on an otherwise idle machine (others' load on a shared machine or qemu "
                    "moves bricks too, so the bound cannot hold there)";
  if (!two_cpus()) GTEST_SKIP() << "needs two CPUs";
  auto s = session(nullptr);  // the pipeline's own cpu:0 and cpu:1
  ASSERT_NE(s, nullptr);
  std::vector<std::string> lines;
  auto replan = replanner(*s, lines);
  ASSERT_NE(replan, nullptr);
  std::atomic<bool> stop{false};
  std::vector<std::thread> busy;
  const std::vector<Answered> got = run(*s, true, replan, [&](int n) {
    if (n != kSlowFrom) return;
    for (int i = 0; i < 3; ++i) {
      busy.emplace_back([&stop] {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(1, &set);  // cpu:1 is core 1
        pthread_setaffinity_np(pthread_self(), sizeof set, &set);
        while (!stop.load(std::memory_order_relaxed)) {
        }
      });
    }
  });
  stop = true;
  for (std::thread& t : busy) t.join();
  ASSERT_EQ(got.size(), (size_t)kFrames);
  int left = -1;
  for (int i = kSlowFrom; i < kFrames && left < 0; ++i)
    if (got[(size_t)i].text_device != "cpu:1") left = i;
  for (const std::string& l : lines) std::printf("  %s\n", l.c_str());
  ASSERT_GE(left, 0) << "the text brick stayed on the busy core";
  EXPECT_LE(left, kSlowFrom + 3 + 2);
}

}  // namespace
}  // namespace nm
