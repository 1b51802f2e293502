// Whisper benchmark: the parts of one 30 s window — log-mel front end, encoder, cross K/V,
// a decode step for 1 and 5 sequences (greedy / beam 5) — for a Whisper model (ggml file or
// CTranslate2 directory), with the encoder's GFLOP/s as a fraction of this machine's f32 FMA
// peak and the decode step's weight bytes per second as a fraction of its read bandwidth,
// both measured in the same run. The window is 30 s of noise (the speed does not depend on
// what is said).
// Quantised matrices run from packed CPU copies as in transcribe (the copy is made in the
// "graph build" time); --repack 0 runs them from the model's own layout.
// Usage: bench_whisper MODEL [--threads N] [--reps N] [--cross f16|f32] [--repack 0|1]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/packed_weights.h"
#include "runtime/whisper_context.h"
#include "kernels/roofline.h"

namespace {

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// 2 x multiply-adds of one encoder pass (convolutions, projections, MLP, attention).
double encoder_flops(const nm::WhisperHparams& hp, int64_t n_ff) {
  const double T = hp.n_audio_ctx, E = hp.n_audio_state, F = (double)n_ff;
  double fma = 2 * T * 3.0 * hp.n_mels * E + T * 3.0 * E * E;       // conv1 (3000 frames), conv2 (1500)
  fma += hp.n_audio_layer * (T * (4 * E * E + 2 * E * F) + 2 * T * T * E);
  return 2 * fma;
}

// Bytes of weights one decode step reads: every decoder matrix, the embedding table as the
// output projection, and the cross-attention K/V of the window (F16 or F32).
double decode_bytes(const nm::WhisperModel& m, nm::DType cross) {
  const nm::WhisperWeights& w = m.weights();
  double b = (double)w.tok_emb.n_bytes();
  for (const nm::WhisperBlock& L : w.dec) {
    for (const nm::Tensor* t : {&L.attn.q_w, &L.attn.k_w, &L.attn.v_w, &L.attn.o_w, &L.cross.q_w, &L.cross.o_w,
                                &L.mlp0_w, &L.mlp2_w}) {
      b += (double)t->n_bytes();
    }
    b += 2.0 * m.hparams().n_audio_ctx * m.hparams().n_text_state * (cross == nm::DType::F32 ? 4 : 2);
  }
  return b;
}

template <class F>
double best_of(int reps, F&& f) {
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const double t = now_s();
    if (!f()) return -1;
    best = std::min(best, now_s() - t);
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MODEL [--threads N] [--reps N] [--cross f16|f32] [--repack 0|1]\n", argv[0]);
    return 2;
  }
  int threads = 2, reps = 3;
  bool repack = true;
  nm::DType cross = nm::DType::F16;  // the cross-attention K/V buffer (WhisperDecoderParams::cross_type)
  for (int i = 2; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--reps")) reps = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--repack")) repack = std::atoi(argv[i + 1]) != 0;
    if (!std::strcmp(argv[i], "--cross")) cross = std::strcmp(argv[i + 1], "f32") ? nm::DType::F16 : nm::DType::F32;
  }
  const double t_load0 = now_s();
  auto m = nm::WhisperModel::load(argv[1]);
  if (!m.ok()) {
    std::fprintf(stderr, "%s\n", m.status().to_string().c_str());
    return 1;
  }
  const double t_load = now_s() - t_load0;
  const nm::WhisperModel& model = *m.value();
  const nm::WhisperHparams& hp = model.hparams();
  nm::ThreadPool pool(threads);
  auto report = [](const nm::Status& s) {
    if (!s.ok()) std::fprintf(stderr, "%s\n", s.to_string().c_str());
    return s.ok();
  };

  std::vector<float> audio((size_t)nm::kWhisperChunkSamples);
  std::mt19937 gen(1);
  std::normal_distribution<float> nd(0.0f, 0.1f);
  for (float& x : audio) x = nd(gen);
  nm::LogMel mel;
  const double t_mel = best_of(reps, [&] {
    auto r = nm::log_mel_spectrogram(audio, model.mel_filters());
    if (!r.ok()) return report(r.status());
    mel = std::move(r).value();
    return true;
  });
  std::vector<float> window((size_t)hp.n_mels * nm::kWhisperChunkFrames), states;
  mel.window(0, nm::kWhisperChunkFrames, window.data());

  const double t_b0 = now_s();
  nm::BrickRunParams run;
  if (repack) run.packed = nm::PackedWeights::for_memory(model.arena_data(), model.arena_bytes());
  auto enc = nm::WhisperEncoder::create(m.value(), run);
  if (!enc.ok()) return report(enc.status()) ? 0 : 1;
  const double t_build = now_s() - t_b0;
  const double t_enc = best_of(reps, [&] { return report(enc.value()->encode(window.data(), pool, states)); });

  nm::WhisperDecoderParams dp;
  dp.n_beams = 5;
  dp.cross_type = cross;
  dp.run = run;
  auto dec = nm::WhisperDecoder::create(m.value(), dp);
  if (!dec.ok()) return report(dec.status()) ? 0 : 1;
  nm::WhisperDecoder& d = *dec.value();
  const double t_cross = best_of(reps, [&] { return report(d.set_window(states, pool)); });
  const nm::WhisperVocab& v = model.vocab();
  std::vector<int32_t> prompt = {v.sot};
  if (v.multilingual()) {
    prompt.push_back(v.language_token("en"));
    prompt.push_back(v.transcribe);
  }
  constexpr int kSteps = 32;
  // A step for n sequences, timed over kSteps steps from a fresh prompt (the KV length grows
  // as in real decoding); the best of reps.
  auto steps = [&](int n) {
    return best_of(reps, [&] {
      d.clear();
      if (!report(d.prefill(prompt, pool))) return false;
      d.reorder(std::vector<int>((size_t)n, 0));
      std::vector<int32_t> toks((size_t)n);
      for (int s = 0; s < kSteps; ++s) {
        for (int b = 0; b < n; ++b) toks[(size_t)b] = (int32_t)((s * 7 + b * 13) % v.n_text());
        if (!report(d.step(toks, pool))) return false;
      }
      return true;
    }) / kSteps;
  };
  const double t_step1 = steps(1), t_step5 = steps(5);

  const double flops = encoder_flops(hp, model.weights().enc[0].mlp0_w.ne[1]);
  const double peak = nm::measure_fma_peak(pool, nm::best_isa());
  const double bw = nm::measure_read_bandwidth(pool, (size_t)512 << 20);
  const double bytes = decode_bytes(model, cross);
  std::printf("%s, threads %d (%s), %s\n", model.describe().c_str(), threads, nm::isa_name(nm::best_isa()),
              repack ? "packed CPU copies of quantised matrices" : "matrices in the model's layout");
  std::printf("  load %.0f ms, graph build %.0f ms\n", t_load * 1e3, t_build * 1e3);
  std::printf("  log-mel (30 s)   %8.1f ms\n", t_mel * 1e3);
  std::printf("  encoder          %8.1f ms  %.1f GFLOP, %.1f GFLOP/s = %.0f%% of the f32 FMA peak (%.1f GFLOP/s)\n",
              t_enc * 1e3, flops * 1e-9, flops * 1e-9 / t_enc, 100 * flops / t_enc / peak, peak * 1e-9);
  std::printf("  cross K/V        %8.1f ms\n", t_cross * 1e3);
  std::printf("  decode step x1   %8.2f ms  %.1f MB of weights and K/V: %.1f GB/s = %.0f%% of read bandwidth (%.1f GB/s)\n",
              t_step1 * 1e3, bytes * 1e-6, bytes / t_step1 * 1e-9, 100 * bytes / t_step1 / bw, bw * 1e-9);
  std::printf("  decode step x5   %8.2f ms  (%.2f ms per sequence)\n", t_step5 * 1e3, t_step5 * 1e3 / 5);
  return 0;
}
