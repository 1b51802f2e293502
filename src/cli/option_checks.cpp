#include "cli/option_checks.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>

#include <unistd.h>

namespace nm::cli {

CLI::Validator real_in(double lo, double hi, bool lo_open, std::string range) {
  return CLI::Validator(
      [lo, hi, lo_open, range](std::string& s) -> std::string {
        char* end = nullptr;
        errno = 0;
        const double v = std::strtod(s.c_str(), &end);
        if (s.empty() || end != s.c_str() + s.size() || errno == ERANGE) return "'" + s + "' is not a number: " + range;
        if (!std::isfinite(v) || v < lo || (lo_open && v == lo) || v > hi) return s + " is out of range: " + range;
        return {};
      },
      "NUMBER");
}

CLI::Validator int_in(int64_t lo, int64_t hi, std::string range) {
  return CLI::Validator(
      [lo, hi, range](std::string& s) -> std::string {
        char* end = nullptr;
        errno = 0;
        const long long v = std::strtoll(s.c_str(), &end, 10);
        if (s.empty() || end != s.c_str() + s.size()) return "'" + s + "' is not a whole number: " + range;
        if (errno == ERANGE || v < lo || v > hi) return s + " is out of range: " + range;
        return {};
      },
      "INT");
}

void add_power_options(CLI::App& cmd, std::string& battery, std::string& mode, double& t_high, double& t_low,
                       const PowerOptionTexts& help) {
  cmd.add_option("--battery", battery, help.battery);
  cmd.add_option("--power-mode", mode, help.mode)->check(CLI::IsMember({"auto", "parallel", "throttled", "on-demand"}));
  cmd.add_option("--t-high", t_high, "With --battery: battery % above which " + help.what_runs + " parallel (default 50)")
      ->check(real_in(0, 95, false, "0 to 95 (%)"));
  cmd.add_option("--t-low", t_low, "With --battery: battery % at or below which " + help.what_runs +
                                       " on demand (default 20; throttled between)")
      ->check(real_in(0, 95, false, "0 to 95 (%)"));
}

CLI::Validator writable_file() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        namespace fs = std::filesystem;
        std::error_code ec;
        const fs::path p(s);
        if (s.empty()) return "an empty path cannot be written";
        if (fs::is_directory(p, ec)) return "'" + s + "' is a folder, not a file";
        const fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
        if (!fs::is_directory(dir, ec)) return "'" + dir.string() + "' is not an existing folder";
        if (::access(dir.c_str(), W_OK) != 0) return "'" + dir.string() + "' is not writable";
        return {};
      },
      "FILE");
}

}  // namespace nm::cli
