// Voice activity detection entry points for tests/python/test_vad.py: per-chunk speech
// probabilities of Silero VAD (a safetensors file) or of the energy detector (path ""),
// and the speech spans the segmenter finds.
#include <cstring>
#include <memory>
#include <string>

#include "bricks/vad/voice_activity.h"
#include "tests/shim/shim.h"

namespace {

std::unique_ptr<nm::VoiceActivityDetector> open_vad(const char* path, char* msg, int cap) {
  if (!path || !*path) return nm::make_energy_vad();
  auto v = nm::load_silero_vad(path);
  if (!v.ok()) {
    copy_message(v.status().to_string(), msg, cap);
    return nullptr;
  }
  return std::move(v).value();
}

}  // namespace

// probs: one per 512-sample chunk (the last chunk zero-padded); returns the count or -1.
NM_SHIM int nm_shim_vad_probs(const char* path, const float* samples, int64_t n, float* probs, char* msg, int cap) {
  auto vad = open_vad(path, msg, cap);
  if (!vad) return -1;
  float chunk[nm::VoiceActivityDetector::kChunk];
  int k = 0;
  for (int64_t at = 0; at < n; at += nm::VoiceActivityDetector::kChunk, ++k) {
    const int64_t m = std::min<int64_t>(nm::VoiceActivityDetector::kChunk, n - at);
    std::memset(chunk, 0, sizeof chunk);
    std::memcpy(chunk, samples + at, (size_t)m * sizeof(float));
    probs[k] = vad->speech_probability(chunk);
  }
  return k;
}

// spans: begin, end pairs (samples); returns the span count or -1.
NM_SHIM int nm_shim_vad_spans(const char* path, const float* samples, int64_t n, int64_t* spans, int cap, char* msg,
                              int msg_cap) {
  auto vad = open_vad(path, msg, msg_cap);
  if (!vad) return -1;
  const auto s = nm::detect_speech(*vad, {samples, (size_t)n});
  for (size_t i = 0; i < s.size() && (int)i < cap; ++i) {
    spans[2 * i] = s[i].begin;
    spans[2 * i + 1] = s[i].end;
  }
  return (int)s.size();
}
