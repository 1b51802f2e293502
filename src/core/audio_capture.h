// Live audio in: an AudioSource hands out mono float samples as they arrive. MicCapture
// reads an ALSA capture device ("default", "plughw:1,0", or any PCM an asoundrc defines)
// at the rate asked for (ALSA's plug layer converts; a bare "hw:" device must support the
// rate itself); reads block until the samples arrive; an overrun (the reader fell behind)
// is recovered and counted. Builds without ALSA return `unsupported` from open().
// RecordingSource plays an audio file as if it were the microphone (tests, demos: `--mic
// FILE.wav`), as fast as it is read, or paced: no sample before its time from the first
// read (sleeping, not spinning), as a microphone delivers them, so what a listener costs
// between utterances can be measured without one.
// Thread-safety: one reader per object; stop() may be called from another thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"

namespace nm {

class AudioSource {
 public:
  virtual ~AudioSource() = default;
  // Reads up to n samples into out; returns how many (0 once the source has ended or
  // stop() was called).
  virtual Result<int64_t> read(float* out, int64_t n) = 0;
  virtual int sample_rate() const = 0;
  void stop() { stopped_ = true; }

 protected:
  std::atomic<bool> stopped_{false};
};

class MicCapture final : public AudioSource {
 public:
  static Result<std::unique_ptr<MicCapture>> open(const std::string& device, int sample_rate);
  ~MicCapture() override;
  MicCapture(const MicCapture&) = delete;
  MicCapture& operator=(const MicCapture&) = delete;

  Result<int64_t> read(float* out, int64_t n) override;
  int sample_rate() const override { return rate_; }
  int64_t overruns() const { return overruns_; }
  const std::string& device() const { return device_; }

 private:
  MicCapture() = default;
  void* pcm_ = nullptr;  // snd_pcm_t*
  std::string device_;
  int rate_ = 0;
  int64_t overruns_ = 0;
};

// An audio file (any format load_audio reads) resampled to `sample_rate`, read out in order.
class RecordingSource final : public AudioSource {
 public:
  static Result<std::unique_ptr<RecordingSource>> open(const std::string& path, int sample_rate, bool paced = false);
  RecordingSource(std::vector<float> samples, int sample_rate, bool paced = false)
      : samples_(std::move(samples)), rate_(sample_rate), paced_(paced) {}
  Result<int64_t> read(float* out, int64_t n) override;
  int sample_rate() const override { return rate_; }

 private:
  std::vector<float> samples_;
  int rate_;
  bool paced_;
  std::chrono::steady_clock::time_point start_;  // of the first read, when paced
  size_t at_ = 0;
};

// `spec` names an existing file: a RecordingSource of it (paced as asked); otherwise an ALSA
// capture device.
Result<std::unique_ptr<AudioSource>> open_audio_input(const std::string& spec, int sample_rate,
                                                      bool paced_file = false);

}  // namespace nm
