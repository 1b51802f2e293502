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

}  // namespace

Result<std::unique_ptr<TextGraph>> build_text_graph(const TextModel& model, const KvCache& cache, int n_tokens,
                                                    int n_kv, bool all_logits, std::shared_ptr<const void> cache_owner) {
  const TextHparams& hp = model.hparams();
  const TextWeights& w = model.weights();
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
  const int64_t T = n_tokens, hd = hp.head_dim;
  const int64_t n_q = (int64_t)hp.n_head * hd;

  tg.in = g.input(DType::F32, {hp.n_embd, T, 1, 1}, "x");
  tg.pos = g.input(DType::I32, {T, 1, 1, 1}, "pos");
  tg.mask = g.input(DType::F32, {n_kv, T, 1, 1}, "mask");
  if (hp.n_swa > 0) tg.mask_swa = g.input(DType::F32, {n_kv, T, 1, 1}, "mask_swa");
  const NodeId freqs = hp.has_rope_freqs ? g.weight(w.rope_freqs, "rope_freqs") : kInvalidNode;
  const RopeParams rope_global{hp.n_rot, hp.rope_mode, hp.rope_freq_base, hp.rope_freq_scale};
  const RopeParams rope_swa{hp.n_rot, hp.rope_mode, hp.rope_freq_base_swa, hp.rope_freq_scale_swa};
  const float kq_scale = hp.attn_scale > 0.0f ? hp.attn_scale : 1.0f / std::sqrt((float)hd);

  NodeId x = tg.in;
  for (int il = 0; il < hp.n_layer; ++il) {
    const TextLayerWeights& L = w.layers[(size_t)il];
    const std::string p = "blk." + std::to_string(il) + ".";
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
    const bool swa = hp.is_swa_layer(il);
    const RopeParams& rope = swa ? rope_swa : rope_global;
    q = g.rope(q, tg.pos, rope, freqs);
    k = g.rope(k, tg.pos, rope, freqs);
    v = g.reshape(v, {hd, hp.n_head_kv, T, 1});

    // Write this step's K and V into the cache (slots re-pointed per step), then attend
    // over the first n_kv cache rows.
    const NodeId k_slot = g.weight(cache_rows(cache.k(il), n_tokens, cache_owner), p + "k_slot");
    const NodeId v_slot = g.weight(cache_rows(cache.v(il), n_tokens, cache_owner), p + "v_slot");
    tg.k_slot.push_back(k_slot);
    tg.v_slot.push_back(v_slot);
    // The writes come before the attention in node order, which is execution order.
    g.cpy(k, k_slot);
    g.cpy(v, v_slot);
    const NodeId k_all = g.permute(g.weight(cache_rows(cache.k(il), n_kv, cache_owner), p + "k_cache"), {0, 2, 1, 3});
    const NodeId v_all = g.permute(g.weight(cache_rows(cache.v(il), n_kv, cache_owner), p + "v_cache"), {0, 2, 1, 3});
    NodeId a = g.attention(g.permute(q, {0, 2, 1, 3}), k_all, v_all, kq_scale, swa ? tg.mask_swa : tg.mask);
    a = g.reshape(a, {n_q, T, 1, 1});
    NodeId o = g.matmul(g.weight(L.wo, p + "attn_output"), a);
    if (hp.has_post_norms) o = g.rms_norm(o, hp.rms_eps, g.weight(L.post_attn_norm, p + "post_attention_norm"));
    x = g.add(x, o);

    h = g.rms_norm(x, hp.rms_eps, g.weight(L.ffn_norm, p + "ffn_norm"));
    NodeId gate = g.matmul(g.weight(L.w_gate, p + "ffn_gate"), h);
    NodeId up = g.matmul(g.weight(L.w_up, p + "ffn_up"), h);
    NodeId f = g.matmul(g.weight(L.w_down, p + "ffn_down"), hp.ffn_gelu ? g.mul(g.gelu(gate), up) : g.swiglu(gate, up));
    if (hp.has_post_norms) f = g.rms_norm(f, hp.rms_eps, g.weight(L.post_ffn_norm, p + "post_ffw_norm"));
    x = g.add(x, f);
  }
  if (!all_logits && T > 1) {
    const Tensor& xt = g.node(x).t;
    x = g.view(x, {hp.n_embd, 1, 1, 1}, xt.nb, (size_t)(T - 1) * xt.nb[1]);
  }
  x = g.rms_norm(x, hp.rms_eps, g.weight(w.output_norm, "output_norm"));
  tg.out = g.output(g.matmul(g.weight(w.output, "output"), x), "logits");
  if (!g.status().ok()) return g.status();
  return out;
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
