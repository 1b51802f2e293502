#include "bricks/vision/image_plan.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "bricks/vision/image_split.h"
#include "bricks/vision/preprocess.h"

namespace nm {
namespace {

// The normalisation mean as a colour: padding with it normalises to zero, a neutral border.
std::array<uint8_t, 3> mean_colour(const Normalization& n) {
  std::array<uint8_t, 3> c{};
  for (size_t i = 0; i < 3; ++i) c[i] = (uint8_t)std::lround(std::clamp(n.mean[i], 0.0f, 1.0f) * 255.0f);
  return c;
}

bool spatial_unpad(const VisionHparams& hp) {
  return hp.projector == ProjectorKind::mlp && hp.patch_merge == PatchMerge::spatial_unpad;
}

}  // namespace

int ImagePlan::tile_row(int i) const {
  if (i < 0 || i >= n_encodes) return -1;
  if (grid_merged && i > 0) return -1;  // the overview leads; grid tiles are merged into place
  return i * tile_tokens;
}

Result<ImagePlan> plan_image(const MmprojModel& model, int width, int height, const ImageSizing& sizing) {
  if (width <= 0 || height <= 0) return error(ErrorCode::invalid_argument, "the image is empty");
  if (sizing.is_static() && (sizing.static_width <= 0 || sizing.static_height <= 0)) {
    return error(ErrorCode::invalid_argument, "the static image size needs both a width and a height");
  }
  const VisionHparams& hp = model.hparams();
  ImagePlan p;
  p.image_width = width;
  p.image_height = height;
  p.fixed_size = sizing.is_static();
  p.tile_width = sizing.is_static() ? sizing.static_width : hp.image_size;
  p.tile_height = sizing.is_static() ? sizing.static_height : hp.image_size;
  NM_ASSIGN_OR_RETURN(p.tile_tokens, model.encoder_tokens(p.tile_width, p.tile_height));
  const bool has_newline = model.weights().image_newline.data != nullptr;
  if (hp.projector == ProjectorKind::mlp && !hp.grid_pinpoints.empty() && !sizing.is_static()) {
    p.kind = ImagePlan::Kind::anyres;
    const Resolution best = select_best_resolution(width, height, hp.grid_pinpoints);
    p.grid = {best.first / hp.image_size, best.second / hp.image_size, hp.grid_side()};
    p.n_encodes = 1 + p.grid.tiles_x * p.grid.tiles_y;
    p.grid_merged = spatial_unpad(hp);
    p.n_tokens = anyres_n_tokens(hp.patch_merge, p.grid, width, height, has_newline);
  } else if (hp.projector == ProjectorKind::idefics3 && hp.preproc_image_size > 0 && !sizing.is_static()) {
    p.kind = ImagePlan::Kind::split;
    const SplitPlan s = idefics3_split_plan(width, height, hp.image_size, hp.preproc_image_size);
    p.rows = s.rows;
    p.cols = s.cols;
    p.n_encodes = 1 + s.rows * s.cols;
    p.n_tokens = p.n_encodes * p.tile_tokens;
  } else {
    // One encoder call; a LLaVA-NeXT model still ends the image with its newline.
    p.newline = has_newline && spatial_unpad(hp);
    p.n_tokens = p.tile_tokens + (p.newline ? 1 : 0);
  }
  return p;
}

Result<int> max_image_tokens(const MmprojModel& model, const ImageSizing& sizing) {
  const VisionHparams& hp = model.hparams();
  // Candidates that reach every tiling's largest grid: each anyres pinpoint (its whole grid
  // is kept when the picture has its aspect), the splitting processor's longest edge
  // (square: the most tiles), and the trained size.
  std::vector<Resolution> sizes = {{hp.image_size, hp.image_size}};
  if (!sizing.is_static()) {
    sizes.insert(sizes.end(), hp.grid_pinpoints.begin(), hp.grid_pinpoints.end());
    if (hp.preproc_image_size > 0) sizes.push_back({hp.preproc_image_size, hp.preproc_image_size});
  }
  int most = 0;
  for (const Resolution& r : sizes) {
    NM_ASSIGN_OR_RETURN(ImagePlan p, plan_image(model, r.first, r.second, sizing));
    most = std::max(most, p.n_tokens);
  }
  return most;
}

Result<std::vector<Image>> image_tiles(const MmprojModel& model, const Image& image, const ImagePlan& plan) {
  const VisionHparams& hp = model.hparams();
  if (image.width != plan.image_width || image.height != plan.image_height) {
    return error(ErrorCode::internal, "image_tiles: the plan was made for another image size");
  }
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
  const int w = plan.tile_width, h = plan.tile_height;
  std::vector<Image> one;
  if (image.width == w && image.height == h) {
    one.push_back(image);
  } else if (plan.fixed_size) {
    // Static shape: fitted and padded with the mean colour.
    one.push_back(resize_and_pad(image, {w, h}, ResizeFilter::bicubic, mean_colour(hp.norm)));
  } else {
    // The trained size, as the models' processors do for a single tile (Pillow-exact bicubic).
    one.push_back(resize_image(image, w, h, ResizeFilter::bicubic));
  }
  return one;
}

Status finish_image_embeddings(const MmprojModel& model, const ImagePlan& plan,
                               std::span<const std::vector<float>> merged, std::span<float> out) {
  const size_t E = (size_t)model.hparams().n_embd_out;
  if (out.size() != (size_t)plan.n_tokens * E) {
    return error(ErrorCode::internal, "image embeddings hold " + std::to_string(out.size()) + " floats, planned " +
                                          std::to_string(plan.n_tokens) + " x " + std::to_string(E));
  }
  std::vector<float> newline;
  if (const Tensor& nl = model.weights().image_newline; nl.data) {
    newline.resize((size_t)nl.ne[0]);
    type_traits(nl.type)->to_float(nl.data, newline.data(), nl.ne[0]);
  }
  if (plan.kind == ImagePlan::Kind::anyres) {
    std::vector<const float*> tiles((size_t)plan.n_encodes);
    for (int i = 0; i < plan.n_encodes; ++i) {
      const int row = plan.tile_row(i);
      if (row >= 0) {
        tiles[(size_t)i] = out.data() + (size_t)row * E;
      } else if ((size_t)i < merged.size() && merged[(size_t)i].size() == (size_t)plan.tile_tokens * E) {
        tiles[(size_t)i] = merged[(size_t)i].data();
      } else {
        return error(ErrorCode::internal, "anyres tile " + std::to_string(i) + " was not encoded");
      }
    }
    merge_anyres(model.hparams().patch_merge, plan.grid, plan.image_width, plan.image_height, tiles, newline,
                 (int)E, out.data());
    return Status();
  }
  if (plan.newline) std::memcpy(out.data() + (size_t)plan.tile_tokens * E, newline.data(), E * sizeof(float));
  return Status();
}

}  // namespace nm
