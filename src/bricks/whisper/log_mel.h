// Whisper's log-mel front end, as the published model computes it (openai/whisper
// audio.py): the 16 kHz signal gets 30 s of zeros appended, a 400-sample periodic Hann
// window hops by 160 samples over it (frames centred, the start reflect-padded, the last
// frame dropped), |FFT|^2 of each frame goes through the mel filter bank (80 or 128
// Slaney-style bins: the file's, or computed as librosa does), then
// log10(max(., 1e-10)), clamped to (global max - 8), and mapped by (x + 4) / 4.
// The global max is taken over the whole signal, so windows of a long file share one scale.
// Thread-safety: free functions; MelFilters is immutable data.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/status.h"

namespace nm {

constexpr int kWhisperSampleRate = 16000;
constexpr int kWhisperNfft = 400;
constexpr int kWhisperHop = 160;
constexpr int kWhisperChunkSeconds = 30;
constexpr int kWhisperChunkSamples = kWhisperSampleRate * kWhisperChunkSeconds;  // 480000
constexpr int kWhisperChunkFrames = kWhisperChunkSamples / kWhisperHop;          // 3000

struct MelFilters {
  int n_mels = 0;
  int n_bins = 0;         // n_fft / 2 + 1 = 201
  std::vector<float> w;   // [n_mels][n_bins]
};

// librosa.filters.mel(sr, n_fft, n_mels) with its defaults (fmin 0, fmax sr/2, Slaney mel
// scale, Slaney area normalisation), in double, rounded to float as Whisper's
// mel_filters.npz holds them.
MelFilters slaney_mel_filters(int n_mels, int n_fft = kWhisperNfft, int sample_rate = kWhisperSampleRate);

struct LogMel {
  int n_mels = 0;
  int64_t n_frames = 0;          // content frames + 3000 frames of the appended silence
  int64_t n_content_frames = 0;  // frames that hold the signal: n_samples / 160
  std::vector<float> data;       // [n_mels][n_frames]

  // Copies frames [start, start + n) of every bin into out ([n_mels][n]), zeros past the end.
  void window(int64_t start, int n, float* out) const;
};

Result<LogMel> log_mel_spectrogram(std::span<const float> samples, const MelFilters& filters);

}  // namespace nm
