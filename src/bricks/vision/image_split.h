// SmolVLM / Idefics3 image splitting, as Hugging Face's Idefics3ImageProcessor does it:
// resize so the longest edge is the processor's longest_edge (clip.vision.preproc_image_size;
// small images are enlarged too), round both sides up to multiples of the encoder's
// image size, cut that into image_size x image_size tiles (row-major) and add the whole
// picture downscaled to one tile as the "global" image (last). Pure functions.
#pragma once

#include <vector>

#include "bricks/vision/image_resize.h"
#include "core/image.h"
#include "core/status.h"

namespace nm {

struct SplitPlan {
  int resized_w = 0, resized_h = 0;  // after both resizes (multiples of the tile size)
  int rows = 0, cols = 0;            // 0 x 0: no splitting (the image fits one tile)
};
SplitPlan idefics3_split_plan(int width, int height, int tile_size, int longest_edge);

struct SplitImage {
  int rows = 0, cols = 0;
  std::vector<Image> images;  // rows * cols tiles in row-major order, then the global image
};
// The processor resamples with Lanczos (Pillow's), which is what `filter` should be.
Result<SplitImage> idefics3_split(const Image& img, int tile_size, int longest_edge, ResizeFilter filter);

}  // namespace nm
