// Text brick entry points for the reference tests: logits of a token sequence (all at
// once, or split into a prefill and single-token decode steps), and greedy generation.
#include <cstring>
#include <memory>
#include <vector>

#include "runtime/text_context.h"
#include "bricks/text/text_model.h"
#include "tests/shim/shim.h"

namespace {

struct Loaded {
  std::unique_ptr<nm::TextModel> model;
  std::unique_ptr<nm::TextContext> ctx;
};

nm::DType kv_dtype(int kv) { return kv == 1 ? nm::DType::Q8_0 : kv == 2 ? nm::DType::F32 : nm::DType::F16; }

int load(const char* path, int n_ctx, int kv, int isa, Loaded& out, bool pack = true) {
  auto m = nm::TextModel::load(path);
  if (!m.ok()) return 1;
  out.model = std::move(m).value();
  nm::TextContextParams p;
  p.n_ctx = n_ctx;
  p.kv_type = kv_dtype(kv);
  p.n_batch = 64;  // small, so that tests cross prefill chunk boundaries
  if (isa >= 0) p.run.isa = static_cast<nm::Isa>(isa);
  p.run.pack_weights = pack;
  auto c = nm::TextContext::create(*out.model, p);
  if (!c.ok()) return 2;
  out.ctx = std::move(c).value();
  return 0;
}

}  // namespace

// Logits for every position of tokens[0..n): positions [0, n_prefill) in one batch, the
// rest one token at a time. out holds n * n_vocab floats.
NM_SHIM int nm_shim_text_logits(const char* path, const int32_t* tokens, int n, int n_prefill, int n_threads, int kv,
                                int isa, float* out) {
  Loaded l;
  if (int rc = load(path, 0, kv, isa, l)) return rc;
  nm::ThreadPool pool(n_threads);
  const int n_vocab = l.model->hparams().n_vocab;
  if (n_prefill > 0) {
    if (!l.ctx->eval_tokens({tokens, (size_t)n_prefill}, pool, true).ok()) return 3;
    std::memcpy(out, l.ctx->logits(), (size_t)n_prefill * n_vocab * sizeof(float));
  }
  for (int i = n_prefill; i < n; ++i) {
    if (!l.ctx->eval_tokens({tokens + i, 1}, pool).ok()) return 4;
    std::memcpy(out + (size_t)i * n_vocab, l.ctx->logits(), (size_t)n_vocab * sizeof(float));
  }
  return 0;
}

// Logits of one prefill of tokens[0..n), with (pack = 1) or without packed CPU weight
// copies; *packed_bytes receives how many weight bytes ran packed.
NM_SHIM int nm_shim_text_logits_layout(const char* path, const int32_t* tokens, int n, int pack, int n_threads,
                                       float* out, int64_t* packed_bytes) {
  Loaded l;
  if (int rc = load(path, 0, 2, -1, l, pack != 0)) return rc;
  nm::ThreadPool pool(n_threads);
  if (!l.ctx->eval_tokens({tokens, (size_t)n}, pool, true).ok()) return 3;
  std::memcpy(out, l.ctx->logits(), (size_t)n * l.model->hparams().n_vocab * sizeof(float));
  *packed_bytes = (int64_t)l.ctx->packed_bytes();
  return 0;
}

// Two contexts of one model sharing one PackedWeights (as the C API's sessions do): both
// evaluate tokens; *shared_bytes receives what the shared object packed and *one_bytes
// what a lone context packs for the same model.
NM_SHIM int nm_shim_text_shared_packing(const char* path, const int32_t* tokens, int n, int64_t* shared_bytes,
                                        int64_t* one_bytes) {
  auto m = nm::TextModel::load(path);
  if (!m.ok()) return 1;
  nm::ThreadPool pool(2);
  nm::TextContextParams p;
  p.n_ctx = 64;
  p.run.packed = nm::PackedWeights::for_file(m.value()->file());
  for (int i = 0; i < 2; ++i) {
    auto c = nm::TextContext::create(*m.value(), p);
    if (!c.ok() || !c.value()->eval_tokens({tokens, (size_t)n}, pool).ok()) return 2;
  }
  *shared_bytes = (int64_t)p.run.packed->packed_bytes();
  nm::TextContextParams lone;
  lone.n_ctx = 64;
  auto c = nm::TextContext::create(*m.value(), lone);
  if (!c.ok() || !c.value()->eval_tokens({tokens, (size_t)n}, pool).ok()) return 3;
  *one_bytes = (int64_t)c.value()->packed_bytes();
  return 0;
}

