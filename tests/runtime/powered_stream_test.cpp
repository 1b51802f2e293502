// The power policy driving the runtime's camera stream (runtime/powered_stream.h) on the
// bundled demo model: a scripted battery walks the levels down through T_high and T_low,
// wobbles back inside the hysteresis band and once past it; each frame is asked in the
// mode the policy chose from that frame's reading (exactly at the thresholds), throttled
// frames are skipped one in round(1/alpha), threads follow alpha (the pool the text
// brick runs on), on-demand frames run with nothing of either model file resident after
// each event, mode changes are logged and traced, the battery's end stops the stream, and
// every answer is token for token the reference stream's (sequential, all threads).
// Also on-demand's peak memory against the largest brick + ring + KV, measured from /proc.
#include "runtime/powered_stream.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <unistd.h>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "demo_models.h"
#include "runtime/memory_usage.h"
#include "../sanitizers.h"

namespace nm {
namespace {

using energy::PowerMode;
namespace fs = std::filesystem;

const std::string kLlm = test::kModels + "nanomind-demo-llm.gguf";
const std::string kMmproj = test::kModels + "nanomind-demo-mmproj.gguf";

// Levels read in order: one at the start, then one per frame the stream would ask about.
struct ScriptedBattery final : energy::BatterySource {
  std::vector<double> levels;
  size_t reads = 0;
  Result<energy::BatteryState> read() override {
    energy::BatteryState s;
    s.level = levels[std::min(reads, levels.size() - 1)];
    s.status = energy::BatteryStatus::discharging;
    ++reads;
    return s;
  }
  void consume(double) override {}
  std::string describe() const override { return "scripted"; }
};

// A folder of n frames cycling through the demo's sample pictures (symlinks).
struct FrameFolder {
  fs::path dir;
  explicit FrameFolder(int n) {
    dir = fs::temp_directory_path() / ("nm-powered-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    const char* scenes[] = {"scene_3", "scene_7", "scene_11", "scene_21", "scene_42", "scene_77"};
    for (int i = 0; i < n; ++i) {
      char name[32];
      std::snprintf(name, sizeof name, "frame_%03d.png", i);
      fs::create_symlink(test::kModels + "samples/" + scenes[i % 6] + ".png", dir / name);
    }
  }
  ~FrameFolder() { fs::remove_all(dir); }
};

size_t file_rss(const std::string& path) {
  auto r = mapped_file_rss(path);
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  return r.ok() ? r.value() : SIZE_MAX;
}

// A frame source that notes which frames its inner source decoded (throttled frames must
// be skipped before decoding).
struct DecodeCounting final : FrameSource {
  std::unique_ptr<FrameSource> inner;
  std::vector<uint64_t> decoded;
  explicit DecodeCounting(std::unique_ptr<FrameSource> s) : inner(std::move(s)) {}
  std::optional<Frame> next() override { return next_if(nullptr); }
  std::optional<Frame> next_if(const FrameWanted& wanted) override {
    std::optional<Frame> f = inner->next_if(wanted);
    if (f && f->image.ok()) decoded.push_back(f->index);
    return f;
  }
};

FrameStreamParams question() {
  FrameStreamParams p;
  p.question = "How many shapes are there?";
  p.n_predict = 6;
  return p;
}

// The reference: every frame, sequential, all threads, kept resident.
std::map<uint64_t, std::string> reference_answers(const std::string& dir) {
  auto s = test::demo_session(Residency::keep);
  auto src = open_folder_source(dir);
  EXPECT_TRUE(src.ok());
  std::map<uint64_t, std::string> out;
  FrameStreamParams p = question();
  p.pipelined = false;
  auto r = run_frame_stream(*s, *src.value(), p, [&](const FrameAnswer& a) {
    EXPECT_TRUE(a.status.ok()) << a.status.to_string();
    out[a.frame] = a.text;
  });
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  return out;
}

TEST(PoweredStream, ModesSwitchAtTheThresholdsWithHysteresisAndAnswerTheSame) {
  FrameFolder folder(20);
  const std::map<uint64_t, std::string> want = reference_answers(folder.dir.string());
  ASSERT_EQ(want.size(), 20u);

  auto s = test::demo_session(Residency::keep);
  ASSERT_NE(s, nullptr);
  Trace trace;
  s->pipeline().set_trace(&trace);
  ScriptedBattery battery;
  // start, then frames 0 1 2 3 4 6 9 10 11 16 17 (the others skipped by throttling):
  //   0.70 0.51 parallel; 0.50 throttled (at T_high: alpha 1, 2 threads); 0.54 stays
  //   (not past 0.55); 0.38 alpha 0.6: 1 thread, every 2nd; 0.30 alpha 1/3: every 3rd;
  //   0.20 on-demand (at T_low); 0.24 stays (not past 0.25); 0.26 throttled, alpha 0.2:
  //   every 5th; 0.10 on-demand; 0 empty: the stream stops before frame 17.
  battery.levels = {0.80, 0.70, 0.51, 0.50, 0.54, 0.38, 0.30, 0.20, 0.24, 0.26, 0.10, 0.0};
  PoweredStreamParams p;
  p.stream = question();
  std::vector<std::string> logs;
  p.power.log = [&](const std::string& line) { logs.push_back(line); };
  std::vector<energy::PowerModeChange> traced;
  p.power.trace = [&](const energy::PowerModeChange& c) { traced.push_back(c); };
  auto folder_src = open_folder_source(folder.dir.string());
  ASSERT_TRUE(folder_src.ok());
  auto src = std::make_unique<DecodeCounting>(std::move(folder_src).value());

  struct Got {
    PowerState state;
    std::string text;
    int pool_threads;
    size_t text_rss, vision_rss;
  };
  std::map<uint64_t, Got> got;
  auto r = run_powered_stream(*s, *src, p, &battery, nullptr, [&](const FrameAnswer& a, const PowerState& st) {
    EXPECT_TRUE(a.status.ok()) << a.frame << ": " << a.status.to_string();
    got[a.frame] = {st, a.text, s->pipeline().pool().size(), file_rss(kLlm), file_rss(kMmproj)};
  });
  ASSERT_TRUE(r.ok()) << r.status().to_string();

  const std::map<uint64_t, std::pair<PowerMode, int>> expect = {
      {0, {PowerMode::parallel, 2}},  {1, {PowerMode::parallel, 2}},   {2, {PowerMode::throttled, 2}},
      {3, {PowerMode::throttled, 2}}, {4, {PowerMode::throttled, 1}},  {6, {PowerMode::throttled, 1}},
      {9, {PowerMode::on_demand, 2}}, {10, {PowerMode::on_demand, 2}}, {11, {PowerMode::throttled, 1}},
      {16, {PowerMode::on_demand, 2}}};
  ASSERT_EQ(got.size(), expect.size());
  for (const auto& [frame, e] : expect) {
    ASSERT_TRUE(got.count(frame)) << "frame " << frame << " was not asked";
    const Got& g = got[frame];
    EXPECT_EQ(g.state.mode, e.first) << "frame " << frame;
    EXPECT_EQ(g.state.threads, e.second) << "frame " << frame;
    EXPECT_EQ(g.pool_threads, e.second) << "frame " << frame << ": the text brick's pool";
    EXPECT_EQ(g.text, want.at(frame)) << "frame " << frame << " in " << energy::power_mode_name(e.first);
    if (e.first == PowerMode::on_demand) {
      // Between events nothing of either model file is resident.
      EXPECT_EQ(g.text_rss, 0u) << "frame " << frame;
      EXPECT_EQ(g.vision_rss, 0u) << "frame " << frame;
    } else {
      EXPECT_GT(g.text_rss, 0u) << "frame " << frame << ": kept resident";
    }
  }
  EXPECT_DOUBLE_EQ(got[2].state.level, 0.50);
  EXPECT_DOUBLE_EQ(got[9].state.level, 0.20);
  EXPECT_NEAR(got[4].state.alpha, 0.6, 1e-9);
  EXPECT_EQ(r->skipped, 7);  // 5, 7, 8, 12, 13, 14, 15
  // Skipped frames are never decoded: only the asked ones, and frame 17, read before the
  // battery reading that ended the stream.
  EXPECT_EQ(src->decoded, (std::vector<uint64_t>{0, 1, 2, 3, 4, 6, 9, 10, 11, 16, 17}));
  EXPECT_TRUE(r->battery_empty);
  EXPECT_EQ(r->mode_changes, 4);
  EXPECT_EQ(r->answered[0], 2);
  EXPECT_EQ(r->answered[1], 5);
  EXPECT_EQ(r->answered[2], 3);
  EXPECT_EQ(r->stream.answered, 10);
  EXPECT_EQ(battery.reads, 12u);

  // Logged and traced: each change at the reading that caused it.
  std::vector<std::string> changes;
  for (const auto& c : traced) {
    if (c.from != c.to) changes.push_back(std::string(energy::power_mode_name(c.from)) + ">" +
                                          energy::power_mode_name(c.to) + "@" + std::to_string(std::lround(c.level * 100)));
  }
  EXPECT_EQ(changes, (std::vector<std::string>{"parallel>throttled@50", "throttled>on-demand@20",
                                               "on-demand>throttled@26", "throttled>on-demand@10"}));
  int logged = 0;
  for (const auto& l : logs) logged += l.find(" -> ") != std::string::npos;
  EXPECT_EQ(logged, 4);
  EXPECT_NE(logs.back().find("battery empty"), std::string::npos) << logs.back();
  const std::string json = trace.json();
  EXPECT_NE(json.find("\"parallel -> throttled\""), std::string::npos);
  EXPECT_NE(json.find("\"throttled -> on-demand\""), std::string::npos);
  // The session's own setting is back.
  EXPECT_EQ(s->pipeline().pool().size(), 2);
  EXPECT_EQ(s->pipeline().params().residency, Residency::keep);
}

TEST(PoweredStream, OnDemandPeakIsTheLargestBrickPlusRingAndKv) {
  FrameFolder folder(3);
  auto s = test::demo_session(Residency::on_demand);
  ASSERT_NE(s, nullptr);
  PoweredStreamParams p;
  p.stream = question();
  p.power.policy.choice = energy::PowerModeChoice::on_demand;
  p.power.log = [](const std::string&) {};
  int answers = 0;
  auto run = [&] {
    auto src = open_folder_source(folder.dir.string());
    ASSERT_TRUE(src.ok());
    auto r = run_powered_stream(*s, *src.value(), p, nullptr, nullptr, [&](const FrameAnswer& a, const PowerState& st) {
      EXPECT_TRUE(a.status.ok()) << a.status.to_string();
      EXPECT_EQ(st.mode, PowerMode::on_demand);
      // Between events: nothing of either model file resident.
      EXPECT_EQ(file_rss(kLlm), 0u);
      EXPECT_EQ(file_rss(kMmproj), 0u);
      ++answers;
    });
    ASSERT_TRUE(r.ok()) << r.status().to_string();
  };
  run();  // warms what is made once per process (allocator pools; qemu-user's translated code)
  ASSERT_TRUE(reset_peak_rss().ok());
  auto before = read_process_memory();
  ASSERT_TRUE(before.ok());
  run();
  EXPECT_EQ(answers, 6);
  auto after = read_process_memory();
  ASSERT_TRUE(after.ok());
  const PipelineModels& m = test::demo_models();
  // A brick is its weights and its working memory (the graph arenas of its run, from the
  // brick's own cost: the largest picture of the stream; the whole prompt in one prefill).
  size_t vision_work = 0;
  for (const char* scene : {"scene_3", "scene_7", "scene_11"}) {
    auto img = load_image(test::kModels + "samples/" + scene + ".png");
    ASSERT_TRUE(img.ok());
    BrickInput in;
    in.width = img->width;
    in.height = img->height;
    auto c = m.vision->cost(in);
    ASSERT_TRUE(c.ok()) << c.status().to_string();
    vision_work = std::max(vision_work, c->activation_bytes);
  }
  BrickInput prompt;
  prompt.n_tokens = (int)s->pipeline().positions().size() + s->timings().n_prompt_tokens;  // kept opening + the rest
  auto text_cost = m.text->cost(prompt);
  ASSERT_TRUE(text_cost.ok()) << text_cost.status().to_string();
  const size_t vision = m.vision->weight_bytes() + vision_work;
  const size_t text = m.text->weight_bytes() + text_cost->activation_bytes;
  const size_t largest = std::max(text, vision);
  const size_t ring = s->pipeline().ring()->region().bytes;
  const size_t kv = (size_t)s->n_ctx() * m.text->kv_bytes_per_token(DType::F16);
  const size_t growth = after->peak_rss > before->rss ? after->peak_rss - before->rss : 0;
  std::printf("on-demand peak: +%.0f KiB over the idle process; largest brick %.0f KiB (vision %.0f KiB weights + "
              "%.0f KiB working, text %.0f + %.0f) + ring %.0f KiB + KV %.0f KiB = %.0f KiB; both bricks %.0f KiB\n",
              growth / 1024.0, largest / 1024.0, m.vision->weight_bytes() / 1024.0, vision_work / 1024.0,
              m.text->weight_bytes() / 1024.0, text_cost->activation_bytes / 1024.0, ring / 1024.0, kv / 1024.0,
              (largest + ring + kv) / 1024.0, (text + vision) / 1024.0);
#if NM_TEST_ASAN
  GTEST_SKIP() << "ASan keeps freed memory in quarantine: the peak bound holds only without it";
#else
  // Issue 16's bound: the cascade holds one brick at a time, plus the ring and the KV cache.
  EXPECT_LE(growth, largest + ring + kv);
#endif
}

}  // namespace
}  // namespace nm
