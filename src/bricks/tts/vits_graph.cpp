// VITS graphs: text encoder + stochastic duration predictor, and flow + HiFi-GAN decoder.
// Equations as in the published VITS model code (attentions.py, modules.py, models.py);
// the numpy reference tests/reference/vits_ref.py follows the same steps in float64.
#include "bricks/tts/vits_graph.h"

#include <cmath>

#include "bricks/tts/vits_model.h"

namespace nm {
namespace {

constexpr int kMaxPhonemes = 4096;      // one sentence; longer text is split by the caller
constexpr int kMaxFrames = 1 << 16;     // ~12 minutes at hop 256 / 22,050 Hz

class Builder {
 public:
  Builder(const VitsModel& m, Graph& g) : m_(m), g_(g) {}

  NodeId w(const std::string& name) { return g_.weight(m_.w(name), name); }

  // 1x1 convolution: x [in, T] -> [out, T].
  NodeId conv1x1(NodeId x, const std::string& mod, bool bias = true) {
    const Tensor& wt = m_.w(mod + ".weight");
    NodeId y = g_.matmul(g_.reshape(w(mod + ".weight"), {wt.ne[1], wt.ne[2], 1, 1}), x);
    return bias ? g_.add(y, w(mod + ".bias")) : y;
  }

  // Convolution with "same" padding of leaky_relu(x, slope) (slope 1: of x). k taps: one
  // conv1d_rows (activation and bias inside) with the tap-major weight viewed [in*k, out].
  NodeId conv(NodeId x, const std::string& mod, int dilation = 1, bool bias = true, float slope = 1.0f,
              NodeId residual = kInvalidNode) {
    const Tensor& wt = m_.w(mod + ".weight");
    const int k = (int)wt.ne[1];  // [in, k, out]; 1x1 convs are [1, in, out]
    if (wt.ne[0] == 1 || k == 1) {
      NodeId y = conv1x1(slope == 1.0f ? x : g_.leaky_relu(x, slope), mod, bias);
      return residual == kInvalidNode ? y : g_.add(y, residual);
    }
    Conv1dRowsParams p{k, 1, dilation * (k - 1) / 2, dilation, slope};
    return g_.conv1d_rows(g_.reshape(w(mod + ".weight"), {wt.ne[0] * wt.ne[1], wt.ne[2], 1, 1}), x,
                          bias ? w(mod + ".bias") : kInvalidNode, p, residual);
  }

  NodeId norm(NodeId x, const std::string& mod) {
    return g_.layer_norm(x, m_.hparams().eps, w(mod + ".gamma"), w(mod + ".beta"));
  }

  // Rows [c0, c0 + n) of every frame of x [C, T], as a contiguous [n, T].
  NodeId channels(NodeId x, int64_t c0, int64_t n) {
    if (x == kInvalidNode) return kInvalidNode;
    const Tensor& t = g_.node(x).t;
    return g_.cont(g_.view(x, {n, t.ne[1], 1, 1}, {4, t.nb[1], t.nb[1] * (size_t)t.ne[1], t.nb[1] * (size_t)t.ne[1]},
                           (size_t)c0 * sizeof(float)));
  }

  // Dilated depthwise-separable convolutions (VITS's DDSConv), optionally conditioned on g.
  NodeId dds_conv(NodeId x, const std::string& p, NodeId g = kInvalidNode) {
    const VitsHparams& h = m_.hparams();
    if (g != kInvalidNode) x = g_.add(x, g);
    int dil = 1;
    for (int i = 0; i < h.dp_layers; ++i, dil *= h.dp_kernel) {
      const std::string s = std::to_string(i);
      Conv1dRowsParams cp{h.dp_kernel, 1, dil * (h.dp_kernel - 1) / 2, dil};
      NodeId y = g_.conv1d_dw(w(p + ".convs_sep." + s + ".weight"), x, cp);
      y = g_.add(y, w(p + ".convs_sep." + s + ".bias"));
      y = g_.gelu_erf(norm(y, p + ".norms_1." + s));
      y = conv1x1(y, p + ".convs_1x1." + s);
      y = g_.gelu_erf(norm(y, p + ".norms_2." + s));
      x = g_.add(x, y);
    }
    return x;
  }

