// Vision preprocessing: turns a decoded image into the float tensors an encoder expects,
// the way the model's Hugging Face image processor does it — resize (model's filter),
// optional pad-to-square (LLaVA 1.5), LLaVA-1.6 / OneVision "anyres" tiling, and
// normalisation with the mmproj file's mean and std into planar RGB (C, H, W).
#pragma once

#include <array>
#include <utility>
#include <vector>

#include "bricks/vision/image_resize.h"
#include "core/image.h"
#include "core/status.h"

namespace nm {

struct Normalization {
  std::array<float, 3> mean{0.5f, 0.5f, 0.5f};
  std::array<float, 3> std{0.5f, 0.5f, 0.5f};
};

// Planar float image: 3 x height x width, normalised.
struct EncoderInput {
  int width = 0;
  int height = 0;
  std::vector<float> chw;
};

EncoderInput normalize_image(const Image& img, const Normalization& norm);

// The w x h rectangle at (x0, y0), which must lie inside the image.
Image crop_image(const Image& img, int x0, int y0, int w, int h);

// Centers the image on a square canvas filled with `background` (LLaVA 1.5's expand2square).
Image pad_to_square(const Image& img, std::array<uint8_t, 3> background);

// LLaVA-1.6 anyres. Resolutions are (width, height).
using Resolution = std::pair<int, int>;
// The candidate that keeps the most of the original's resolution, then wastes the least.
Resolution select_best_resolution(int width, int height, const std::vector<Resolution>& candidates);
// Resize to fit `target` keeping aspect ratio, then pad to exactly `target` (centered;
// black as LLaVA-1.6's tiles, or e.g. the normalisation mean for a neutral border).
Image resize_and_pad(const Image& img, Resolution target, ResizeFilter filter, std::array<uint8_t, 3> fill = {0, 0, 0});

struct AnyresTiles {
  Resolution grid_resolution;  // the chosen pinpoint
  int tiles_x = 0, tiles_y = 0;
  std::vector<Image> images;   // [0] = whole image at tile size, then tiles in row-major order
};
Result<AnyresTiles> anyres_tiles(const Image& img, int tile_size, const std::vector<Resolution>& pinpoints,
                                 ResizeFilter filter);

}  // namespace nm
