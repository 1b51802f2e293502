// VitsModel: loading a VITS voice GGUF (hyper-parameters, voice settings, checked weights).
#include "bricks/tts/vits_model.h"

#include <cmath>

#include "bricks/tts/vits_graph.h"

namespace nm {
namespace {

constexpr int kMaxChannels = 8192, kMaxLayers = 64, kMaxKernel = 64;

Status bad(const std::string& what) { return error(ErrorCode::invalid_file, "voice file: " + what); }

Result<int> get_dim(const GgufFile& f, const std::string& key, int lo, int hi) {
  NM_ASSIGN_OR_RETURN(int64_t v, f.get_int(key));
  if (v < lo || v > hi) return bad(key + " = " + std::to_string(v) + " is outside [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return (int)v;
}

Result<std::vector<int>> get_dims(const GgufFile& f, const std::string& key, int lo, int hi, size_t max_n) {
  NM_ASSIGN_OR_RETURN(std::vector<int32_t> v, f.get_array_i32(key));
  if (v.empty() || v.size() > max_n) return bad(key + " must hold 1 to " + std::to_string(max_n) + " values");
  for (int32_t x : v) {
    if (x < lo || x > hi) return bad(key + " holds " + std::to_string(x) + ", outside [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  }
  return std::vector<int>(v.begin(), v.end());
}

}  // namespace

int VitsHparams::hop() const {
  int h = 1;
  for (int r : up_rates) h *= r;
  return h;
}

Result<std::unique_ptr<VitsModel>> VitsModel::load(const std::string& path) { return load_brick<VitsModel>(path); }

Result<std::unique_ptr<VitsModel>> VitsModel::from_gguf(std::shared_ptr<const GgufFile> file) {
  std::unique_ptr<VitsModel> m(new VitsModel());
  m->file_ = std::move(file);
  NM_ASSIGN_OR_RETURN(std::string arch, m->file_->get_string("general.architecture"));
  if (arch != "vits") {
    return error(ErrorCode::invalid_file, "not a voice file: general.architecture is '" + arch +
                                              "', expected 'vits' (convert Piper voices with tools/piper_to_gguf.py)");
  }
  NM_RETURN_IF_ERROR(m->load_hparams());
  NM_RETURN_IF_ERROR(m->load_weights());
  return m;
}

Status VitsModel::load_hparams() {
  const GgufFile& f = *file_;
  VitsHparams& h = hp_;
  NM_ASSIGN_OR_RETURN(h.n_vocab, get_dim(f, "vits.vocab_size", 1, 1 << 20));
  NM_ASSIGN_OR_RETURN(h.hidden, get_dim(f, "vits.hidden_channels", 1, kMaxChannels));
  NM_ASSIGN_OR_RETURN(h.inter, get_dim(f, "vits.inter_channels", 2, kMaxChannels));
  NM_ASSIGN_OR_RETURN(h.filter, get_dim(f, "vits.filter_channels", 1, kMaxChannels));
  NM_ASSIGN_OR_RETURN(h.n_heads, get_dim(f, "vits.n_heads", 1, 256));
  NM_ASSIGN_OR_RETURN(h.n_layers, get_dim(f, "vits.n_layers", 1, kMaxLayers));
  NM_ASSIGN_OR_RETURN(h.kernel, get_dim(f, "vits.kernel_size", 1, kMaxKernel));
  NM_ASSIGN_OR_RETURN(h.window, get_dim(f, "vits.window_size", 0, 1024));
  NM_ASSIGN_OR_RETURN(h.eps, f.get_f32("vits.layer_norm_epsilon"));
  NM_ASSIGN_OR_RETURN(h.dp_filter, get_dim(f, "vits.dp.filter_channels", 1, kMaxChannels));
  NM_ASSIGN_OR_RETURN(h.dp_kernel, get_dim(f, "vits.dp.kernel_size", 1, 15));
  NM_ASSIGN_OR_RETURN(h.dp_layers, get_dim(f, "vits.dp.n_layers", 1, 6));
  NM_ASSIGN_OR_RETURN(h.dp_bins, get_dim(f, "vits.dp.num_bins", 1, 1024));
  NM_ASSIGN_OR_RETURN(h.dp_tail_bound, f.get_f32("vits.dp.tail_bound"));
  NM_ASSIGN_OR_RETURN(h.dp_flow_ids, get_dims(f, "vits.dp.flow_ids", 1, 255, 64));
  NM_ASSIGN_OR_RETURN(h.flow_n, get_dim(f, "vits.flow.n_flows", 1, kMaxLayers));
  NM_ASSIGN_OR_RETURN(h.flow_wn_layers, get_dim(f, "vits.flow.wn_layers", 1, kMaxLayers));
  NM_ASSIGN_OR_RETURN(h.flow_kernel, get_dim(f, "vits.flow.kernel_size", 1, kMaxKernel));
  NM_ASSIGN_OR_RETURN(h.flow_dilation_rate, get_dim(f, "vits.flow.dilation_rate", 1, 8));
  NM_ASSIGN_OR_RETURN(h.dec_initial, get_dim(f, "vits.dec.upsample_initial_channel", 2, kMaxChannels));
  NM_ASSIGN_OR_RETURN(int res_type, get_dim(f, "vits.dec.resblock_type", 1, 2));
  if (res_type != 2) return bad("HiFi-GAN resblock type " + std::to_string(res_type) + " is not supported (type 2 is)");
  NM_ASSIGN_OR_RETURN(h.up_rates, get_dims(f, "vits.dec.upsample_rates", 1, 64, 8));
  NM_ASSIGN_OR_RETURN(h.up_kernels, get_dims(f, "vits.dec.upsample_kernel_sizes", 1, 256, 8));
  NM_ASSIGN_OR_RETURN(h.res_kernels, get_dims(f, "vits.dec.resblock_kernel_sizes", 1, kMaxKernel, 8));
  NM_ASSIGN_OR_RETURN(std::vector<int> dil, get_dims(f, "vits.dec.resblock_dilations", 1, 1024, 64));
  NM_ASSIGN_OR_RETURN(h.lrelu_slope, f.get_f32("vits.dec.lrelu_slope"));
  NM_ASSIGN_OR_RETURN(h.final_lrelu_slope, f.get_f32("vits.dec.final_lrelu_slope"));
  if (h.hidden % h.n_heads != 0) return bad("hidden_channels is not a multiple of n_heads");
  if (h.inter % 2 != 0) return bad("inter_channels must be even");
  if (h.up_rates.size() != h.up_kernels.size()) return bad("upsample rates and kernel sizes differ in count");
  if (dil.size() % h.res_kernels.size() != 0) return bad("resblock dilations do not split evenly over the kernels");
  const size_t per = dil.size() / h.res_kernels.size();
  for (size_t j = 0; j < h.res_kernels.size(); ++j) h.res_dilations.emplace_back(dil.begin() + (long)(j * per), dil.begin() + (long)((j + 1) * per));
  for (size_t i = 0; i < h.up_rates.size(); ++i) {
    if (h.up_kernels[i] < h.up_rates[i] || (h.up_kernels[i] - h.up_rates[i]) % 2 != 0)
      return bad("upsample kernel " + std::to_string(h.up_kernels[i]) + " does not fit rate " + std::to_string(h.up_rates[i]));
    if ((h.dec_initial >> (i + 1)) < 1) return bad("too many upsamplings for upsample_initial_channel");
  }
  if (h.hop() > 4096) return bad("upsampling factor above 4096");
  if (!(h.eps > 0.0f && h.eps < 1.0f) || !(h.dp_tail_bound > 0.0f && h.dp_tail_bound < 1e4f) ||
      !std::isfinite(h.lrelu_slope) || !std::isfinite(h.final_lrelu_slope)) {
    return bad("layer_norm_epsilon, dp.tail_bound or the leaky ReLU slopes are out of range");
  }

  VoiceSettings& v = voice_;
  NM_ASSIGN_OR_RETURN(int64_t rate, f.get_int("tts.sample_rate"));
  if (rate < 1000 || rate > 384000) return bad("tts.sample_rate " + std::to_string(rate) + " is out of range");
  v.sample_rate = (int)rate;
  NM_ASSIGN_OR_RETURN(v.noise_scale, f.get_f32_or("tts.noise_scale", 0.667f));
  NM_ASSIGN_OR_RETURN(v.length_scale, f.get_f32_or("tts.length_scale", 1.0f));
  NM_ASSIGN_OR_RETURN(v.noise_w, f.get_f32_or("tts.noise_w", 0.8f));
  if (!(v.noise_scale >= 0 && v.noise_scale < 10) || !(v.length_scale > 0 && v.length_scale < 20) || !(v.noise_w >= 0 && v.noise_w < 10))
    return bad("tts.noise_scale, tts.length_scale or tts.noise_w is out of range");
  NM_ASSIGN_OR_RETURN(v.espeak_voice, f.get_string_or("tts.espeak_voice", "en-us"));
  NM_ASSIGN_OR_RETURN(std::vector<std::string> phonemes, f.get_array_strings("tts.phonemes"));
  NM_ASSIGN_OR_RETURN(std::vector<int32_t> ids, f.get_array_i32("tts.phoneme_ids"));
  if (phonemes.size() != ids.size() || phonemes.empty()) return bad("tts.phonemes and tts.phoneme_ids differ in length or are empty");
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= h.n_vocab) return bad("phoneme id " + std::to_string(ids[i]) + " is outside the vocabulary");
    v.phoneme_ids[phonemes[i]] = ids[i];
  }
  for (const char* must : {"^", "$", "_"}) {
    if (!v.phoneme_ids.count(must)) return bad(std::string("the phoneme_id_map has no '") + must + "' (BOS '^', EOS '$', pad '_')");
  }
  return Status::ok_status();
}

const Tensor& VitsModel::w(const std::string& name) const {
  static const Tensor kNone{};
  auto it = w_.find(name);
  return it == w_.end() ? kNone : it->second;
}

Status VitsModel::load_weights() {
  const VitsHparams& h = hp_;
  BrickTensors bt(*file_, "the voice file");
  auto get = [&](const std::string& name, std::array<int64_t, 4> ne) -> Status {
    Tensor t;
    NM_RETURN_IF_ERROR(bt.get(name, ne, BrickTensors::Role::f32, t));
    w_[name] = t;
    return Status::ok_status();
  };
  // A convolution's weight and bias [out]: PyTorch's [out, in, k] is GGUF ne [k, in, out],
  // stored tap-major [in, k, out] for k > 1 taps over more than one channel (tools/vits_gguf.py).
  auto conv = [&](const std::string& m, int in, int out, int k, bool bias = true) -> Status {
    NM_RETURN_IF_ERROR(get(m + ".weight", k > 1 && in > 1 ? std::array<int64_t, 4>{in, k, out, 1}
                                                         : std::array<int64_t, 4>{k, in, out, 1}));
    return bias ? get(m + ".bias", {out, 1, 1, 1}) : Status::ok_status();
  };
  auto norm = [&](const std::string& m, int c) -> Status {
    NM_RETURN_IF_ERROR(get(m + ".gamma", {c, 1, 1, 1}));
    return get(m + ".beta", {c, 1, 1, 1});
  };
  const int H = h.hidden, d = H / h.n_heads;
  NM_RETURN_IF_ERROR(get("enc_p.emb.weight", {H, h.n_vocab, 1, 1}));
  for (int i = 0; i < h.n_layers; ++i) {
    const std::string a = "enc_p.encoder.attn_layers." + std::to_string(i);
    for (const char* c : {".conv_q", ".conv_k", ".conv_v", ".conv_o"}) NM_RETURN_IF_ERROR(conv(a + c, H, H, 1));
    NM_RETURN_IF_ERROR(get(a + ".emb_rel_k", {d, 2 * h.window + 1, 1, 1}));
    NM_RETURN_IF_ERROR(get(a + ".emb_rel_v", {d, 2 * h.window + 1, 1, 1}));
    const std::string ffn = "enc_p.encoder.ffn_layers." + std::to_string(i);
    NM_RETURN_IF_ERROR(conv(ffn + ".conv_1", H, h.filter, h.kernel));
    NM_RETURN_IF_ERROR(conv(ffn + ".conv_2", h.filter, H, h.kernel));
    NM_RETURN_IF_ERROR(norm("enc_p.encoder.norm_layers_1." + std::to_string(i), H));
    NM_RETURN_IF_ERROR(norm("enc_p.encoder.norm_layers_2." + std::to_string(i), H));
  }
  NM_RETURN_IF_ERROR(conv("enc_p.proj", H, 2 * h.inter, 1));
  const int F = h.dp_filter;
  auto dds = [&](const std::string& p) -> Status {
    for (int i = 0; i < h.dp_layers; ++i) {
      const std::string s = std::to_string(i);
      NM_RETURN_IF_ERROR(conv(p + ".convs_sep." + s, 1, F, h.dp_kernel));
      NM_RETURN_IF_ERROR(conv(p + ".convs_1x1." + s, F, F, 1));
      NM_RETURN_IF_ERROR(norm(p + ".norms_1." + s, F));
      NM_RETURN_IF_ERROR(norm(p + ".norms_2." + s, F));
    }
    return Status::ok_status();
  };
  NM_RETURN_IF_ERROR(conv("dp.pre", H, F, 1));
  NM_RETURN_IF_ERROR(dds("dp.convs"));
  NM_RETURN_IF_ERROR(conv("dp.proj", F, F, 1));
  for (int fid : h.dp_flow_ids) {
    const std::string p = "dp.flows." + std::to_string(fid);
    NM_RETURN_IF_ERROR(conv(p + ".pre", 1, F, 1));
    NM_RETURN_IF_ERROR(dds(p + ".convs"));
    NM_RETURN_IF_ERROR(conv(p + ".proj", F, 3 * h.dp_bins - 1, 1));
  }
  NM_RETURN_IF_ERROR(get("dp.flows.0.m", {1, 2, 1, 1}));
  NM_RETURN_IF_ERROR(get("dp.flows.0.exp_neg_logs", {1, 2, 1, 1}));
  const int half = h.inter / 2;
  for (int f = 0; f < h.flow_n; ++f) {
    const std::string p = "flow.flows." + std::to_string(2 * f);
    NM_RETURN_IF_ERROR(conv(p + ".pre", half, H, 1));
    for (int i = 0; i < h.flow_wn_layers; ++i) {
      const std::string s = std::to_string(i);
      NM_RETURN_IF_ERROR(conv(p + ".enc.in_layers." + s, H, 2 * H, h.flow_kernel));
      NM_RETURN_IF_ERROR(conv(p + ".enc.res_skip_layers." + s, H, i + 1 < h.flow_wn_layers ? 2 * H : H, 1));
    }
    NM_RETURN_IF_ERROR(conv(p + ".post", H, half, 1));
  }
  int ch = h.dec_initial;
  NM_RETURN_IF_ERROR(conv("dec.conv_pre", h.inter, ch, 7));
  const size_t nk = h.res_kernels.size();
  for (size_t i = 0; i < h.up_rates.size(); ++i) {
    const std::string u = "dec.ups." + std::to_string(i);
    NM_RETURN_IF_ERROR(get(u + ".weight", {h.up_kernels[i], ch / 2, ch, 1}));  // PyTorch [in, out, k]
    NM_RETURN_IF_ERROR(get(u + ".bias", {ch / 2, 1, 1, 1}));
    ch /= 2;
    for (size_t j = 0; j < nk; ++j) {
      for (size_t c = 0; c < h.res_dilations[j].size(); ++c) {
        NM_RETURN_IF_ERROR(conv("dec.resblocks." + std::to_string(i * nk + j) + ".convs." + std::to_string(c), ch, ch, h.res_kernels[j]));
      }
    }
  }
  NM_RETURN_IF_ERROR(conv("dec.conv_post", ch, 1, 7, false));
  weight_bytes_ = bt.bytes();
  return Status::ok_status();
}

std::string VitsModel::description() const {
  return "vits " + std::to_string(hp_.n_layers) + " layers, " + std::to_string(voice_.sample_rate) + " Hz, espeak " +
         voice_.espeak_voice;
}

Result<std::vector<PortSpec>> VitsModel::inputs(const BrickInput& in) const {
  if (in.n_tokens < 1) return error(ErrorCode::invalid_argument, "tts: an utterance needs at least one phoneme id");
  return std::vector<PortSpec>{{"phoneme_ids", PortKind::tokens, DType::I32, in.n_tokens, 1}};
}

Result<std::vector<PortSpec>> VitsModel::outputs(const BrickInput& in) const {
  return std::vector<PortSpec>{{"pcm", PortKind::pcm, DType::F32, in.n_samples, 1}};
}

Result<BrickCost> VitsModel::cost(const BrickInput& in) const {
  if (in.n_tokens < 1) return error(ErrorCode::invalid_argument, "tts: an utterance needs at least one phoneme id");
  BrickCost c;
  GraphShape enc;
  enc.n_tokens = in.n_tokens;
  NM_ASSIGN_OR_RETURN(std::unique_ptr<BrickGraph> g1, build_graph(enc, nullptr));
  NM_ASSIGN_OR_RETURN(size_t a1, planned_activation_bytes(*g1));
  c.flops = graph_matmul_flops(g1->graph);
  c.activation_bytes = a1;
  c.n_graph_runs = 1;
  if (in.n_samples > 0) {
    GraphShape dec;
    dec.width = (int)((in.n_samples + hp_.hop() - 1) / hp_.hop());
    NM_ASSIGN_OR_RETURN(std::unique_ptr<BrickGraph> g2, build_graph(dec, nullptr));
    NM_ASSIGN_OR_RETURN(size_t a2, planned_activation_bytes(*g2));
    c.flops += graph_matmul_flops(g2->graph);
    c.activation_bytes = std::max(a1, a2);
    c.n_graph_runs = 2;
  }
  c.weight_bytes_read = weight_bytes_;
  c.resident_weight_bytes = weight_bytes_;
  return c;
}

Result<std::unique_ptr<BrickGraph>> VitsModel::build_graph(const GraphShape& shape, const KvCache*) const {
  if (shape.width > 0) return build_vits_decoder_graph(*this, shape.width);
  return build_vits_encoder_graph(*this, shape.n_tokens);
}

}  // namespace nm
