#include "core/audio_capture.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <thread>
#include <vector>

#include "core/audio.h"

#if NM_HAVE_ALSA
#include <alsa/asoundlib.h>
#endif

namespace nm {

#if NM_HAVE_ALSA
Result<std::unique_ptr<MicCapture>> MicCapture::open(const std::string& device, int sample_rate) {
  if (sample_rate < 1000 || sample_rate > 768000) {
    return error(ErrorCode::invalid_argument, "microphone sample rate " + std::to_string(sample_rate) + " Hz is out of range");
  }
  snd_pcm_t* pcm = nullptr;
  int err = snd_pcm_open(&pcm, device.c_str(), SND_PCM_STREAM_CAPTURE, 0);
  if (err < 0) {
    return error(ErrorCode::io_error, "cannot open microphone '" + device + "': " + snd_strerror(err) +
                                          " (list capture devices with `arecord -L`)");
  }
  // 16-bit mono at the model's rate, 100 ms of latency; soft_resample lets ALSA's plug
  // layer convert what the hardware delivers.
  err = snd_pcm_set_params(pcm, SND_PCM_FORMAT_S16_LE, SND_PCM_ACCESS_RW_INTERLEAVED, 1, (unsigned)sample_rate,
                           /*soft_resample=*/1, /*latency_us=*/100000);
  if (err < 0) {
    snd_pcm_close(pcm);
    return error(ErrorCode::io_error, "microphone '" + device + "' cannot deliver 16-bit mono at " +
                                          std::to_string(sample_rate) + " Hz: " + snd_strerror(err) +
                                          " (try the plug layer, e.g. plughw:1,0)");
  }
  std::unique_ptr<MicCapture> m(new MicCapture());
  m->pcm_ = pcm;
  m->device_ = device;
  m->rate_ = sample_rate;
  return m;
}

MicCapture::~MicCapture() {
  if (pcm_) snd_pcm_close(static_cast<snd_pcm_t*>(pcm_));
}

Result<int64_t> MicCapture::read(float* out, int64_t n) {
  auto* pcm = static_cast<snd_pcm_t*>(pcm_);
  std::vector<int16_t> buf((size_t)std::min<int64_t>(n, 4096));
  int64_t done = 0;
  while (done < n && !stopped_) {
    const snd_pcm_uframes_t want = (snd_pcm_uframes_t)std::min<int64_t>(n - done, (int64_t)buf.size());
    const snd_pcm_sframes_t got = snd_pcm_readi(pcm, buf.data(), want);
    if (got == -EPIPE || got == -ESTRPIPE || got == -EINTR) {
      if (got == -EPIPE) ++overruns_;
      const int err = snd_pcm_recover(pcm, (int)got, /*silent=*/1);
      if (err < 0) return error(ErrorCode::io_error, "microphone '" + device_ + "': " + snd_strerror(err));
      continue;
    }
    if (got < 0) return error(ErrorCode::io_error, "microphone '" + device_ + "': " + snd_strerror((int)got));
    if (got == 0) break;  // the source ended (e.g. a file plugin at its end)
    for (snd_pcm_sframes_t i = 0; i < got; ++i) out[done + i] = (float)buf[(size_t)i] * (1.0f / 32768.0f);
    done += got;
  }
  return done;
}
#else
Result<std::unique_ptr<MicCapture>> MicCapture::open(const std::string& device, int) {
  return error(ErrorCode::unsupported, "cannot open microphone '" + device + "': this build has no ALSA support");
}
MicCapture::~MicCapture() = default;
Result<int64_t> MicCapture::read(float*, int64_t) { return error(ErrorCode::unsupported, "no ALSA support"); }
#endif

Result<std::unique_ptr<RecordingSource>> RecordingSource::open(const std::string& path, int sample_rate,
                                                              bool paced) {
  NM_ASSIGN_OR_RETURN(Audio audio, load_audio(path, sample_rate));
  return std::make_unique<RecordingSource>(std::move(audio.samples), sample_rate, paced);
}

Result<int64_t> RecordingSource::read(float* out, int64_t n) {
  if (stopped_ || n <= 0) return (int64_t)0;
  const size_t k = std::min(samples_.size() - at_, (size_t)n);
  if (paced_ && k > 0) {
    const auto now = std::chrono::steady_clock::now();
    if (at_ == 0) start_ = now;
    const auto due = start_ + std::chrono::microseconds((int64_t)((at_ + k) * 1000000 / (size_t)rate_));
    if (due > now) std::this_thread::sleep_until(due);
    if (stopped_) return (int64_t)0;
  }
  if (k > 0) std::memcpy(out, samples_.data() + at_, k * sizeof(float));
  at_ += k;
  return (int64_t)k;
}

Result<std::unique_ptr<AudioSource>> open_audio_input(const std::string& spec, int sample_rate, bool paced_file) {
  struct stat st {};
  if (::stat(spec.c_str(), &st) == 0 && !S_ISCHR(st.st_mode)) {
    if (!S_ISREG(st.st_mode)) {
      return error(ErrorCode::invalid_argument, "'" + spec + "' is neither an audio file nor a capture device");
    }
    NM_ASSIGN_OR_RETURN(std::unique_ptr<RecordingSource> r, RecordingSource::open(spec, sample_rate, paced_file));
    return std::unique_ptr<AudioSource>(std::move(r));
  }
  NM_ASSIGN_OR_RETURN(std::unique_ptr<MicCapture> m, MicCapture::open(spec, sample_rate));
  return std::unique_ptr<AudioSource>(std::move(m));
}

}  // namespace nm
