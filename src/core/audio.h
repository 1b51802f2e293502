// Audio in: mono float PCM at the rate a model wants (16 kHz for Whisper and Silero VAD),
// from audio files (WAV, FLAC, OGG/Vorbis/Opus, MP3 — whatever Debian's libsndfile
// decodes), from memory, or from raw PCM the caller already has. Files are decoded in
// chunks, averaged to mono and resampled with libsamplerate as they stream in, so an
// hour of 8-channel 384 kHz audio costs only its 16 kHz mono result in memory.
// Bad input is a clear error: not audio, no samples, NaN/Inf samples, a special file
// (FIFO, /dev/zero), more channels or a higher rate than anyone records, or longer
// than kMaxAudioSeconds.
// Thread-safety: free functions without shared state.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace nm {

constexpr int kMaxAudioChannels = 64;
constexpr int kMinAudioRate = 1000;
constexpr int kMaxAudioRate = 768000;
constexpr double kMaxAudioSeconds = 4.0 * 3600.0;  // 4 h at 16 kHz mono float = 0.9 GB

struct Audio {
  int sample_rate = 0;
  std::vector<float> samples;  // mono, nominally in [-1, 1]

  double seconds() const { return sample_rate > 0 ? (double)samples.size() / sample_rate : 0.0; }
};

// What the decoder found in a file before conversion (for messages and --verbose).
struct AudioSourceInfo {
  int channels = 0;
  int sample_rate = 0;
  int64_t frames = 0;
  std::string format;  // e.g. "WAV (Microsoft) / Signed 16 bit PCM"
};

// Whether this build can decode audio files (false in builds without libsndfile, e.g.
// cross builds without the target's library): then only PCM from memory is accepted.
bool audio_files_supported();

// Decodes a file and converts it to mono at `target_rate`.
Result<Audio> load_audio(const std::string& path, int target_rate, AudioSourceInfo* info = nullptr);
// Same for a file already in memory (`what` names it in messages). Audio longer than
// max_seconds (at most kMaxAudioSeconds) is refused: by its declared length before
// anything is decoded, else as soon as the decoded samples pass it.
Result<Audio> decode_audio(const uint8_t* data, size_t size, int target_rate, const std::string& what = "audio",
                           AudioSourceInfo* info = nullptr, double max_seconds = kMaxAudioSeconds);

// Interleaved PCM from the caller: n_frames frames of `channels` samples at `sample_rate`.
Result<Audio> audio_from_pcm_f32(const float* pcm, int64_t n_frames, int channels, int sample_rate, int target_rate);
Result<Audio> audio_from_pcm_s16(const int16_t* pcm, int64_t n_frames, int channels, int sample_rate, int target_rate);

// Streaming mono resampler (libsamplerate, sinc): push() any number of samples, then
// finish() once; output accumulates in out(). Not thread-safe.
class Resampler {
 public:
  static Result<Resampler> create(int from_rate, int to_rate);
  Resampler(Resampler&&) noexcept;
  Resampler& operator=(Resampler&&) noexcept;
  ~Resampler();

  Status push(const float* mono, int64_t n);
  Status finish();
  std::vector<float>& out() { return out_; }

 private:
  Resampler() = default;
  Status process(const float* in, int64_t n, bool end);
  void* state_ = nullptr;  // SRC_STATE*, null when the rates are equal
  double ratio_ = 1.0;
  std::vector<float> out_;
};

}  // namespace nm
