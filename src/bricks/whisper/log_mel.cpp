#include "bricks/whisper/log_mel.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numbers>
#include <utility>

#include "kernels/fft.h"

namespace nm {
namespace {

// Slaney's mel scale (librosa htk=False): linear below 1 kHz, logarithmic above.
constexpr double kFsp = 200.0 / 3.0, kMinLogHz = 1000.0, kMinLogMel = kMinLogHz / kFsp;
const double kLogStep = std::log(6.4) / 27.0;

double hz_to_mel(double f) { return f < kMinLogHz ? f / kFsp : kMinLogMel + std::log(f / kMinLogHz) / kLogStep; }
double mel_to_hz(double m) { return m < kMinLogMel ? m * kFsp : kMinLogHz * std::exp(kLogStep * (m - kMinLogMel)); }

}  // namespace

MelFilters slaney_mel_filters(int n_mels, int n_fft, int sample_rate) {
  MelFilters f;
  f.n_mels = n_mels;
  f.n_bins = n_fft / 2 + 1;
  f.w.assign((size_t)n_mels * f.n_bins, 0.0f);
  const double fmax = sample_rate / 2.0, mel_max = hz_to_mel(fmax);
  std::vector<double> edges((size_t)n_mels + 2);
  for (int i = 0; i < n_mels + 2; ++i) edges[(size_t)i] = mel_to_hz(mel_max * i / (n_mels + 1));
  for (int m = 0; m < n_mels; ++m) {
    const double lo = edges[(size_t)m], mid = edges[(size_t)m + 1], hi = edges[(size_t)m + 2];
    const double enorm = 2.0 / (hi - lo);
    for (int k = 0; k < f.n_bins; ++k) {
      const double hz = fmax * k / (f.n_bins - 1);
      const double rise = (hz - lo) / (mid - lo), fall = (hi - hz) / (hi - mid);
      f.w[(size_t)m * f.n_bins + k] = (float)(std::max(0.0, std::min(rise, fall)) * enorm);
    }
  }
  return f;
}

void LogMel::window(int64_t start, int n, float* out) const {
  for (int m = 0; m < n_mels; ++m) {
    float* dst = out + (size_t)m * n;
    const int64_t avail = std::clamp<int64_t>(n_frames - start, 0, n);
    if (avail > 0) std::memcpy(dst, data.data() + (size_t)m * n_frames + start, (size_t)avail * sizeof(float));
    std::fill(dst + avail, dst + n, 0.0f);
  }
}

Result<LogMel> log_mel_spectrogram(std::span<const float> samples, const MelFilters& filters) {
  if (filters.n_bins != kWhisperNfft / 2 + 1 || filters.n_mels <= 0 ||
      filters.w.size() != (size_t)filters.n_mels * filters.n_bins) {
    return error(ErrorCode::invalid_argument, "mel filters must be n_mels x 201 for a 400-point FFT");
  }
  const int64_t n = (int64_t)samples.size();
  const int64_t padded = n + kWhisperChunkSamples;  // the signal plus 30 s of zeros
  LogMel mel;
  mel.n_mels = filters.n_mels;
  mel.n_frames = padded / kWhisperHop;  // centred frames 0 .. padded/hop, the last one dropped
  mel.n_content_frames = n / kWhisperHop;
  mel.data.assign((size_t)mel.n_mels * mel.n_frames, 0.0f);

  NM_ASSIGN_OR_RETURN(kernels::FftPlan plan, kernels::FftPlan::create(kWhisperNfft));
  float window[kWhisperNfft];
  for (int i = 0; i < kWhisperNfft; ++i) window[i] = (float)(0.5 - 0.5 * std::cos(2.0 * std::numbers::pi * i / kWhisperNfft));
  // Sample j of the padded signal, reflect-padded by n_fft/2 at the start (torch.stft
  // center=True); past the signal everything is zeros, so the end's reflection is too.
  auto at = [&](int64_t j) -> float {
    if (j < 0) j = -j;
    return j < n ? samples[(size_t)j] : 0.0f;
  };
  constexpr int kHalf = kWhisperNfft / 2;
  std::vector<std::complex<float>> scratch;
  float frame[kWhisperNfft], power[kWhisperNfft / 2 + 1];
  const int n_bins = filters.n_bins;
  // Each filter is a triangle over a few bins: sum only over its nonzero span.
  std::vector<std::pair<int, int>> span((size_t)mel.n_mels, {0, 0});
  for (int m = 0; m < mel.n_mels; ++m) {
    const float* w = filters.w.data() + (size_t)m * n_bins;
    int k0 = 0, k1 = n_bins;
    while (k0 < n_bins && w[k0] == 0.0f) ++k0;
    while (k1 > k0 && w[k1 - 1] == 0.0f) --k1;
    span[(size_t)m] = {k0, k1};
  }
  // Frames that start past the signal hold only zeros: their spectrum is 0 and their log
  // value is the floor, computed once.
  const int64_t first_silent = std::min<int64_t>(mel.n_frames, (n + kHalf) / kWhisperHop + 1);
  float max_v = -INFINITY;
  for (int64_t t = 0; t < first_silent; ++t) {
    const int64_t s0 = t * kWhisperHop - kHalf;
    for (int i = 0; i < kWhisperNfft; ++i) frame[i] = at(s0 + i) * window[i];
    plan.power_spectrum(frame, power, scratch);
    for (int m = 0; m < mel.n_mels; ++m) {
      const float* w = filters.w.data() + (size_t)m * n_bins;
      double s = 0.0;
      for (int k = span[(size_t)m].first; k < span[(size_t)m].second; ++k) s += (double)w[k] * power[k];
      const float v = (float)std::log10(std::max(s, 1e-10));
      mel.data[(size_t)m * mel.n_frames + t] = v;
      max_v = std::max(max_v, v);
    }
  }
  const float floor_v = -10.0f;  // log10(1e-10): the value of a silent frame
  if (first_silent < mel.n_frames) max_v = std::max(max_v, floor_v);
  const float lo = max_v - 8.0f;
  for (int m = 0; m < mel.n_mels; ++m) {
    float* row = mel.data.data() + (size_t)m * mel.n_frames;
    for (int64_t t = 0; t < mel.n_frames; ++t) {
      const float v = t < first_silent ? row[t] : floor_v;
      row[t] = (std::max(v, lo) + 4.0f) / 4.0f;
    }
  }
  return mel;
}

}  // namespace nm
