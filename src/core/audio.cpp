#include "core/audio.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <utility>

#if NM_HAVE_SNDFILE
#include <sndfile.h>
#endif
#if NM_HAVE_SAMPLERATE
#include <samplerate.h>
#endif

namespace nm {
namespace {

Status check_format(int channels, int rate, const std::string& what) {
  if (channels < 1 || channels > kMaxAudioChannels) {
    return error(ErrorCode::invalid_file, what + ": " + std::to_string(channels) + " channels (1 to " +
                                              std::to_string(kMaxAudioChannels) + " are accepted)");
  }
  if (rate < kMinAudioRate || rate > kMaxAudioRate) {
    return error(ErrorCode::invalid_file, what + ": sample rate " + std::to_string(rate) + " Hz (" +
                                              std::to_string(kMinAudioRate) + " to " + std::to_string(kMaxAudioRate) +
                                              " Hz are accepted)");
  }
  return Status();
}

Status check_target(int target_rate) {
  if (target_rate < kMinAudioRate || target_rate > kMaxAudioRate) {
    return error(ErrorCode::invalid_argument, "target sample rate " + std::to_string(target_rate) + " Hz is out of range");
  }
  return Status();
}

// Averages `channels` interleaved samples per frame into mono and rejects NaN/Inf,
// naming where the first one is.
Status downmix(const float* in, int64_t n_frames, int channels, int64_t frame0, int rate, const std::string& what,
               std::vector<float>& mono) {
  mono.resize((size_t)n_frames);
  const float inv = 1.0f / (float)channels;
  for (int64_t f = 0; f < n_frames; ++f) {
    float s = 0.0f;
    for (int c = 0; c < channels; ++c) s += in[f * channels + c];
    s = channels == 1 ? s : s * inv;
    if (!std::isfinite(s)) {
      return error(ErrorCode::invalid_file, what + ": sample " + std::to_string(frame0 + f) + " (at " +
                                                std::to_string((double)(frame0 + f) / rate) + " s) is not a finite number");
    }
    mono[(size_t)f] = s;
  }
  return Status();
}

Status check_length(int64_t frames, int rate, const std::string& what, double max_seconds) {
  if ((double)frames / rate > max_seconds) {
    if (max_seconds >= kMaxAudioSeconds) {
      return error(ErrorCode::invalid_file, what + ": longer than the " + std::to_string((int)(kMaxAudioSeconds / 3600)) +
                                                " hour limit (split it first)");
    }
    char limit[32];
    std::snprintf(limit, sizeof limit, "%g", max_seconds);
    return error(ErrorCode::invalid_file, what + ": longer than the limit of " + limit + " seconds");
  }
  return Status();
}

// Streams interleaved frames from `read(buf, n)` (returns frames read, 0 at the end)
// through downmix and resampling.
template <class ReadFn>
Result<Audio> convert_stream(ReadFn read, int channels, int rate, int target_rate, const std::string& what,
                             double max_seconds = kMaxAudioSeconds) {
  NM_RETURN_IF_ERROR(check_format(channels, rate, what));
  NM_RETURN_IF_ERROR(check_target(target_rate));
  NM_ASSIGN_OR_RETURN(Resampler rs, Resampler::create(rate, target_rate));
  constexpr int64_t kChunk = 8192;
  std::vector<float> buf((size_t)(kChunk * channels)), mono;
  int64_t done = 0;
  for (;;) {
    NM_ASSIGN_OR_RETURN(int64_t n, read(buf.data(), kChunk));
    if (n <= 0) break;
    NM_RETURN_IF_ERROR(check_length(done + n, rate, what, max_seconds));
    NM_RETURN_IF_ERROR(downmix(buf.data(), n, channels, done, rate, what, mono));
    NM_RETURN_IF_ERROR(rs.push(mono.data(), n));
    done += n;
  }
  if (done == 0) return error(ErrorCode::invalid_file, what + ": no audio samples");
  NM_RETURN_IF_ERROR(rs.finish());
  Audio a;
  a.sample_rate = target_rate;
  a.samples = std::move(rs.out());
  if (a.samples.empty()) a.samples.push_back(0.0f);  // one input sample can round down to none
  return a;
}

#if NM_HAVE_SNDFILE
// libsndfile virtual I/O over a byte range in memory.
struct MemoryIo {
  const uint8_t* data;
  sf_count_t size;
  sf_count_t pos = 0;
};
sf_count_t mem_length(void* u) { return static_cast<MemoryIo*>(u)->size; }
sf_count_t mem_seek(sf_count_t off, int whence, void* u) {
  auto* m = static_cast<MemoryIo*>(u);
  sf_count_t p = whence == SEEK_SET ? off : whence == SEEK_CUR ? m->pos + off : m->size + off;
  m->pos = std::clamp<sf_count_t>(p, 0, m->size);
  return m->pos;
}
sf_count_t mem_read(void* dst, sf_count_t n, void* u) {
  auto* m = static_cast<MemoryIo*>(u);
  const sf_count_t k = std::clamp<sf_count_t>(m->size - m->pos, 0, n);
  std::memcpy(dst, m->data + m->pos, (size_t)k);
  m->pos += k;
  return k;
}
sf_count_t mem_write(const void*, sf_count_t, void*) { return 0; }
sf_count_t mem_tell(void* u) { return static_cast<MemoryIo*>(u)->pos; }

std::string format_name(int format) {
  SF_FORMAT_INFO major{}, sub{};
  major.format = format & SF_FORMAT_TYPEMASK;
  sub.format = format & SF_FORMAT_SUBMASK;
  std::string s = sf_command(nullptr, SFC_GET_FORMAT_INFO, &major, sizeof(major)) == 0 && major.name ? major.name : "?";
  if (sf_command(nullptr, SFC_GET_FORMAT_INFO, &sub, sizeof(sub)) == 0 && sub.name) s += std::string(" / ") + sub.name;
  return s;
}

Result<Audio> decode_sndfile(SNDFILE* sf, const SF_INFO& info, int target_rate, const std::string& what,
                             AudioSourceInfo* out_info, double max_seconds = kMaxAudioSeconds) {
  if (out_info) *out_info = AudioSourceInfo{info.channels, info.samplerate, (int64_t)info.frames, format_name(info.format)};
  const int channels = info.channels;
  // A declared length over the limit fails before anything is decoded.
  if (info.samplerate > 0 && info.frames > 0 && info.frames < SF_COUNT_MAX) {
    Status s = check_length((int64_t)info.frames, info.samplerate, what, max_seconds);
    if (!s.ok()) {
      sf_close(sf);
      return s;
    }
  }
  auto read = [&](float* buf, int64_t n) -> Result<int64_t> {
    const sf_count_t got = sf_readf_float(sf, buf, n);
    if (got < 0) return error(ErrorCode::invalid_file, what + ": " + sf_strerror(sf));
    if (got == 0 && sf_error(sf) != SF_ERR_NO_ERROR) {
      return error(ErrorCode::invalid_file, what + ": cannot decode: " + sf_strerror(sf));
    }
    return (int64_t)got;
  };
  Result<Audio> r = convert_stream(read, channels, info.samplerate, target_rate, what, max_seconds);
  sf_close(sf);
  return r;
}

Status open_error(const std::string& what) {
  return error(ErrorCode::invalid_file, what + ": not an audio file libsndfile can decode (WAV, FLAC, OGG, MP3, ...): " +
                                            sf_strerror(nullptr));
}
#endif

}  // namespace

bool audio_files_supported() { return NM_HAVE_SNDFILE != 0; }

Result<Audio> decode_audio(const uint8_t* data, size_t size, int target_rate, const std::string& what,
                           AudioSourceInfo* info, double max_seconds) {
  if (size == 0 || !data) return error(ErrorCode::invalid_file, what + ": empty file");
  if (!(max_seconds > 0) || max_seconds > kMaxAudioSeconds) max_seconds = kMaxAudioSeconds;
#if NM_HAVE_SNDFILE
  MemoryIo io{data, (sf_count_t)size};
  SF_VIRTUAL_IO vio{mem_length, mem_seek, mem_read, mem_write, mem_tell};
  SF_INFO sfi{};
  SNDFILE* sf = sf_open_virtual(&vio, SFM_READ, &sfi, &io);
  if (!sf) return open_error(what);
  return decode_sndfile(sf, sfi, target_rate, what, info, max_seconds);
#else
  (void)target_rate;
  (void)info;
  return error(ErrorCode::unsupported, what + ": this build has no audio file decoder (libsndfile); pass PCM samples");
#endif
}

Result<Audio> load_audio(const std::string& path, int target_rate, AudioSourceInfo* info) {
  const std::string what = "'" + path + "'";
  // Regular files only: a FIFO would block and /dev/zero or /dev/urandom never end.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return error(ErrorCode::io_error, "cannot open audio " + what + ": " + std::strerror(errno));
  struct stat st{};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return error(ErrorCode::io_error, "audio " + what + " is not a regular file");
  }
  if (st.st_size == 0) {
    ::close(fd);
    return error(ErrorCode::invalid_file, what + ": empty file");
  }
#if NM_HAVE_SNDFILE
  SF_INFO sfi{};
  SNDFILE* sf = sf_open_fd(fd, SFM_READ, &sfi, /*close_desc=*/SF_TRUE);
  if (!sf) return open_error(what);  // libsndfile closes fd on failure when asked to own it
  return decode_sndfile(sf, sfi, target_rate, what, info);
#else
  ::close(fd);
  (void)info;
  (void)target_rate;
  return error(ErrorCode::unsupported, what + ": this build has no audio file decoder (libsndfile); pass PCM samples");
#endif
}

