#include "cli/default_model.h"

#include <cstdlib>
#include <filesystem>
#include <system_error>
#include <vector>

namespace nm::cli {

namespace {

std::vector<std::filesystem::path> candidate_dirs() {
  namespace fs = std::filesystem;
  std::vector<fs::path> dirs;
  if (const char* env = std::getenv("NANOMIND_MODELS"); env && *env) dirs.emplace_back(env);
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    dirs.push_back(exe.parent_path() / ".." / ".." / "models");
    dirs.push_back(exe.parent_path() / ".." / "share" / "nanomind" / "models");
  }
  dirs.emplace_back(NM_SOURCE_MODELS_DIR);
  return dirs;
}

}  // namespace

std::string find_demo_model_dir() {
  for (const auto& dir : candidate_dirs()) {
    std::error_code ec;
    if (std::filesystem::is_regular_file(dir / kDemoLlmFile, ec)) return std::filesystem::weakly_canonical(dir, ec).string();
  }
  return {};
}

std::string demo_model_search_path() {
  std::string out;
  for (const auto& dir : candidate_dirs()) out += (out.empty() ? "" : ", ") + dir.lexically_normal().string();
  return out;
}

}  // namespace nm::cli
