#include "bricks/vision/image_embedder.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>

namespace nm {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

// The normalisation mean as a colour: padding with it normalises to zero, a neutral border.
std::array<uint8_t, 3> mean_colour(const Normalization& n) {
  std::array<uint8_t, 3> c{};
  for (size_t i = 0; i < 3; ++i) c[i] = (uint8_t)std::lround(std::clamp(n.mean[i], 0.0f, 1.0f) * 255.0f);
  return c;
}

}  // namespace

Result<std::unique_ptr<ImageEmbedder>> ImageEmbedder::create(const MmprojModel& model, const ImageEmbedderParams& params) {
  const bool is_static = params.static_width > 0 || params.static_height > 0;
  if (is_static && (params.static_width <= 0 || params.static_height <= 0)) {
    return error(ErrorCode::invalid_argument, "the static image size needs both a width and a height");
  }
  std::unique_ptr<ImageEmbedder> e(new ImageEmbedder(model, is_static));
  VisionEncoderParams vp;
  vp.static_shape = true;  // every path below feeds one input size
  vp.static_width = params.static_width;
  vp.static_height = params.static_height;
  vp.isa = params.isa;
  vp.device = params.device;
  vp.pack_weights = params.pack_weights;
  vp.packed = params.packed;
  NM_ASSIGN_OR_RETURN(e->encoder_, VisionEncoder::create(model, vp));
  const Tensor& nl = model.weights().image_newline;
  if (nl.data) {
    e->newline_.resize((size_t)nl.ne[0]);
    type_traits(nl.type)->to_float(nl.data, e->newline_.data(), nl.ne[0]);
  }
  return e;
}

Result<ImagePlan> ImageEmbedder::plan(int width, int height) const {
  if (width <= 0 || height <= 0) return error(ErrorCode::invalid_argument, "the image is empty");
  const VisionHparams& hp = model_.hparams();
  ImagePlan p;
  NM_ASSIGN_OR_RETURN(p.tile_tokens, encoder_->n_tokens(encoder_->static_width(), encoder_->static_height()));
  const bool unpad = hp.projector == ProjectorKind::mlp && hp.patch_merge == PatchMerge::spatial_unpad;
  if (hp.projector == ProjectorKind::mlp && !hp.grid_pinpoints.empty() && !static_) {
    p.kind = ImagePlan::Kind::anyres;
    const Resolution best = select_best_resolution(width, height, hp.grid_pinpoints);
    p.grid = {best.first / hp.image_size, best.second / hp.image_size, hp.grid_side()};
    p.n_encodes = 1 + p.grid.tiles_x * p.grid.tiles_y;
    p.n_tokens = anyres_n_tokens(hp.patch_merge, p.grid, width, height, !newline_.empty());
  } else if (hp.projector == ProjectorKind::idefics3 && hp.preproc_image_size > 0 && !static_) {
    p.kind = ImagePlan::Kind::split;
    const SplitPlan s = idefics3_split_plan(width, height, hp.image_size, hp.preproc_image_size);
    p.rows = s.rows;
    p.cols = s.cols;
    p.n_encodes = 1 + s.rows * s.cols;
    p.n_tokens = p.n_encodes * p.tile_tokens;
  } else {
    // One encoder call; a LLaVA-NeXT model still ends the image with its newline.
    p.n_tokens = p.tile_tokens + (unpad && !newline_.empty() ? 1 : 0);
  }
  return p;
}

Result<std::vector<Image>> ImageEmbedder::tiles_for(const Image& image, const ImagePlan& plan) const {
  const VisionHparams& hp = model_.hparams();
  switch (plan.kind) {
    case ImagePlan::Kind::anyres: {
      NM_ASSIGN_OR_RETURN(AnyresTiles t, anyres_tiles(image, hp.image_size, hp.grid_pinpoints, ResizeFilter::bicubic));
      return std::move(t.images);
    }
    case ImagePlan::Kind::split: {
      NM_ASSIGN_OR_RETURN(SplitImage s, idefics3_split(image, hp.image_size, hp.preproc_image_size, ResizeFilter::lanczos));
      return std::move(s.images);
    }
    case ImagePlan::Kind::single: break;
  }
  const int w = encoder_->static_width(), h = encoder_->static_height();
  std::vector<Image> one;
  if (image.width == w && image.height == h) {
    one.push_back(image);
  } else if (static_) {
    one.push_back(resize_and_pad(image, {w, h}, ResizeFilter::bicubic, mean_colour(hp.norm)));
  } else {
    // The trained size, as the models' processors do for a single tile (Pillow-exact bicubic).
    one.push_back(resize_image(image, w, h, ResizeFilter::bicubic));
  }
  return one;
}

Status ImageEmbedder::embed(const Image& image, ThreadPool& pool, ImageEmbedding& out, ImageTimings* timings) {
  const auto t0 = Clock::now();
  NM_ASSIGN_OR_RETURN(out.plan, plan(image.width, image.height));
  NM_ASSIGN_OR_RETURN(std::vector<Image> tiles, tiles_for(image, out.plan));
  std::vector<EncoderInput> inputs;
  inputs.reserve(tiles.size());
  for (const Image& t : tiles) inputs.push_back(normalize_image(t, model_.hparams().norm));
  tiles.clear();
  const double pre_ms = ms_since(t0);
  const auto t1 = Clock::now();
  std::vector<std::vector<float>> embd(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) NM_RETURN_IF_ERROR(encoder_->encode(inputs[i], pool, embd[i]));
  const VisionHparams& hp = model_.hparams();
  if (out.plan.kind == ImagePlan::Kind::anyres) {
    out.data = merge_anyres(hp.patch_merge, out.plan.grid, image.width, image.height, embd, newline_, n_embd_out());
  } else {
    out.data.clear();
    for (const std::vector<float>& e : embd) out.data.insert(out.data.end(), e.begin(), e.end());
    if (out.plan.kind == ImagePlan::Kind::single && hp.projector == ProjectorKind::mlp &&
        hp.patch_merge == PatchMerge::spatial_unpad) {
      out.data.insert(out.data.end(), newline_.begin(), newline_.end());
    }
  }
  if (out.data.size() != (size_t)out.plan.n_tokens * n_embd_out()) {
    return error(ErrorCode::internal, "image embedding holds " + std::to_string(out.data.size()) + " floats, planned " +
                                          std::to_string(out.plan.n_tokens) + " tokens");
  }
  if (timings) {
    timings->preprocess_ms += pre_ms;
    timings->encode_ms += ms_since(t1);
  }
  return Status();
}

}  // namespace nm
