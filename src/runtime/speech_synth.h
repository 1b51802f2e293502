// SpeechSynth: the runtime's side of the `tts` brick (a VITS voice, bricks/tts/) — phoneme
// ids in, PCM out. It runs the brick's encoder graph, turns the predicted log-durations into
// frames (ceil(exp(logw) * length_scale), at least one frame in all), expands the prior means
// (plus noise_scale * N(0,1) * sigma) and runs the decoder graph on the brick's placement.
// Graphs are built per input size and the last few are kept. Noise comes from a seeded
// generator, so a run is reproducible; noise scales 0 make it deterministic.
// Not thread-safe: one per session.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <span>
#include <vector>

#include "bricks/tts/vits_graph.h"
#include "bricks/tts/vits_model.h"
#include "core/thread_pool.h"
#include "runtime/brick_runner.h"

namespace nm {

struct SpeechParams {
  // < 0: the voice's own setting (tts.noise_scale, tts.length_scale, tts.noise_w).
  float noise_scale = -1.0f, length_scale = -1.0f, noise_w = -1.0f;
  uint64_t seed = 0;
  int max_frames = 0;  // longest utterance in latent frames (0: 65536, ~12 min at 22,050 Hz)
  BrickRunParams run;
};

struct SpeechTimings {
  double encoder_ms = 0, decoder_ms = 0;
  int64_t n_phonemes = 0, n_frames = 0, n_samples = 0;
};

class SpeechSynth {
 public:
  static Result<std::unique_ptr<SpeechSynth>> create(const VitsModel& model, const SpeechParams& params);

  // Speaks one utterance of phoneme ids (BOS, pads and EOS included) and appends its samples
  // (model().voice().sample_rate Hz, in [-1, 1]) to `out`. Adds time spent to *timings.
  Status synthesize(std::span<const int32_t> ids, ThreadPool& pool, std::vector<float>& out,
                    SpeechTimings* timings = nullptr);
  // The two stages alone (tests, streaming): the encoder graph's `stats` [T][2*inter] (prior
  // means, then log-sigmas) and log-durations (T values) for phoneme ids (noise from
  // noise_w); the decoder graph's waveform (n_frames * hop samples) for latent frames z
  // [n_frames][inter].
  Status run_encoder(std::span<const int32_t> ids, ThreadPool& pool, std::vector<float>& stats, std::vector<float>& logw);
  Status run_decoder(std::span<const float> z, int n_frames, ThreadPool& pool, std::vector<float>& audio);
  // Restarts the noise from the seed: what follows is spoken as by a fresh synth (one per
  // answer, so an answer sounds the same whether or not the voice was reloaded before it).
  void reseed() { rng_.seed(seed_); }
  // The frame count of each phoneme of the last utterance.
  const std::vector<int32_t>& last_durations() const { return durations_; }

  const VitsModel& model() const { return model_; }
  float noise_scale() const { return noise_scale_; }
  float length_scale() const { return length_scale_; }
  float noise_w() const { return noise_w_; }

 private:
  SpeechSynth(const VitsModel& model, const SpeechParams& p);
  struct Prepared {
    std::unique_ptr<BrickGraph> meta;
    std::unique_ptr<GraphRunner> exec;
  };
  Result<Prepared*> prepared(std::map<int, Prepared>& cache, const GraphShape& shape, int key);

  const VitsModel& model_;
  BrickRunner runner_;
  float noise_scale_, length_scale_, noise_w_;
  int64_t max_frames_;
  uint64_t seed_;
  std::mt19937_64 rng_;
  std::map<int, Prepared> encoders_, decoders_;
  std::vector<int32_t> durations_;
  std::vector<float> stats_, logw_, z_;  // reused between utterances
};

}  // namespace nm
