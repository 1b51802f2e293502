// SpeechSynth: encoder graph -> durations -> expanded prior -> decoder graph.
#include "runtime/speech_synth.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

namespace nm {
namespace {

constexpr size_t kKeptGraphs = 4;  // per stage: sentences come in a few sizes at a time
constexpr int64_t kMaxFrames = 1 << 16;

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

SpeechSynth::SpeechSynth(const VitsModel& model, const SpeechParams& p)
    : model_(model),
      runner_(*model.files()[0], p.run),
      noise_scale_(p.noise_scale >= 0 ? p.noise_scale : model.voice().noise_scale),
      length_scale_(p.length_scale > 0 ? p.length_scale : model.voice().length_scale),
      noise_w_(p.noise_w >= 0 ? p.noise_w : model.voice().noise_w),
      max_frames_(p.max_frames > 0 ? std::min<int64_t>(p.max_frames, kMaxFrames) : kMaxFrames),
      seed_(p.seed),
      rng_(p.seed) {}

Result<std::unique_ptr<SpeechSynth>> SpeechSynth::create(const VitsModel& model, const SpeechParams& params) {
  if (!(params.length_scale < 0 || (params.length_scale > 0.05f && params.length_scale < 20.0f))) {
    return error(ErrorCode::invalid_argument, "length scale " + std::to_string(params.length_scale) + " is outside (0.05, 20)");
  }
  if (!(params.noise_scale < 10.0f) || !(params.noise_w < 10.0f)) {
    return error(ErrorCode::invalid_argument, "noise scales must be below 10");
  }
  return std::unique_ptr<SpeechSynth>(new SpeechSynth(model, params));
}

Result<SpeechSynth::Prepared*> SpeechSynth::prepared(std::map<int, Prepared>& cache, const GraphShape& shape, int key) {
  auto it = cache.find(key);
  if (it != cache.end()) return &it->second;
  if (cache.size() >= kKeptGraphs) cache.erase(cache.begin());
  Prepared p;
  NM_ASSIGN_OR_RETURN(p.meta, model_.build_graph(shape, nullptr));
  NM_ASSIGN_OR_RETURN(p.exec, runner_.prepare(std::move(p.meta->graph)));
  return &(cache[key] = std::move(p));
}

Status SpeechSynth::run_encoder(std::span<const int32_t> ids, ThreadPool& pool, std::vector<float>& stats,
                                std::vector<float>& logw) {
  const VitsHparams& h = model_.hparams();
  if (ids.empty()) return error(ErrorCode::invalid_argument, "tts: no phoneme ids to speak");
  for (int32_t id : ids) {
    if (id < 0 || id >= h.n_vocab) return error(ErrorCode::invalid_argument, "tts: phoneme id " + std::to_string(id) + " is outside the voice's vocabulary");
  }
  const int T = (int)std::min<size_t>(ids.size(), (size_t)1 << 30);
  GraphShape es;
  es.n_tokens = T;
  NM_ASSIGN_OR_RETURN(Prepared * enc, prepared(encoders_, es, T));
  const auto* eg = static_cast<const VitsEncoderGraph*>(enc->meta.get());
  std::memcpy(enc->exec->tensor(eg->in).data, ids.data(), ids.size() * sizeof(int32_t));
  float* noise = static_cast<float*>(enc->exec->tensor(eg->dp_noise).data);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (int i = 0; i < 2 * T; ++i) noise[i] = noise_w_ > 0 ? normal(rng_) * noise_w_ : 0.0f;
  NM_RETURN_IF_ERROR(enc->exec->run(pool));
  const float* lw = static_cast<const float*>(enc->exec->tensor(eg->logw).data);  // [2, T]: column 0
  const float* st = static_cast<const float*>(enc->exec->tensor(eg->stats).data);
  stats.assign(st, st + (size_t)T * 2 * (size_t)h.inter);
  logw.resize((size_t)T);
  for (int i = 0; i < T; ++i) logw[(size_t)i] = lw[2 * i];
  return Status::ok_status();
}

Status SpeechSynth::run_decoder(std::span<const float> z, int n_frames, ThreadPool& pool, std::vector<float>& audio) {
  const VitsHparams& h = model_.hparams();
  if (n_frames < 1 || z.size() != (size_t)n_frames * (size_t)h.inter) {
    return error(ErrorCode::invalid_argument, "tts: the decoder takes n_frames x " + std::to_string(h.inter) + " latent values");
  }
  GraphShape ds;
  ds.width = n_frames;
  NM_ASSIGN_OR_RETURN(Prepared * dec, prepared(decoders_, ds, n_frames));
  std::memcpy(dec->exec->tensor(dec->meta->in).data, z.data(), z.size() * sizeof(float));
  NM_RETURN_IF_ERROR(dec->exec->run(pool));
  const Tensor& a = dec->exec->tensor(dec->meta->out);
  const float* p = static_cast<const float*>(a.data);
  audio.insert(audio.end(), p, p + a.n_elements());
  return Status::ok_status();
}

Status SpeechSynth::synthesize(std::span<const int32_t> ids, ThreadPool& pool, std::vector<float>& out,
                               SpeechTimings* timings) {
  const VitsHparams& h = model_.hparams();
  const auto t0 = std::chrono::steady_clock::now();
  NM_RETURN_IF_ERROR(run_encoder(ids, pool, stats_, logw_));
  const int T = (int)ids.size();
  durations_.assign((size_t)T, 0);
  int64_t frames = 0;
  for (int i = 0; i < T; ++i) {
    const double w = std::ceil(std::exp((double)logw_[(size_t)i]) * length_scale_);
    if (!std::isfinite(w)) return error(ErrorCode::internal, "tts: the duration predictor gave a non-finite duration");
    durations_[(size_t)i] = (int32_t)std::min<double>(std::max(w, 0.0), (double)max_frames_ + 1);
    frames += durations_[(size_t)i];
  }
  if (frames > max_frames_) {
    return error(ErrorCode::invalid_argument, "tts: the utterance would last " + std::to_string(frames) +
                                                  " frames; split the text into sentences");
  }
  const double enc_ms = ms_since(t0);

  // The prior expanded by the durations (VITS clamps the length to at least one frame).
  const auto t1 = std::chrono::steady_clock::now();
  const int F = (int)std::max<int64_t>(frames, 1);
  const int C = h.inter;
  z_.assign((size_t)F * (size_t)C, 0.0f);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  int64_t f = 0;
  for (int i = 0; i < T; ++i) {
    const float* m = stats_.data() + (size_t)i * 2 * (size_t)C;
    const float* logs = m + C;
    for (int r = 0; r < durations_[(size_t)i]; ++r, ++f) {
      float* row = z_.data() + f * C;
      for (int c = 0; c < C; ++c) row[c] = m[c] + (noise_scale_ > 0 ? normal(rng_) * std::exp(logs[c]) * noise_scale_ : 0.0f);
    }
  }
  const size_t before = out.size();
  NM_RETURN_IF_ERROR(run_decoder(z_, F, pool, out));
  if (timings) {
    timings->encoder_ms += enc_ms;
    timings->decoder_ms += ms_since(t1);
    timings->n_phonemes += T;
    timings->n_frames += F;
    timings->n_samples += (int64_t)(out.size() - before);
  }
  return Status::ok_status();
}

}  // namespace nm
