// Image flags shared by `run` and `chat`: --image (repeatable) and --image-size WxH, the
// static-shape mode that feeds the vision encoder one fixed input size (as NPUs need).
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/text_options.h"

namespace nm::cli {

struct ImageOptions {
  std::vector<std::string> paths;
  std::string size;  // "WxH" or empty
};

void add_image_options(CLI::App& cmd, ImageOptions& o);
// --image-size WxH alone (bench --workload camera:N takes it without --image).
void add_image_size_option(CLI::App& cmd, std::string& size);
// Parses "WIDTHxHEIGHT" (each 1..8192); false when malformed.
bool parse_image_size(const std::string& s, int& width, int& height);
// Carries --image-size into the session options (0 x 0 when not given; the flag's
// validator has already rejected malformed sizes).
void apply_image_size(const ImageOptions& o, TextOptions& t);
// The paths as C API images (valid while o lives).
std::vector<nm_image> c_images(const std::vector<std::string>& paths);

}  // namespace nm::cli
