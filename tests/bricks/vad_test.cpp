// SpeechSegmenter on scripted probability sequences (hysteresis, minimum speech and
// silence, padding, the 28 s cut) and the energy detector on tones in noise.
#include <cmath>
#include <numbers>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "bricks/vad/voice_activity.h"

namespace nm {
namespace {

constexpr int64_t kChunk = VoiceActivityDetector::kChunk;

std::vector<SpeechSpan> segment(const std::vector<float>& probs, SpeechSegmenterParams p = {}) {
  SpeechSegmenter seg(p);
  std::vector<SpeechSpan> out;
  SpeechSpan s;
  for (float x : probs) {
    if (seg.push(x, &s)) out.push_back(s);
  }
  if (seg.finish(&s)) out.push_back(s);
  return out;
}

std::vector<float> run(std::initializer_list<std::pair<float, int>> parts) {
  std::vector<float> v;
  for (auto [p, n] : parts) v.insert(v.end(), (size_t)n, p);
  return v;
}

TEST(SpeechSegmenter, HysteresisSilenceAndPadding) {
  const int64_t pad = 480;  // 30 ms
  // 20 quiet chunks, 20 speech chunks, 20 quiet: one span, padded.
  auto s = segment(run({{0.1f, 20}, {0.9f, 20}, {0.1f, 20}}));
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].begin, 20 * kChunk - pad);
  EXPECT_EQ(s[0].end, 40 * kChunk + pad);
  // A dip to 0.4 (between neg_threshold and threshold) does not end speech.
  s = segment(run({{0.9f, 10}, {0.4f, 10}, {0.9f, 10}, {0.0f, 10}}));
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].end, 30 * kChunk + pad);
  // Silence shorter than 100 ms (3 chunks = 96 ms) does not split; 4 chunks (128 ms) do.
  EXPECT_EQ(segment(run({{0.9f, 10}, {0.0f, 3}, {0.9f, 10}, {0.0f, 10}})).size(), 1u);
  EXPECT_EQ(segment(run({{0.9f, 10}, {0.0f, 4}, {0.9f, 10}, {0.0f, 10}})).size(), 2u);
  // Bursts under 250 ms (7 chunks = 224 ms) are dropped.
  EXPECT_TRUE(segment(run({{0.0f, 5}, {0.9f, 7}, {0.0f, 20}})).empty());
  // Speech at the very end is closed by finish(); pure silence gives nothing.
  s = segment(run({{0.0f, 5}, {0.9f, 30}}));
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].end, 35 * kChunk);
  EXPECT_TRUE(segment(run({{0.2f, 1000}})).empty());
}

TEST(SpeechSegmenter, LongSpeechIsCutIntoWindows) {
  const int chunks = 60 * 16000 / (int)kChunk;  // a minute of speech
  const auto s = segment(run({{0.9f, chunks}}));
  ASSERT_GE(s.size(), 3u);
  for (const SpeechSpan& x : s) EXPECT_LE(x.end - x.begin, (int64_t)(28.1 * 16000) + 2 * 480);
}

TEST(EnergyVad, ToneInNoiseIsSpeechNoiseIsNot) {
  auto vad = make_energy_vad();
  std::mt19937 gen(5);
  std::normal_distribution<float> noise(0.0f, 0.003f);  // a quiet room: -50 dBFS
  std::vector<float> x;
  for (int i = 0; i < 16000 * 2; ++i) x.push_back(noise(gen));
  for (int i = 0; i < 16000; ++i) x.push_back(noise(gen) + 0.2f * (float)std::sin(2 * std::numbers::pi * 300 * i / 16000.0));
  for (int i = 0; i < 16000 * 2; ++i) x.push_back(noise(gen));
  const auto s = detect_speech(*vad, x);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_NEAR((double)s[0].begin, 32000.0, 1200.0);
  EXPECT_NEAR((double)s[0].end, 48000.0, 1200.0);
  // Steady loud noise is the floor, not speech (after the floor catches up).
  std::vector<float> loud(16000 * 20);
  for (float& v : loud) v = 10.0f * noise(gen);
  const auto t = detect_speech(*vad, loud);
  int64_t speech = 0;
  for (const SpeechSpan& sp : t) speech += sp.end - sp.begin;
  EXPECT_LT(speech, 16000 * 9);  // from -60 dBFS the floor rises 3 dB/s: 30 dB away, 12 dB margin: ~6-8 s
  EXPECT_TRUE(detect_speech(*vad, std::vector<float>(16000 * 3, 0.0f)).empty());
}

}  // namespace
}  // namespace nm
