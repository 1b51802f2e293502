#include "bricks/vision/vision_graph.h"

#include <cmath>
#include <string>
#include <vector>

namespace nm {

Result<std::unique_ptr<VisionGraph>> build_vision_graph(const MmprojModel& model, int width, int height) {
  const VisionHparams& hp = model.hparams();
  const VisionWeights& w = model.weights();
  const int P = hp.patch_size;
  if (width < P || height < P) {
    return error(ErrorCode::invalid_argument, "vision input " + std::to_string(width) + "x" + std::to_string(height) +
                                                  " is smaller than the patch size " + std::to_string(P));
  }
  auto result = std::make_unique<VisionGraph>();
  VisionGraph& vg = *result;
  vg.width = width;
  vg.height = height;
  vg.grid_w = width / P;
  vg.grid_h = height / P;
  const int s = hp.scale_factor;
  if (hp.projector == ProjectorKind::idefics3 && (vg.grid_w % s || vg.grid_h % s)) {
    return error(ErrorCode::invalid_argument, "the idefics3 projector needs a patch grid divisible by " + std::to_string(s) +
                                                  ", got " + std::to_string(vg.grid_w) + "x" + std::to_string(vg.grid_h));
  }
  const int64_t E = hp.n_embd, hd = E / hp.n_head, n_patch = (int64_t)vg.grid_w * vg.grid_h;
  const int64_t n_cls = hp.has_class_token ? 1 : 0, T = n_patch + n_cls;
  Graph& g = vg.graph;

  vg.in = g.input(DType::F32, {width, height, 3, 1}, "pixels");
  vg.pos = g.input(DType::F32, {E, T, 1, 1}, "pos_embd");
  const NodeId kernel = g.weight(w.patch_w, "patch_embd");
  ConvParams cp;
  cp.s0 = cp.s1 = P;
  NodeId cols = g.im2col(kernel, vg.in, cp);  // [3*P*P, grid_w, grid_h]
  cols = g.reshape(cols, {3 * (int64_t)P * P, n_patch, 1, 1});
  NodeId x = g.matmul(g.reshape(kernel, {3 * (int64_t)P * P, E, 1, 1}), cols);  // [E, n_patch]
  if (hp.has_patch_bias) x = g.add(x, g.weight(w.patch_b, "patch_bias"));
  if (hp.has_class_token) {
    vg.cls = g.input(DType::F32, {E, 1, 1, 1}, "class_embd");
    x = g.concat(vg.cls, x, 1);
  }
  x = g.add(x, vg.pos);
  if (hp.has_pre_ln) x = g.layer_norm(x, hp.eps, g.weight(w.pre_ln_w), g.weight(w.pre_ln_b));

  const float kq_scale = 1.0f / std::sqrt((float)hd);
  for (int il = 0; il < hp.n_layer_run; ++il) {
    const VisionLayerWeights& L = w.layers[(size_t)il];
    const std::string p = "v.blk." + std::to_string(il) + ".";
    auto linear = [&](const Tensor& wt, const Tensor& b, NodeId in, const char* name) {
      return g.add(g.matmul(g.weight(wt, p + name), in), g.weight(b, p + name + ".bias"));
    };
    NodeId h = g.layer_norm(x, hp.eps, g.weight(L.ln1_w), g.weight(L.ln1_b));
    // Attention as two matmuls per head (scores = K·Q, out = Vᵀ·softmax) so the O(T²)
    // work runs on the matmul kernels, as llama.cpp's clip graph does.
    auto split = [&](NodeId t, std::array<int32_t, 4> axes) {
      return g.cont(g.permute(g.reshape(t, {hd, hp.n_head, T, 1}), axes));
    };
    const NodeId q = split(linear(L.q_w, L.q_b, h, "attn_q"), {0, 2, 1, 3});    // [hd, T, n_head]
    const NodeId k = split(linear(L.k_w, L.k_b, h, "attn_k"), {0, 2, 1, 3});
    const NodeId v_t = split(linear(L.v_w, L.v_b, h, "attn_v"), {1, 2, 0, 3});  // [T, hd, n_head]
    std::vector<NodeId> outs;
    for (int64_t ih = 0; ih < hp.n_head; ++ih) {
      auto head = [&](NodeId t, int64_t ne0, int64_t ne1) {
        const Tensor& tt = g.node(t).t;
        const size_t plane = tt.nb[1] * (size_t)ne1;
        return g.view(t, {ne0, ne1, 1, 1}, {tt.nb[0], tt.nb[1], plane, plane}, (size_t)ih * tt.nb[2]);
      };
      const NodeId probs = g.softmax(g.matmul(head(k, hd, T), head(q, hd, T)), kq_scale);  // [T_k, T_q]
      outs.push_back(g.matmul(head(v_t, T, hd), probs));                                  // [hd, T_q]
    }
    while (outs.size() > 1) {  // pairwise concat along the head axis: [hd, T, n_head]
      std::vector<NodeId> next;
      for (size_t i = 0; i + 1 < outs.size(); i += 2) next.push_back(g.concat(outs[i], outs[i + 1], 2));
      if (outs.size() % 2) next.push_back(outs.back());
      outs = std::move(next);
    }
    NodeId a = g.reshape(g.cont(g.permute(outs[0], {0, 2, 1, 3})), {E, T, 1, 1});
    x = g.add(x, linear(L.o_w, L.o_b, a, "attn_out"));

    h = g.layer_norm(x, hp.eps, g.weight(L.ln2_w), g.weight(L.ln2_b));
    h = linear(L.up_w, L.up_b, h, "ffn_up");
    h = hp.act == VisionAct::gelu ? g.gelu(h) : hp.act == VisionAct::silu ? g.silu(h) : g.gelu_quick(h);
    x = g.add(x, linear(L.down_w, L.down_b, h, "ffn_down"));
  }
  if (hp.has_post_ln) x = g.layer_norm(x, hp.eps, g.weight(w.post_ln_w), g.weight(w.post_ln_b));
  if (hp.has_class_token) {  // the projector sees the patch tokens only
    const Tensor& xt = g.node(x).t;
    x = g.cont(g.view(x, {E, n_patch, 1, 1}, xt.nb, xt.nb[1]));
  }

  if (hp.projector == ProjectorKind::mlp) {
    x = g.add(g.matmul(g.weight(w.mm0_w, "mm.0"), x), g.weight(w.mm0_b, "mm.0.bias"));
    // ggml_gelu's tanh form, as llama.cpp evaluates these files (HF's projector uses erf).
    x = g.gelu(x);
    x = g.add(g.matmul(g.weight(w.mm2_w, "mm.2"), x), g.weight(w.mm2_b, "mm.2.bias"));
    vg.n_tokens = (int)n_patch;
  } else {
    // Idefics3 pixel shuffle: each s x s block of patches becomes one token whose
    // features are the block's rows concatenated (row-major within the block).
    const int64_t gw = vg.grid_w, gh = vg.grid_h;
    x = g.reshape(x, {E * s, gw / s, gh, 1});
    x = g.cont(g.permute(x, {0, 2, 1, 3}));  // [E*s, gh, gw/s]
    x = g.reshape(x, {E * s * s, gh / s, gw / s, 1});
    x = g.cont(g.permute(x, {0, 2, 1, 3}));  // [E*s*s, gw/s, gh/s]
    vg.n_tokens = (int)(n_patch / (s * s));
    x = g.reshape(x, {E * s * s, vg.n_tokens, 1, 1});
    x = g.matmul(g.weight(w.mm_fc_w, "mm.model.fc"), x);
  }
  vg.out = g.output(x, "image_embd");
  if (!g.status().ok()) return g.status();
  return result;
}

}  // namespace nm
