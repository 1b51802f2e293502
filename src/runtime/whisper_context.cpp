#include "runtime/whisper_context.h"

#include "bricks/whisper/whisper_bricks.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <string>

namespace nm {
namespace {

constexpr int kKvBucket = 32;  // n_kv rounds up to this, so decode steps share graphs

// n_tokens, n_kv <= n_text_ctx (448), n_beams <= 16, n_audio_ctx <= 1500 (< 2^12 each)
uint64_t step_key(int n_tokens, int n_beams, int n_kv, bool all_logits, int n_audio_ctx) {
  return ((uint64_t)n_audio_ctx << 50) | ((uint64_t)n_tokens << 36) | ((uint64_t)n_beams << 24) |
         ((uint64_t)n_kv << 1) | (all_logits ? 1u : 0u);
}

}  // namespace

// ---- encoder ------------------------------------------------------------------------

Result<std::unique_ptr<WhisperEncoder>> WhisperEncoder::create(std::shared_ptr<const WhisperModel> model,
                                                               const BrickRunParams& p) {
  std::unique_ptr<WhisperEncoder> e(new WhisperEncoder());
  e->model_ = std::move(model);
  e->runner_ = std::make_unique<BrickRunner>(p);
  NM_RETURN_IF_ERROR(e->shape_for(0).status());  // the audio brick's graph of a 30 s window
  return e;
}

Result<WhisperEncoder::Shape*> WhisperEncoder::shape_for(int n_ctx) {
  const int n = n_ctx > 0 ? n_ctx : model_->hparams().n_audio_ctx;
  if (Shape* s = shapes_.find((uint64_t)n)) return s;
  auto shape = std::make_unique<Shape>();
  NM_ASSIGN_OR_RETURN(shape->meta, build_whisper_encoder_graph(*model_, n));
  NM_ASSIGN_OR_RETURN(shape->exec, runner_->prepare(std::move(shape->meta.graph)));
  return shapes_.insert((uint64_t)n, std::move(shape));
}

Status WhisperEncoder::encode(const float* mel, ThreadPool& pool, std::vector<float>& states, int n_ctx) {
  NM_ASSIGN_OR_RETURN(Shape * sh, shape_for(n_ctx));
  GraphRunner& exec = *sh->exec;
  const Tensor& in = exec.tensor(sh->meta.in);
  std::memcpy(in.data, mel, (size_t)in.n_elements() * sizeof(float));
  NM_RETURN_IF_ERROR(exec.run(pool));
  const Tensor& out = exec.tensor(sh->meta.out);
  states.resize((size_t)out.n_elements());
  std::memcpy(states.data(), out.data, states.size() * sizeof(float));
  return Status();
}

// ---- decoder ------------------------------------------------------------------------

Result<std::unique_ptr<WhisperDecoder>> WhisperDecoder::create(std::shared_ptr<const WhisperModel> model,
                                                               const WhisperDecoderParams& p) {
  if (p.n_beams < 1 || p.n_beams > 16) {
    return error(ErrorCode::invalid_argument, "Whisper decoder: " + std::to_string(p.n_beams) + " sequences (1 to 16)");
  }
  for (DType t : {p.kv_type, p.cross_type}) {
    if (t != DType::F16 && t != DType::F32) return error(ErrorCode::invalid_argument, "Whisper decoder: K/V buffers are F16 or F32");
  }
  std::unique_ptr<WhisperDecoder> d(new WhisperDecoder());
  const WhisperHparams& hp = model->hparams();
  d->model_ = std::move(model);
  d->params_ = p;
  d->kv_ = WhisperKvLayout{hp.n_text_layer, hp.n_text_ctx, p.n_beams, hp.n_text_state, hp.n_text_head, hp.n_audio_ctx, p.kv_type, p.cross_type};
  d->n_vocab_ = hp.n_vocab;
  NM_ASSIGN_OR_RETURN(d->self_k_, VirtualBuffer::reserve(d->kv_.self_layer_bytes() * (size_t)hp.n_text_layer));
  NM_ASSIGN_OR_RETURN(d->self_v_, VirtualBuffer::reserve(d->kv_.self_layer_bytes() * (size_t)hp.n_text_layer));
  NM_ASSIGN_OR_RETURN(d->cross_k_, VirtualBuffer::reserve(d->kv_.cross_layer_bytes() * (size_t)hp.n_text_layer));
  NM_ASSIGN_OR_RETURN(d->cross_v_, VirtualBuffer::reserve(d->kv_.cross_layer_bytes() * (size_t)hp.n_text_layer));
  // The graphs are re-pointed into the caches: a device that imports memory at prepare
  // imports them whole.
  BrickRunParams run = p.run;
  for (const VirtualBuffer* b : {&d->self_k_, &d->self_v_, &d->cross_k_, &d->cross_v_}) run.regions.push_back({b->data(), b->size()});
  d->runner_ = std::make_unique<BrickRunner>(run);
  return d;
}

// The buffers are sized for the model's 1500 states (cross_layer_bytes with the full
// n_audio_ctx); each layer's K/V start where a full window's would.
Status WhisperDecoder::set_window(std::span<const float> states, ThreadPool& pool) {
  const WhisperHparams& hp = model_->hparams();
  const size_t E = (size_t)hp.n_text_state;
  if (states.empty() || states.size() % E != 0 || states.size() / E > (size_t)hp.n_audio_ctx) {
    return error(ErrorCode::invalid_argument, "encoder states hold " + std::to_string(states.size()) +
                                                  " floats, expected 1 to " + std::to_string(hp.n_audio_ctx) + " rows of " +
                                                  std::to_string(E));
  }
  const int n_ctx = (int)(states.size() / E);
  WhisperKvLayout full = kv_;
  full.n_audio_ctx = hp.n_audio_ctx;
  Cross* c = crosses_.find((uint64_t)n_ctx);
  if (!c) {
    auto cross = std::make_unique<Cross>();
    WhisperKvLayout kv = kv_;
    kv.n_audio_ctx = n_ctx;
    NM_ASSIGN_OR_RETURN(cross->meta, build_whisper_cross_graph(*model_, kv));
    NM_ASSIGN_OR_RETURN(cross->exec, runner_->prepare(std::move(cross->meta.graph)));
    for (int il = 0; il < hp.n_text_layer; ++il) {
      const size_t at = (size_t)il * full.cross_layer_bytes();
      NM_RETURN_IF_ERROR(cross->exec->rebind(cross->meta.k_dst[(size_t)il], static_cast<char*>(cross_k_.data()) + at));
      NM_RETURN_IF_ERROR(cross->exec->rebind(cross->meta.v_dst[(size_t)il], static_cast<char*>(cross_v_.data()) + at));
    }
    c = crosses_.insert((uint64_t)n_ctx, std::move(cross));
  }
  std::memcpy(c->exec->tensor(c->meta.in).data, states.data(), states.size() * sizeof(float));
  kv_.n_audio_ctx = n_ctx;
  n_past_ = 0;
  return c->exec->run(pool);
}

Result<WhisperDecoder::Step*> WhisperDecoder::step_for(int n_tokens, int n_beams, int n_kv, bool all_logits) {
  const uint64_t key = step_key(n_tokens, n_beams, n_kv, all_logits, kv_.n_audio_ctx);
  if (Step* s = steps_.find(key)) return s;
  auto step = std::make_unique<Step>();
  NM_ASSIGN_OR_RETURN(step->meta, build_whisper_decoder_graph(*model_, kv_, n_tokens, n_beams, n_kv, all_logits));
  NM_ASSIGN_OR_RETURN(step->exec, runner_->prepare(std::move(step->meta.graph)));
  const WhisperDecoderGraph& m = step->meta;
  WhisperKvLayout full = kv_;
  full.n_audio_ctx = model_->hparams().n_audio_ctx;
  for (int il = 0; il < kv_.n_layer; ++il) {
    const size_t cross_at = (size_t)il * full.cross_layer_bytes();
    NM_RETURN_IF_ERROR(step->exec->rebind(m.k_cache[(size_t)il], self_k(il)));
    NM_RETURN_IF_ERROR(step->exec->rebind(m.v_cache[(size_t)il], self_v(il)));
    NM_RETURN_IF_ERROR(step->exec->rebind(m.k_cross[(size_t)il], static_cast<char*>(cross_k_.data()) + cross_at));
    NM_RETURN_IF_ERROR(step->exec->rebind(m.v_cross[(size_t)il], static_cast<char*>(cross_v_.data()) + cross_at));
  }
  return steps_.insert(key, std::move(step));
}

Status WhisperDecoder::run(std::span<const int32_t> tokens, int n_tokens, int n_beams, bool all_logits, ThreadPool& pool) {
  if (n_past_ + n_tokens > kv_.n_ctx) {
    return error(ErrorCode::out_of_range, "Whisper decoder context is full (" + std::to_string(kv_.n_ctx) + " positions)");
  }
  for (int32_t t : tokens) {
    if (t < 0 || t >= n_vocab_) {
      return error(ErrorCode::invalid_argument, "token id " + std::to_string(t) + " is outside the vocabulary (0.." +
                                                    std::to_string(n_vocab_ - 1) + ")");
    }
  }
  const int n_kv = std::min((n_past_ + n_tokens + kKvBucket - 1) / kKvBucket * kKvBucket, kv_.n_ctx);
  NM_ASSIGN_OR_RETURN(Step * st, step_for(n_tokens, n_beams, n_kv, all_logits));
  GraphRunner& ex = *st->exec;
  const WhisperDecoderGraph& m = st->meta;
  std::memcpy(ex.tensor(m.in).data, tokens.data(), tokens.size() * sizeof(int32_t));
  int32_t* pos = ex.tensor(m.pos).as<int32_t>();
  for (int b = 0; b < n_beams; ++b) {
    for (int i = 0; i < n_tokens; ++i) pos[b * n_tokens + i] = n_past_ + i;
  }
  float* mask = ex.tensor(m.mask).as<float>();
  const float hidden = -std::numeric_limits<float>::infinity();
  for (int i = 0; i < n_tokens; ++i) {
    for (int j = 0; j < n_kv; ++j) mask[(size_t)i * n_kv + j] = j <= n_past_ + i ? 0.0f : hidden;
  }
  const size_t at = (size_t)n_past_ * kv_.n_state * kv_.elt();
  for (int il = 0; il < kv_.n_layer; ++il) {
    NM_RETURN_IF_ERROR(ex.rebind(m.k_slot[(size_t)il], self_k(il) + at));
    NM_RETURN_IF_ERROR(ex.rebind(m.v_slot[(size_t)il], self_v(il) + at));
  }
  NM_RETURN_IF_ERROR(ex.run(pool));
  n_past_ += n_tokens;
  const Tensor& out = ex.tensor(m.out);
  n_rows_ = (int)out.ne[1];
  logits_.resize((size_t)n_rows_ * n_vocab_);
  for (int r = 0; r < n_rows_; ++r) std::memcpy(&logits_[(size_t)r * n_vocab_], out.row(r), (size_t)n_vocab_ * sizeof(float));
  return Status();
}

Status WhisperDecoder::prefill(std::span<const int32_t> tokens, ThreadPool& pool, bool all_logits) {
  if (tokens.empty()) return error(ErrorCode::invalid_argument, "nothing to evaluate: no tokens");
  return run(tokens, (int)tokens.size(), 1, all_logits, pool);
}

Status WhisperDecoder::step(std::span<const int32_t> tokens, ThreadPool& pool) {
  if (tokens.empty() || (int)tokens.size() > kv_.n_beams) {
    return error(ErrorCode::invalid_argument, "one token per sequence: " + std::to_string(tokens.size()) + " given, " +
                                                  std::to_string(kv_.n_beams) + " sequences");
  }
  return run(tokens, 1, (int)tokens.size(), false, pool);
}

void WhisperDecoder::reorder(std::span<const int> order) {
  const size_t rows = (size_t)n_past_ * kv_.n_state * kv_.elt(), beam = kv_.self_beam_bytes();
  const size_t n = std::min(order.size(), (size_t)kv_.n_beams);
  scratch_.resize(rows * n);
  for (int il = 0; il < kv_.n_layer; ++il) {
    for (char* base : {self_k(il), self_v(il)}) {
      for (size_t i = 0; i < n; ++i) std::memcpy(scratch_.data() + i * rows, base + (size_t)order[i] * beam, rows);
      for (size_t i = 0; i < n; ++i) std::memcpy(base + i * beam, scratch_.data() + i * rows, rows);
    }
  }
}

}  // namespace nm
