// VirtualBuffer: reserved memory reads as zeros, is writable, moves, and the huge-page
// variant is 2 MiB aligned and (where the kernel offers transparent huge pages) backed
// by them once written. The file-backed variant keeps its contents when its pages leave
// the resident set, and is refused on an in-memory file system.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "core/process_memory.h"
#include "core/virtual_buffer.h"

namespace nm {
namespace {

constexpr size_t kHugePage = size_t{2} << 20;

void expect_zero_writable_movable(Result<VirtualBuffer> r, size_t n) {
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  VirtualBuffer b = std::move(r).value();
  ASSERT_NE(b.data(), nullptr);
  EXPECT_EQ(b.size(), n);
  auto* p = static_cast<uint8_t*>(b.data());
  for (size_t i = 0; i < n; i += 4096) EXPECT_EQ(p[i], 0) << i;
  std::memset(p, 0x5a, n);
  VirtualBuffer moved = std::move(b);
  EXPECT_EQ(b.data(), nullptr);  // NOLINT(bugprone-use-after-move): the moved-from state is part of the contract
  EXPECT_EQ(static_cast<uint8_t*>(moved.data())[n - 1], 0x5a);
  moved.release_from(0);
  EXPECT_EQ(static_cast<uint8_t*>(moved.data())[n - 1], 0);  // released pages read as zeros again
}

TEST(VirtualBuffer, ReservedMemoryIsZeroWritableAndMovable) {
  expect_zero_writable_movable(VirtualBuffer::reserve(3 << 20), 3 << 20);
  expect_zero_writable_movable(VirtualBuffer::reserve_huge(5 << 20), 5 << 20);
  EXPECT_EQ(VirtualBuffer::reserve_huge(0)->data(), nullptr);
}

TEST(VirtualBuffer, HugeIsAlignedToTwoMiB) {
  for (size_t n : {size_t{1}, size_t{4096}, kHugePage + 1, 7 * kHugePage}) {
    auto b = VirtualBuffer::reserve_huge(n);
    ASSERT_TRUE(b.ok());
    EXPECT_EQ((uintptr_t)b->data() % kHugePage, 0u) << n;
  }
}

// AnonHugePages of the mapping that contains p, in KiB; -1 if smaps has no such mapping
// (not Linux, or an emulator that does not show the guest's mappings).
long anon_huge_kib(const void* p) {
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    uintptr_t lo = 0, hi = 0;
    char dash = 0;
    std::istringstream head(line);
    if (head >> std::hex >> lo >> dash >> hi && dash == '-') {
      inside = (uintptr_t)p >= lo && (uintptr_t)p < hi;
      continue;
    }
    if (inside && line.rfind("AnonHugePages:", 0) == 0) return std::stol(line.substr(14));
  }
  return -1;
}

// Whether this environment backs memory advised by hand with huge pages: not where THP
// is off, nor under qemu-user (which does not pass madvise on), nor when no 2 MiB page
// is free.
bool hand_advised_memory_gets_huge_pages() {
  const size_t n = 4 * kHugePage;
  void* m = mmap(nullptr, n + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return false;
  void* p = reinterpret_cast<void*>(((uintptr_t)m + kHugePage - 1) / kHugePage * kHugePage);
  const bool ok = madvise(p, n, MADV_HUGEPAGE) == 0 && (std::memset(p, 1, n), anon_huge_kib(p) > 0);
  munmap(m, n + kHugePage);
  return ok;
}

TEST(VirtualBuffer, HugeIsBackedByHugePagesWhereTheKernelHasThem) {
  if (!hand_advised_memory_gets_huge_pages()) {
    GTEST_SKIP() << "memory advised MADV_HUGEPAGE by hand gets no huge pages here (THP off or emulated)";
  }
  auto b = VirtualBuffer::reserve_huge(4 * kHugePage);
  ASSERT_TRUE(b.ok());
  std::memset(b->data(), 1, b->size());
  EXPECT_GT(anon_huge_kib(b->data()), 0) << "4 written, aligned 2 MiB regions but no huge page";
}

TEST(VirtualBuffer, FileBackedKeepsItsContentsOutOfTheResidentSet) {
  const size_t n = 16 << 20;
  auto r = VirtualBuffer::reserve_file_backed(n, testing::TempDir());
  if (!r.ok()) GTEST_SKIP() << "the test folder cannot hold the buffer's file: " << r.status().to_string();
  VirtualBuffer b = std::move(r).value();
  ASSERT_TRUE(b.file_backed());
  EXPECT_EQ((uintptr_t)b.data() % kHugePage, 0u);
  auto* p = static_cast<uint8_t*>(b.data());
  for (size_t i = 0; i < n; i += 4096) EXPECT_EQ(p[i], 0) << i;
  for (size_t i = 0; i < n; ++i) p[i] = (uint8_t)(i * 2654435761u >> 13);
  auto written_r = resident_bytes();
  b.release_from(0);
  auto released_r = resident_bytes();
  ASSERT_TRUE(written_r.ok() && released_r.ok()) << written_r.status().to_string();
  const size_t written = written_r.value(), released = released_r.value();
  std::printf("16 MiB file-backed buffer: process %zu -> %zu KiB resident after release\n", written >> 10,
              released >> 10);
  EXPECT_LT(released + n * 3 / 4, written) << "its pages stayed in the resident set";
  size_t wrong = 0;
  for (size_t i = 0; i < n; ++i) wrong += p[i] != (uint8_t)(i * 2654435761u >> 13);
  EXPECT_EQ(wrong, 0u) << "released pages must come back with their contents";
  VirtualBuffer moved = std::move(b);
  EXPECT_TRUE(moved.file_backed());
  EXPECT_FALSE(b.file_backed());  // NOLINT(bugprone-use-after-move): the moved-from state is part of the contract
}

TEST(VirtualBuffer, FileBackedIsRefusedInMemoryAndInAMissingFolder) {
  if (access("/dev/shm", W_OK) == 0) {
    auto shm = VirtualBuffer::reserve_file_backed(1 << 20, "/dev/shm");
    EXPECT_FALSE(shm.ok()) << "tmpfs pages cannot leave memory without swap";
  }
  auto missing = VirtualBuffer::reserve_file_backed(1 << 20, testing::TempDir() + "/no/such/folder");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().to_string().find("no/such/folder"), std::string::npos) << missing.status().to_string();
}

}  // namespace
}  // namespace nm
