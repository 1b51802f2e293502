// A throw-away sysfs tree in a temp directory for the energy tests: write, remove and
// make unreadable the files that meters read, while the meters run.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>

namespace nm::energy::testing {

class FakeSysfs {
 public:
  FakeSysfs() {
    std::random_device rd;
    root_ = std::filesystem::temp_directory_path() / ("nm_energy_sysfs_" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(root_);
  }
  ~FakeSysfs() {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
  FakeSysfs(const FakeSysfs&) = delete;
  FakeSysfs& operator=(const FakeSysfs&) = delete;

  void write(const std::string& rel, const std::string& text) const {
    std::filesystem::create_directories((root_ / rel).parent_path());
    std::ofstream(root_ / rel, std::ios::trunc) << text << "\n";
  }
  void write(const std::string& rel, long long v) const { write(rel, std::to_string(v)); }
  void remove(const std::string& rel) const {
    std::error_code ec;
    std::filesystem::remove_all(root_ / rel, ec);
  }
  void make_unreadable(const std::string& rel) const { ::chmod((root_ / rel).c_str(), 0); }
  std::string root() const { return root_.string(); }
  std::string path(const std::string& rel) const { return (root_ / rel).string(); }
  // Root ignores file permissions, so "unreadable" cannot be tested as root.
  static bool can_test_permissions() { return ::geteuid() != 0; }

 private:
  std::filesystem::path root_;
};

}  // namespace nm::energy::testing