Result<Audio> audio_from_pcm_f32(const float* pcm, int64_t n_frames, int channels, int sample_rate, int target_rate) {
  if (!pcm || n_frames <= 0) return error(ErrorCode::invalid_argument, "PCM audio: no samples");
  int64_t pos = 0;
  auto read = [&](float* buf, int64_t n) -> Result<int64_t> {
    const int64_t k = std::min(n, n_frames - pos);
    std::memcpy(buf, pcm + pos * channels, (size_t)(k * channels) * sizeof(float));
    pos += k;
    return k;
  };
  return convert_stream(read, channels, sample_rate, target_rate, "PCM audio");
}

Result<Audio> audio_from_pcm_s16(const int16_t* pcm, int64_t n_frames, int channels, int sample_rate, int target_rate) {
  if (!pcm || n_frames <= 0) return error(ErrorCode::invalid_argument, "PCM audio: no samples");
  int64_t pos = 0;
  auto read = [&](float* buf, int64_t n) -> Result<int64_t> {
    const int64_t k = std::min(n, n_frames - pos);
    for (int64_t i = 0; i < k * channels; ++i) buf[i] = (float)pcm[pos * channels + i] * (1.0f / 32768.0f);
    pos += k;
    return k;
  };
  return convert_stream(read, channels, sample_rate, target_rate, "PCM audio");
}

