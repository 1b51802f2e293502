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

std::string fetched_models_dir() {
  if (const char* d = std::getenv("NM_MODELS_DIR"); d && *d) return d;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/nanomind/models";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/nanomind/models";
  return {};
}

std::optional<DefaultModel> find_default_model() {
  namespace fs = std::filesystem;
  const std::string dir = find_demo_model_dir();
  if (dir.empty()) return std::nullopt;
  std::error_code ec;
  DefaultModel m;
  m.models_dir = dir;
  const fs::path mmproj = fs::path(dir) / kDefaultMmprojFile;
  std::vector<fs::path> llm_dirs = {fs::path(dir)};
  if (const std::string f = fetched_models_dir(); !f.empty()) llm_dirs.insert(llm_dirs.begin(), f);
  if (fs::is_regular_file(mmproj, ec)) {
    for (const fs::path& d : llm_dirs) {
      if (fs::is_regular_file(d / kDefaultLlmFile, ec)) {
        m.llm = (d / kDefaultLlmFile).string();
        m.mmproj = mmproj.string();
        return m;
      }
    }
    m.missing_llm = (llm_dirs.front() / kDefaultLlmFile).string();
  }
  m.toy = true;
  m.llm = (fs::path(dir) / kDemoLlmFile).string();
  if (fs::is_regular_file(fs::path(dir) / kDemoMmprojFile, ec)) m.mmproj = (fs::path(dir) / kDemoMmprojFile).string();
  return m;
}

std::string demo_model_search_path() {
  std::string out;
  for (const auto& dir : candidate_dirs()) out += (out.empty() ? "" : ", ") + dir.lexically_normal().string();
  return out;
}

}  // namespace nm::cli
