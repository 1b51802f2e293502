#include "cli/image_options.h"

#include <charconv>
#include <filesystem>
#include <system_error>

namespace nm::cli {

bool parse_image_size(const std::string& s, int& width, int& height) {
  const size_t x = s.find_first_of("xX");
  if (x == std::string::npos) return false;
  auto num = [](const char* b, const char* e, int& v) {
    auto r = std::from_chars(b, e, v);
    return r.ec == std::errc() && r.ptr == e && v >= 1 && v <= 8192;
  };
  return num(s.data(), s.data() + x, width) && num(s.data() + x + 1, s.data() + s.size(), height);
}

void add_image_options(CLI::App& cmd, ImageOptions& o) {
  const CLI::Validator image_file(
      [](std::string& p) -> std::string {
        std::error_code ec;
        if (p == "-" || std::filesystem::is_regular_file(p, ec)) return {};
        if (!std::filesystem::exists(p, ec)) return "no such file: " + p;
        return p + " is not a regular file (a device, FIFO or directory); give an image file, or - for standard input";
      },
      "FILE");
  cmd.add_option("--image", o.paths,
                 "Image file (JPEG, PNG, BMP; at most 256 MiB) to ask about, or - for standard input; repeatable; "
                 "needs the model's --mmproj (the bundled demo model brings its own); default: none, a text question")
      ->check(image_file);
  add_image_size_option(cmd, o.size);
}

void add_image_size_option(CLI::App& cmd, std::string& size) {
  const CLI::Validator size_check(
      [](std::string& s) -> std::string {
        int w = 0, h = 0;
        return parse_image_size(s, w, h) ? std::string()
                                         : "expected WIDTHxHEIGHT (1 to 8192 each; multiples of the encoder's patch "
                                           "size), e.g. 384x384";
      },
      "WxH");
  cmd.add_option("--image-size", size,
                 "Static-shape vision input, e.g. 384x384: every image is fitted and padded to exactly this size and "
                 "encoded in one call, without tiling (as NPUs need; each side a multiple of the encoder's patch size, "
                 "the longer at most 16 times the shorter; default: the model's own preprocessing)")
      ->check(size_check);
}

void apply_image_size(const ImageOptions& o, TextOptions& t) {
  t.image_width = t.image_height = 0;
  if (!o.size.empty() && !parse_image_size(o.size, t.image_width, t.image_height)) t.image_width = t.image_height = 0;
}

std::vector<nm_image> c_images(const std::vector<std::string>& paths) {
  std::vector<nm_image> out;
  for (const std::string& p : paths) out.push_back({p.c_str(), nullptr, 0, 0});
  return out;
}

}  // namespace nm::cli
