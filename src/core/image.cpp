#include "core/image.h"

#include <cstring>
#include <fstream>
#include <iterator>

#include <stb/stb_image.h>

namespace nm {
namespace {

Status check_size(int w, int h, const std::string& what) {
  if (w <= 0 || h <= 0) return error(ErrorCode::invalid_file, what + ": image has zero width or height");
  if ((int64_t)w * h > kMaxImagePixels) {
    return error(ErrorCode::invalid_file, what + ": image is " + std::to_string(w) + "x" + std::to_string(h) +
                                              ", larger than the " + std::to_string(kMaxImagePixels >> 20) +
                                              " megapixel limit");
  }
  return Status();
}

}  // namespace

Result<Image> decode_image(const uint8_t* data, size_t size, const std::string& what) {
  if (size == 0) return error(ErrorCode::invalid_file, what + ": empty file");
  if (size > (size_t)INT32_MAX) return error(ErrorCode::invalid_file, what + ": file too large");
  int w = 0, h = 0, comp = 0;
  if (!stbi_info_from_memory(data, (int)size, &w, &h, &comp)) {
    return error(ErrorCode::invalid_file, what + ": not a JPEG, PNG or BMP image (" +
                                              std::string(stbi_failure_reason()) + ")");
  }
  NM_RETURN_IF_ERROR(check_size(w, h, what));
  uint8_t* px = stbi_load_from_memory(data, (int)size, &w, &h, &comp, 3);
  if (!px) {
    return error(ErrorCode::invalid_file, what + ": cannot decode image (" + std::string(stbi_failure_reason()) + ")");
  }
  Image img;
  img.width = w;
  img.height = h;
  img.rgb.assign(px, px + (size_t)w * (size_t)h * 3);
  stbi_image_free(px);
  return img;
}

Result<Image> load_image(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return error(ErrorCode::io_error, "cannot open image '" + path + "'");
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (f.bad()) return error(ErrorCode::io_error, "cannot read image '" + path + "'");
  return decode_image(bytes.data(), bytes.size(), "'" + path + "'");
}

Result<Image> image_from_rgb(const uint8_t* rgb, int width, int height) {
  NM_RETURN_IF_ERROR(check_size(width, height, "raw RGB image"));
  if (!rgb) return error(ErrorCode::invalid_argument, "raw RGB image: null pixel pointer");
  Image img;
  img.width = width;
  img.height = height;
  img.rgb.assign(rgb, rgb + (size_t)width * (size_t)height * 3);
  return img;
}

}  // namespace nm
