// MicCapture: live audio from an ALSA capture device ("default", "plughw:1,0", or any PCM
// an asoundrc defines), delivered as mono float samples at the rate asked for (ALSA's
// plug layer converts; a bare "hw:" device must support the rate itself). Reads block
// until the samples arrive; an overrun (the reader fell behind) is recovered and counted.
// Builds without ALSA return `unsupported` from open().
// Thread-safety: one reader per object; stop() may be called from another thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "core/status.h"

namespace nm {

class MicCapture {
 public:
  static Result<std::unique_ptr<MicCapture>> open(const std::string& device, int sample_rate);
  ~MicCapture();
  MicCapture(const MicCapture&) = delete;
  MicCapture& operator=(const MicCapture&) = delete;

  // Reads up to n samples into out; returns how many (0 once the source has ended or
  // stop() was called).
  Result<int64_t> read(float* out, int64_t n);
  void stop() { stopped_ = true; }
  int sample_rate() const { return rate_; }
  int64_t overruns() const { return overruns_; }
  const std::string& device() const { return device_; }

 private:
  MicCapture() = default;
  void* pcm_ = nullptr;  // snd_pcm_t*
  std::string device_;
  int rate_ = 0;
  int64_t overruns_ = 0;
  std::atomic<bool> stopped_{false};
};

}  // namespace nm
