// Model files written for a test by the generators in tools/ (make_tiny_llm.py,
// make_tiny_mmproj.py, ...) with fresh random weights: the run's seed (printed, replayed
// with NM_SEED) and a private temporary folder per test program.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

namespace nm::test {

// The seed of this test program's random weights: NM_SEED, else a fresh one; printed once
// with `who` so that a failure can be replayed.
inline uint64_t run_seed(const char* who) {
  static const uint64_t s = [who] {
    const char* e = std::getenv("NM_SEED");
    const uint64_t v = e ? std::strtoull(e, nullptr, 10) : std::random_device{}() % 1000000007u;
    std::printf("%s seed: %llu (replay with NM_SEED=%llu)\n", who, (unsigned long long)v, (unsigned long long)v);
    return v;
  }();
  return s;
}

inline std::string generated_file_path(const std::string& name) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / ("nm_generated_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

// Runs a generator script from tools/ with `args`; returns the written path or "" (with a
// failure naming the command).
inline std::string make_model_file(const std::string& tool, const std::string& args, const std::string& out_name) {
  const std::string out = generated_file_path(out_name);
  const std::string cmd = std::string(NM_PYTHON) + " " + NM_SOURCE_DIR + "/tools/" + tool + " " + args + " --out " + out +
                          " > " + out + ".log 2>&1";
  const int rc = std::system(cmd.c_str());
  EXPECT_EQ(rc, 0) << cmd;
  std::filesystem::remove(out + ".log");
  return rc == 0 ? out : "";
}

// Models are mmapped: their files can go as soon as they are loaded.
inline void remove_generated_file(const std::string& path) {
  std::filesystem::remove(path);
  std::error_code ec;
  std::filesystem::remove(std::filesystem::path(path).parent_path(), ec);  // once empty
}

}  // namespace nm::test
