#include "runtime/text_context.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

namespace nm {
namespace {

constexpr int kKvBucket = 256;  // n_kv is rounded up to this, so decode reuses one graph per bucket

uint64_t shape_key(int n_tokens, int n_kv, bool all_logits) {
  return ((uint64_t)n_tokens << 33) | ((uint64_t)n_kv << 1) | (all_logits ? 1u : 0u);
}

}  // namespace

Result<std::unique_ptr<TextContext>> TextContext::create(const TextModel& model, const TextContextParams& p) {
  const TextHparams& hp = model.hparams();
  TextContextParams params = p;
  if (params.n_ctx <= 0) params.n_ctx = std::min(hp.n_ctx_train, 4096);
  if (params.n_batch <= 0) params.n_batch = 512;
  KvCacheShape shape{hp.n_layer, params.n_ctx, hp.n_head_kv, hp.head_dim, params.kv_type};
  NM_ASSIGN_OR_RETURN(KvCache cache, KvCache::create(shape));
  std::unique_ptr<TextContext> c(new TextContext(model, std::move(cache), params));
  NM_ASSIGN_OR_RETURN(c->x_staging_, VirtualBuffer::reserve((size_t)params.n_batch * hp.n_embd * sizeof(float)));
  return c;
}

TextContext::TextContext(const TextModel& model, KvCache cache, const TextContextParams& p)
    : model_(model), params_(p), cache_(std::move(cache)), runner_(model.file(), p.run) {}

Result<TextContext::Step*> TextContext::step_for(int n_tokens, int n_kv, bool all_logits) {
  const uint64_t key = shape_key(n_tokens, n_kv, all_logits);
  if (Step* s = graphs_.find(key)) return s;
  auto step = std::make_unique<Step>();
  NM_ASSIGN_OR_RETURN(step->meta, build_text_graph(model_, cache_, n_tokens, n_kv, all_logits));
  Graph& g = step->meta->graph;
  // The input embeddings are caller memory: the staging rows for tokens, or an image's
  // embeddings where they already lie.
  NM_RETURN_IF_ERROR(g.set_external(step->meta->in, x_staging_.data()));
  step->x_bound = x_staging_.data();
  NM_ASSIGN_OR_RETURN(step->exec, runner_.prepare(std::move(g)));
  return graphs_.insert(key, std::move(step));
}

Status TextContext::eval_chunk(int n, const int32_t* tokens, const float* embeddings, ThreadPool& pool,
                               bool all_logits) {
  const TextHparams& hp = model_.hparams();
  const int n_past = cache_.n_tokens();
  const int n_ctx = cache_.shape().n_ctx;
  const int n_kv = std::min((n_past + n + kKvBucket - 1) / kKvBucket * kKvBucket, n_ctx);
  NM_ASSIGN_OR_RETURN(Step * step, step_for(n, n_kv, all_logits));
  GraphRunner& ex = *step->exec;
  const TextGraph& tg = *step->meta;

  float* x = static_cast<float*>(x_staging_.data());
  if (embeddings) {
    // Read in place; a device that cannot reach this memory gets a copy in the staging rows.
    Status st = step->x_bound == embeddings ? Status() : ex.rebind(tg.in, const_cast<float*>(embeddings));
    if (st.ok()) {
      step->x_bound = embeddings;
    } else if (st.code() == ErrorCode::invalid_argument) {
      std::memcpy(x, embeddings, (size_t)n * hp.n_embd * sizeof(float));
      bytes_copied_in_ += (size_t)n * hp.n_embd * sizeof(float);
      embeddings = nullptr;
    } else {
      return st;
    }
  }
  if (!embeddings && step->x_bound != x) {
    NM_RETURN_IF_ERROR(ex.rebind(tg.in, x));
    step->x_bound = x;
  }
  if (tokens) {
    NM_RETURN_IF_ERROR(model_.embed_tokens({tokens, (size_t)n}, x));
  }
  int32_t* pos = ex.tensor(tg.pos).as<int32_t>();
  for (int i = 0; i < n; ++i) pos[i] = n_past + i;
  fill_attention_masks(hp, n_past, n, n_kv, ex.tensor(tg.mask).as<float>(),
                       tg.mask_swa == kInvalidNode ? nullptr : ex.tensor(tg.mask_swa).as<float>());
  for (int il = 0; il < hp.n_layer; ++il) {
    const size_t at = (size_t)n_past * cache_.token_bytes();
    NM_RETURN_IF_ERROR(ex.rebind(tg.k_slot[(size_t)il], static_cast<char*>(cache_.k(il).data) + at));
    NM_RETURN_IF_ERROR(ex.rebind(tg.v_slot[(size_t)il], static_cast<char*>(cache_.v(il).data) + at));
  }
  NM_RETURN_IF_ERROR(ex.run(pool));
  cache_.set_n_tokens(n_past + n);

  const Tensor& out = ex.tensor(tg.out);
  const int rows = (int)out.ne[1];
  const size_t row_floats = (size_t)hp.n_vocab;
  const size_t old = all_logits ? logits_.size() : 0;
  logits_.resize(old + (size_t)rows * row_floats);
  for (int r = 0; r < rows; ++r) std::memcpy(&logits_[old + (size_t)r * row_floats], out.row(r), row_floats * sizeof(float));
  n_logit_rows_ = (int)(logits_.size() / row_floats);
  return Status();
}

bool TextContext::can_batch(std::span<TextContext* const> ctxs) {
  if (ctxs.empty()) return false;
  const TextContext& lead = *ctxs[0];
  const KvCacheShape& a = lead.cache_.shape();
  for (size_t i = 0; i < ctxs.size(); ++i) {
    const TextContext& c = *ctxs[i];
    const KvCacheShape& b = c.cache_.shape();
    if (&c.model_ != &lead.model_ || c.runner_.device() != lead.runner_.device() || b.n_ctx != a.n_ctx ||
        b.type != a.type || b.n_layer != a.n_layer || b.n_head_kv != a.n_head_kv || b.head_dim != a.head_dim) {
      return false;
    }
    for (size_t j = 0; j < i; ++j)
      if (ctxs[j] == ctxs[i]) return false;  // one cache cannot take two positions in one step
  }
  return true;
}

Result<TextContext::BatchStep*> TextContext::batch_step_for(int n_seq, int n_kv) {
  const uint64_t key = ((uint64_t)n_seq << 33) | ((uint64_t)n_kv << 1);
  if (BatchStep* s = batch_graphs_.find(key)) return s;
  auto step = std::make_unique<BatchStep>();
  NM_ASSIGN_OR_RETURN(step->meta, build_text_batch_graph(model_, cache_, n_seq, n_kv));
  NM_ASSIGN_OR_RETURN(step->exec, runner_.prepare(std::move(step->meta.graph)));
  return batch_graphs_.insert(key, std::move(step));
}

Status TextContext::eval_batch(std::span<TextContext* const> ctxs, std::span<const int32_t> tokens, ThreadPool& pool) {
  if (ctxs.empty() || ctxs.size() != tokens.size()) {
    return error(ErrorCode::invalid_argument, "eval_batch: one token per context");
  }
  if (!can_batch(ctxs)) {
    return error(ErrorCode::invalid_argument, "eval_batch: the contexts differ in model, device or cache shape");
  }
  TextContext& lead = *ctxs[0];
  const TextHparams& hp = lead.model_.hparams();
  const int n_seq = (int)ctxs.size();
  const int n_ctx = lead.cache_.shape().n_ctx;
  int longest = 0;
  for (TextContext* c : ctxs) {
    if (c->n_past() + 1 > n_ctx) {
      return error(ErrorCode::out_of_range, "a context is full (" + std::to_string(n_ctx) + " positions)");
    }
    longest = std::max(longest, c->n_past() + 1);
  }
  const int n_kv = std::min((longest + kKvBucket - 1) / kKvBucket * kKvBucket, n_ctx);
  NM_ASSIGN_OR_RETURN(BatchStep * step, lead.batch_step_for(n_seq, n_kv));
  GraphRunner& ex = *step->exec;
  const TextBatchGraph& tg = step->meta;

  NM_RETURN_IF_ERROR(lead.model_.embed_tokens(tokens, ex.tensor(tg.x).as<float>()));
  int32_t* pos = ex.tensor(tg.pos).as<int32_t>();
  for (int s = 0; s < n_seq; ++s) {
    TextContext& c = *ctxs[(size_t)s];
    const int n_past = c.n_past();
    pos[s] = n_past;
    fill_attention_masks(hp, n_past, 1, n_kv, ex.tensor(tg.mask[(size_t)s]).as<float>(),
                         tg.mask_swa.empty() ? nullptr : ex.tensor(tg.mask_swa[(size_t)s]).as<float>());
    const size_t at = (size_t)n_past * c.cache_.token_bytes();
    for (int il = 0; il < hp.n_layer; ++il) {
      char* k = static_cast<char*>(c.cache_.k(il).data);
      char* v = static_cast<char*>(c.cache_.v(il).data);
      NM_RETURN_IF_ERROR(ex.rebind(tg.k_slot[(size_t)il][(size_t)s], k + at));
      NM_RETURN_IF_ERROR(ex.rebind(tg.v_slot[(size_t)il][(size_t)s], v + at));
      NM_RETURN_IF_ERROR(ex.rebind(tg.k_cache[(size_t)il][(size_t)s], k));
      NM_RETURN_IF_ERROR(ex.rebind(tg.v_cache[(size_t)il][(size_t)s], v));
    }
  }
  NM_RETURN_IF_ERROR(ex.run(pool));
  const Tensor& out = ex.tensor(tg.logits);
  for (int s = 0; s < n_seq; ++s) {
    TextContext& c = *ctxs[(size_t)s];
    c.cache_.set_n_tokens(c.n_past() + 1);
    c.logits_.resize((size_t)hp.n_vocab);
    std::memcpy(c.logits_.data(), out.row(s), (size_t)hp.n_vocab * sizeof(float));
    c.n_logit_rows_ = 1;
  }
  return Status();
}

Status TextContext::eval_tokens(std::span<const int32_t> tokens, ThreadPool& pool, bool all_logits) {
  if (tokens.empty()) return error(ErrorCode::invalid_argument, "nothing to evaluate: no tokens");
  const int n_past = cache_.n_tokens();
  if (n_past + (int64_t)tokens.size() > cache_.shape().n_ctx) {
    return error(ErrorCode::out_of_range, std::to_string(tokens.size()) + " tokens do not fit in the context: " +
                                              std::to_string(n_past) + " of " + std::to_string(cache_.shape().n_ctx) +
                                              " positions are used (raise -c / n_ctx, or start a new conversation)");
  }
  logits_.clear();
  for (size_t done = 0; done < tokens.size();) {
    const int n = (int)std::min<size_t>((size_t)params_.n_batch, tokens.size() - done);
    NM_RETURN_IF_ERROR(eval_chunk(n, tokens.data() + done, nullptr, pool, all_logits));
    done += (size_t)n;
  }
  return Status();
}

Status TextContext::eval_embeddings(std::span<const float> embeddings, ThreadPool& pool) {
  const int n_embd = model_.hparams().n_embd;
  if (embeddings.empty() || embeddings.size() % (size_t)n_embd != 0) {
    return error(ErrorCode::invalid_argument, "embeddings must be a whole number of rows of " + std::to_string(n_embd));
  }
  const int64_t n = (int64_t)(embeddings.size() / (size_t)n_embd);
  if (cache_.n_tokens() + n > cache_.shape().n_ctx) {
    return error(ErrorCode::out_of_range, std::to_string(n) + " embedding positions do not fit in the context");
  }
  logits_.clear();
  for (int64_t done = 0; done < n;) {
    const int c = (int)std::min<int64_t>(params_.n_batch, n - done);
    NM_RETURN_IF_ERROR(eval_chunk(c, nullptr, embeddings.data() + done * n_embd, pool, false));
    done += c;
  }
  return Status();
}

}  // namespace nm
