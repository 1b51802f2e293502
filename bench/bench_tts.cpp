// Text-to-speech benchmark: a VITS voice GGUF (tools/piper_to_gguf.py) speaking fixed
// phoneme ids with the noise scales at 0, best of N runs: milliseconds, real-time factor
// (synthesis time / audio duration) and GFLOP/s by the brick's own count (matmuls as
// 2 x multiply-adds), as a fraction of this machine's f32 FMA peak measured in the same run.
// bench/compare_piper.py runs it beside onnxruntime on the same voice.
// Usage: bench_tts VOICE.gguf IDS [--threads N] [--reps N]   (IDS: comma-separated ids)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "bricks/tts/vits_graph.h"
#include "bricks/tts/vits_model.h"
#include "kernels/roofline.h"
#include "runtime/speech_synth.h"

namespace {
double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s VOICE.gguf IDS [--threads N] [--reps N]\n", argv[0]);
    return 2;
  }
  int threads = 1, reps = 3;
  for (int i = 3; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--reps")) reps = std::atoi(argv[i + 1]);
  }
  std::vector<int32_t> ids;
  std::stringstream ss(argv[2]);
  for (std::string tok; std::getline(ss, tok, ',');) ids.push_back((int32_t)std::atoi(tok.c_str()));
  auto m = nm::VitsModel::load(argv[1]);
  if (!m.ok()) {
    std::fprintf(stderr, "%s\n", m.status().to_string().c_str());
    return 1;
  }
  nm::SpeechParams p;
  p.noise_scale = 0.0f;
  p.noise_w = 0.0f;
  auto s = nm::SpeechSynth::create(**m, p);
  if (!s.ok()) return 1;
  nm::ThreadPool pool(std::max(1, threads));
  double best = 1e30, best_enc = 0, best_dec = 0;
  size_t n_samples = 0;
  for (int r = 0; r < std::max(1, reps); ++r) {
    std::vector<float> out;
    nm::SpeechTimings t;
    const double t0 = now_s();
    nm::Status st = (*s)->synthesize(ids, pool, out, &t);
    const double dt = now_s() - t0;
    if (!st.ok()) {
      std::fprintf(stderr, "%s\n", st.to_string().c_str());
      return 1;
    }
    if (dt < best) {
      best = dt;
      best_enc = t.encoder_ms;
      best_dec = t.decoder_ms;
    }
    n_samples = out.size();
  }
  nm::BrickInput in;
  in.n_tokens = (int)ids.size();
  in.n_samples = (int64_t)n_samples;
  auto cost = (*m)->cost(in);
  const double audio_s = (double)n_samples / (*m)->voice().sample_rate;
  const double peak = nm::measure_fma_peak(pool, nm::best_isa()) / 1e9;
  const double gflops = cost.ok() ? cost->flops / best / 1e9 : 0.0;
  std::printf("threads %d: %.1f ms (encoder %.1f, decoder %.1f) for %.2f s of audio: real-time factor %.4f; "
              "%.1f GFLOP/s = %.1f%% of the f32 FMA peak (%.0f GFLOP/s)\n",
              threads, best * 1e3, best_enc, best_dec, audio_s, best / audio_s, gflops, 100 * gflops / peak, peak);
  return 0;
}
