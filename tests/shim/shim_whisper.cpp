// Whisper brick entry points for the reference tests (tests/python/test_whisper*.py): the
// log-mel front end, model loading, the encoder, decoder logits (prefill and incremental,
// one or several sequences) and the vocabulary, each checked against numpy float64.
// Quantised matrices run from packed CPU copies, as WhisperTranscriber runs them.
#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "backend/cpu/packed_weights.h"
#include "bricks/whisper/log_mel.h"
#include "runtime/whisper_context.h"
#include "bricks/whisper/whisper_model.h"
#include "core/audio.h"
#include "kernels/matmul_packed.h"
#include "tests/shim/shim.h"

namespace {

struct WhisperCase {
  std::shared_ptr<const nm::WhisperModel> model;
  std::unique_ptr<nm::WhisperEncoder> encoder;
  std::unique_ptr<nm::ThreadPool> pool;
  nm::BrickRunParams run;  // packed copies shared by the encoder and every decoder
  int n_ctx = 0;  // encoder positions (0: all 1500), nm_shim_whisper_set_audio_ctx
};

std::unique_ptr<nm::WhisperDecoder> decoder(WhisperCase* c, const float* states, int n_beams, int kv_f32) {
  nm::WhisperDecoderParams p;
  p.n_beams = n_beams;
  p.kv_type = kv_f32 ? nm::DType::F32 : nm::DType::F16;
  p.cross_type = p.kv_type;
  p.run = c->run;
  auto d = nm::WhisperDecoder::create(c->model, p);
  if (!d.ok()) return nullptr;
  const auto& hp = c->model->hparams();
  const size_t n_states = (size_t)(c->n_ctx > 0 ? c->n_ctx : hp.n_audio_ctx);
  if (!d.value()->set_window({states, n_states * hp.n_text_state}, *c->pool).ok()) return nullptr;
  return std::move(d).value();
}

}  // namespace

NM_SHIM int nm_shim_mel_filters(int n_mels, float* out) {
  const nm::MelFilters f = nm::slaney_mel_filters(n_mels);
  std::memcpy(out, f.w.data(), f.w.size() * sizeof(float));
  return 0;
}

// filters: n_mels x 201. out: n_mels x cap_frames (row stride cap_frames); *n_frames set.
NM_SHIM int nm_shim_log_mel(const float* samples, int64_t n, const float* filters, int n_mels, float* out,
                            int64_t cap_frames, int64_t* n_frames) {
  nm::MelFilters f;
  f.n_mels = n_mels;
  f.n_bins = 201;
  f.w.assign(filters, filters + (size_t)n_mels * 201);
  auto mel = nm::log_mel_spectrogram({samples, (size_t)n}, f);
  if (!mel.ok()) return 1;
  *n_frames = mel->n_frames;
  if (mel->n_frames > cap_frames) return 2;
  for (int m = 0; m < n_mels; ++m) {
    std::memcpy(out + (size_t)m * cap_frames, mel->data.data() + (size_t)m * mel->n_frames, (size_t)mel->n_frames * 4);
  }
  return 0;
}

// Decodes an audio file to 16 kHz mono; returns the sample count (or -1, message in msg).
// out may be null to ask for the count.
NM_SHIM int64_t nm_shim_load_audio(const char* path, float* out, int64_t cap, char* msg, int msg_cap) {
  auto a = nm::load_audio(path, 16000);
  if (!a.ok()) {
    copy_message(a.status().to_string(), msg, msg_cap);
    return -1;
  }
  if (out) std::memcpy(out, a->samples.data(), std::min<size_t>((size_t)cap, a->samples.size()) * 4);
  return (int64_t)a->samples.size();
}

