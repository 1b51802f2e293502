// SpeechSegmenter and detect_speech: Silero VAD's rules for turning per-chunk speech
// probabilities into spans (silero-vad utils_vad.py get_speech_timestamps: threshold and
// neg_threshold hysteresis, minimum silence to end, minimum speech to keep, padding),
// written as a streaming state machine so that a microphone gets the same spans as a file.
#include <algorithm>

#include "bricks/vad/voice_activity.h"

namespace nm {

namespace {
constexpr int64_t ms_to_samples(int ms) { return (int64_t)ms * VoiceActivityDetector::kSampleRate / 1000; }
}  // namespace

bool SpeechSegmenter::close(int64_t end, SpeechSpan* out) {
  in_speech_ = false;
  silence_start_ = -1;
  if (end - start_ < ms_to_samples(p_.min_speech_ms)) return false;
  const int64_t pad = ms_to_samples(p_.speech_pad_ms);
  out->begin = std::max<int64_t>(0, start_ - pad);
  out->end = std::min(end + pad, pos_);
  return true;
}

bool SpeechSegmenter::push(float prob, SpeechSpan* ended) {
  const int64_t here = pos_;
  pos_ += VoiceActivityDetector::kChunk;
  if (!in_speech_) {
    if (prob >= p_.threshold) {
      in_speech_ = true;
      start_ = here;
      silence_start_ = -1;
    }
    return false;
  }
  if (prob >= p_.threshold) silence_start_ = -1;
  if (prob < p_.neg_threshold && silence_start_ < 0) silence_start_ = here;
  if (silence_start_ >= 0 && pos_ - silence_start_ >= ms_to_samples(p_.min_silence_ms)) {
    return close(silence_start_, ended);
  }
  if ((double)(pos_ - start_) >= p_.max_speech_s * VoiceActivityDetector::kSampleRate) {
    const bool ok = close(pos_, ended);
    in_speech_ = prob >= p_.threshold;  // speech goes on: a new span starts here
    start_ = pos_;
    return ok;
  }
  return false;
}

bool SpeechSegmenter::finish(SpeechSpan* ended) {
  if (!in_speech_) return false;
  return close(silence_start_ >= 0 ? silence_start_ : pos_, ended);
}

std::vector<SpeechSpan> detect_speech(VoiceActivityDetector& vad, std::span<const float> samples,
                                      const SpeechSegmenterParams& p) {
  vad.reset();
  SpeechSegmenter seg(p);
  std::vector<SpeechSpan> spans;
  std::vector<float> chunk(VoiceActivityDetector::kChunk);
  SpeechSpan s;
  for (size_t at = 0; at < samples.size(); at += VoiceActivityDetector::kChunk) {
    const size_t n = std::min<size_t>(VoiceActivityDetector::kChunk, samples.size() - at);
    std::fill(std::copy_n(samples.begin() + (std::ptrdiff_t)at, n, chunk.begin()), chunk.end(), 0.0f);
    if (seg.push(vad.speech_probability(chunk.data()), &s)) spans.push_back(s);
  }
  if (seg.finish(&s)) spans.push_back(s);
  for (SpeechSpan& sp : spans) sp.end = std::min<int64_t>(sp.end, (int64_t)samples.size());
  return spans;
}

}  // namespace nm
