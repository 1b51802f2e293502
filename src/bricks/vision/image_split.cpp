#include "bricks/vision/image_split.h"

#include "bricks/vision/preprocess.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace nm {
namespace {

// Longest edge to max_len keeping the aspect ratio; the other side rounded down, then up
// to an even number (Idefics3's _resize_output_size_rescale_to_max_len).
void rescale_to_max_len(int& w, int& h, int max_len) {
  const double aspect = (double)w / h;
  if (w >= h) {
    w = max_len;
    h = (int)(w / aspect);
    if (h % 2) ++h;
  } else {
    h = max_len;
    w = (int)(h * aspect);
    if (w % 2) ++w;
  }
  w = std::max(w, 1);
  h = std::max(h, 1);
}

int round_up(int v, int m) { return (v + m - 1) / m * m; }

// Both sides up to multiples of the tile, the shorter one via the aspect ratio
// (Idefics3's resize_for_vision_encoder).
void round_to_tiles(int& w, int& h, int tile) {
  const double aspect = (double)w / h;
  if (w >= h) {
    w = round_up(w, tile);
    h = round_up((int)(w / aspect), tile);
  } else {
    h = round_up(h, tile);
    w = round_up((int)(h * aspect), tile);
  }
}

}  // namespace

SplitPlan idefics3_split_plan(int width, int height, int tile_size, int longest_edge) {
  SplitPlan p;
  p.resized_w = width;
  p.resized_h = height;
  rescale_to_max_len(p.resized_w, p.resized_h, longest_edge);
  round_to_tiles(p.resized_w, p.resized_h, tile_size);
  if (p.resized_w > tile_size || p.resized_h > tile_size) {
    p.rows = p.resized_h / tile_size;
    p.cols = p.resized_w / tile_size;
  }
  return p;
}

Result<SplitImage> idefics3_split(const Image& img, int tile_size, int longest_edge, ResizeFilter filter) {
  if (tile_size <= 0 || longest_edge <= 0 || longest_edge > 8192) {
    return error(ErrorCode::invalid_argument, "image splitting: tile size " + std::to_string(tile_size) +
                                                  " and longest edge " + std::to_string(longest_edge) +
                                                  " must be positive (longest edge at most 8192)");
  }
  if (img.width <= 0 || img.height <= 0) return error(ErrorCode::invalid_argument, "image splitting: the image is empty");
  int w = img.width, h = img.height;
  rescale_to_max_len(w, h, longest_edge);
  const Image scaled = resize_image(img, w, h, filter);
  const SplitPlan plan = idefics3_split_plan(img.width, img.height, tile_size, longest_edge);
  const Image fitted = resize_image(scaled, plan.resized_w, plan.resized_h, filter);
  SplitImage out;
  out.rows = plan.rows;
  out.cols = plan.cols;
  for (int r = 0; r < plan.rows; ++r)
    for (int c = 0; c < plan.cols; ++c) out.images.push_back(crop_image(fitted, c * tile_size, r * tile_size, tile_size, tile_size));
  out.images.push_back(plan.rows ? resize_image(fitted, tile_size, tile_size, filter) : fitted);
  return out;
}

}  // namespace nm