NM_SHIM void* nm_shim_whisper_open(const char* path, int n_threads, char* msg, int cap) {
  auto m = nm::WhisperModel::load(path);
  if (!m.ok()) {
    copy_message(m.status().to_string(), msg, cap);
    return nullptr;
  }
  auto c = std::make_unique<WhisperCase>();
  c->model = std::move(m).value();
  c->run.packed = nm::PackedWeights::for_memory(c->model->arena_data(), c->model->arena_bytes());
  auto e = nm::WhisperEncoder::create(c->model, c->run);
  if (!e.ok()) {
    copy_message(e.status().to_string(), msg, cap);
    return nullptr;
  }
  c->encoder = std::move(e).value();
  c->pool = std::make_unique<nm::ThreadPool>(n_threads);
  copy_message(c->model->describe(), msg, cap);
  return c.release();
}

NM_SHIM void nm_shim_whisper_free(void* h) { delete static_cast<WhisperCase*>(h); }

// Bytes of matrices running from packed copies so far, or -1 where this ISA has no packed
// kernel for the model's matrices (they then run in the file's layout).
NM_SHIM int64_t nm_shim_whisper_packed_bytes(void* h) {
  const auto* c = static_cast<WhisperCase*>(h);
  const auto& hp = c->model->hparams();
  if (!nm::matmul_packable(c->run.isa, c->model->weight_type(), hp.n_audio_state, hp.n_audio_state)) return -1;
  return (int64_t)c->run.packed->packed_bytes();
}

// hp[0..9]: n_vocab, n_audio_ctx, n_audio_state, n_audio_head, n_audio_layer, n_text_ctx,
// n_text_state, n_text_head, n_text_layer, n_mels; sp[0..9]: eot, sot, lang_begin,
// translate, transcribe, solm, prev, nosp, no_timestamps, timestamp_begin.
NM_SHIM int nm_shim_whisper_info(void* h, int32_t* hp, int32_t* sp) {
  const auto* c = static_cast<WhisperCase*>(h);
  const auto& p = c->model->hparams();
  const int32_t v[10] = {p.n_vocab, p.n_audio_ctx, p.n_audio_state, p.n_audio_head, p.n_audio_layer,
                         p.n_text_ctx, p.n_text_state, p.n_text_head, p.n_text_layer, p.n_mels};
  std::memcpy(hp, v, sizeof(v));
  const auto& vo = c->model->vocab();
  const int32_t s[10] = {vo.eot, vo.sot, vo.lang_begin, vo.translate, vo.transcribe, vo.solm, vo.prev, vo.nosp,
                         vo.no_timestamps, vo.timestamp_begin};
  std::memcpy(sp, s, sizeof(s));
  return 0;
}

NM_SHIM int nm_shim_whisper_mel_filters(void* h, float* out) {
  const auto& f = static_cast<WhisperCase*>(h)->model->mel_filters();
  std::memcpy(out, f.w.data(), f.w.size() * 4);
  return 0;
}

// Encoder positions of the calls that follow (0: all 1500), whisper.cpp's audio_ctx.
NM_SHIM int nm_shim_whisper_set_audio_ctx(void* h, int n_ctx) {
  static_cast<WhisperCase*>(h)->n_ctx = n_ctx;
  return 0;
}

// mel: n_mels x (2 x n_ctx); states: n_ctx x n_audio_state (n_ctx: 1500 unless set).
NM_SHIM int nm_shim_whisper_encode(void* h, const float* mel, float* states) {
  auto* c = static_cast<WhisperCase*>(h);
  std::vector<float> s;
  if (!c->encoder->encode(mel, *c->pool, s, c->n_ctx).ok()) return 1;
  std::memcpy(states, s.data(), s.size() * 4);
  return 0;
}

// Logits of every position of `tokens` in one prefill: n x n_vocab.
NM_SHIM int nm_shim_whisper_logits(void* h, const float* states, const int32_t* tokens, int n, int kv_f32,
                                   float* logits) {
  auto* c = static_cast<WhisperCase*>(h);
  auto d = decoder(c, states, 1, kv_f32);
  if (!d || !d->prefill({tokens, (size_t)n}, *c->pool, true).ok()) return 1;
  const int nv = c->model->hparams().n_vocab;
  for (int i = 0; i < n; ++i) std::memcpy(logits + (size_t)i * nv, d->logits(i), (size_t)nv * 4);
  return 0;
}

