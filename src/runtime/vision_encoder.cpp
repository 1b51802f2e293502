#include "runtime/vision_encoder.h"

#include <cstring>
#include <string>

namespace nm {

VisionEncoder::VisionEncoder(const MmprojModel& model, const VisionEncoderParams& p)
    : model_(model), params_(p), runner_(model.file(), p.run) {}

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
  if (params_.static_shape && (width != params_.static_width || height != params_.static_height)) {
    return error(ErrorCode::invalid_argument, "static-shape vision encoder takes " + std::to_string(params_.static_width) +
                                                  "x" + std::to_string(params_.static_height) + " inputs, got " + std::to_string(width) +
                                                  "x" + std::to_string(height));
  }
  return model_.encoder_tokens(width, height).status();
}

Result<VisionEncoder::Shape*> VisionEncoder::shape_for(int width, int height) {
  NM_RETURN_IF_ERROR(check_size(width, height));
  auto it = shapes_.find({width, height});
  if (it != shapes_.end()) return it->second.get();
  auto sh = std::make_unique<Shape>();
  NM_ASSIGN_OR_RETURN(sh->meta, build_vision_graph(model_, width, height));
  sh->pos = model_.position_embeddings(sh->meta->grid_w, sh->meta->grid_h);
  Graph& g = sh->meta->graph;
  // The result is caller memory: encode() points it at its destination.
  sh->out_storage = g.node(sh->meta->out).storage;
  sh->fallback.resize((size_t)g.node(sh->out_storage).t.n_elements());
  NM_RETURN_IF_ERROR(g.set_external(sh->out_storage, sh->fallback.data()));
  sh->out_bound = sh->fallback.data();
  NM_ASSIGN_OR_RETURN(sh->exec, runner_.prepare(std::move(g)));
  Shape* raw = sh.get();
  shapes_.emplace(std::make_pair(width, height), std::move(sh));
  return raw;
}

Status VisionEncoder::encode(const EncoderInput& image, ThreadPool& pool, std::span<float> out) {
  if (image.chw.size() != (size_t)image.width * image.height * 3) {
    return error(ErrorCode::invalid_argument, "vision input holds " + std::to_string(image.chw.size()) + " floats, expected 3 x " +
                                                  std::to_string(image.width) + " x " + std::to_string(image.height));
  }
  NM_ASSIGN_OR_RETURN(Shape * sh, shape_for(image.width, image.height));
  if (out.size() != sh->fallback.size()) {
    return error(ErrorCode::internal, "vision output holds " + std::to_string(out.size()) + " floats, the encoder writes " +
                                          std::to_string(sh->fallback.size()));
  }
  GraphRunner& ex = *sh->exec;
  const VisionGraph& vg = *sh->meta;
  // Write in place; a device that cannot reach `out` writes its own memory, copied after.
  bool copy_out = false;
  if (sh->out_bound != out.data()) {
    Status st = ex.rebind(sh->out_storage, out.data());
    if (st.ok()) {
      sh->out_bound = out.data();
    } else if (st.code() == ErrorCode::invalid_argument) {
      copy_out = true;
      if (sh->out_bound != sh->fallback.data()) NM_RETURN_IF_ERROR(ex.rebind(sh->out_storage, sh->fallback.data()));
      sh->out_bound = sh->fallback.data();
    } else {
      return st;
    }
  }
  std::memcpy(ex.tensor(vg.in).data, image.chw.data(), image.chw.size() * sizeof(float));
  std::memcpy(ex.tensor(vg.pos).data, sh->pos.data(), sh->pos.size() * sizeof(float));
  if (vg.cls != kInvalidNode) std::memcpy(ex.tensor(vg.cls).data, cls_.data(), cls_.size() * sizeof(float));
  NM_RETURN_IF_ERROR(ex.run(pool));
  if (copy_out) {
    std::memcpy(out.data(), sh->fallback.data(), out.size() * sizeof(float));
    bytes_copied_out_ += out.size() * sizeof(float);
  }
  return Status();
}

Status VisionEncoder::encode(const EncoderInput& image, ThreadPool& pool, std::vector<float>& out) {
  NM_ASSIGN_OR_RETURN(int n_tokens, model_.encoder_tokens(image.width, image.height));
  out.resize((size_t)n_tokens * n_embd_out());
  return encode(image, pool, std::span<float>(out));
}

}  // namespace nm
