// Image: 8-bit RGB pixels decoded from JPEG, PNG or BMP (via stb_image, Debian's libstb)
// or taken from caller memory. Decoding checks the header first, so a hostile file
// cannot make us allocate gigabytes: images are limited to kMaxImagePixels. Files must be
// regular files (a device, FIFO or directory is refused before any read, so /dev/zero or
// a FIFO without a writer cannot hang or exhaust memory) of at most kMaxImageFileBytes;
// standard input is read only when asked for by name ("-"), up to the same cap.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace nm {

constexpr int64_t kMaxImagePixels = 64ll * 1024 * 1024;  // 64 megapixels (8192 x 8192)
constexpr size_t kMaxImageFileBytes = (size_t)256 << 20;  // a 64-megapixel BMP is 192 MiB

struct Image {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> rgb;  // row-major, 3 bytes per pixel

  uint8_t at(int x, int y, int c) const { return rgb[((size_t)y * (size_t)width + (size_t)x) * 3 + (size_t)c]; }
};

// Width and height from the header alone (nothing is decoded or allocated), e.g. to refuse
// an image over a server's pixel limit before decoding it.
Status probe_image(const uint8_t* data, size_t size, int* width, int* height);
Result<Image> decode_image(const uint8_t* data, size_t size, const std::string& what = "image");
// path "-" reads standard input.
Result<Image> load_image(const std::string& path);
// Packed RGB (width * height * 3 bytes) from memory, e.g. a camera frame.
Result<Image> image_from_rgb(const uint8_t* rgb, int width, int height);

}  // namespace nm
