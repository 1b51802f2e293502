// The parts `nanomind assist` is made of, below the CLI test (tests/python/test_cli_assist.py):
// a recording played as a microphone, the camera's current frame from a folder, and a speech
// stream reused across answers (drain / begin_turn).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>

#include "core/audio_capture.h"
#include "runtime/frame_source.h"
#include "runtime/speech_stream.h"
#include "tokenizer/espeak_ng.h"

namespace nm {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("nm_assist_" + std::to_string(::getpid()) + "_" +
                                               std::to_string(std::random_device{}()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

TEST(RecordingSource, HandsOutTheSamplesInOrderThenEnds) {
  std::vector<float> samples(1000);
  for (size_t i = 0; i < samples.size(); ++i) samples[i] = (float)i;
  RecordingSource src(samples, 16000);
  EXPECT_EQ(src.sample_rate(), 16000);
  std::vector<float> got, chunk(384);
  for (;;) {
    auto n = src.read(chunk.data(), (int64_t)chunk.size());
    ASSERT_TRUE(n.ok());
    if (*n == 0) break;
    got.insert(got.end(), chunk.begin(), chunk.begin() + *n);
  }
  EXPECT_EQ(got, samples);
  RecordingSource stopped(samples, 16000);
  stopped.stop();
  auto none = stopped.read(chunk.data(), 10);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, 0);
}

TEST(RecordingSource, FolderIsNeitherAFileNorADevice) {
  TempDir d;
  auto r = open_audio_input(d.path.string(), 16000);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("neither an audio file nor a capture device"), std::string::npos);
  // A name that is no file is an ALSA device: here one that does not exist.
  auto alsa = open_audio_input("nm_no_such_capture_device", 16000);
  ASSERT_FALSE(alsa.ok());
  EXPECT_NE(alsa.status().message().find("nm_no_such_capture_device"), std::string::npos);
}

TEST(GrabFrame, TheFolderLastReadableImageInNameOrder) {
  TempDir d;
  const fs::path samples = fs::path(NM_SOURCE_DIR) / "models" / "samples";
  fs::copy_file(samples / "scene_3.png", d.path / "frame-001.png");
  fs::copy_file(samples / "scene_11.png", d.path / "frame-002.png");
  std::ofstream(d.path / "frame-003.png") << "half written";  // not an image (yet)
  std::ofstream(d.path / ".hidden.png") << "x";
  auto f = grab_frame(d.path.string());
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  EXPECT_EQ(f->name, "frame-002.png");
  auto expect = load_image((samples / "scene_11.png").string());
  ASSERT_TRUE(expect.ok());
  EXPECT_EQ(f->image->rgb, expect->rgb);

  TempDir empty;
  EXPECT_FALSE(grab_frame(empty.path.string()).ok());
  std::ofstream(empty.path / "a.png") << "no image";
  EXPECT_FALSE(grab_frame(empty.path.string()).ok());
  EXPECT_FALSE(grab_frame((d.path / "missing").string()).ok());
}

TEST(SpeechStream, DrainKeepsTheStreamOpenForTheNextAnswer) {
  if (!espeak_available()) GTEST_SKIP() << "no libespeak-ng in this build";
  std::mutex mu;
  size_t samples = 0;
  int calls = 0;
  SpeechStreamParams p;
  auto s = SpeechStream::create(p, [&](std::span<const float> pcm, int rate) {
    EXPECT_GT(rate, 0);
    std::lock_guard<std::mutex> lock(mu);
    samples += pcm.size();
    ++calls;
    return Status();
  });
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  SpeechStream& st = **s;
  st.push("Hello there. How are");
  ASSERT_TRUE(st.drain().ok());
  EXPECT_EQ(st.sentences_spoken(), 2);  // the unfinished sentence is spoken by drain()
  EXPECT_GE(st.first_audio_ms(), 0);
  const size_t first = samples;
  EXPECT_GT(first, 0u);
  EXPECT_GT(st.synth_ms(), 0);
  st.begin_turn();
  EXPECT_LT(st.first_audio_ms(), 0);
  st.push("you today?");
  ASSERT_TRUE(st.drain().ok());
  EXPECT_EQ(st.sentences_spoken(), 3);
  EXPECT_GE(st.first_audio_ms(), 0);
  EXPECT_GT(samples, first);
  ASSERT_TRUE(st.drain().ok());  // nothing pending: returns at once
  EXPECT_EQ(calls, 3);
  EXPECT_TRUE(st.finish().ok());
}

TEST(SpeechStream, ASinkErrorIsReturnedByDrain) {
  if (!espeak_available()) GTEST_SKIP() << "no libespeak-ng in this build";
  auto s = SpeechStream::create({}, [](std::span<const float>, int) { return error(ErrorCode::io_error, "speaker gone"); });
  ASSERT_TRUE(s.ok());
  (*s)->push("One. Two. Three.");
  Status st = (*s)->drain();
  EXPECT_EQ(st.code(), ErrorCode::io_error);
  EXPECT_EQ((*s)->sentences_spoken(), 0);
}

}  // namespace
}  // namespace nm
