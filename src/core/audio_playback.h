// Speaker: audio out through an ALSA playback device ("default", "plughw:0,0", or any PCM an
// asoundrc defines). The device is opened at once (so a missing one is a clear error before
// anything runs) and set up at the first write's sample rate (ALSA's plug layer converts
// what the hardware does not take). write() blocks while the device's buffer is full, so
// speech is played at its own pace; an underrun (the writer fell behind) is recovered and
// counted. drain() waits until everything written has been heard. Builds without ALSA
// return `unsupported` from open().
// Not thread-safe: one writer per object.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "core/status.h"

namespace nm {

class Speaker {
 public:
  static Result<std::unique_ptr<Speaker>> open(const std::string& device);
  ~Speaker();
  Speaker(const Speaker&) = delete;
  Speaker& operator=(const Speaker&) = delete;

  // Mono samples in [-1, 1] (clipped) at `sample_rate` Hz; a new rate sets the device up again.
  Status write(std::span<const float> samples, int sample_rate);
  Status drain();
  int64_t underruns() const { return underruns_; }
  const std::string& device() const { return device_; }

 private:
  Speaker() = default;
  void* pcm_ = nullptr;  // snd_pcm_t*
  std::string device_;
  int rate_ = 0;  // 0: not set up yet
  int64_t underruns_ = 0;
};

}  // namespace nm