  // WaveNet of a coupling layer (no speaker conditioning): x [H, F] -> skip sum [H, F].
  NodeId wavenet(NodeId x, const std::string& p) {
    const VitsHparams& h = m_.hparams();
    const int64_t H = h.hidden;
    NodeId out = kInvalidNode;
    int dil = 1;
    for (int i = 0; i < h.flow_wn_layers; ++i, dil *= h.flow_dilation_rate) {
      const std::string s = std::to_string(i);
      NodeId acts = g_.gate_tanh_sigmoid(conv(x, p + ".in_layers." + s, dil));
      NodeId rs = conv1x1(acts, p + ".res_skip_layers." + s);
      NodeId skip = rs;
      if (i + 1 < h.flow_wn_layers) {
        x = g_.add(x, channels(rs, 0, H));
        skip = channels(rs, H, H);
      }
      out = out == kInvalidNode ? skip : g_.add(out, skip);
    }
    return out;
  }

  // ConvTranspose1d (PyTorch weight [in, out, k], GGUF ne [k, out, in]): each input frame
  // times the weight gives k taps of every output channel, overlapped-added by col2im1d.
  NodeId conv_transpose(NodeId x, const std::string& mod, int stride) {
    const Tensor& wt = m_.w(mod + ".weight");
    const int64_t k = wt.ne[0], out = wt.ne[1], in = wt.ne[2];
    NodeId wm = g_.cont(g_.transpose(g_.reshape(w(mod + ".weight"), {k * out, in, 1, 1})));  // [in, out*k]
    NodeId cols = g_.matmul(wm, x);  // [out*k, T]
    NodeId y = g_.col2im1d(cols, out, Conv1dRowsParams{(int32_t)k, stride, (int32_t)(k - stride) / 2, 1});
    return g_.add(y, w(mod + ".bias"));
  }

