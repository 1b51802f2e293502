#include "bricks/vision/preprocess.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace nm {

EncoderInput normalize_image(const Image& img, const Normalization& norm) {
  EncoderInput out;
  out.width = img.width;
  out.height = img.height;
  const size_t plane = (size_t)img.width * (size_t)img.height;
  out.chw.resize(plane * 3);
  for (int c = 0; c < 3; ++c) {
    const float scale = 1.0f / (255.0f * norm.std[(size_t)c]);
    const float shift = norm.mean[(size_t)c] / norm.std[(size_t)c];
    for (size_t i = 0; i < plane; ++i) out.chw[(size_t)c * plane + i] = (float)img.rgb[i * 3 + (size_t)c] * scale - shift;
  }
  return out;
}

namespace {

Image paste_centered(const Image& img, int w, int h, std::array<uint8_t, 3> fill) {
  Image out;
  out.width = w;
  out.height = h;
  out.rgb.resize((size_t)w * (size_t)h * 3);
  for (size_t i = 0; i < (size_t)w * (size_t)h; ++i)
    for (size_t c = 0; c < 3; ++c) out.rgb[i * 3 + c] = fill[c];
  const int x0 = (w - img.width) / 2, y0 = (h - img.height) / 2;
  for (int y = 0; y < img.height; ++y)
    std::copy_n(&img.rgb[(size_t)y * img.width * 3], (size_t)img.width * 3, &out.rgb[((size_t)(y + y0) * w + x0) * 3]);
  return out;
}

}  // namespace

Image crop_image(const Image& img, int x0, int y0, int w, int h) {
  Image out;
  out.width = w;
  out.height = h;
  out.rgb.resize((size_t)w * (size_t)h * 3);
  for (int y = 0; y < h; ++y)
    std::copy_n(&img.rgb[((size_t)(y + y0) * img.width + x0) * 3], (size_t)w * 3, &out.rgb[(size_t)y * w * 3]);
  return out;
}

Image pad_to_square(const Image& img, std::array<uint8_t, 3> background) {
  const int side = std::max(img.width, img.height);
  return paste_centered(img, side, side, background);
}

Resolution select_best_resolution(int width, int height, const std::vector<Resolution>& candidates) {
  Resolution best = candidates.empty() ? Resolution{width, height} : candidates[0];
  int64_t best_effective = -1;
  int64_t best_wasted = std::numeric_limits<int64_t>::max();
  for (const auto& [cw, ch] : candidates) {
    const double scale = std::min((double)cw / width, (double)ch / height);
    const int64_t dw = (int64_t)(width * scale), dh = (int64_t)(height * scale);
    const int64_t effective = std::min(dw * dh, (int64_t)width * height);
    const int64_t wasted = (int64_t)cw * ch - effective;
    if (effective > best_effective || (effective == best_effective && wasted < best_wasted)) {
      best_effective = effective;
      best_wasted = wasted;
      best = {cw, ch};
    }
  }
  return best;
}

Image resize_and_pad(const Image& img, Resolution target, ResizeFilter filter, std::array<uint8_t, 3> fill) {
  const auto [tw, th] = target;
  const double sx = (double)tw / img.width, sy = (double)th / img.height;
  int nw, nh;
  if (sx < sy) {
    nw = tw;
    nh = std::min((int)std::ceil(img.height * sx), th);
  } else {
    nh = th;
    nw = std::min((int)std::ceil(img.width * sy), tw);
  }
  return paste_centered(resize_image(img, nw, nh, filter), tw, th, fill);
}

Result<AnyresTiles> anyres_tiles(const Image& img, int tile_size, const std::vector<Resolution>& pinpoints,
                                 ResizeFilter filter) {
  if (tile_size <= 0) return error(ErrorCode::invalid_argument, "anyres: tile size must be positive");
  if (pinpoints.empty()) return error(ErrorCode::invalid_file, "anyres: the model lists no grid pinpoints");
  for (const auto& [w, h] : pinpoints) {
    if (w <= 0 || h <= 0 || w % tile_size || h % tile_size || (int64_t)w * h > kMaxImagePixels) {
      return error(ErrorCode::invalid_file, "anyres: grid pinpoint " + std::to_string(w) + "x" + std::to_string(h) +
                                                " is not a positive multiple of the tile size " +
                                                std::to_string(tile_size));
    }
  }
  AnyresTiles out;
  out.grid_resolution = select_best_resolution(img.width, img.height, pinpoints);
  const Image padded = resize_and_pad(img, out.grid_resolution, filter);
  out.tiles_x = out.grid_resolution.first / tile_size;
  out.tiles_y = out.grid_resolution.second / tile_size;
  out.images.push_back(resize_image(img, tile_size, tile_size, filter));
  for (int ty = 0; ty < out.tiles_y; ++ty)
    for (int tx = 0; tx < out.tiles_x; ++tx) out.images.push_back(crop_image(padded, tx * tile_size, ty * tile_size, tile_size, tile_size));
  return out;
}

}  // namespace nm