// Greedy argmax continuation through the KV cache: prefill the prompt, then one step() per token.
NM_SHIM int nm_shim_whisper_greedy(void* h, const float* states, const int32_t* prompt, int n_prompt, int n_steps,
                                   int kv_f32, int32_t* out) {
  auto* c = static_cast<WhisperCase*>(h);
  auto d = decoder(c, states, 1, kv_f32);
  if (!d || !d->prefill({prompt, (size_t)n_prompt}, *c->pool).ok()) return 1;
  const int nv = c->model->hparams().n_vocab;
  for (int i = 0; i < n_steps; ++i) {
    const float* l = d->logits(0);
    const int32_t t = (int32_t)(std::max_element(l, l + nv) - l);
    out[i] = t;
    if (i + 1 < n_steps && !d->step({&t, 1}, *c->pool).ok()) return 1;
  }
  return 0;
}

// Several sequences: the prompt is prefilled once, copied to n_beams sequences, then each
// sequence b gets tokens[b * n_steps + s] at step s. logits: the last step's rows, n_beams x n_vocab.
NM_SHIM int nm_shim_whisper_beams(void* h, const float* states, const int32_t* prompt, int n_prompt, int n_beams,
                                  const int32_t* tokens, int n_steps, int kv_f32, float* logits) {
  auto* c = static_cast<WhisperCase*>(h);
  auto d = decoder(c, states, n_beams, kv_f32);
  if (!d || !d->prefill({prompt, (size_t)n_prompt}, *c->pool).ok()) return 1;
  std::vector<int> from((size_t)n_beams, 0);
  d->reorder(from);
  std::vector<int32_t> step((size_t)n_beams);
  for (int s = 0; s < n_steps; ++s) {
    for (int b = 0; b < n_beams; ++b) step[(size_t)b] = tokens[b * n_steps + s];
    if (!d->step(step, *c->pool).ok()) return 1;
    if (s == 0 && n_beams > 1) {  // shuffle: sequence b continues from sequence (b + 1) % n, then swap back
      std::vector<int> order((size_t)n_beams), back((size_t)n_beams);
      for (int b = 0; b < n_beams; ++b) order[(size_t)b] = (b + 1) % n_beams;
      d->reorder(order);
      for (int b = 0; b < n_beams; ++b) back[(size_t)b] = (b + n_beams - 1) % n_beams;
      d->reorder(back);
    }
  }
  const int nv = c->model->hparams().n_vocab;
  for (int b = 0; b < n_beams; ++b) std::memcpy(logits + (size_t)b * nv, d->logits(b), (size_t)nv * 4);
  return 0;
}

// which 0: suppress list, 1: suppress-at-begin list. Returns the count (fills up to cap).
NM_SHIM int nm_shim_whisper_suppress(void* h, int which, int32_t* out, int cap) {
  const auto* c = static_cast<WhisperCase*>(h);
  const auto& v = which == 0 ? c->model->suppress() : c->model->suppress_begin();
  std::copy_n(v.begin(), std::min<size_t>((size_t)cap, v.size()), out);
  return (int)v.size();
}

NM_SHIM int nm_shim_whisper_default_suppress(void* h, int32_t* out, int cap) {
  const auto v = nm::whisper_default_suppress(static_cast<WhisperCase*>(h)->model->vocab());
  std::copy_n(v.begin(), std::min<size_t>((size_t)cap, v.size()), out);
  return (int)v.size();
}

NM_SHIM int nm_shim_whisper_tokenize(void* h, const char* text, int32_t* out, int cap) {
  const auto v = static_cast<WhisperCase*>(h)->model->vocab().encode(text);
  std::copy_n(v.begin(), std::min<size_t>((size_t)cap, v.size()), out);
  return (int)v.size();
}

// Bytes of the decoded ids into out (NUL-terminated); returns the byte count.
NM_SHIM int nm_shim_whisper_detokenize(void* h, const int32_t* ids, int n, char* out, int cap) {
  const std::string s = static_cast<WhisperCase*>(h)->model->vocab().decode({ids, (size_t)n});
  copy_message(s, out, cap);
  return (int)s.size();
}
