#include "bricks/text/text_graph.h"

#include <cmath>
#include <limits>
#include <string>

namespace nm {
namespace {

// The first n rows (tokens) of a cache layer, as [head_dim, n_head_kv, n] with the cache's strides.
Tensor cache_rows(Tensor layer, int n, const std::shared_ptr<const void>& owner) {
  layer.ne[2] = n;
  if (owner) layer.owner = owner;
  return layer;
}

// What every layer computes before attention: the normalised input's Q, K, V for T
// tokens, rotated to their positions: q [hd, n_head, T], k and v [hd, n_head_kv, T].
struct LayerQkv {
  NodeId q, k, v;
};

LayerQkv layer_qkv(Graph& g, const TextModel& model, int il, NodeId x, NodeId pos, NodeId freqs, int64_t T) {
  const TextHparams& hp = model.hparams();
  const TextLayerWeights& L = model.weights().layers[(size_t)il];
  const std::string p = "blk." + std::to_string(il) + ".";
  const int64_t hd = hp.head_dim;
  NodeId h = g.rms_norm(x, hp.rms_eps, g.weight(L.attn_norm, p + "attn_norm"));
  NodeId q = g.matmul(g.weight(L.wq, p + "attn_q"), h);
  NodeId k = g.matmul(g.weight(L.wk, p + "attn_k"), h);
  NodeId v = g.matmul(g.weight(L.wv, p + "attn_v"), h);
  if (hp.has_qkv_bias) {
    q = g.add(q, g.weight(L.bq, p + "attn_q.bias"));
    k = g.add(k, g.weight(L.bk, p + "attn_k.bias"));
    v = g.add(v, g.weight(L.bv, p + "attn_v.bias"));
  }
  q = g.reshape(q, {hd, hp.n_head, T, 1});
  k = g.reshape(k, {hd, hp.n_head_kv, T, 1});
  if (hp.has_qk_norm) {  // one RMSNorm per head, before the rotation
    q = g.rms_norm(q, hp.rms_eps, g.weight(L.q_norm, p + "attn_q_norm"));
    k = g.rms_norm(k, hp.rms_eps, g.weight(L.k_norm, p + "attn_k_norm"));
  }
  const RopeParams rope = hp.is_swa_layer(il)
                              ? RopeParams{hp.n_rot, hp.rope_mode, hp.rope_freq_base_swa, hp.rope_freq_scale_swa}
                              : RopeParams{hp.n_rot, hp.rope_mode, hp.rope_freq_base, hp.rope_freq_scale};
  q = g.rope(q, pos, rope, freqs);
  k = g.rope(k, pos, rope, freqs);
  v = g.reshape(v, {hd, hp.n_head_kv, T, 1});
  return {q, k, v};
}

// What every layer computes after attention (a: [n_head * hd, T]): the output projection
// and the feed-forward block, each with its residual.
NodeId layer_rest(Graph& g, const TextModel& model, int il, NodeId x, NodeId a) {
  const TextHparams& hp = model.hparams();
  const TextLayerWeights& L = model.weights().layers[(size_t)il];
  const std::string p = "blk." + std::to_string(il) + ".";
  NodeId o = g.matmul(g.weight(L.wo, p + "attn_output"), a);
  if (hp.has_post_norms) o = g.rms_norm(o, hp.rms_eps, g.weight(L.post_attn_norm, p + "post_attention_norm"));
  x = g.add(x, o);
  NodeId h = g.rms_norm(x, hp.rms_eps, g.weight(L.ffn_norm, p + "ffn_norm"));
  NodeId gate = g.matmul(g.weight(L.w_gate, p + "ffn_gate"), h);
  NodeId up = g.matmul(g.weight(L.w_up, p + "ffn_up"), h);
  NodeId f = g.matmul(g.weight(L.w_down, p + "ffn_down"), hp.ffn_gelu ? g.mul(g.gelu(gate), up) : g.swiglu(gate, up));
  if (hp.has_post_norms) f = g.rms_norm(f, hp.rms_eps, g.weight(L.post_ffn_norm, p + "post_ffw_norm"));
  return g.add(x, f);
}

NodeId output_logits(Graph& g, const TextModel& model, NodeId x) {
  const TextHparams& hp = model.hparams();
  x = g.rms_norm(x, hp.rms_eps, g.weight(model.weights().output_norm, "output_norm"));
  return g.output(g.matmul(g.weight(model.weights().output, "output"), x), "logits");
}

NodeId rope_freqs(Graph& g, const TextModel& model) {
  return model.hparams().has_rope_freqs ? g.weight(model.weights().rope_freqs, "rope_freqs") : kInvalidNode;
}

float kq_scale(const TextHparams& hp) {
  return hp.attn_scale > 0.0f ? hp.attn_scale : 1.0f / std::sqrt((float)hp.head_dim);
}

}  // namespace

Result<std::unique_ptr<TextGraph>> build_text_graph(const TextModel& model, const KvCache& cache, int n_tokens,
                                                    int n_kv, bool all_logits, std::shared_ptr<const void> cache_owner) {
  const TextHparams& hp = model.hparams();
  if (n_tokens <= 0 || n_kv < n_tokens || n_kv > cache.shape().n_ctx) {
    return error(ErrorCode::internal, "text graph: bad shape n_tokens " + std::to_string(n_tokens) + ", n_kv " +
                                          std::to_string(n_kv));
  }
  auto out = std::make_unique<TextGraph>();
  TextGraph& tg = *out;
  tg.n_tokens = n_tokens;
  tg.n_kv = n_kv;
  tg.all_logits = all_logits;
  Graph& g = tg.graph;
  const int64_t T = n_tokens;
  const int64_t n_q = (int64_t)hp.n_head * hp.head_dim;

  tg.in = g.input(DType::F32, {hp.n_embd, T, 1, 1}, "x");
  tg.pos = g.input(DType::I32, {T, 1, 1, 1}, "pos");
  tg.mask = g.input(DType::F32, {n_kv, T, 1, 1}, "mask");
  if (hp.n_swa > 0) tg.mask_swa = g.input(DType::F32, {n_kv, T, 1, 1}, "mask_swa");
  const NodeId freqs = rope_freqs(g, model);

  NodeId x = tg.in;
  for (int il = 0; il < hp.n_layer; ++il) {
    const std::string p = "blk." + std::to_string(il) + ".";
    const LayerQkv qkv = layer_qkv(g, model, il, x, tg.pos, freqs, T);
    // Write this step's K and V into the cache (slots re-pointed per step), then attend
    // over the first n_kv cache rows.
    const NodeId k_slot = g.weight(cache_rows(cache.k(il), n_tokens, cache_owner), p + "k_slot");
    const NodeId v_slot = g.weight(cache_rows(cache.v(il), n_tokens, cache_owner), p + "v_slot");
    tg.k_slot.push_back(k_slot);
    tg.v_slot.push_back(v_slot);
    // The writes come before the attention in node order, which is execution order.
    g.cpy(qkv.k, k_slot);
    g.cpy(qkv.v, v_slot);
    const NodeId k_all = g.permute(g.weight(cache_rows(cache.k(il), n_kv, cache_owner), p + "k_cache"), {0, 2, 1, 3});
    const NodeId v_all = g.permute(g.weight(cache_rows(cache.v(il), n_kv, cache_owner), p + "v_cache"), {0, 2, 1, 3});
    NodeId a = g.attention(g.permute(qkv.q, {0, 2, 1, 3}), k_all, v_all, kq_scale(hp),
                           hp.is_swa_layer(il) ? tg.mask_swa : tg.mask);
    x = layer_rest(g, model, il, x, g.reshape(a, {n_q, T, 1, 1}));
  }
  if (!all_logits && T > 1) {
    const Tensor& xt = g.node(x).t;
    x = g.view(x, {hp.n_embd, 1, 1, 1}, xt.nb, (size_t)(T - 1) * xt.nb[1]);
  }
  tg.out = output_logits(g, model, x);
  if (!g.status().ok()) return g.status();
  return out;
}

Result<TextBatchGraph> build_text_batch_graph(const TextModel& model, const KvCache& cache, int n_seq, int n_kv) {
  const TextHparams& hp = model.hparams();
  if (n_seq <= 0 || n_kv <= 0 || n_kv > cache.shape().n_ctx) {
    return error(ErrorCode::internal, "text batch graph: bad shape n_seq " + std::to_string(n_seq) + ", n_kv " +
                                          std::to_string(n_kv));
  }
  TextBatchGraph tg;
  tg.n_seq = n_seq;
  tg.n_kv = n_kv;
  Graph& g = tg.graph;
  const int64_t S = n_seq, hd = hp.head_dim;
  const int64_t n_q = (int64_t)hp.n_head * hd;
  tg.x = g.input(DType::F32, {hp.n_embd, S, 1, 1}, "x");
  tg.pos = g.input(DType::I32, {S, 1, 1, 1}, "pos");
  for (int s = 0; s < n_seq; ++s) {
    tg.mask.push_back(g.input(DType::F32, {n_kv, 1, 1, 1}, "mask" + std::to_string(s)));
    if (hp.n_swa > 0) tg.mask_swa.push_back(g.input(DType::F32, {n_kv, 1, 1, 1}, "mask_swa" + std::to_string(s)));
  }
  const NodeId freqs = rope_freqs(g, model);
  for (auto* v : {&tg.k_slot, &tg.v_slot, &tg.k_cache, &tg.v_cache}) v->resize((size_t)hp.n_layer);

  NodeId x = tg.x;
  for (int il = 0; il < hp.n_layer; ++il) {
    const std::string p = "blk." + std::to_string(il) + ".";
    const LayerQkv qkv = layer_qkv(g, model, il, x, tg.pos, freqs, S);
    NodeId a = kInvalidNode;  // [n_q, s]: the attention outputs of the sequences so far
    for (int s = 0; s < n_seq; ++s) {
      const std::string ps = p + "s" + std::to_string(s) + ".";
      // Sequence s's column of Q, K or V: a [hd, heads, 1] view at token s.
      auto column = [&](NodeId t, int64_t heads) {
        const Tensor& tt = g.node(t).t;
        return g.view(t, {hd, heads, 1, 1}, tt.nb, (size_t)s * tt.nb[2]);
      };
      const NodeId k_slot = g.weight(cache_rows(cache.k(il), 1, nullptr), ps + "k_slot");
      const NodeId v_slot = g.weight(cache_rows(cache.v(il), 1, nullptr), ps + "v_slot");
      g.cpy(column(qkv.k, hp.n_head_kv), k_slot);
      g.cpy(column(qkv.v, hp.n_head_kv), v_slot);
      const NodeId k_rows = g.weight(cache_rows(cache.k(il), n_kv, nullptr), ps + "k_cache");
      const NodeId v_rows = g.weight(cache_rows(cache.v(il), n_kv, nullptr), ps + "v_cache");
      tg.k_slot[(size_t)il].push_back(k_slot);
      tg.v_slot[(size_t)il].push_back(v_slot);
      tg.k_cache[(size_t)il].push_back(k_rows);
      tg.v_cache[(size_t)il].push_back(v_rows);
      const NodeId q = g.permute(column(qkv.q, hp.n_head), {0, 2, 1, 3});
      const NodeId mask = hp.is_swa_layer(il) ? tg.mask_swa[(size_t)s] : tg.mask[(size_t)s];
      NodeId as = g.attention(q, g.permute(k_rows, {0, 2, 1, 3}), g.permute(v_rows, {0, 2, 1, 3}), kq_scale(hp), mask);
      as = g.reshape(as, {n_q, 1, 1, 1});
      a = s == 0 ? as : g.concat(a, as, 1);
    }
    x = layer_rest(g, model, il, x, a);
  }
  tg.logits = output_logits(g, model, x);
  if (!g.status().ok()) return g.status();
  return tg;
}

void fill_attention_masks(const TextHparams& hp, int n_past, int n_tokens, int n_kv, float* mask, float* mask_swa) {
  const float hidden = -std::numeric_limits<float>::infinity();
  for (int i = 0; i < n_tokens; ++i) {
    const int p = n_past + i;  // this token's position; key j is visible when j <= p
    for (int j = 0; j < n_kv; ++j) {
      mask[(size_t)i * n_kv + j] = j <= p ? 0.0f : hidden;
      // sliding window (llama.cpp's standard SWA): also hidden when p - j >= n_swa
      if (mask_swa) mask_swa[(size_t)i * n_kv + j] = j <= p && p - j < hp.n_swa ? 0.0f : hidden;
    }
  }
}

}  // namespace nm
