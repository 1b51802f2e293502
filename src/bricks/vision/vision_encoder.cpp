#include "bricks/vision/vision_encoder.h"

#include <cstring>
#include <string>

namespace nm {

VisionEncoder::VisionEncoder(const MmprojModel& model, const VisionEncoderParams& p) : model_(model), params_(p) {
  if (params_.pack_weights) packed_ = params_.packed ? params_.packed : PackedWeights::for_file(model.file());
}

Result<std::unique_ptr<VisionEncoder>> VisionEncoder::create(const MmprojModel& model, const VisionEncoderParams& params) {
  VisionEncoderParams p = params;
  if (p.static_width <= 0) p.static_width = model.hparams().image_size;
  if (p.static_height <= 0) p.static_height = model.hparams().image_size;
  std::unique_ptr<VisionEncoder> e(new VisionEncoder(model, p));
  const Tensor& c = model.weights().class_embd;
  if (model.hparams().has_class_token) {
    e->cls_.resize((size_t)c.ne[0]);
    type_traits(c.type)->to_float(c.data, e->cls_.data(), c.ne[0]);
  }
  // Build the static (or trained) size up front so that a broken file or a bad size fails
  // here, not at first use.
  NM_RETURN_IF_ERROR(e->shape_for(p.static_shape ? p.static_width : model.hparams().image_size,
                                  p.static_shape ? p.static_height : model.hparams().image_size)
                         .status());
  return e;
}

Status VisionEncoder::check_size(int width, int height) const {
  const VisionHparams& hp = model_.hparams();
  if (params_.static_shape && (width != params_.static_width || height != params_.static_height)) {
    return error(ErrorCode::invalid_argument, "static-shape vision encoder takes " + std::to_string(params_.static_width) +
                                                  "x" + std::to_string(params_.static_height) + " inputs, got " + std::to_string(width) +
                                                  "x" + std::to_string(height));
  }
  const int P = hp.patch_size, s = hp.scale_factor;
  if (width < P || height < P || (width / P) % s || (height / P) % s || width > 8192 || height > 8192) {
    return error(ErrorCode::invalid_argument, "vision input " + std::to_string(width) + "x" + std::to_string(height) +
                                                  " must be " + std::to_string(P) + " to 8192 pixels per side with a patch grid (side / " +
                                                  std::to_string(P) + ") divisible by " + std::to_string(s));
  }
  return Status();
}

Result<int> VisionEncoder::n_tokens(int width, int height) const {
  NM_RETURN_IF_ERROR(check_size(width, height));
  const VisionHparams& hp = model_.hparams();
  const int gw = width / hp.patch_size, gh = height / hp.patch_size;
  return gw * gh / (hp.scale_factor * hp.scale_factor);
}

Result<VisionEncoder::Shape*> VisionEncoder::shape_for(int width, int height) {
  NM_RETURN_IF_ERROR(check_size(width, height));
  auto it = shapes_.find({width, height});
  if (it != shapes_.end()) return it->second.get();
  auto sh = std::make_unique<Shape>();
  NM_ASSIGN_OR_RETURN(sh->meta, build_vision_graph(model_, width, height));
  sh->pos = model_.position_embeddings(sh->meta.grid_w, sh->meta.grid_h);
  NM_ASSIGN_OR_RETURN(sh->exec, GraphRunner::create(std::move(sh->meta.graph), params_.device, params_.isa,
                                                         packed_.get()));
  Shape* raw = sh.get();
  shapes_.emplace(std::make_pair(width, height), std::move(sh));
  return raw;
}

Status VisionEncoder::encode(const EncoderInput& image, ThreadPool& pool, std::vector<float>& out) {
  if (image.chw.size() != (size_t)image.width * image.height * 3) {
    return error(ErrorCode::invalid_argument, "vision input holds " + std::to_string(image.chw.size()) + " floats, expected 3 x " +
                                                  std::to_string(image.width) + " x " + std::to_string(image.height));
  }
  NM_ASSIGN_OR_RETURN(Shape * sh, shape_for(image.width, image.height));
  GraphRunner& ex = *sh->exec;
  const VisionGraph& vg = sh->meta;
  std::memcpy(ex.tensor(vg.pixels).data, image.chw.data(), image.chw.size() * sizeof(float));
  std::memcpy(ex.tensor(vg.pos).data, sh->pos.data(), sh->pos.size() * sizeof(float));
  if (vg.cls != kInvalidNode) std::memcpy(ex.tensor(vg.cls).data, cls_.data(), cls_.size() * sizeof(float));
  NM_RETURN_IF_ERROR(ex.run(pool));
  const Tensor& r = ex.tensor(vg.out);
  out.resize((size_t)r.n_elements());
  std::memcpy(out.data(), r.data, out.size() * sizeof(float));
  return Status();
}

}  // namespace nm
