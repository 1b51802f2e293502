// PackedWeights: packed copies only for matmul weights inside the file mapping, made once,
// giving the same products as the file layout, and the file's pages released afterwards
// so that packing does not double the resident memory. Spilled into a file (on-demand
// residency), evicted copies leave the resident set and come back unchanged, not packed again.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>

#include "backend/cpu/packed_weights.h"
#include "core/fp16.h"
#include "core/gguf_reader.h"
#include "core/gguf_writer.h"
#include "core/process_memory.h"
#include "kernels/matmul.h"
#include "kernels/matmul_packed.h"
#include "test_weights.h"

namespace nm {
namespace {

using test::random_rows;
using test::resident_file_bytes;

struct ModelFile {
  std::string path;
  GgufFile file;
};

ModelFile write_file(const std::vector<std::pair<std::string, std::vector<uint8_t>>>& tensors,
                     const std::vector<std::pair<DType, std::vector<int64_t>>>& shapes) {
  const std::string path = testing::TempDir() + "/nm_packed_weights_" + std::to_string(getpid()) + ".gguf";
  GgufWriter w;
  EXPECT_TRUE(w.set_alignment((uint32_t)sysconf(_SC_PAGESIZE)).ok());
  for (size_t i = 0; i < tensors.size(); ++i) {
    EXPECT_TRUE(w.add_tensor(tensors[i].first, shapes[i].first, shapes[i].second, tensors[i].second.data(),
                             tensors[i].second.size()).ok());
  }
  EXPECT_TRUE(w.write(path).ok());
  auto f = GgufFile::open(path);
  EXPECT_TRUE(f.ok());
  return {path, std::move(f).value()};
}

std::vector<float> product(Isa isa, const Tensor& w, const void* packed, const std::vector<float>& x, int64_t n) {
  MatmulArgs a;
  a.w_type = w.type;
  a.w = packed ? packed : w.data;
  a.w_packed = packed != nullptr;
  a.w_row_bytes = w.nb[1];
  a.m = w.ne[1];
  a.k = w.ne[0];
  a.x = x.data();
  a.x_stride = a.k;
  a.n = n;
  std::vector<float> y((size_t)(n * a.m));
  a.y = y.data();
  a.y_stride = a.m;
  std::vector<char> scratch(matmul_scratch_bytes(w.type, a.m, a.k, n));
  ThreadPool pool(2);
  EXPECT_TRUE(matmul(isa, a, scratch.data(), pool).ok());
  return y;
}

TEST(PackedWeights, SameProductsAsTheFileLayoutAndPackedOnce) {
  const Isa isa = best_isa();
  if (!matmul_packable(isa, DType::Q4_0, 16, 32)) GTEST_SKIP() << "no packed kernels on " << isa_name(isa);
  std::mt19937 rng(std::random_device{}());
  const int64_t k = 256;
  ModelFile mf = write_file({{"q4", random_rows(DType::Q4_0, 48, k, rng)},
                             {"q8", random_rows(DType::Q8_0, 32, k, rng)},
                             {"odd", random_rows(DType::Q4_0, 40, k, rng)}},
                            {{DType::Q4_0, {k, 48}}, {DType::Q8_0, {k, 32}}, {DType::Q4_0, {k, 40}}});
  PackedWeights packed(mf.path, mf.file.data(), mf.file.file_size());
  std::normal_distribution<float> normal;
  std::vector<float> x(5 * k);
  for (float& v : x) v = normal(rng);
  for (const char* name : {"q4", "q8"}) {
    const Tensor w = mf.file.tensor(name).value();
    if (!matmul_packable(isa, w.type, w.ne[1], k)) continue;  // packed Q8_0 needs VNNI
    const void* p = packed.get(isa, w);
    ASSERT_NE(p, nullptr) << name;
    EXPECT_EQ(packed.get(isa, w), p) << "packed twice";
    for (int64_t n : {1, 5}) {
      // Same ISA, so the same activation quantiser: only the float summation order differs.
      const std::vector<float> plain = product(isa, w, nullptr, x, n), fast = product(isa, w, p, x, n);
      float scale = 0;
      for (float v : plain) scale = std::max(scale, std::fabs(v));
      for (size_t i = 0; i < plain.size(); ++i) {
        EXPECT_NEAR(fast[i], plain[i], 1e-5f * (1.0f + scale)) << name << " n=" << n << " at " << i;
      }
    }
  }
  EXPECT_EQ(packed.get(isa, mf.file.tensor("odd").value()), nullptr) << "40 rows are not a whole number of groups";
  // Not inside the file mapping (e.g. a KV cache or a caller's buffer): never packed.
  std::vector<uint8_t> heap = random_rows(DType::Q4_0, 16, k, rng);
  Tensor h = mf.file.tensor("q4").value();
  h.data = heap.data();
  h.ne[1] = 16;
  EXPECT_EQ(packed.get(isa, h), nullptr);
  std::remove(mf.path.c_str());
}

TEST(PackedWeights, FilePagesDoNotStayResident) {
  const Isa isa = best_isa();
  if (!matmul_packable(isa, DType::Q4_0, 16, 32)) GTEST_SKIP() << "no packed kernels on " << isa_name(isa);
  std::mt19937 rng(1);
  const int64_t k = 4096, m = 4096;  // 9 MiB of Q4_0
  ModelFile mf = write_file({{"w", random_rows(DType::Q4_0, m, k, rng)}, {"w2", random_rows(DType::Q4_0, m, k, rng)}},
                            {{DType::Q4_0, {k, m}}, {DType::Q4_0, {k, m}}});
  const Tensor w = mf.file.tensor("w").value();
  const size_t bytes = row_size(DType::Q4_0, k) * (size_t)m;
  PackedWeights packed(mf.path, mf.file.data(), mf.file.file_size());
  const size_t before = resident_file_bytes();
  // Packing reads the file with pread: its pages do not join the resident set.
  const Tensor w2 = mf.file.tensor("w2").value();
  ASSERT_NE(packed.get(isa, w2), nullptr);
  EXPECT_LT((long)resident_file_bytes() - (long)before, (long)bytes / 16) << "packing mapped the file's pages";
  // Pages of a weight that were mapped before (read through the mapping) are dropped.
  const auto* bytes_of_w = static_cast<const volatile uint8_t*>(w.data);
  unsigned sum = 0;
  for (size_t i = 0; i < bytes; i += 512) sum += bytes_of_w[i];
  EXPECT_GT((long)resident_file_bytes() - (long)before, (long)bytes * 3 / 4) << sum;
  ASSERT_NE(packed.get(isa, w), nullptr);
  EXPECT_LT((long)resident_file_bytes() - (long)before, (long)bytes / 16) << "file pages stayed resident after packing";
  EXPECT_EQ(packed.packed_bytes(), 2 * bytes);
  std::remove(mf.path.c_str());
}

// Resident bytes of this process (0 where /proc cannot be read: the checks then fail).
size_t resident() {
  auto r = resident_bytes();
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  return r.ok() ? r.value() : 0;
}

TEST(PackedWeights, SpilledCopiesLeaveTheResidentSetAndComeBackUnchanged) {
  const Isa isa = best_isa();
  if (!matmul_packable(isa, DType::Q4_0, 16, 32)) GTEST_SKIP() << "no packed kernels on " << isa_name(isa);
  std::mt19937 rng(std::random_device{}());
  const int64_t k = 4096, m = 4096;  // 9 MiB of Q4_0
  ModelFile mf = write_file({{"w", random_rows(DType::Q4_0, m, k, rng)}}, {{DType::Q4_0, {k, m}}});
  const Tensor w = mf.file.tensor("w").value();
  const size_t bytes = matmul_packed_bytes(w.type, m, k);
  PackedWeights anonymous(mf.path, mf.file.data(), mf.file.file_size());
  PackedWeights spilled(mf.path, mf.file.data(), mf.file.file_size(), testing::TempDir());
  const auto* a = static_cast<const uint8_t*>(anonymous.get(isa, w));
  const auto* p = static_cast<const uint8_t*>(spilled.get(isa, w));
  ASSERT_NE(a, nullptr);
  ASSERT_NE(p, nullptr);
  EXPECT_FALSE(anonymous.evict()) << "anonymous copies cannot be kept out of memory";
  EXPECT_EQ(std::memcmp(a, p, bytes), 0) << "a spilled copy is the same packing";
  const size_t before = resident();
  if (!spilled.evict()) GTEST_SKIP() << "the test folder cannot hold the copies' file (tmpfs, read-only or full)";
  const size_t after = resident();
  std::printf("9 MiB of spilled Q4_0 copies evicted: process %zu -> %zu KiB resident\n", before >> 10, after >> 10);
  EXPECT_LT(after + bytes * 3 / 4, before) << "evicted copies stayed resident";
  // The next use finds the same copy (not packed again) with the same bytes.
  EXPECT_EQ(spilled.get(isa, w), p);
  EXPECT_EQ(spilled.packed_bytes(), bytes);
  EXPECT_EQ(std::memcmp(a, p, bytes), 0) << "an evicted copy came back changed";
  std::remove(mf.path.c_str());
}

// Weights in memory the caller owns (Whisper's arena): the same products as that layout,
// packed once, the caller's bytes left as they were, and memory outside the range refused.
TEST(PackedWeights, FromMemoryLeavesTheSourceAlone) {
  const Isa isa = best_isa();
  if (!matmul_packable(isa, DType::Q8_0, 32, 256)) GTEST_SKIP() << "no packed Q8_0 kernel on " << isa_name(isa);
  std::mt19937 rng(std::random_device{}());
  const int64_t k = 256, m = 32;
  const std::vector<uint8_t> rows = random_rows(DType::Q8_0, m, k, rng);
  std::vector<uint8_t> arena(rows.size() + 4096);
  std::copy(rows.begin(), rows.end(), arena.begin() + 64);
  const std::vector<uint8_t> before = arena;
  Tensor w = Tensor::make(DType::Q8_0, {k, m, 1, 1}, arena.data() + 64);
  std::shared_ptr<PackedWeights> packed = PackedWeights::for_memory(arena.data(), arena.size());
  ASSERT_NE(packed, nullptr);
  const void* p = packed->get(isa, w);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(packed->get(isa, w), p) << "packed twice";
  EXPECT_EQ(packed->packed_bytes(), matmul_packed_bytes(DType::Q8_0, m, k));
  EXPECT_TRUE(arena == before) << "the caller's memory changed";
  std::normal_distribution<float> normal;
  std::vector<float> x(5 * k);
  for (float& v : x) v = normal(rng);
  for (int64_t n : {1, 5}) {
    const std::vector<float> plain = product(isa, w, nullptr, x, n), fast = product(isa, w, p, x, n);
    float scale = 0;
    for (float v : plain) scale = std::max(scale, std::fabs(v));
    for (size_t i = 0; i < plain.size(); ++i) EXPECT_NEAR(fast[i], plain[i], 1e-5f * (1.0f + scale)) << "n=" << n << " at " << i;
  }
  std::vector<uint8_t> outside = rows;
  w.data = outside.data();
  EXPECT_EQ(packed->get(isa, w), nullptr) << "memory outside the range";
  EXPECT_EQ(PackedWeights::for_memory(nullptr, 16), nullptr);
}

}  // namespace
}  // namespace nm
