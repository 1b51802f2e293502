#include <cstring>

#include "bricks/vision/image_resize.h"
#include "core/image.h"
#include "tests/shim/shim.h"

// Decodes an image file into caller memory (max_bytes); writes width/height.
NM_SHIM int nm_shim_load_image(const char* path, uint8_t* out, int64_t max_bytes, int* width, int* height) {
  auto img = nm::load_image(path);
  if (!img.ok()) return 1;
  *width = img->width;
  *height = img->height;
  if ((int64_t)img->rgb.size() > max_bytes) return 2;
  std::memcpy(out, img->rgb.data(), img->rgb.size());
  return 0;
}

NM_SHIM int nm_shim_resize(const uint8_t* rgb, int w, int h, int out_w, int out_h, int filter, uint8_t* out) {
  auto img = nm::image_from_rgb(rgb, w, h);
  if (!img.ok()) return 1;
  nm::Image r = nm::resize_image(*img, out_w, out_h, static_cast<nm::ResizeFilter>(filter));
  std::memcpy(out, r.rgb.data(), r.rgb.size());
  return 0;
}
