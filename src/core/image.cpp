#include "core/image.h"

#include <unistd.h>

#include <climits>
#include <cstring>
#include <string_view>

#include <stb/stb_image.h>

#include "core/file_read.h"

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

enum class ImageFormat { jpeg, png, bmp, other };

bool starts_with(const uint8_t* data, size_t size, std::string_view magic) {
  return size >= magic.size() && std::memcmp(data, magic.data(), magic.size()) == 0;
}

// The format by its signature. stb_image also reads GIF, PSD, TGA, HDR, PIC and PNM; only
// the three formats NanoMind documents are handed to it.
ImageFormat sniff(const uint8_t* data, size_t size) {
  if (starts_with(data, size, "\xFF\xD8\xFF")) return ImageFormat::jpeg;
  if (starts_with(data, size, "\x89PNG\r\n\x1A\n")) return ImageFormat::png;
  if (starts_with(data, size, "BM")) return ImageFormat::bmp;
  return ImageFormat::other;
}

// What a refused file looks like, for the message.
std::string other_format_name(const uint8_t* data, size_t size) {
  if (starts_with(data, size, "GIF8")) return "a GIF image";
  if (starts_with(data, size, "8BPS")) return "a PSD image";
  if (starts_with(data, size, "#?RADIANCE") || starts_with(data, size, "#?RGBE")) return "an HDR image";
  if (starts_with(data, size, "RIFF") && size >= 12 && std::memcmp(data + 8, "WEBP", 4) == 0) return "a WebP image";
  if (size >= 2 && data[0] == 'P' && data[1] >= '1' && data[1] <= '7') return "a PNM image";
  return "not an image this reader knows";
}

uint32_t be32(const uint8_t* p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

}  // namespace

Status probe_image(const uint8_t* data, size_t size, int* width, int* height) {
  if (!data || size == 0) return error(ErrorCode::invalid_file, "image: empty file");
  if (size > (size_t)INT32_MAX) return error(ErrorCode::invalid_file, "image: file too large");
  int comp = 0;
  if (!stbi_info_from_memory(data, (int)size, width, height, &comp)) {
    return error(ErrorCode::invalid_file, "not a JPEG, PNG or BMP image (" + std::string(stbi_failure_reason()) + ")");
  }
  return Status();
}

Result<Image> decode_image(const uint8_t* data, size_t size, const std::string& what) {
  if (size == 0) return error(ErrorCode::invalid_file, what + ": empty file");
  if (size > (size_t)INT32_MAX) return error(ErrorCode::invalid_file, what + ": file too large");
  const ImageFormat format = sniff(data, size);
  if (format == ImageFormat::other) {
    return error(ErrorCode::invalid_file, what + ": not a JPEG, PNG or BMP image (" + other_format_name(data, size) +
                                              "; convert it to PNG or JPEG)");
  }
  // PNG: the IHDR size first, so an image past the limit is named as such (stb_image's
  // info call refuses sides above 2^24 with only "too large").
  if (format == ImageFormat::png && size >= 24 && std::memcmp(data + 12, "IHDR", 4) == 0) {
    const uint32_t pw = be32(data + 16), ph = be32(data + 20);
    if (pw > 0 && ph > 0 && (uint64_t)pw * ph > (uint64_t)kMaxImagePixels) {
      return error(ErrorCode::invalid_file, what + ": image is " + std::to_string(pw) + "x" + std::to_string(ph) +
                                                ", larger than the " + std::to_string(kMaxImagePixels >> 20) +
                                                " megapixel limit");
    }
  }
  int w = 0, h = 0, comp = 0;
  if (!stbi_info_from_memory(data, (int)size, &w, &h, &comp)) {
    const std::string reason = stbi_failure_reason() ? stbi_failure_reason() : "unknown";
    if (reason == "too large") {
      return error(ErrorCode::invalid_file, what + ": image is larger than the " +
                                                std::to_string(kMaxImagePixels >> 20) + " megapixel limit");
    }
    const char* name = format == ImageFormat::jpeg ? "JPEG" : format == ImageFormat::png ? "PNG" : "BMP";
    return error(ErrorCode::invalid_file, what + ": broken " + std::string(name) + " header (" + reason + ")");
  }
  // A top-down BMP stores a negative height; stb_image's info call passes it on as is
  // (its decoder handles it).
  if (format == ImageFormat::bmp && h < 0 && h != INT32_MIN) h = -h;
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
  std::vector<uint8_t> bytes;
  if (path == "-") {
    NM_RETURN_IF_ERROR(read_fd_capped(STDIN_FILENO, kMaxImageFileBytes, "the image on standard input", bytes));
    return decode_image(bytes.data(), bytes.size(), "the image on standard input");
  }
  NM_ASSIGN_OR_RETURN(bytes, read_regular_file(path, kMaxImageFileBytes, "image '" + path + "'",
                                               "give an image file, or - for standard input"));
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
