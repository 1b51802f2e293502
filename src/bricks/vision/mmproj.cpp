#include "bricks/vision/mmproj.h"

#include <algorithm>
#include <cmath>

#include "bricks/vision/image_plan.h"
#include "bricks/vision/vision_graph.h"

namespace nm {
namespace {

// Row i of a 2-D tensor (any type with a scalar dequantiser) as floats.
void row_to_f32(const Tensor& t, int64_t i, float* dst) {
  type_traits(t.type)->to_float(t.row(i), dst, t.ne[0]);
}

}  // namespace

Result<std::unique_ptr<MmprojModel>> MmprojModel::load(const std::string& path) { return load_brick<MmprojModel>(path); }

Result<std::unique_ptr<MmprojModel>> MmprojModel::from_gguf(std::shared_ptr<const GgufFile> file) {
  std::unique_ptr<MmprojModel> m(new MmprojModel());
  m->file_ = std::move(file);
  NM_RETURN_IF_ERROR(m->load_hparams());
  NM_RETURN_IF_ERROR(m->load_weights());
  return m;
}

Status MmprojModel::load_hparams() {
  const GgufFile& f = *file_;
  NM_ASSIGN_OR_RETURN(bool has_vision, f.get_bool_or("clip.has_vision_encoder", false));
  if (!has_vision) {
    return error(ErrorCode::invalid_file,
                 "the file has no vision encoder (clip.has_vision_encoder is missing or false); "
                 "pass the mmproj GGUF that belongs to the model");
  }
  NM_ASSIGN_OR_RETURN(std::string proj, f.get_string_or("clip.projector_type", "mlp"));
  if (proj == "mlp") {
    hp_.projector = ProjectorKind::mlp;
  } else if (proj == "idefics3") {
    hp_.projector = ProjectorKind::idefics3;
  } else {
    return error(ErrorCode::unsupported, "projector type '" + proj + "' is not supported (supported: mlp, idefics3)");
  }
  auto get_int = [&](const char* k, int& out) -> Status {
    NM_ASSIGN_OR_RETURN(int64_t v, f.get_int(k));
    if (v <= 0 || v > (1 << 20)) return error(ErrorCode::invalid_file, std::string(k) + " = " + std::to_string(v) + " is out of range");
    out = (int)v;
    return Status();
  };
  NM_RETURN_IF_ERROR(get_int("clip.vision.image_size", hp_.image_size));
  NM_RETURN_IF_ERROR(get_int("clip.vision.patch_size", hp_.patch_size));
  NM_RETURN_IF_ERROR(get_int("clip.vision.embedding_length", hp_.n_embd));
  NM_RETURN_IF_ERROR(get_int("clip.vision.feed_forward_length", hp_.n_ff));
  NM_RETURN_IF_ERROR(get_int("clip.vision.block_count", hp_.n_layer));
  NM_RETURN_IF_ERROR(get_int("clip.vision.attention.head_count", hp_.n_head));
  // The patch convolution drops trailing pixels (SigLIP-so400m: 384 / 14 -> 27 x 27 patches).
  if (hp_.image_size < hp_.patch_size) {
    return error(ErrorCode::invalid_file, "image size " + std::to_string(hp_.image_size) +
                                              " is smaller than the patch size " + std::to_string(hp_.patch_size));
  }
  if (hp_.n_embd % hp_.n_head) {
    return error(ErrorCode::invalid_file, "vision width " + std::to_string(hp_.n_embd) +
                                              " is not a multiple of the head count " + std::to_string(hp_.n_head));
  }
  NM_ASSIGN_OR_RETURN(hp_.eps, f.get_f32_or("clip.vision.attention.layer_norm_epsilon", 1e-6f));
  if (!std::isfinite(hp_.eps) || hp_.eps < 0) {
    return error(ErrorCode::invalid_file, "clip.vision.attention.layer_norm_epsilon = " + std::to_string(hp_.eps) +
                                              " is not a finite number >= 0");
  }
  NM_ASSIGN_OR_RETURN(bool use_gelu, f.get_bool_or("clip.use_gelu", false));
  NM_ASSIGN_OR_RETURN(bool use_silu, f.get_bool_or("clip.use_silu", false));
  hp_.act = use_gelu ? VisionAct::gelu : use_silu ? VisionAct::silu : VisionAct::gelu_quick;

  for (const char* k : {"clip.vision.image_mean", "clip.vision.image_std"}) {
    if (!f.has(k)) continue;
    NM_ASSIGN_OR_RETURN(std::vector<float> v, f.get_array_f32(k));
    if (v.size() != 3) return error(ErrorCode::invalid_file, std::string(k) + " must hold 3 values");
    auto& dst = std::string_view(k).ends_with("mean") ? hp_.norm.mean : hp_.norm.std;
    std::copy(v.begin(), v.end(), dst.begin());
  }
  for (float s : hp_.norm.std) {
    if (!(s > 0)) return error(ErrorCode::invalid_file, "clip.vision.image_std values must be positive");
  }
  if (f.has("clip.vision.image_grid_pinpoints")) {
    NM_ASSIGN_OR_RETURN(std::vector<int32_t> v, f.get_array_i32("clip.vision.image_grid_pinpoints"));
    if (v.size() % 2) return error(ErrorCode::invalid_file, "clip.vision.image_grid_pinpoints has an odd length");
    for (size_t i = 0; i < v.size(); i += 2) {
      if (v[i] <= 0 || v[i + 1] <= 0) return error(ErrorCode::invalid_file, "image_grid_pinpoints must be positive");
      hp_.grid_pinpoints.emplace_back(v[i], v[i + 1]);
    }
  }
  NM_ASSIGN_OR_RETURN(std::string merge, f.get_string_or("clip.vision.mm_patch_merge_type", "flat"));
  hp_.patch_merge = merge == "spatial_unpad" ? PatchMerge::spatial_unpad : PatchMerge::flat;
  if (f.has("clip.vision.preproc_image_size")) {
    NM_ASSIGN_OR_RETURN(int64_t v, f.get_int("clip.vision.preproc_image_size"));
    if (v < 0 || v > 8192) {
      return error(ErrorCode::invalid_file, "clip.vision.preproc_image_size = " + std::to_string(v) + " is out of range");
    }
    hp_.preproc_image_size = (int)v;
  }
  // Which block's output feeds the projector. llama.cpp's LLaVA graph stops one block
  // short of block_count (the penultimate layer, vision_feature_layer = -2) unless
  // clip.vision.feature_layer names the layer (0 = the encoder input).
  hp_.n_layer_run = hp_.projector == ProjectorKind::mlp ? hp_.n_layer - 1 : hp_.n_layer;
  if (f.has("clip.vision.feature_layer")) {
    NM_ASSIGN_OR_RETURN(std::vector<int32_t> v, f.get_array_i32("clip.vision.feature_layer"));
    if (v.size() != 1) {
      return error(ErrorCode::unsupported, "clip.vision.feature_layer lists " + std::to_string(v.size()) +
                                               " layers; only a single feature layer is supported");
    }
    if (v[0] < 0 || v[0] > hp_.n_layer) {
      return error(ErrorCode::invalid_file, "clip.vision.feature_layer " + std::to_string(v[0]) + " is outside 0.." +
                                                std::to_string(hp_.n_layer));
    }
    hp_.n_layer_run = v[0];
  }
  if (hp_.n_layer_run < 1) return error(ErrorCode::invalid_file, "the vision encoder runs no layers");
  if (hp_.projector == ProjectorKind::idefics3) {
    NM_ASSIGN_OR_RETURN(int64_t s, f.get_int_or("clip.vision.projector.scale_factor", 2));
    if (s < 1 || s > 16 || hp_.grid_side() % s) {
      return error(ErrorCode::invalid_file, "projector scale factor " + std::to_string(s) +
                                                " does not divide the patch grid side " + std::to_string(hp_.grid_side()));
    }
    hp_.scale_factor = (int)s;
  }
  return Status();
}

Status MmprojModel::load_weights() {
  const GgufFile& f = *file_;
  const int64_t E = hp_.n_embd, F = hp_.n_ff, P = hp_.patch_size;
  BrickTensors tensors(f, "the mmproj file");
  const std::string hint = std::string(encoder_name()) + " encoder; is it a complete llama.cpp mmproj file?";
  auto get = [&](const std::string& name, std::array<int64_t, 4> ne, Tensor& out, bool matrix) -> Status {
    return tensors.get(name, ne, matrix ? BrickTensors::Role::matrix : BrickTensors::Role::f32, out, hint);
  };
  auto vec = [&](const std::string& name, int64_t n, Tensor& out) { return get(name, {n, 1, 1, 1}, out, false); };
  auto has = [&](const std::string& name) { return f.find_tensor(name) != nullptr; };
  auto pair = [&](const std::string& p, int64_t n, Tensor& w, Tensor& b) -> Status {
    NM_RETURN_IF_ERROR(vec(p + ".weight", n, w));
    return vec(p + ".bias", n, b);
  };

  hp_.has_class_token = has("v.class_embd");
  hp_.has_pre_ln = has("v.pre_ln.weight");
  hp_.has_post_ln = has("v.post_ln.weight");
  hp_.has_patch_bias = has("v.patch_embd.bias");
  NM_RETURN_IF_ERROR(get("v.patch_embd.weight", {P, P, 3, E}, w_.patch_w, true));
  if (hp_.has_patch_bias) NM_RETURN_IF_ERROR(vec("v.patch_embd.bias", E, w_.patch_b));
  if (hp_.has_class_token) NM_RETURN_IF_ERROR(get("v.class_embd", {E, 1, 1, 1}, w_.class_embd, true));
  const int64_t n_pos = (int64_t)hp_.grid_side() * hp_.grid_side() + (hp_.has_class_token ? 1 : 0);
  NM_RETURN_IF_ERROR(get("v.position_embd.weight", {E, n_pos, 1, 1}, w_.pos_embd, true));
  if (hp_.has_pre_ln) NM_RETURN_IF_ERROR(pair("v.pre_ln", E, w_.pre_ln_w, w_.pre_ln_b));
  if (hp_.has_post_ln) NM_RETURN_IF_ERROR(pair("v.post_ln", E, w_.post_ln_w, w_.post_ln_b));

  w_.layers.resize((size_t)hp_.n_layer);
  for (int il = 0; il < hp_.n_layer; ++il) {
    VisionLayerWeights& L = w_.layers[(size_t)il];
    const std::string p = "v.blk." + std::to_string(il) + ".";
    NM_RETURN_IF_ERROR(pair(p + "ln1", E, L.ln1_w, L.ln1_b));
    NM_RETURN_IF_ERROR(pair(p + "ln2", E, L.ln2_w, L.ln2_b));
    NM_RETURN_IF_ERROR(get(p + "attn_q.weight", {E, E, 1, 1}, L.q_w, true));
    NM_RETURN_IF_ERROR(get(p + "attn_k.weight", {E, E, 1, 1}, L.k_w, true));
    NM_RETURN_IF_ERROR(get(p + "attn_v.weight", {E, E, 1, 1}, L.v_w, true));
    NM_RETURN_IF_ERROR(get(p + "attn_out.weight", {E, E, 1, 1}, L.o_w, true));
    NM_RETURN_IF_ERROR(vec(p + "attn_q.bias", E, L.q_b));
    NM_RETURN_IF_ERROR(vec(p + "attn_k.bias", E, L.k_b));
    NM_RETURN_IF_ERROR(vec(p + "attn_v.bias", E, L.v_b));
    NM_RETURN_IF_ERROR(vec(p + "attn_out.bias", E, L.o_b));
    // Files from llama.cpp's older converter name fc1 "ffn_down" and fc2 "ffn_up";
    // tell them apart by shape, as llama.cpp does.
    std::string up = p + "ffn_up", down = p + "ffn_down";
    if (const GgufTensorInfo* d = f.find_tensor(down + ".weight"); d && d->ne[0] == E && E != F) std::swap(up, down);
    NM_RETURN_IF_ERROR(get(up + ".weight", {E, F, 1, 1}, L.up_w, true));
    NM_RETURN_IF_ERROR(vec(up + ".bias", F, L.up_b));
    NM_RETURN_IF_ERROR(get(down + ".weight", {F, E, 1, 1}, L.down_w, true));
    NM_RETURN_IF_ERROR(vec(down + ".bias", E, L.down_b));
  }

  if (hp_.projector == ProjectorKind::mlp) {
    const GgufTensorInfo* m0 = f.find_tensor("mm.0.weight");
    const GgufTensorInfo* m2 = f.find_tensor("mm.2.weight");
    if (!m0 || !m2) return error(ErrorCode::invalid_file, "the mlp projector needs tensors mm.0.weight and mm.2.weight");
    const int64_t hidden = m0->ne[1];
    hp_.n_embd_out = (int)m2->ne[1];
    NM_RETURN_IF_ERROR(get("mm.0.weight", {E, hidden, 1, 1}, w_.mm0_w, true));
    NM_RETURN_IF_ERROR(vec("mm.0.bias", hidden, w_.mm0_b));
    NM_RETURN_IF_ERROR(get("mm.2.weight", {hidden, hp_.n_embd_out, 1, 1}, w_.mm2_w, true));
    NM_RETURN_IF_ERROR(vec("mm.2.bias", hp_.n_embd_out, w_.mm2_b));
  } else {
    const GgufTensorInfo* fc = f.find_tensor("mm.model.fc.weight");
    if (!fc) return error(ErrorCode::invalid_file, "the idefics3 projector needs tensor mm.model.fc.weight");
    hp_.n_embd_out = (int)fc->ne[1];
    const int64_t s = hp_.scale_factor;
    NM_RETURN_IF_ERROR(get("mm.model.fc.weight", {E * s * s, hp_.n_embd_out, 1, 1}, w_.mm_fc_w, true));
  }
  if (hp_.n_embd_out <= 0) return error(ErrorCode::invalid_file, "the projector has no outputs");
  if (has("model.image_newline")) NM_RETURN_IF_ERROR(vec("model.image_newline", hp_.n_embd_out, w_.image_newline));
  weight_bytes_ = tensors.bytes();
  return Status();
}

Status MmprojModel::check_llm_width(int n_embd_llm) const {
  if (hp_.n_embd_out == n_embd_llm) return Status();
  return error(ErrorCode::invalid_argument,
               "the mmproj projector outputs " + std::to_string(hp_.n_embd_out) + "-wide embeddings but the language model's width is " +
                   std::to_string(n_embd_llm) + "; the mmproj file belongs to a different model");
}

std::vector<float> MmprojModel::position_embeddings(int gw, int gh) const {
  const int64_t E = hp_.n_embd;
  const int g0 = hp_.grid_side();
  const int n_cls = hp_.has_class_token ? 1 : 0;
  std::vector<float> table((size_t)(E * (n_cls + (int64_t)g0 * g0)));
  for (int64_t i = 0; i < w_.pos_embd.ne[1]; ++i) row_to_f32(w_.pos_embd, i, table.data() + i * E);
  if (gw == g0 && gh == g0) return table;

  std::vector<float> out((size_t)(E * (n_cls + (int64_t)gw * gh)));
  std::copy(table.begin(), table.begin() + n_cls * E, out.begin());
  // Source coordinate of destination cell d: (d + 0.5) * g0 / n - 0.5, clamped at 0.
  auto taps = [g0](int d, int n, int& i0, int& i1, float& t) {
    const double src = std::max(0.0, (d + 0.5) * g0 / n - 0.5);
    i0 = std::min((int)src, g0 - 1);
    i1 = std::min(i0 + 1, g0 - 1);
    t = (float)(src - i0);
  };
  const float* grid = table.data() + n_cls * E;
  for (int y = 0; y < gh; ++y) {
    int y0, y1;
    float ty;
    taps(y, gh, y0, y1, ty);
    for (int x = 0; x < gw; ++x) {
      int x0, x1;
      float tx;
      taps(x, gw, x0, x1, tx);
      float* dst = out.data() + (n_cls + (int64_t)y * gw + x) * E;
      const float* a = grid + ((int64_t)y0 * g0 + x0) * E;
      const float* b = grid + ((int64_t)y0 * g0 + x1) * E;
      const float* c = grid + ((int64_t)y1 * g0 + x0) * E;
      const float* d = grid + ((int64_t)y1 * g0 + x1) * E;
      for (int64_t e = 0; e < E; ++e) {
        const float top = a[e] + (b[e] - a[e]) * tx, bot = c[e] + (d[e] - c[e]) * tx;
        dst[e] = top + (bot - top) * ty;
      }
    }
  }
  return out;
}

// ---- Brick ---------------------------------------------------------------------------

std::string MmprojModel::description() const {
  return std::string(encoder_name()) + "+" + (hp_.projector == ProjectorKind::mlp ? "mlp" : "idefics3") + " " +
         std::to_string(hp_.image_size) + "x" + std::to_string(hp_.image_size) + ", " + std::to_string(hp_.n_layer_run) +
         " layers, width " + std::to_string(hp_.n_embd);
}

Result<int> MmprojModel::encoder_tokens(int width, int height) const {
  const int P = hp_.patch_size, s = hp_.scale_factor;
  if (width < P || height < P || (width / P) % s || (height / P) % s || width > 8192 || height > 8192) {
    return error(ErrorCode::invalid_argument, "vision input " + std::to_string(width) + "x" + std::to_string(height) +
                                                  " must be " + std::to_string(P) + " to 8192 pixels per side with a patch grid (side / " +
                                                  std::to_string(P) + ") divisible by " + std::to_string(s));
  }
  return (width / P) * (height / P) / (s * s);
}

double MmprojModel::encoder_flops(int width, int height) const {
  const double n_patch = (double)(width / hp_.patch_size) * (height / hp_.patch_size);
  const double T = n_patch + (hp_.has_class_token ? 1 : 0);
  const double E = hp_.n_embd, F = hp_.n_ff, K = 3.0 * hp_.patch_size * hp_.patch_size;
  double fma = n_patch * K * E;                            // patch embedding
  fma += hp_.n_layer_run * (T * (4 * E * E + 2 * E * F)   // q, k, v, out, ffn up/down
                            + 2 * T * T * E);             // scores and weighted sum
  const double s = hp_.scale_factor;
  if (hp_.projector == ProjectorKind::mlp) {
    const double hidden = (double)w_.mm0_w.ne[1];
    fma += n_patch * (E * hidden + hidden * hp_.n_embd_out);
  } else {
    fma += n_patch / (s * s) * (E * s * s) * hp_.n_embd_out;
  }
  return 2 * fma;
}

namespace {

// The plan an input describes: a picture of width x height, or the trained single tile.
Result<ImagePlan> plan_for(const MmprojModel& m, const BrickInput& in) {
  const int side = m.hparams().image_size;
  return plan_image(m, in.width > 0 ? in.width : side, in.height > 0 ? in.height : side, {});
}

}  // namespace

Result<std::vector<PortSpec>> MmprojModel::inputs(const BrickInput& in) const {
  NM_ASSIGN_OR_RETURN(ImagePlan p, plan_for(*this, in));
  return std::vector<PortSpec>{{"image", PortKind::image, DType::F32, p.n_encodes, (int64_t)3 * p.tile_width * p.tile_height}};
}

Result<std::vector<PortSpec>> MmprojModel::outputs(const BrickInput& in) const {
  NM_ASSIGN_OR_RETURN(ImagePlan p, plan_for(*this, in));
  return std::vector<PortSpec>{{"embeddings", PortKind::embeddings, DType::F32, p.n_tokens, hp_.n_embd_out}};
}

Result<BrickCost> MmprojModel::cost(const BrickInput& in) const {
  NM_ASSIGN_OR_RETURN(ImagePlan p, plan_for(*this, in));
  BrickCost c;
  c.n_graph_runs = p.n_encodes;
  c.flops = p.n_encodes * encoder_flops(p.tile_width, p.tile_height);
  c.weight_bytes_read = (size_t)p.n_encodes * weight_bytes_;
  c.resident_weight_bytes = weight_bytes_;
  GraphShape shape;
  shape.width = p.tile_width;
  shape.height = p.tile_height;
  NM_ASSIGN_OR_RETURN(std::unique_ptr<BrickGraph> g, build_graph(shape, nullptr));
  NM_ASSIGN_OR_RETURN(c.activation_bytes, planned_activation_bytes(*g));
  return c;
}

Result<std::unique_ptr<BrickGraph>> MmprojModel::build_graph(const GraphShape& shape, const KvCache*) const {
  NM_RETURN_IF_ERROR(encoder_tokens(shape.width, shape.height).status());
  NM_ASSIGN_OR_RETURN(std::unique_ptr<VisionGraph> g, build_vision_graph(*this, shape.width, shape.height));
  return std::unique_ptr<BrickGraph>(std::move(g));
}

}  // namespace nm
