// Streams of pictures (runtime/frame_stream.h) on the bundled demo model: pipelined answers
// are token for token the sequential run's under every placement this machine offers
// (default, cpu, cpu:0 + cpu:1 declared clusters, OpenCL on PoCL); an unreadable file and
// a brick that fails get clear per-frame errors while the other frames are answered;
// drop-oldest drops only frames no one started on, and never the last; nothing hangs
// (every run is bounded by a watchdog).
#include "runtime/frame_stream.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "bounded_stream.h"
#include "demo_models.h"
#include "../sanitizers.h"

namespace nm {
namespace {

namespace fs = std::filesystem;
using test::kModels;
using test::run_bounded;
const PipelineModels& demo() { return test::demo_models(); }

// A folder of the demo's sample scenes and one file that is not an image.
struct Frames {
  fs::path dir = fs::temp_directory_path() / ("nm_frames_" + std::to_string(::getpid()));
  Frames() {
    fs::create_directories(dir);
    int i = 0;
    for (const char* s : {"scene_3", "scene_7", "scene_11", "scene_21", "scene_42"}) {
      fs::copy_file(kModels + "samples/" + s + ".png", dir / ("f" + std::to_string(i++) + ".png"));
      if (i == 2) std::ofstream(dir / "f1b_broken.png") << "not a picture";
    }
  }
  ~Frames() { fs::remove_all(dir); }
};

std::unique_ptr<TextSession> session(const std::string& devices, int n_ctx = 0) {
  TextSessionParams p;
  p.pipeline.n_threads = 2;
  p.pipeline.devices = devices;
  p.pipeline.n_ctx = n_ctx;
  if (devices.find("cpu:") != std::string::npos) p.pipeline.cpu_clusters = "0|1";
  p.sampling.temperature = 0;
  auto s = TextSession::create(demo(), p);
  EXPECT_TRUE(s.ok()) << s.status().to_string();
  return s.ok() ? std::move(s).value() : nullptr;
}

TEST(FrameStream, PipelinedAnswersEqualTheSequentialRunOnEveryPlacement) {
  Frames frames;
  const bool two_cpus = sysconf(_SC_NPROCESSORS_ONLN) >= 2;
  for (const std::string devices : {"", "cpu", "vision=cpu:0,text=cpu:1", "text=opencl", "opencl"}) {
    if (devices.find("cpu:1") != std::string::npos && !two_cpus) continue;
#if NM_TEST_TSAN
    // PoCL's own threads are not instrumented: ThreadSanitizer would report its internals.
    if (devices.find("opencl") != std::string::npos) continue;
#endif
    SCOPED_TRACE("--device '" + devices + "'");
    std::vector<std::vector<FrameAnswer>> runs(2);
    for (int pipelined = 0; pipelined < 2; ++pipelined) {
      auto s = session(devices);
      ASSERT_NE(s, nullptr);
      auto src = open_folder_source(frames.dir.string());
      ASSERT_TRUE(src.ok()) << src.status().to_string();
      FrameStreamParams p;
      p.question = "How many shapes are there?";
      p.n_predict = 12;
      p.pipelined = pipelined != 0;
      auto st = run_bounded(*s, *src.value(), p, runs[(size_t)pipelined]);
      ASSERT_TRUE(st.ok()) << st.status().to_string();
      EXPECT_EQ(st->asked, 6);
      EXPECT_EQ(st->answered, 5);
      EXPECT_EQ(st->failed, 1);
      EXPECT_EQ(st->dropped, 0);
      EXPECT_EQ(s->pipeline().bytes_copied_between_bricks(), 0u);
      for (int i = 0; i < s->pipeline().ring()->n_slots(); ++i) EXPECT_EQ(s->pipeline().ring()->state(i), SlotState::free);
    }
    const std::vector<FrameAnswer>& seq = runs[0];
    const std::vector<FrameAnswer>& pipe = runs[1];
    ASSERT_EQ(seq.size(), 6u);
    ASSERT_EQ(pipe.size(), 6u);
    for (size_t i = 0; i < seq.size(); ++i) {
      EXPECT_EQ(seq[i].frame, i);  // in frame order
      EXPECT_EQ(pipe[i].frame, i);
      EXPECT_EQ(seq[i].name, pipe[i].name);
      EXPECT_EQ(seq[i].status.ok(), pipe[i].status.ok());
      EXPECT_EQ(seq[i].text, pipe[i].text) << "frame " << i;
      if (seq[i].name == "f1b_broken.png") {
        EXPECT_FALSE(seq[i].status.ok());
        EXPECT_NE(pipe[i].status.message().find("f1b_broken.png"), std::string::npos) << pipe[i].status.message();
      } else {
        EXPECT_TRUE(seq[i].status.ok()) << seq[i].status.to_string();
        EXPECT_FALSE(seq[i].text.empty());
      }
    }
  }
}

TEST(FrameStream, EveryKthFrameIsAsked) {
  Frames frames;
  auto s = session("");
  ASSERT_NE(s, nullptr);
  auto src = open_folder_source(frames.dir.string());
  ASSERT_TRUE(src.ok());
  FrameStreamParams p;
  p.every = 2;
  p.n_predict = 4;
  std::vector<FrameAnswer> out;
  auto st = run_bounded(*s, *src.value(), p, out);
  ASSERT_TRUE(st.ok());
  ASSERT_EQ(out.size(), 3u);  // frames 0, 2, 4 of f0, f1, f1b_broken, f2, f3, f4
  EXPECT_EQ(out[0].frame, 0u);
  EXPECT_EQ(out[1].frame, 2u);
  EXPECT_EQ(out[1].name, "f1b_broken.png");
  EXPECT_FALSE(out[1].status.ok());
  EXPECT_EQ(out[2].frame, 4u);
}

TEST(FrameStream, AFolderDecodesOnlyTheFramesItsReaderWants) {
  Frames frames;  // f0, f1, f1b_broken, f2, f3, f4
  auto src = open_folder_source(frames.dir.string());
  ASSERT_TRUE(src.ok());
  std::vector<uint64_t> asked;
  const FrameWanted odd = [&](uint64_t index) {
    asked.push_back(index);
    return index % 2 == 1;
  };
  std::vector<std::string> images;
  while (std::optional<Frame> f = src.value()->next_if(odd)) {
    images.push_back(f->name + ": " + (f->image.ok() ? "decoded" : f->image.status().to_string()));
  }
  EXPECT_EQ(asked, (std::vector<uint64_t>{0, 1, 2, 3, 4, 5}));
  // The broken file (frame 2) is not wanted: skipped without reading it, it is no error.
  const std::string skipped = ": " + not_decoded().to_string();
  EXPECT_EQ(images, (std::vector<std::string>{"f0.png" + skipped, "f1.png: decoded", "f1b_broken.png" + skipped,
                                              "f2.png: decoded", "f3.png" + skipped, "f4.png: decoded"}));
}

TEST(FrameStream, AFailingBrickGivesEveryFrameAClearErrorAndNothingHangs) {
  // A context too small for an image's prompt: the text brick fails on every frame.
  Frames frames;
  auto s = session("", 8);
  ASSERT_NE(s, nullptr);
  for (int pipelined = 0; pipelined < 2; ++pipelined) {
    auto src = open_folder_source(frames.dir.string());
    ASSERT_TRUE(src.ok());
    FrameStreamParams p;
    p.pipelined = pipelined != 0;
    std::vector<FrameAnswer> out;
    auto st = run_bounded(*s, *src.value(), p, out);
    ASSERT_TRUE(st.ok());
    ASSERT_EQ(out.size(), 6u);
    EXPECT_EQ(st->failed, 6);
    for (const FrameAnswer& a : out) {
      EXPECT_FALSE(a.status.ok());
      if (a.name != "f1b_broken.png") {
        EXPECT_NE(a.status.message().find("context"), std::string::npos) << a.status.message();
      }
    }
    for (int i = 0; i < s->pipeline().ring()->n_slots(); ++i) EXPECT_EQ(s->pipeline().ring()->state(i), SlotState::free);
  }
}

TEST(FrameStream, DropOldestDropsOnlyWaitingFramesAndNeverTheLast) {
  auto s = session("");
  ASSERT_NE(s, nullptr);
  s->pipeline().ring()->set_policy(Backpressure::drop_oldest);
  auto img = load_image(kModels + "samples/scene_3.png");
  ASSERT_TRUE(img.ok());
  // Frames arrive all at once (faster than any answer): the vision worker keeps replacing
  // the frame waiting in the ring while the text worker answers.
  PushSource src;
  const int n = 12;
  for (int i = 0; i < n; ++i) src.push("frame " + std::to_string(i), img.value());
  src.close();
  FrameStreamParams p;
  p.n_predict = 24;
  std::vector<FrameAnswer> out;
  auto st = run_bounded(*s, src, p, out);
  ASSERT_TRUE(st.ok()) << st.status().to_string();
  ASSERT_EQ(out.size(), (size_t)n);
  EXPECT_EQ(st->answered + st->dropped, n);
  EXPECT_EQ(st->failed, 0);
  // Nothing displaces the last frame, so it is always answered; which earlier frames are
  // dropped depends on how the two workers were scheduled.
  EXPECT_GE(st->answered, 1);
  EXPECT_TRUE(out.back().status.ok()) << out.back().status.to_string();
  for (size_t i = 0; i < out.size(); ++i) {
    EXPECT_EQ(out[i].frame, i);
    if (out[i].dropped) {
      EXPECT_NE(out[i].status.message().find("dropped"), std::string::npos);
    }
  }
  EXPECT_EQ(s->pipeline().ring()->stats().drops, (uint64_t)st->dropped);
}

TEST(FrameStream, RefusesWhatCannotRun) {
  auto s = session("");
  ASSERT_NE(s, nullptr);
  PushSource src;
  src.close();
  FrameStreamParams p;
  p.every = 0;
  EXPECT_FALSE(run_frame_stream(*s, src, p, nullptr).ok());
  p.every = 1;
  p.question.clear();
  EXPECT_FALSE(run_frame_stream(*s, src, p, nullptr).ok());
  EXPECT_FALSE(open_folder_source("/no/such/folder").ok());
  EXPECT_FALSE(open_frame_source("/no/such/folder").ok());
  // A file that is not a video device is refused by the V4L2 path with a message.
  auto v = open_v4l2_source("/dev/null");
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("/dev/null"), std::string::npos);
}

}  // namespace
}  // namespace nm
