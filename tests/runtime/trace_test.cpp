// Traces (runtime/trace.h): the Chrome trace JSON has a process track per device and a
// thread track per brick, complete slices with their durations and hand-off arrows whose
// two ends match; a pipelined stream with the bricks on two declared CPU clusters records
// a vision slice and a text slice that overlap in time (the bricks ran at once) and one
// arrow per answered frame, from the vision track to the text track.
#include "runtime/trace.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "demo_models.h"
#include "runtime/frame_stream.h"

namespace nm {
namespace {

using nlohmann::json;

TEST(Trace, WritesChromeTraceEvents) {
  Trace t;
  const auto t0 = Trace::Clock::now();
  const auto t1 = t0 + std::chrono::milliseconds(3);
  t.slice("cpu:0", "vision", "encode", t0, t1, {{"tokens", 16}});
  const uint64_t id = t.next_flow_id();
  t.flow_start(id, "cpu:0", "vision", t1 - std::chrono::microseconds(1));
  t.slice("cpu:1", "text", "prefill", t1, t1 + std::chrono::milliseconds(2));
  t.flow_end(id, "cpu:1", "text", t1 + std::chrono::microseconds(1));
  EXPECT_EQ(t.n_events(), 4u);
  const json j = json::parse(t.json());
  ASSERT_TRUE(j.contains("traceEvents"));
  std::map<int, std::string> processes;
  int n_x = 0, n_s = 0, n_f = 0;
  for (const json& e : j["traceEvents"]) {
    const std::string ph = e["ph"];
    if (ph == "M" && e["name"] == "process_name") processes[e["pid"].get<int>()] = e["args"]["name"];
    if (ph == "X") {
      ++n_x;
      EXPECT_GE(e["dur"].get<double>(), 0.0);
      if (e["name"] == "encode") {
        EXPECT_NEAR(e["dur"].get<double>(), 3000.0, 1e-6);
        EXPECT_EQ(e["args"]["tokens"].get<double>(), 16.0);
      }
    }
    if (ph == "s" || ph == "f") {
      EXPECT_EQ(e["id"].get<uint64_t>(), id);
    }
    n_s += ph == "s";
    n_f += ph == "f";
    if (ph == "f") {
      EXPECT_EQ(e["bp"], "e");
    }
  }
  EXPECT_EQ(n_x, 2);
  EXPECT_EQ(n_s, 1);
  EXPECT_EQ(n_f, 1);
  EXPECT_EQ(processes.size(), 2u);
  const std::string path = testing::TempDir() + "nm_trace_" + std::to_string(::getpid()) + ".json";
  ASSERT_TRUE(t.write(path).ok());
  std::ifstream in(path);
  EXPECT_FALSE(json::parse(in, nullptr, false).is_discarded());
  std::filesystem::remove(path);
  EXPECT_FALSE(t.write("/no/such/dir/t.json").ok());
  // A FIFO nobody reads is refused at once instead of blocking the open.
  const std::string fifo = testing::TempDir() + "nm_trace_fifo_" + std::to_string(::getpid());
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_FALSE(t.write(fifo).ok());
  std::filesystem::remove(fifo);
}

TEST(Trace, APipelinedStreamOnTwoClustersOverlapsTheBricks) {
  if (sysconf(_SC_NPROCESSORS_ONLN) < 2) GTEST_SKIP() << "needs two CPUs for two declared clusters";
  TextSessionParams p;
  p.pipeline.devices = "vision=cpu:0,text=cpu:1";
  p.pipeline.cpu_clusters = "0|1";
  p.sampling.temperature = 0;
  auto s = TextSession::create(test::demo_models(), p);
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  Trace trace;
  (*s)->pipeline().set_trace(&trace);
  auto img = load_image(test::kModels + "samples/scene_7.png");
  ASSERT_TRUE(img.ok());
  PushSource src;
  const int n = 8;
  for (int i = 0; i < n; ++i) src.push("frame " + std::to_string(i), img.value());
  src.close();
  FrameStreamParams fp;
  fp.n_predict = 24;  // answers long enough for the next frames' encodes to start inside them
  auto st = run_frame_stream(**s, src, fp, nullptr);
  ASSERT_TRUE(st.ok()) << st.status().to_string();
  ASSERT_EQ(st->answered, n);
  (*s)->pipeline().set_trace(nullptr);

  const json j = json::parse(trace.json());
  std::map<int, std::string> device_of;
  for (const json& e : j["traceEvents"]) {
    if (e["ph"] == "M" && e["name"] == "process_name") device_of[e["pid"].get<int>()] = e["args"]["name"];
  }
  struct Span { double start, end; };
  std::vector<Span> vision, answers;
  std::map<uint64_t, std::string> flow_from, flow_to;
  for (const json& e : j["traceEvents"]) {
    const std::string ph = e["ph"];
    const std::string device = device_of[e["pid"].get<int>()];
    if (ph == "X") {
      const Span sp{e["ts"].get<double>(), e["ts"].get<double>() + e["dur"].get<double>()};
      const std::string name = e["name"];
      if (name == "encode") {
        EXPECT_EQ(device, "cpu:0");
        vision.push_back(sp);
      }
      if (name.rfind("answer frame", 0) == 0) {
        EXPECT_EQ(device, "cpu:1");
        answers.push_back(sp);
      }
    }
    if (ph == "s") flow_from[e["id"].get<uint64_t>()] = device;
    if (ph == "f") flow_to[e["id"].get<uint64_t>()] = device;
  }
  EXPECT_EQ(vision.size(), (size_t)n);
  EXPECT_EQ(answers.size(), (size_t)n);
  EXPECT_EQ(flow_from.size(), (size_t)n);
  EXPECT_EQ(flow_to.size(), (size_t)n);
  for (const auto& [id, dev] : flow_to) {
    EXPECT_EQ(flow_from[id], "cpu:0");
    EXPECT_EQ(dev, "cpu:1");
  }
  int overlaps = 0;
  for (const Span& v : vision) {
    for (const Span& a : answers) overlaps += v.start < a.end && a.start < v.end;
  }
  EXPECT_GT(overlaps, 0) << "no vision encode ran while the text brick answered";
}

}  // namespace
}  // namespace nm
