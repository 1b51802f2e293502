#include "bricks/whisper/whisper_graph.h"

#include <cmath>
#include <string>

#include "kernels/matmul_packed.h"  // kPackRows

namespace nm {
namespace {

NodeId linear(Graph& g, const Tensor& w, const Tensor& b, NodeId x, const std::string& name) {
  NodeId y = g.matmul(g.weight(w, name), x);
  return b.data ? g.add(y, g.weight(b, name + ".bias")) : y;
}

NodeId norm(Graph& g, NodeId x, const Tensor& w, const Tensor& b) {
  return g.layer_norm(x, 1e-5f, g.weight(w), g.weight(b));
}

// A contiguous [E, n] activation as attention wants it: [head_dim, n, n_head] (a view).
NodeId heads(Graph& g, NodeId x, int64_t hd, int64_t n_head, int64_t n) {
  return g.permute(g.reshape(x, {hd, n_head, n, 1}), {0, 2, 1, 3});
}

NodeId mlp(Graph& g, NodeId x, const WhisperBlock& L, const std::string& p) {
  NodeId h = norm(g, x, L.mlp_ln_w, L.mlp_ln_b);
  h = g.gelu_erf(linear(g, L.mlp0_w, L.mlp0_b, h, p + "mlp.0"));
  return g.add(x, linear(g, L.mlp2_w, L.mlp2_b, h, p + "mlp.2"));
}

// 1-D convolution (kernel 3, padding 1) as a 2-D im2col of height 1 and a matmul with the
// kernel's [3 * c_in, c_out] rows: input [len, c_in] (time innermost) -> [c_out, len / stride].
NodeId conv(Graph& g, const Tensor& kernel, const Tensor& bias, NodeId x, int stride, const std::string& name) {
  const Tensor xt = g.node(x).t;  // a copy: adding nodes reallocates the graph's nodes
  const int64_t len = xt.ne[0], c_in = xt.ne[1], c_out = kernel.ne[2];
  const NodeId k = g.weight(kernel, name);
  ConvParams p;
  p.s0 = stride;
  p.p0 = 1;
  const NodeId cols = g.im2col(g.reshape(k, {3, 1, c_in, c_out}), g.reshape(x, {len, 1, c_in, 1}), p);
  const int64_t out_len = g.node(cols).t.ne[1];
  NodeId y = g.matmul(g.reshape(k, {3 * c_in, c_out, 1, 1}), g.reshape(cols, {3 * c_in, out_len, 1, 1}));
  return g.gelu_erf(g.add(y, g.weight(bias, name + ".bias")));
}

// Cross-attention of n queries [E, n] over a window's K [hd, Ta, H] and transposed V
// [Ta, hd, H] (the layouts build_whisper_cross_graph writes): per head, the scores are one
// matrix product with K's rows, the output one with V's. Decoding has a handful of
// queries: the attention kernel would convert and transpose every K/V row of the window
// into its tiles at each step, where here the products read the buffers in place.
NodeId cross_attention(Graph& g, NodeId q, NodeId k, NodeId v, float scale) {
  // Copies, not references into the graph: adding the views below reallocates its nodes.
  const Tensor qt = g.node(q).t, kt = g.node(k).t;
  const int64_t hd = kt.ne[0], Ta = kt.ne[1], H = kt.ne[2], n = qt.ne[1];
  const size_t q_row = qt.nb[1], elt = row_size(kt.type, 1);
  NodeId out = kInvalidNode;
  for (int64_t h = 0; h < H; ++h) {
    const NodeId qh = g.view(q, {hd, n, 1, 1}, {4, q_row, q_row * (size_t)n, q_row * (size_t)n}, (size_t)h * hd * 4);
    const NodeId kh = g.view(k, {hd, Ta, 1, 1}, {elt, hd * elt, Ta * hd * elt, Ta * hd * elt}, (size_t)h * Ta * hd * elt);
    const NodeId vh = g.view(v, {Ta, hd, 1, 1}, {elt, Ta * elt, Ta * hd * elt, Ta * hd * elt}, (size_t)h * Ta * hd * elt);
    const NodeId p = g.softmax(g.matmul(kh, qh), scale);                  // [Ta, n]
    const NodeId oh = g.reshape(g.matmul(vh, p), {hd, 1, n, 1});          // [hd, 1, n]
    out = out == kInvalidNode ? oh : g.concat(out, oh, 1);                // [hd, h + 1, n]
  }
  return g.reshape(out, {hd * H, n, 1, 1});
}

// The logits: the token embedding as the output projection, the largest matrix of a decode
// step (51865 rows in Whisper base, more bytes than the decoder's blocks together). Its rows
// are split after the last whole group of kPackRows, so that on a CPU the first part runs
// from a packed copy (only whole groups pack) and the few rows after it as stored.
NodeId logits(Graph& g, const Tensor& emb, NodeId x) {
  const int64_t rows = emb.ne[1], head = rows / kPackRows * kPackRows;
  if (head == rows || head == 0) return g.matmul(g.weight(emb, "decoder.token_embedding"), x);
  char* data = static_cast<char*>(emb.data);
  const NodeId a = g.weight(Tensor::make(emb.type, {emb.ne[0], head, 1, 1}, data), "decoder.token_embedding");
  const NodeId b = g.weight(Tensor::make(emb.type, {emb.ne[0], rows - head, 1, 1}, data + head * emb.nb[1]),
                            "decoder.token_embedding.tail");
  return g.concat(g.matmul(a, x), g.matmul(b, x), 0);
}

}  // namespace

Result<WhisperEncoderGraph> build_whisper_encoder_graph(const WhisperModel& model, int n_ctx) {
  const WhisperHparams& hp = model.hparams();
  const WhisperWeights& w = model.weights();
  if (n_ctx < 0 || n_ctx > hp.n_audio_ctx) {
    return error(ErrorCode::invalid_argument, "Whisper encoder context " + std::to_string(n_ctx) + " (1 to " +
                                                  std::to_string(hp.n_audio_ctx) + ", or 0 for all)");
  }
  const int64_t E = hp.n_audio_state, H = hp.n_audio_head, hd = E / H, T = n_ctx > 0 ? n_ctx : hp.n_audio_ctx;
  WhisperEncoderGraph eg;
  Graph& g = eg.graph;
  eg.in = g.input(DType::F32, {2 * T, hp.n_mels, 1, 1}, "mel");
  NodeId x = conv(g, w.conv1_w, w.conv1_b, eg.in, 1, "encoder.conv1");               // [E, 3000]
  x = g.cont(g.transpose(x));                                                          // [3000, E]
  x = conv(g, w.conv2_w, w.conv2_b, x, 2, "encoder.conv2");                            // [E, 1500]
  NodeId pos = g.weight(w.enc_pos, "encoder.positional_embedding");                   // [E, 1500]
  if (T < hp.n_audio_ctx) {  // the first T positions
    const size_t row = g.node(pos).t.nb[1];
    pos = g.view(pos, {E, T, 1, 1}, {g.node(pos).t.nb[0], row, row * (size_t)T, row * (size_t)T}, 0);
  }
  x = g.add(x, pos);
  const float scale = 1.0f / std::sqrt((float)hd);  // Whisper scales q and k by hd^-1/4 each
  for (int il = 0; il < hp.n_audio_layer; ++il) {
    const WhisperBlock& L = w.enc[(size_t)il];
    const std::string p = "encoder.blocks." + std::to_string(il) + ".";
    const NodeId h = norm(g, x, L.attn_ln_w, L.attn_ln_b);
    const NodeId q = linear(g, L.attn.q_w, L.attn.q_b, h, p + "attn.query");
    const NodeId k = linear(g, L.attn.k_w, L.attn.k_b, h, p + "attn.key");
    const NodeId v = linear(g, L.attn.v_w, L.attn.v_b, h, p + "attn.value");
    NodeId a = g.attention(heads(g, q, hd, H, T), heads(g, k, hd, H, T), heads(g, v, hd, H, T), scale);
    a = g.reshape(a, {E, T, 1, 1});
    x = g.add(x, linear(g, L.attn.o_w, L.attn.o_b, a, p + "attn.out"));
    x = mlp(g, x, L, p);
  }
  x = norm(g, x, w.enc_ln_w, w.enc_ln_b);
  eg.out = g.output(x, "encoder_states");
  if (!g.status().ok()) return g.status();
  return eg;
}

Result<WhisperCrossGraph> build_whisper_cross_graph(const WhisperModel& model, const WhisperKvLayout& kv) {
  const WhisperHparams& hp = model.hparams();
  const WhisperWeights& w = model.weights();
  if (hp.n_audio_state != hp.n_text_state) {
    return error(ErrorCode::unsupported, "Whisper with different encoder and decoder widths");
  }
  if (kv.n_audio_ctx < 1 || kv.n_audio_ctx > hp.n_audio_ctx) {
    return error(ErrorCode::invalid_argument, "Whisper cross K/V of " + std::to_string(kv.n_audio_ctx) + " states");
  }
  WhisperCrossGraph cg;
  Graph& g = cg.graph;
  const int64_t E = hp.n_text_state, T = kv.n_audio_ctx;
  cg.in = g.input(DType::F32, {E, T, 1, 1}, "encoder_states");
  // Placeholder memory for the destination leaves; rebind() points them at the buffers.
  static constexpr uint8_t kNone[1] = {0};
  for (int il = 0; il < hp.n_text_layer; ++il) {
    const WhisperBlock& L = w.dec[(size_t)il];
    const std::string p = "decoder.blocks." + std::to_string(il) + ".cross_attn.";
    const int64_t hd = E / hp.n_text_head, H = hp.n_text_head;
    uint8_t* none = const_cast<uint8_t*>(kNone);
    const NodeId kd = g.weight(Tensor::make(kv.cross_type, {hd, T, H, 1}, none), p + "k_buffer");
    const NodeId vd = g.weight(Tensor::make(kv.cross_type, {T, hd, H, 1}, none), p + "v_buffer");
    cg.k_dst.push_back(kd);
    cg.v_dst.push_back(vd);
    // [E, T] = [hd, H, T] -> K per head [hd, T, H], V per head transposed [T, hd, H]
    const NodeId k = g.reshape(linear(g, L.cross.k_w, L.cross.k_b, cg.in, p + "key"), {hd, H, T, 1});
    const NodeId v = g.reshape(linear(g, L.cross.v_w, L.cross.v_b, cg.in, p + "value"), {hd, H, T, 1});
    g.cpy(g.permute(k, {0, 2, 1, 3}), kd);
    g.cpy(g.permute(v, {1, 2, 0, 3}), vd);
  }
  if (!g.status().ok()) return g.status();
  return cg;
}

Result<WhisperDecoderGraph> build_whisper_decoder_graph(const WhisperModel& model, const WhisperKvLayout& kv,
                                                        int n_tokens, int n_beams, int n_kv, bool all_logits) {
  const WhisperHparams& hp = model.hparams();
  const WhisperWeights& w = model.weights();
  if (n_tokens < 1 || n_beams < 1 || n_beams > kv.n_beams || n_kv < n_tokens || n_kv > kv.n_ctx ||
      (n_beams > 1 && (all_logits || n_tokens > 1)) || kv.n_audio_ctx < 1 || kv.n_audio_ctx > hp.n_audio_ctx) {
    return error(ErrorCode::internal, "whisper decoder graph: bad shape " + std::to_string(n_tokens) + " tokens x " +
                                          std::to_string(n_beams) + " beams, n_kv " + std::to_string(n_kv));
  }
  const int64_t E = hp.n_text_state, H = hp.n_text_head, hd = E / H, T = n_tokens, B = n_beams;
  const int64_t Ta = kv.n_audio_ctx;
  WhisperDecoderGraph dg;
  dg.n_tokens = n_tokens;
  dg.n_beams = n_beams;
  dg.n_kv = n_kv;
  Graph& g = dg.graph;
  dg.in = g.input(DType::I32, {T * B, 1, 1, 1}, "tokens");
  dg.pos = g.input(DType::I32, {T * B, 1, 1, 1}, "positions");
  dg.mask = g.input(DType::F32, {n_kv, T, 1, 1}, "mask");
  NodeId x = g.add(g.get_rows(g.weight(w.tok_emb, "decoder.token_embedding"), dg.in),
                   g.get_rows(g.weight(w.dec_pos, "decoder.positional_embedding"), dg.pos));  // [E, T*B]
  const float scale = 1.0f / std::sqrt((float)hd);
  static constexpr uint8_t kNone[1] = {0};
  void* none = const_cast<uint8_t*>(kNone);
  const size_t elt = kv.elt(), row = (size_t)E * elt;

  for (int il = 0; il < hp.n_text_layer; ++il) {
    const WhisperBlock& L = w.dec[(size_t)il];
    const std::string p = "decoder.blocks." + std::to_string(il) + ".";
    // Self-attention: this step's K/V rows of every beam go to rows n_past.. of each
    // beam's cache ([hd, H, T, B] with the cache's beam stride), then each beam attends
    // over its own first n_kv rows.
    NodeId h = norm(g, x, L.attn_ln_w, L.attn_ln_b);
    const NodeId q = linear(g, L.attn.q_w, L.attn.q_b, h, p + "attn.query");
    const NodeId k = linear(g, L.attn.k_w, L.attn.k_b, h, p + "attn.key");
    const NodeId v = linear(g, L.attn.v_w, L.attn.v_b, h, p + "attn.value");
    Tensor slot = Tensor::make(kv.type, {hd, H, T, B}, none);
    slot.nb[3] = kv.self_beam_bytes();
    const Tensor cache = Tensor::make(kv.type, {hd, H, kv.n_ctx, B}, none);  // the whole layer
    const NodeId ks = g.weight(slot, p + "k_slot"), vs = g.weight(slot, p + "v_slot");
    const NodeId kc = g.weight(cache, p + "k_cache"), vc = g.weight(cache, p + "v_cache");
    dg.k_slot.push_back(ks);
    dg.v_slot.push_back(vs);
    dg.k_cache.push_back(kc);
    dg.v_cache.push_back(vc);
    g.cpy(g.reshape(k, {hd, H, T, B}), ks);  // before the attention in node (= execution) order
    g.cpy(g.reshape(v, {hd, H, T, B}), vs);
    NodeId a = kInvalidNode;
    for (int64_t b = 0; b < B; ++b) {
      const Tensor qt = g.node(q).t;
      const NodeId qb = heads(g, g.view(q, {E, T, 1, 1}, qt.nb, (size_t)(b * T) * qt.nb[1]), hd, H, T);
      auto beam = [&](NodeId c) {
        const size_t plane = row * (size_t)n_kv;
        return g.permute(g.view(c, {hd, H, n_kv, 1}, {elt, hd * elt, row, plane}, (size_t)b * kv.self_beam_bytes()),
                         {0, 2, 1, 3});
      };
      const NodeId ab = g.attention(qb, beam(kc), beam(vc), scale, dg.mask);  // [hd, H, T]
      a = a == kInvalidNode ? ab : g.concat(a, ab, 2);
    }
    a = g.reshape(a, {E, T * B, 1, 1});
    x = g.add(x, linear(g, L.attn.o_w, L.attn.o_b, a, p + "attn.out"));

    // Cross-attention: every beam's queries attend over the same window.
    h = norm(g, x, L.cross_ln_w, L.cross_ln_b);
    const NodeId cq = linear(g, L.cross.q_w, L.cross.q_b, h, p + "cross_attn.query");
    const NodeId ck = g.weight(Tensor::make(kv.cross_type, {hd, Ta, H, 1}, none), p + "k_cross");
    const NodeId cv = g.weight(Tensor::make(kv.cross_type, {Ta, hd, H, 1}, none), p + "v_cross");
    dg.k_cross.push_back(ck);
    dg.v_cross.push_back(cv);
    a = cross_attention(g, cq, ck, cv, scale);
    x = g.add(x, linear(g, L.cross.o_w, L.cross.o_b, a, p + "cross_attn.out"));
    x = mlp(g, x, L, p);
  }
  if (!all_logits && T > 1) {  // one beam: its last token only
    const Tensor xt = g.node(x).t;
    x = g.view(x, {E, 1, 1, 1}, xt.nb, (size_t)(T - 1) * xt.nb[1]);
  }
  x = norm(g, x, w.dec_ln_w, w.dec_ln_b);
  dg.out = g.output(logits(g, w.tok_emb, x), "logits");
  if (!g.status().ok()) return g.status();
  return dg;
}

}  // namespace nm