// Greedy continuation: n_gen tokens after the prompt, written to out.
NM_SHIM int nm_shim_text_greedy(const char* path, const int32_t* prompt, int n_prompt, int n_gen, int n_threads,
                                int kv, int32_t* out) {
  Loaded l;
  if (int rc = load(path, 0, kv, -1, l)) return rc;
  nm::ThreadPool pool(n_threads);
  const int n_vocab = l.model->hparams().n_vocab;
  if (!l.ctx->eval_tokens({prompt, (size_t)n_prompt}, pool).ok()) return 3;
  for (int i = 0; i < n_gen; ++i) {
    const float* lg = l.ctx->logits();
    int32_t best = 0;
    for (int v = 1; v < n_vocab; ++v)
      if (lg[v] > lg[best]) best = v;
    out[i] = best;
    if (!l.ctx->eval_tokens({&out[i], 1}, pool).ok()) return 4;
  }
  return 0;
}

// Continuous batching: n_seq sequences (tokens concatenated, lens[s] each), each prefilled
// with all but its last n_steps tokens in its own context; then n_steps decode steps that
// evaluate every sequence's next token in one batched pass (out_batch), and the same steps
// in a second set of contexts one sequence at a time (out_single). Each out holds
// n_steps x n_seq x n_vocab floats, step-major.
NM_SHIM int nm_shim_text_batch_decode(const char* path, const int32_t* tokens, const int32_t* lens, int n_seq,
                                      int n_steps, int n_threads, int kv, float* out_batch, float* out_single) {
  auto m = nm::TextModel::load(path);
  if (!m.ok()) return 1;
  const nm::TextModel& model = *m.value();
  const int n_vocab = model.hparams().n_vocab;
  nm::ThreadPool pool(n_threads);
  nm::TextContextParams p;
  p.n_ctx = 512;
  p.kv_type = kv_dtype(kv);
  p.run.packed = nm::PackedWeights::for_file(model.file());
  std::vector<std::unique_ptr<nm::TextContext>> batched, single;
  std::vector<const int32_t*> seq;
  for (int s = 0, at = 0; s < n_seq; at += lens[s], ++s) {
    if (lens[s] <= n_steps) return 2;
    seq.push_back(tokens + at);
    for (auto* set : {&batched, &single}) {
      auto c = nm::TextContext::create(model, p);
      if (!c.ok() || !c.value()->eval_tokens({tokens + at, (size_t)(lens[s] - n_steps)}, pool).ok()) return 3;
      set->push_back(std::move(c).value());
    }
  }
  std::vector<nm::TextContext*> ctxs;
  for (auto& c : batched) ctxs.push_back(c.get());
  if (!nm::TextContext::can_batch(ctxs)) return 4;
  for (int i = 0; i < n_steps; ++i) {
    std::vector<int32_t> next;
    for (int s = 0; s < n_seq; ++s) next.push_back(seq[(size_t)s][lens[s] - n_steps + i]);
    if (!nm::TextContext::eval_batch(ctxs, next, pool).ok()) return 5;
    for (int s = 0; s < n_seq; ++s) {
      float* row = out_batch + ((size_t)i * n_seq + s) * n_vocab;
      std::memcpy(row, batched[(size_t)s]->logits(), (size_t)n_vocab * sizeof(float));
      if (!single[(size_t)s]->eval_tokens({&next[(size_t)s], 1}, pool).ok()) return 6;
      std::memcpy(out_single + ((size_t)i * n_seq + s) * n_vocab, single[(size_t)s]->logits(),
                  (size_t)n_vocab * sizeof(float));
    }
  }
  return 0;
}
