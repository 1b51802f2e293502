// Voice activity detection: does a 32 ms chunk of 16 kHz audio (512 samples) hold speech?
// Two detectors share one interface: Silero VAD v6 (silero_vad.h, a small neural network
// from its safetensors file) and an energy detector (energy_vad.h, no model file: the
// fallback). SpeechSegmenter turns the per-chunk probabilities into speech spans with
// Silero's published hysteresis rules, offline (a whole file) or live (a microphone).
// Thread-safety: a detector and a segmenter hold one stream's state: one thread each.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"

namespace nm {

class VoiceActivityDetector {
 public:
  static constexpr int kSampleRate = 16000;
  static constexpr int kChunk = 512;  // 32 ms
  virtual ~VoiceActivityDetector() = default;
  // Probability that chunk (kChunk samples, following the previous chunk) holds speech.
  virtual float speech_probability(const float* chunk) = 0;
  // Forgets the stream (a new recording).
  virtual void reset() = 0;
  virtual std::string name() const = 0;
};

struct SpeechSpan {
  int64_t begin = 0, end = 0;  // samples at 16 kHz
};

struct SpeechSegmenterParams {
  float threshold = 0.5f;        // a chunk above this starts (or continues) speech
  float neg_threshold = 0.35f;   // speech ends below this (threshold - 0.15, as Silero)
  int min_speech_ms = 250;       // shorter bursts are dropped
  int min_silence_ms = 100;      // silence that ends a span
  int speech_pad_ms = 30;        // added on both sides of a span
  double max_speech_s = 28.0;    // a longer span is cut (one Whisper window each)
};

class SpeechSegmenter {
 public:
  explicit SpeechSegmenter(const SpeechSegmenterParams& p = {}) : p_(p) {}
  // The probability of the next chunk; returns a span that has just ended, if any.
  bool push(float prob, SpeechSpan* ended);
  // At the end of the stream: the open span, if any.
  bool finish(SpeechSpan* ended);
  bool in_speech() const { return in_speech_; }
  int64_t position() const { return pos_; }  // samples pushed so far

 private:
  bool close(int64_t end, SpeechSpan* out);
  SpeechSegmenterParams p_;
  int64_t pos_ = 0;
  bool in_speech_ = false;
  int64_t start_ = 0, silence_start_ = -1;
};

// Speech spans of a whole 16 kHz signal.
std::vector<SpeechSpan> detect_speech(VoiceActivityDetector& vad, std::span<const float> samples,
                                      const SpeechSegmenterParams& p = {});

// The energy detector: a chunk's level against a tracked noise floor (no model file).
std::unique_ptr<VoiceActivityDetector> make_energy_vad();
// Silero VAD v6 from silero_vad_16k.safetensors.
Result<std::unique_ptr<VoiceActivityDetector>> load_silero_vad(const std::string& path);

}  // namespace nm