 private:
  const VitsModel& m_;
  Graph& g_;
};

}  // namespace

Result<std::unique_ptr<BrickGraph>> build_vits_encoder_graph(const VitsModel& model, int n_tokens) {
  if (n_tokens < 1 || n_tokens > kMaxPhonemes) {
    return error(ErrorCode::invalid_argument, "tts: " + std::to_string(n_tokens) + " phoneme ids; a sentence takes 1 to " +
                                                  std::to_string(kMaxPhonemes));
  }
  const VitsHparams& h = model.hparams();
  auto out = std::make_unique<VitsEncoderGraph>();
  out->n_tokens = n_tokens;
  Graph& g = out->graph;
  Builder b(model, g);
  const int64_t T = n_tokens;
  out->in = g.input(DType::I32, {T, 1, 1, 1}, "phoneme_ids");
  NodeId x = g.scale(g.get_rows(b.w("enc_p.emb.weight"), out->in), std::sqrt((float)h.hidden));  // [H, T]
  for (int i = 0; i < h.n_layers; ++i) {
    const std::string a = "enc_p.encoder.attn_layers." + std::to_string(i);
    NodeId q = b.conv1x1(x, a + ".conv_q"), k = b.conv1x1(x, a + ".conv_k"), v = b.conv1x1(x, a + ".conv_v");
    NodeId emb = g.concat(b.w(a + ".emb_rel_k"), b.w(a + ".emb_rel_v"), 2);
    NodeId y = b.conv1x1(g.rel_attention(q, k, v, emb, RelAttentionParams{h.n_heads, h.window}), a + ".conv_o");
    x = b.norm(g.add(x, y), "enc_p.encoder.norm_layers_1." + std::to_string(i));
    const std::string f = "enc_p.encoder.ffn_layers." + std::to_string(i);
    y = b.conv(g.relu(b.conv(x, f + ".conv_1")), f + ".conv_2");
    x = b.norm(g.add(x, y), "enc_p.encoder.norm_layers_2." + std::to_string(i));
  }
  out->stats = g.output(b.conv1x1(x, "enc_p.proj"), "stats");

  // Stochastic duration predictor, reverse: flows[::-1] without the unused first ConvFlow.
  NodeId cond = b.conv1x1(b.dds_conv(b.conv1x1(x, "dp.pre"), "dp.convs"), "dp.proj");
  out->dp_noise = g.input(DType::F32, {2, T, 1, 1}, "dp_noise");
  NodeId z = out->dp_noise;
  const SplineParams sp{h.dp_bins, h.dp_tail_bound, 1.0f / std::sqrt((float)h.dp_filter)};
  for (int fid : h.dp_flow_ids) {
    const std::string p = "dp.flows." + std::to_string(fid);
    z = g.flip(z);
    NodeId hcond = b.conv1x1(b.channels(z, 0, 1), p + ".pre");
    hcond = b.conv1x1(b.dds_conv(hcond, p + ".convs", cond), p + ".proj");
    z = g.spline_coupling(z, hcond, sp);
  }
  z = g.flip(z);
  // ElementwiseAffine in reverse: (z - m) * exp(-logs).
  NodeId m = g.reshape(b.w("dp.flows.0.m"), {2, 1, 1, 1});
  NodeId e = g.reshape(b.w("dp.flows.0.exp_neg_logs"), {2, 1, 1, 1});
  z = g.mul(g.add(z, g.scale(m, -1.0f)), e);
  out->logw = out->out = g.output(z, "logw");
  NM_RETURN_IF_ERROR(g.status());
  return std::unique_ptr<BrickGraph>(std::move(out));
}

Result<std::unique_ptr<BrickGraph>> build_vits_decoder_graph(const VitsModel& model, int n_frames) {
  if (n_frames < 1 || n_frames > kMaxFrames) {
    return error(ErrorCode::invalid_argument, "tts: " + std::to_string(n_frames) + " frames; a sentence takes 1 to " +
                                                  std::to_string(kMaxFrames));
  }
  const VitsHparams& h = model.hparams();
  auto out = std::make_unique<VitsDecoderGraph>();
  out->n_frames = n_frames;
  Graph& g = out->graph;
  Builder b(model, g);
  const int64_t half = h.inter / 2;
  out->in = g.input(DType::F32, {h.inter, n_frames, 1, 1}, "z");
  NodeId z = out->in;
  // Residual coupling block in reverse: each (Flip, coupling) pair from the last.
  for (int f = h.flow_n - 1; f >= 0; --f) {
    const std::string p = "flow.flows." + std::to_string(2 * f);
    z = g.flip(z);
    NodeId x0 = b.channels(z, 0, half), x1 = b.channels(z, half, half);
    NodeId mean = b.conv1x1(b.wavenet(b.conv1x1(x0, p + ".pre"), p + ".enc"), p + ".post");
    z = g.concat(x0, g.add(x1, g.scale(mean, -1.0f)), 0);
  }
  // HiFi-GAN generator.
  NodeId x = b.conv(z, "dec.conv_pre");
  const size_t nk = h.res_kernels.size();
  for (size_t i = 0; i < h.up_rates.size(); ++i) {
    x = b.conv_transpose(g.leaky_relu(x, h.lrelu_slope), "dec.ups." + std::to_string(i), h.up_rates[i]);
    NodeId sum = kInvalidNode;
    for (size_t j = 0; j < nk; ++j) {
      NodeId r = x;
      for (size_t c = 0; c < h.res_dilations[j].size(); ++c) {
        const std::string mod = "dec.resblocks." + std::to_string(i * nk + j) + ".convs." + std::to_string(c);
        r = b.conv(r, mod, h.res_dilations[j][c], true, h.lrelu_slope, r);  // + r inside
      }
      sum = sum == kInvalidNode ? r : g.add(sum, r);
    }
    x = g.scale(sum, 1.0f / (float)nk);
  }
  x = b.conv(x, "dec.conv_post", 1, false, h.final_lrelu_slope);
  out->out = g.output(g.tanh(x), "audio");
  NM_RETURN_IF_ERROR(g.status());
  return std::unique_ptr<BrickGraph>(std::move(out));
}

double graph_matmul_flops(const Graph& g) {
  double f = 0;
  for (const Node& n : g.nodes()) {
    if (n.op == OpKind::matmul || n.op == OpKind::conv1d_rows) {  // weight [k, m] -> [m, T]
      const Tensor& a = g.node(n.src[0]).t;
      f += 2.0 * (double)a.ne[0] * (double)n.t.n_elements();
    } else if (n.op == OpKind::rel_attention) {
      const double t = (double)n.t.ne[1], c = (double)n.t.ne[0];
      f += 4.0 * t * t * c;
    }
  }
  return f;
}

}  // namespace nm
