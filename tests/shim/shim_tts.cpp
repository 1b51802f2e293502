// Shim over the tts brick (bricks/tts/) and its runtime side (runtime/speech_synth.h), and
// the espeak-ng phonemizer, for the Python tests: a voice is opened once per handle.
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "bricks/tts/vits_model.h"
#include "core/thread_pool.h"
#include "runtime/speech_synth.h"
#include "tests/shim/shim.h"
#include "tokenizer/espeak_ng.h"

namespace {
struct VoiceHandle {
  std::unique_ptr<nm::VitsModel> model;
  std::unique_ptr<nm::SpeechSynth> synth;
  std::unique_ptr<nm::ThreadPool> pool;
  std::string error;
};
thread_local std::string g_last_error;  // test shim only: the message of the last failure
}  // namespace

NM_SHIM const char* nm_shim_tts_last_error() { return g_last_error.c_str(); }

// noise scales < 0: the voice's. Returns null on error (message in nm_shim_tts_last_error).
NM_SHIM void* nm_shim_tts_open(const char* path, float noise_scale, float length_scale, float noise_w, int nth) {
  auto m = nm::VitsModel::load(path);
  if (!m.ok()) {
    g_last_error = m.status().to_string();
    return nullptr;
  }
  auto h = std::make_unique<VoiceHandle>();
  h->model = std::move(*m);
  nm::SpeechParams p;
  p.noise_scale = noise_scale;
  p.length_scale = length_scale;
  p.noise_w = noise_w;
  auto s = nm::SpeechSynth::create(*h->model, p);
  if (!s.ok()) {
    g_last_error = s.status().to_string();
    return nullptr;
  }
  h->synth = std::move(*s);
  h->pool = std::make_unique<nm::ThreadPool>(nth);
  return h.release();
}

NM_SHIM void nm_shim_tts_free(void* h) { delete static_cast<VoiceHandle*>(h); }

// stats [n][2*inter], logw [n]. Returns 0 or 1.
NM_SHIM int nm_shim_tts_encoder(void* hv, const int32_t* ids, int64_t n, float* stats, float* logw) {
  auto* h = static_cast<VoiceHandle*>(hv);
  std::vector<float> st, lw;
  nm::Status s = h->synth->run_encoder(std::span<const int32_t>(ids, (size_t)n), *h->pool, st, lw);
  if (!s.ok()) {
    g_last_error = s.to_string();
    return 1;
  }
  std::memcpy(stats, st.data(), st.size() * sizeof(float));
  std::memcpy(logw, lw.data(), lw.size() * sizeof(float));
  return 0;
}

// z [frames][inter] -> audio [frames * hop]. Returns 0 or 1.
NM_SHIM int nm_shim_tts_decoder(void* hv, const float* z, int64_t frames, float* audio) {
  auto* h = static_cast<VoiceHandle*>(hv);
  std::vector<float> a;
  nm::Status s = h->synth->run_decoder(std::span<const float>(z, (size_t)(frames * h->model->hparams().inter)),
                                       (int)frames, *h->pool, a);
  if (!s.ok()) {
    g_last_error = s.to_string();
    return 1;
  }
  std::memcpy(audio, a.data(), a.size() * sizeof(float));
  return 0;
}

// The whole utterance: returns the sample count (-1 on error, -2 when cap is too small);
// durations [n] receives each phoneme's frames.
NM_SHIM int64_t nm_shim_tts_synthesize(void* hv, const int32_t* ids, int64_t n, float* audio, int64_t cap,
                                       int32_t* durations) {
  auto* h = static_cast<VoiceHandle*>(hv);
  std::vector<float> a;
  nm::Status s = h->synth->synthesize(std::span<const int32_t>(ids, (size_t)n), *h->pool, a);
  if (!s.ok()) {
    g_last_error = s.to_string();
    return -1;
  }
  if ((int64_t)a.size() > cap) return -2;
  std::memcpy(audio, a.data(), a.size() * sizeof(float));
  std::memcpy(durations, h->synth->last_durations().data(), (size_t)n * sizeof(int32_t));
  return (int64_t)a.size();
}

NM_SHIM int nm_shim_tts_hop(void* hv) { return static_cast<VoiceHandle*>(hv)->model->hparams().hop(); }

// Sentences of phonemes: phonemes separated by 0x1f, sentences by 0x1e. Returns bytes
// written (without the NUL), -1 on error, -2 when cap is too small.
NM_SHIM int64_t nm_shim_espeak_phonemize(const char* text, const char* voice, char* out, int64_t cap) {
  auto r = nm::espeak_phonemize(text, voice);
  if (!r.ok()) {
    g_last_error = r.status().to_string();
    return -1;
  }
  std::string s;
  for (size_t i = 0; i < r->size(); ++i) {
    if (i) s += '\x1e';
    for (size_t j = 0; j < (*r)[i].size(); ++j) {
      if (j) s += '\x1f';
      s += (*r)[i][j];
    }
  }
  if ((int64_t)s.size() + 1 > cap) return -2;
  std::memcpy(out, s.c_str(), s.size() + 1);
  return (int64_t)s.size();
}

// Text -> the voice's ids for each sentence, as `nanomind speak` makes them: sentences
// separated by -1 in `out`. Returns the count written, -1 on error, -2 when cap is too small.
NM_SHIM int64_t nm_shim_tts_text_ids(void* hv, const char* text, int32_t* out, int64_t cap) {
  auto* h = static_cast<VoiceHandle*>(hv);
  auto r = nm::espeak_phonemize(text, h->model->voice().espeak_voice);
  if (!r.ok()) {
    g_last_error = r.status().to_string();
    return -1;
  }
  std::vector<int32_t> all;
  for (size_t i = 0; i < r->size(); ++i) {
    if (i) all.push_back(-1);
    std::vector<int32_t> ids = nm::phoneme_ids((*r)[i], h->model->voice().phoneme_ids);
    all.insert(all.end(), ids.begin(), ids.end());
  }
  if ((int64_t)all.size() > cap) return -2;
  std::memcpy(out, all.data(), all.size() * sizeof(int32_t));
  return (int64_t)all.size();
}
