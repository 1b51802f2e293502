#include "core/audio_playback.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <vector>

#if NM_HAVE_ALSA
#include <alsa/asoundlib.h>
#endif

namespace nm {

#if NM_HAVE_ALSA
Result<std::unique_ptr<Speaker>> Speaker::open(const std::string& device) {
  snd_pcm_t* pcm = nullptr;
  const int err = snd_pcm_open(&pcm, device.c_str(), SND_PCM_STREAM_PLAYBACK, 0);
  if (err < 0) {
    return error(ErrorCode::io_error, "cannot open the speaker '" + device + "': " + snd_strerror(err) +
                                          " (list playback devices with `aplay -L`, or write the speech to files with --say DIR)");
  }
  std::unique_ptr<Speaker> s(new Speaker());
  s->pcm_ = pcm;
  s->device_ = device;
  return s;
}

Speaker::~Speaker() {
  if (pcm_) snd_pcm_close(static_cast<snd_pcm_t*>(pcm_));
}

Status Speaker::write(std::span<const float> samples, int sample_rate) {
  auto* pcm = static_cast<snd_pcm_t*>(pcm_);
  if (sample_rate < 1000 || sample_rate > 768000) {
    return error(ErrorCode::invalid_argument, "speaker sample rate " + std::to_string(sample_rate) + " Hz is out of range");
  }
  if (sample_rate != rate_) {
    if (rate_ != 0) snd_pcm_drain(pcm);
    // 16-bit mono, 100 ms of latency; soft_resample lets the plug layer convert.
    const int err = snd_pcm_set_params(pcm, SND_PCM_FORMAT_S16_LE, SND_PCM_ACCESS_RW_INTERLEAVED, 1,
                                       (unsigned)sample_rate, /*soft_resample=*/1, /*latency_us=*/100000);
    if (err < 0) {
      return error(ErrorCode::io_error, "speaker '" + device_ + "' cannot play 16-bit mono at " +
                                            std::to_string(sample_rate) + " Hz: " + snd_strerror(err) +
                                            " (try the plug layer, e.g. plughw:0,0)");
    }
    rate_ = sample_rate;
  }
  std::vector<int16_t> buf(std::min<size_t>(samples.size(), 4096));
  size_t done = 0;
  while (done < samples.size()) {
    const size_t n = std::min(samples.size() - done, buf.size());
    for (size_t i = 0; i < n; ++i) {
      const float x = std::isfinite(samples[done + i]) ? std::clamp(samples[done + i], -1.0f, 1.0f) : 0.0f;
      buf[i] = (int16_t)std::lrint(x * 32767.0f);
    }
    size_t off = 0;
    while (off < n) {
      const snd_pcm_sframes_t put = snd_pcm_writei(pcm, buf.data() + off, (snd_pcm_uframes_t)(n - off));
      if (put == -EPIPE || put == -ESTRPIPE || put == -EINTR) {
        if (put == -EPIPE) ++underruns_;
        const int err = snd_pcm_recover(pcm, (int)put, /*silent=*/1);
        if (err < 0) return error(ErrorCode::io_error, "speaker '" + device_ + "': " + snd_strerror(err));
        continue;
      }
      if (put < 0) return error(ErrorCode::io_error, "speaker '" + device_ + "': " + snd_strerror((int)put));
      off += (size_t)put;
    }
    done += n;
  }
  return Status();
}

Status Speaker::drain() {
  if (rate_ == 0) return Status();
  auto* pcm = static_cast<snd_pcm_t*>(pcm_);
  const int err = snd_pcm_drain(pcm);
  if (err < 0 && err != -EPIPE) return error(ErrorCode::io_error, "speaker '" + device_ + "': " + snd_strerror(err));
  // drain() stops the device; prepare it for the next answer.
  const int perr = snd_pcm_prepare(pcm);
  if (perr < 0) return error(ErrorCode::io_error, "speaker '" + device_ + "': " + snd_strerror(perr));
  return Status();
}
#else
Result<std::unique_ptr<Speaker>> Speaker::open(const std::string& device) {
  return error(ErrorCode::unsupported, "cannot open the speaker '" + device +
                                           "': this build has no ALSA support (write the speech to files with --say DIR)");
}
Speaker::~Speaker() = default;
Status Speaker::write(std::span<const float>, int) { return error(ErrorCode::unsupported, "no ALSA support"); }
Status Speaker::drain() { return Status(); }
#endif

}  // namespace nm
