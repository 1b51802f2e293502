// Audio input (core/audio.h): WAV/FLAC/OGG/MP3 decoding, mono mixing and resampling to
// 16 kHz, PCM from memory, and every kind of bad input the issue names (empty, zero-length,
// truncated, non-audio, NaN-filled, special files, too long) as a clear error.
// Files are written by hand (WAV) or with libsndfile itself (FLAC/OGG/MP3) into a temp dir.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <numbers>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/audio.h"

// NM_TEST_SNDFILE: the build links libsndfile (tests/CMakeLists.txt). Not __has_include: the
// aarch64 cross build sees the host's sndfile.h but has no aarch64 library to link.
#ifndef NM_TEST_SNDFILE
#define NM_TEST_SNDFILE 0
#endif
#if NM_TEST_SNDFILE
#include <sndfile.h>
#endif

namespace nm {
namespace {

namespace fs = std::filesystem;

class AudioTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!audio_files_supported()) GTEST_SKIP() << "this build decodes no audio files (no libsndfile)";
    dir_ = fs::temp_directory_path() / ("nm_audio_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

void put16(std::string& s, uint16_t v) { s.append(reinterpret_cast<const char*>(&v), 2); }
void put32(std::string& s, uint32_t v) { s.append(reinterpret_cast<const char*>(&v), 4); }

// A RIFF/WAVE file: PCM s16 (format 1) or IEEE float (format 3) interleaved samples.
// declared_frames < 0: the header states the real size.
std::string wav_bytes(const void* data, size_t n_frames, int channels, int rate, bool is_float,
                      int64_t declared_frames = -1) {
  const int bps = is_float ? 4 : 2;
  const uint32_t data_bytes = (uint32_t)((declared_frames < 0 ? (int64_t)n_frames : declared_frames) * channels * bps);
  std::string s = "RIFF";
  put32(s, 36 + data_bytes);
  s += "WAVEfmt ";
  put32(s, 16);
  put16(s, is_float ? 3 : 1);
  put16(s, (uint16_t)channels);
  put32(s, (uint32_t)rate);
  put32(s, (uint32_t)(rate * channels * bps));
  put16(s, (uint16_t)(channels * bps));
  put16(s, (uint16_t)(bps * 8));
  s += "data";
  put32(s, data_bytes);
  s.append(static_cast<const char*>(data), n_frames * channels * bps);
  return s;
}

void write_file(const std::string& p, const std::string& bytes) {
  std::ofstream f(p, std::ios::binary);
  f.write(bytes.data(), (std::streamsize)bytes.size());
}

// Mono sine at `hz` after conversion: amplitude of the best-fitting sine at that frequency.
double sine_amplitude(const std::vector<float>& x, int rate, double hz, size_t skip) {
  double c = 0, s = 0;
  size_t n = 0;
  for (size_t i = skip; i + skip < x.size(); ++i, ++n) {
    const double ph = 2 * std::numbers::pi * hz * (double)i / rate;
    c += x[i] * std::cos(ph);
    s += x[i] * std::sin(ph);
  }
  return 2 * std::sqrt(c * c + s * s) / (double)n;
}

TEST_F(AudioTest, Wav16kMonoIsReadExactly) {
  std::vector<int16_t> pcm = {0, 1, -1, 32767, -32768, 1234, -4321};
  write_file(path("a.wav"), wav_bytes(pcm.data(), pcm.size(), 1, 16000, false));
  AudioSourceInfo info;
  auto a = load_audio(path("a.wav"), 16000, &info);
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  ASSERT_EQ(a->samples.size(), pcm.size());
  for (size_t i = 0; i < pcm.size(); ++i) EXPECT_EQ(a->samples[i], pcm[i] / 32768.0f);
  EXPECT_EQ(info.channels, 1);
  EXPECT_EQ(info.sample_rate, 16000);
  EXPECT_NE(info.format.find("WAV"), std::string::npos);
}

TEST_F(AudioTest, StereoFloat48kBecomesMono16kWithTheSameTone) {
  const int rate = 48000, n = rate * 2;
  std::vector<float> pcm((size_t)n * 2);
  for (int i = 0; i < n; ++i) {
    const float v = 0.5f * (float)std::sin(2 * std::numbers::pi * 440.0 * i / rate);
    pcm[(size_t)i * 2] = v;          // left: the tone
    pcm[(size_t)i * 2 + 1] = 0.0f;   // right: silence -> mono amplitude 0.25
  }
  write_file(path("s.wav"), wav_bytes(pcm.data(), (size_t)n, 2, rate, true));
  auto a = load_audio(path("s.wav"), 16000);
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  EXPECT_EQ(a->sample_rate, 16000);
  EXPECT_NEAR((double)a->samples.size(), n / 3.0, 2.0);
  EXPECT_NEAR(sine_amplitude(a->samples, 16000, 440.0, 200), 0.25, 0.25 * 0.01);
  EXPECT_LT(sine_amplitude(a->samples, 16000, 1000.0, 200), 1e-3);
}

TEST_F(AudioTest, EightChannels384kHz) {
  const int rate = 384000, n = rate / 4, ch = 8;
  std::vector<int16_t> pcm((size_t)n * ch);
  for (int i = 0; i < n; ++i) {
    for (int c = 0; c < ch; ++c) pcm[(size_t)i * ch + c] = (int16_t)(c == 3 ? 8000 * std::sin(2 * std::numbers::pi * 1000.0 * i / rate) : 0);
  }
  write_file(path("m.wav"), wav_bytes(pcm.data(), (size_t)n, ch, rate, false));
  auto a = load_audio(path("m.wav"), 16000);
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  EXPECT_NEAR((double)a->samples.size(), n / 24.0, 2.0);
  EXPECT_NEAR(sine_amplitude(a->samples, 16000, 1000.0, 100), 8000.0 / 32768 / ch, 0.01 * 8000.0 / 32768 / ch);
}

TEST_F(AudioTest, OneSampleAndPcmFromMemory) {
  const int16_t one = 1000;
  write_file(path("one.wav"), wav_bytes(&one, 1, 1, 16000, false));
  auto a = load_audio(path("one.wav"), 16000);
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  EXPECT_EQ(a->samples.size(), 1u);
  auto b = load_audio(path("one.wav"), 8000);  // resampled to fewer samples than one
  ASSERT_TRUE(b.ok()) << b.status().to_string();
  EXPECT_GE(b->samples.size(), 1u);

  std::vector<float> st = {0.5f, -0.5f, 0.25f, 0.75f};
  auto m = audio_from_pcm_f32(st.data(), 2, 2, 16000, 16000);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->samples, (std::vector<float>{0.0f, 0.5f}));
  std::vector<int16_t> s16 = {16384, -16384};
  auto k = audio_from_pcm_s16(s16.data(), 2, 1, 16000, 16000);
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(k->samples, (std::vector<float>{0.5f, -0.5f}));
  EXPECT_FALSE(audio_from_pcm_f32(nullptr, 2, 1, 16000, 16000).ok());
  EXPECT_FALSE(audio_from_pcm_f32(st.data(), 0, 1, 16000, 16000).ok());
  EXPECT_FALSE(audio_from_pcm_f32(st.data(), 2, 0, 16000, 16000).ok());
  EXPECT_FALSE(audio_from_pcm_f32(st.data(), 2, 1, 16000, 0).ok());
}

void expect_error(const Result<Audio>& r, const std::string& fragment) {
  ASSERT_FALSE(r.ok()) << "expected an error mentioning '" << fragment << "'";
  EXPECT_NE(r.status().message().find(fragment), std::string::npos) << r.status().message();
}

TEST_F(AudioTest, BadFilesAreClearErrors) {
  write_file(path("empty.wav"), "");
  expect_error(load_audio(path("empty.wav"), 16000), "empty file");
  write_file(path("zero.wav"), wav_bytes(nullptr, 0, 1, 16000, false));
  expect_error(load_audio(path("zero.wav"), 16000), "no audio samples");
  write_file(path("text.wav"), "this is not audio at all, just some text\n");
  expect_error(load_audio(path("text.wav"), 16000), "not an audio file");
  std::string junk(5000, '\0');
  for (size_t i = 0; i < junk.size(); ++i) junk[i] = (char)(i * 7919 % 251);
  write_file(path("junk.mp3"), junk);
  EXPECT_FALSE(load_audio(path("junk.mp3"), 16000).ok());
  std::vector<float> nan_pcm(100, 0.1f);
  nan_pcm[42] = std::nanf("");
  write_file(path("nan.wav"), wav_bytes(nan_pcm.data(), nan_pcm.size(), 1, 16000, true));
  expect_error(load_audio(path("nan.wav"), 16000), "sample 42");
  std::vector<float> inf_pcm(100, 0.1f);
  inf_pcm[7] = INFINITY;
  write_file(path("inf.wav"), wav_bytes(inf_pcm.data(), inf_pcm.size(), 1, 16000, true));
  expect_error(load_audio(path("inf.wav"), 16000), "not a finite number");
  expect_error(load_audio(path("missing.wav"), 16000), "cannot open");
  expect_error(load_audio(dir_.string(), 16000), "not a regular file");
  expect_error(load_audio("/dev/zero", 16000), "not a regular file");
  ASSERT_EQ(::mkfifo(path("fifo").c_str(), 0600), 0);
  expect_error(load_audio(path("fifo"), 16000), "not a regular file");  // no writer: must not block
}

TEST_F(AudioTest, TruncatedFileGivesWhatItHolds) {
  // The header promises 16000 frames; 100 are there. libsndfile reads those (as players do).
  std::vector<int16_t> pcm(100, 500);
  write_file(path("cut.wav"), wav_bytes(pcm.data(), pcm.size(), 1, 16000, false, 16000));
  auto a = load_audio(path("cut.wav"), 16000);
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  EXPECT_EQ(a->samples.size(), 100u);
  // Cut inside the header: an error.
  std::string bytes = wav_bytes(pcm.data(), pcm.size(), 1, 16000, false);
  write_file(path("cut2.wav"), bytes.substr(0, 30));
  EXPECT_FALSE(load_audio(path("cut2.wav"), 16000).ok());
}

TEST_F(AudioTest, HourLongLoadsAndTooLongIsRefused) {
  // A sparse file: one hour of 16 kHz silence (115 MB of zeros, no disk blocks).
  auto sparse_wav = [&](const std::string& p, int rate, int64_t frames) {
    const std::string header = wav_bytes(nullptr, 0, 1, rate, false, frames);
    write_file(p, header);
    ASSERT_EQ(::truncate(p.c_str(), (off_t)(header.size() + (size_t)frames * 2)), 0);
  };
  sparse_wav(path("hour.wav"), 16000, 16000LL * 3600);
  auto a = load_audio(path("hour.wav"), 16000);
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  EXPECT_DOUBLE_EQ(a->seconds(), 3600.0);
  sparse_wav(path("long.wav"), 8000, 8000LL * 3600 * 5);
  expect_error(load_audio(path("long.wav"), 16000), "hour limit");
  expect_error(audio_from_pcm_f32(std::vector<float>(10).data(), 10, 1, 1000000, 16000), "sample rate");
}

#if NM_TEST_SNDFILE
// Writes a mono tone with libsndfile in the given container/codec; false if this
// libsndfile cannot encode it.
bool write_with_sndfile(const std::string& p, int format, int rate, const std::vector<float>& x) {
  SF_INFO info{};
  info.samplerate = rate;
  info.channels = 1;
  info.format = format;
  SNDFILE* f = sf_open(p.c_str(), SFM_WRITE, &info);
  if (!f) return false;
  sf_writef_float(f, x.data(), (sf_count_t)x.size());
  sf_close(f);
  return true;
}

TEST_F(AudioTest, FlacOggMp3Decode) {
  const int rate = 44100;
  std::vector<float> x((size_t)rate);
  for (size_t i = 0; i < x.size(); ++i) x[i] = 0.4f * (float)std::sin(2 * std::numbers::pi * 500.0 * (double)i / rate);
  struct Case { const char* name; int format; double tol; };
  for (const Case& c : {Case{"t.flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 0.002},
                        Case{"t.ogg", SF_FORMAT_OGG | SF_FORMAT_VORBIS, 0.02},
                        Case{"t.opus", SF_FORMAT_OGG | SF_FORMAT_OPUS, 0.05},
                        Case{"t.mp3", SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III, 0.05}}) {
    const int r = c.format == (SF_FORMAT_OGG | SF_FORMAT_OPUS) ? 48000 : rate;
    std::vector<float> y = x;
    if (r != rate) {
      y.resize((size_t)r);
      for (size_t i = 0; i < y.size(); ++i) y[i] = 0.4f * (float)std::sin(2 * std::numbers::pi * 500.0 * (double)i / r);
    }
    ASSERT_TRUE(write_with_sndfile(path(c.name), c.format, r, y)) << c.name << ": " << sf_strerror(nullptr);
    auto a = load_audio(path(c.name), 16000);
    ASSERT_TRUE(a.ok()) << c.name << ": " << a.status().to_string();
    EXPECT_NEAR((double)a->samples.size(), 16000.0, 16000.0 * 0.1) << c.name;  // codecs pad a little
    EXPECT_NEAR(sine_amplitude(a->samples, 16000, 500.0, 2000), 0.4, 0.4 * c.tol + 0.01) << c.name;
  }
}
#endif

}  // namespace
}  // namespace nm
