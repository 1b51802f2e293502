// process_memory: the resident bytes of a mapped file follow the pages touched and
// released (mmap + touch + madvise), and the resident set counts an anonymous buffer.
#include "core/process_memory.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <vector>

#include <fcntl.h>

namespace nm {
namespace {

TEST(ProcessMemory, FileMappingResidencyFollowsTouchAndRelease) {
  const auto path = std::filesystem::temp_directory_path() / ("nm_pm_" + std::to_string(std::random_device{}()) + ".bin");
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t size = 64 * page;
  {
    std::ofstream f(path, std::ios::binary);
    std::vector<char> data(size, 1);
    f.write(data.data(), static_cast<std::streamsize>(size));
  }
  EXPECT_EQ(resident_bytes_of_file(path.string()).value(), 0u);  // not mapped
  const int fd = open(path.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  void* p = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ASSERT_NE(p, MAP_FAILED);
  volatile char sum = 0;
  for (size_t i = 0; i < 16; ++i) sum = sum + static_cast<const char*>(p)[i * page];
  const size_t touched = resident_bytes_of_file(path.string()).value();
  EXPECT_GE(touched, 16 * page);  // read-ahead may bring in more, never fewer
  EXPECT_LE(touched, size);
  munmap(p, size);
  close(fd);
  EXPECT_EQ(resident_bytes_of_file(path.string()).value(), 0u);  // unmapped: nothing of it is ours
  std::filesystem::remove(path);
}

TEST(ProcessMemory, ResidentSetCountsATouchedBuffer) {
  const size_t before = resident_bytes().value();
  std::vector<char> buf(64 << 20);
  for (size_t i = 0; i < buf.size(); i += 4096) buf[i] = 1;
  const size_t after = resident_bytes().value();
  EXPECT_GE(after, before + (48u << 20)) << before << " -> " << after;
  EXPECT_GE(peak_resident_bytes().value(), after);
}

}  // namespace
}  // namespace nm
