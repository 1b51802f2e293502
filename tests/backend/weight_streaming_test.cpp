// WeightStreaming (backend/cpu/cpu_executor.h): a graph run with streaming gives each
// weight back after its last reader — the model file's pages and packed copies spilled
// to a file — and computes the same bits as a run that keeps them; what it gave back comes
// back from the page cache at the next run, again with the same bits.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "backend/cpu/cpu_executor.h"
#include "core/gguf_reader.h"
#include "core/gguf_writer.h"
#include "core/thread_pool.h"
#include "runtime/memory_usage.h"
#include "test_weights.h"

namespace nm {
namespace {

using test::random_rows;
using test::resident_file_bytes;

constexpr int64_t kWide = 2048, kNarrow = 1024, kTokens = 3;

// A 12 MiB "encoder": x -> w0 (F32, 2048 -> 1024) -> w1 (Q8_0, 1024 -> 2048) -> w2 (Q4_0,
// 2048 -> 2048) -> w0 again (its last reader) -> output.
Graph encoder(const GgufFile& f) {
  Graph g;
  NodeId x = g.input(DType::F32, {kWide, kTokens, 1, 1}, "x");
  const NodeId w0 = g.weight(f.tensor("w0").value(), "w0");
  x = g.matmul(w0, x);
  x = g.matmul(g.weight(f.tensor("w1").value(), "w1"), x);
  x = g.matmul(g.weight(f.tensor("w2").value(), "w2"), x);
  x = g.matmul(w0, x);
  g.output(x, "y");
  return g;
}

std::vector<float> run(CpuExecutor& ex, const std::vector<float>& x, ThreadPool& pool) {
  std::memcpy(ex.tensor(0).data, x.data(), x.size() * sizeof(float));
  EXPECT_TRUE(ex.run(pool).ok());
  const Tensor& y = ex.tensor(ex.graph().size() - 1);
  const auto* p = static_cast<const float*>(y.data);
  return std::vector<float>(p, p + y.n_elements());
}

TEST(WeightStreaming, StreamedRunsGiveTheSameBitsAndHoldNoWeightAfterwards) {
  std::mt19937 rng(std::random_device{}());
  const std::string path = testing::TempDir() + "/nm_weight_streaming_" + std::to_string(getpid()) + ".gguf";
  {
    GgufWriter w;
    ASSERT_TRUE(w.set_alignment((uint32_t)sysconf(_SC_PAGESIZE)).ok());
    const std::vector<std::tuple<const char*, DType, int64_t, int64_t>> specs = {
        {"w0", DType::F32, kNarrow, kWide}, {"w1", DType::Q8_0, kWide, kNarrow}, {"w2", DType::Q4_0, kWide, kWide}};
    for (const auto& [name, type, m, k] : specs) {
      const std::vector<uint8_t> data = random_rows(type, m, k, rng);
      ASSERT_TRUE(w.add_tensor(name, type, {k, m}, data.data(), data.size()).ok());
    }
    ASSERT_TRUE(w.write(path).ok());
  }
  auto f = GgufFile::open(path);
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  const size_t weight_bytes = f->file_size();
  std::normal_distribution<float> normal;
  std::vector<float> x((size_t)(kWide * kTokens));
  for (float& v : x) v = normal(rng);
  ThreadPool pool(2);
  const Isa isa = best_isa();

  // Kept: the weights (and the packed copies, spilled to a file like on-demand's) stay resident.
  // Measured from before the executor is made: it packs the matrices it can (into the spill
  // file, file pages too) when it is made; the F32 one (8 MiB) is read from the mapping.
  const size_t before_kept = resident_file_bytes();
  PackedWeights kept_copies(path, f->data(), f->file_size(), testing::TempDir());
  auto kept = CpuExecutor::create(encoder(f.value()), isa, &kept_copies);
  ASSERT_TRUE(kept.ok()) << kept.status().to_string();
  const std::vector<float> want = run(*kept.value(), x, pool);
  const size_t after_kept = resident_file_bytes();
  std::printf("kept: +%.0f KiB of file pages resident after the run (weights %.0f KiB)\n",
              ((double)after_kept - (double)before_kept) / 1024.0, weight_bytes / 1024.0);
  EXPECT_GT(after_kept, before_kept + weight_bytes / 4) << "a kept run holds its weights: this test could not fail";

  // Streamed: the same bits, and nothing of the weights resident afterwards, twice in a row.
  PackedWeights streamed_copies(path, f->data(), f->file_size(), testing::TempDir());
  const WeightStreaming streaming{f->data(), f->file_size()};
  auto streamed = CpuExecutor::create(encoder(f.value()), isa, &streamed_copies, &streaming);
  ASSERT_TRUE(streamed.ok()) << streamed.status().to_string();
  kept.value().reset();  // gives back nothing by itself: drop the kept run's pages to start clean
  ASSERT_TRUE(kept_copies.evict());
  const size_t page = (size_t)sysconf(_SC_PAGESIZE);
  madvise(const_cast<uint8_t*>(f->data()), (f->file_size() + page - 1) / page * page, MADV_DONTNEED);
  for (int r = 0; r < 2; ++r) {
    const size_t before = resident_file_bytes();
    const std::vector<float> got = run(*streamed.value(), x, pool);
    const size_t after = resident_file_bytes();
    auto file_rss = mapped_file_rss(path);
    ASSERT_TRUE(file_rss.ok());
    std::printf("streamed run %d: %+.0f KiB of file pages resident, model file %.0f KiB (copies %s)\n", r,
                ((double)after - (double)before) / 1024.0, file_rss.value() / 1024.0,
                streamed_copies.copies_file_backed() ? "spilled to a file" : "anonymous: kept");
    ASSERT_EQ(got.size(), want.size());
    EXPECT_EQ(std::memcmp(got.data(), want.data(), want.size() * sizeof(float)), 0) << "run " << r;
    // Only the pages a weight shares with its neighbour, or the header's, may stay (5 pages
    // under qemu-user, 0 natively): at most 64 KiB of the 12.4 MiB.
    EXPECT_LE(file_rss.value(), (size_t)64 << 10) << "run " << r;
    if (streamed_copies.copies_file_backed()) {
      EXPECT_LT(after, before + weight_bytes / 8) << "run " << r;
    }
  }
  std::remove(path.c_str());
}

}  // namespace
}  // namespace nm