// ---- Resampler ----------------------------------------------------------------------

Result<Resampler> Resampler::create(int from_rate, int to_rate) {
  Resampler r;
  if (from_rate == to_rate) return r;
#if NM_HAVE_SAMPLERATE
  int err = 0;
  // Medium sinc: transparent for speech (97 dB SNR, 90% bandwidth) at a fraction of the
  // best converter's cost.
  SRC_STATE* s = src_new(SRC_SINC_MEDIUM_QUALITY, 1, &err);
  if (!s) return error(ErrorCode::internal, std::string("libsamplerate: ") + src_strerror(err));
  r.state_ = s;
  r.ratio_ = (double)to_rate / from_rate;
  return r;
#else
  return error(ErrorCode::unsupported, "audio at " + std::to_string(from_rate) + " Hz needs resampling to " +
                                           std::to_string(to_rate) + " Hz, and this build has no libsamplerate");
#endif
}

Resampler::Resampler(Resampler&& o) noexcept
    : state_(std::exchange(o.state_, nullptr)), ratio_(o.ratio_), out_(std::move(o.out_)) {}

Resampler& Resampler::operator=(Resampler&& o) noexcept {
  if (this != &o) {
    this->~Resampler();
    state_ = std::exchange(o.state_, nullptr);
    ratio_ = o.ratio_;
    out_ = std::move(o.out_);
  }
  return *this;
}

Resampler::~Resampler() {
#if NM_HAVE_SAMPLERATE
  if (state_) src_delete(static_cast<SRC_STATE*>(state_));
#endif
  state_ = nullptr;
}

Status Resampler::push(const float* mono, int64_t n) {
  if (!state_) {
    out_.insert(out_.end(), mono, mono + n);
    return Status();
  }
  return process(mono, n, false);
}

Status Resampler::finish() { return state_ ? process(nullptr, 0, true) : Status(); }

Status Resampler::process(const float* in, int64_t n, bool end) {
#if NM_HAVE_SAMPLERATE
  SRC_STATE* s = static_cast<SRC_STATE*>(state_);
  float none = 0.0f;
  for (;;) {
    const size_t old = out_.size();
    const long room = (long)std::max<double>(4096.0, (double)n * ratio_ + 64.0);
    out_.resize(old + (size_t)room);
    SRC_DATA d{};
    d.data_in = in ? in : &none;
    d.input_frames = (long)n;
    d.data_out = out_.data() + old;
    d.output_frames = room;
    d.src_ratio = ratio_;
    d.end_of_input = end ? 1 : 0;
    const int err = src_process(s, &d);
    if (err) {
      out_.resize(old);
      return error(ErrorCode::internal, std::string("libsamplerate: ") + src_strerror(err));
    }
    out_.resize(old + (size_t)d.output_frames_gen);
    in = in ? in + d.input_frames_used : nullptr;
    n -= d.input_frames_used;
    // Done when all input is consumed and, at the end, the converter has drained.
    if (n <= 0 && (!end || d.output_frames_gen == 0)) return Status();
  }
#else
  (void)in;
  (void)n;
  (void)end;
  return error(ErrorCode::internal, "resampler without libsamplerate");
#endif
}

}  // namespace nm
