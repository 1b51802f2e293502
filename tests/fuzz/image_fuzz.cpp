// libFuzzer target: arbitrary bytes through image decoding and the resize used by the
// vision preprocessing. Any input must give an Image or a clear Status, never a crash.
#include <cstddef>
#include <cstdint>

#include "bricks/vision/image_resize.h"
#include "core/image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto img = nm::decode_image(data, size, "fuzz input");
  if (!img.ok()) return 0;
  if ((int64_t)img->width * img->height <= 1 << 20) {
    nm::Image r = nm::resize_image(*img, 7, 5, nm::ResizeFilter::bicubic);
    (void)r;
  }
  return 0;
}
