// Image resampling that reproduces Pillow's Image.resize (the library Hugging Face image
// processors use, and so what vision encoders were trained on): separable convolution
// with the filter widened by the downscale factor (antialiasing), horizontal pass then
// vertical, 8-bit intermediate, fixed-point weights. Results match Pillow to within one
// level; see tests/python/test_image_preprocess.py.
#pragma once

#include "core/image.h"

namespace nm {

enum class ResizeFilter { nearest, bilinear, bicubic, lanczos };

Image resize_image(const Image& src, int out_width, int out_height, ResizeFilter filter);

}  // namespace nm
