// CpuExecutor on data-movement graphs: right results over two runs with different
// inputs, zero heap allocations during run() (counted with a replaced operator new),
// clear errors for unsupported ops and bad token ids.
#include "backend/cpu/cpu_executor.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <random>
#include <vector>

#include "core/fp16.h"
#include "graph/graph_cache.h"
#include "../sanitizers.h"

// Counts every heap allocation in this test binary (all threads); the executor test
// reads the counter around run(). Forwarding to malloc keeps behaviour unchanged.
// AddressSanitizer owns operator new in sanitizer builds (and reports our malloc-based
// replacement as a new/free mismatch), so counting is done in normal builds only.
#define NM_COUNT_ALLOCATIONS (!NM_TEST_ASAN)

// GCC pairs the inlined malloc in `new` with `delete` and warns; the pairing is ours.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
namespace {
std::atomic<long> g_allocations{0};
}  // namespace
#if NM_COUNT_ALLOCATIONS
void* operator new(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
void* operator new(std::size_t n, std::align_val_t a) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  const size_t al = (size_t)a;
  if (void* p = std::aligned_alloc(al, (n + al - 1) / al * al)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n, std::align_val_t a) { return operator new(n, a); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
#endif

namespace nm {
namespace {

// Graph: x f32 [6, 4]; table f32 [6, 10] (weight); ids i32 [3]
//   e   = get_rows(table, ids)            [6, 3]
//   xt  = cont(transpose(x))              [4, 6]
//   cat = concat(x, e, dim 1)             [6, 7]
//   h   = cont(permute(cat), f16)         f16 [7, 6]
//   kv  = cpy(x, view of cache rows 2..5) writes x into an external f16 cache
struct Fixture {
  std::vector<float> table = std::vector<float>(60);
  std::vector<fp16_t> cache = std::vector<fp16_t>(6 * 8, fp32_to_fp16(-7.0f));
  Graph g;
  NodeId x, ids, out_e, out_xt, out_cat, out_h, out_cpy;
  Fixture() {
    for (int i = 0; i < 60; ++i) table[(size_t)i] = 0.5f * (float)i - 3.0f;
    x = g.input(DType::F32, {6, 4, 1, 1}, "x");
    ids = g.input(DType::I32, {3, 1, 1, 1}, "ids");
    NodeId t = g.weight(Tensor::make(DType::F32, {6, 10, 1, 1}, table.data()), "table");
    NodeId kv = g.weight(Tensor::make(DType::F16, {6, 8, 1, 1}, cache.data()), "cache");
    NodeId e = g.get_rows(t, ids);
    out_e = g.output(e, "e");
    out_xt = g.output(g.cont(g.transpose(x)), "xt");
    NodeId cat = g.concat(x, e, 1);
    out_cat = g.output(cat, "cat");
    out_h = g.output(g.cont(g.permute(cat, {1, 0, 2, 3}), DType::F16), "h");
    NodeId slot = g.view(kv, {6, 4, 1, 1}, {2, 12, 48, 48}, 2 * 12);
    out_cpy = g.output(g.cpy(x, slot), "kv");
  }
};

float at(const Tensor& t, int64_t i0, int64_t i1) {
  const char* p = static_cast<const char*>(t.data) + i0 * (int64_t)t.nb[0] + i1 * (int64_t)t.nb[1];
  if (t.type == DType::F16) { fp16_t h; std::memcpy(&h, p, 2); return fp16_to_fp32(h); }
  float f; std::memcpy(&f, p, 4); return f;
}

TEST(CpuExecutor, AllocationCounterCounts) {  // the zero-allocation check can fail
  if (!NM_COUNT_ALLOCATIONS) GTEST_SKIP() << "allocation counting is off under AddressSanitizer";
  const long before = g_allocations.load();
  // A direct operator new call (a new-expression may be elided by the optimiser).
  void* p = ::operator new(64);
  asm volatile("" : : "r"(p) : "memory");
  ::operator delete(p);
  EXPECT_GE(g_allocations.load() - before, 1);
}

TEST(CpuExecutor, DataMovementGraphTwiceWithoutAllocating) {
  for (int n_threads : {1, 2, 3}) {
    SCOPED_TRACE(n_threads);
    Fixture f;
    auto ex = CpuExecutor::create(std::move(f.g));
    ASSERT_TRUE(ex.ok()) << ex.status().to_string();
    ThreadPool pool(n_threads);
    std::mt19937 rng(7u + (unsigned)n_threads);
    std::uniform_real_distribution<float> dist(-4.0f, 4.0f);
    for (int round = 0; round < 2; ++round) {
      // Values exactly representable in f16 so the f16 copies compare exactly.
      std::vector<float> xv(24);
      for (float& v : xv) v = std::round(dist(rng) * 64.0f) / 64.0f;
      const std::vector<int32_t> idv = round == 0 ? std::vector<int32_t>{0, 9, 4} : std::vector<int32_t>{3, 3, 7};
      std::memcpy((*ex)->tensor(f.x).data, xv.data(), 24 * sizeof(float));
      std::memcpy((*ex)->tensor(f.ids).data, idv.data(), 3 * sizeof(int32_t));
      const long before = g_allocations.load();
      Status s = (*ex)->run(pool);
      const long allocs = g_allocations.load() - before;
      ASSERT_TRUE(s.ok()) << s.to_string();
      EXPECT_EQ(allocs, 0) << "run() allocated";
      const Tensor& e = (*ex)->tensor(f.out_e);
      const Tensor& xt = (*ex)->tensor(f.out_xt);
      const Tensor& cat = (*ex)->tensor(f.out_cat);
      const Tensor& h = (*ex)->tensor(f.out_h);
      for (int r = 0; r < 3; ++r) {
        for (int c = 0; c < 6; ++c) EXPECT_EQ(at(e, c, r), f.table[(size_t)(idv[(size_t)r] * 6 + c)]);
      }
      for (int r = 0; r < 4; ++r) {
        for (int c = 0; c < 6; ++c) {
          const float xrc = xv[(size_t)(r * 6 + c)];
          EXPECT_EQ(at(xt, r, c), xrc);
          EXPECT_EQ(at(cat, c, r), xrc);
          EXPECT_EQ(at(h, r, c), xrc);
          EXPECT_EQ(fp16_to_fp32(f.cache[(size_t)((r + 2) * 6 + c)]), xrc) << "cache row " << r + 2;
        }
      }
      for (int r = 4; r < 7; ++r) {
        for (int c = 0; c < 6; ++c) {
          EXPECT_EQ(at(cat, c, r), at(e, c, r - 4));
          EXPECT_EQ(at(h, r, c), at(e, c, r - 4));
        }
      }
      for (int r : {0, 1, 6, 7}) EXPECT_EQ(fp16_to_fp32(f.cache[(size_t)(r * 6)]), -7.0f) << "untouched cache row " << r;
    }
  }
}

TEST(CpuExecutor, BadTokenIdIsAnErrorNotACrash) {
  Fixture f;
  auto ex = CpuExecutor::create(std::move(f.g));
  ASSERT_TRUE(ex.ok());
  ThreadPool pool(2);
  const int32_t idv[3] = {1, 10, 2};
  std::memcpy((*ex)->tensor(f.ids).data, idv, sizeof(idv));
  Status s = (*ex)->run(pool);
  EXPECT_EQ(s.code(), ErrorCode::out_of_range);
  EXPECT_NE(s.message().find("get_rows"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("id 10"), std::string::npos) << s.message();
}

TEST(CpuExecutor, ComputeOpsReportUnsupportedByName) {
  // A dilated convolution has no CPU kernel.
  Graph g;
  ConvParams p;
  p.d0 = 2;
  g.output(g.conv2d(g.input(DType::F32, {3, 3, 2, 4}), g.input(DType::F32, {16, 16, 2, 1}), p));
  auto ex = CpuExecutor::create(std::move(g));
  ASSERT_FALSE(ex.ok());
  EXPECT_EQ(ex.status().code(), ErrorCode::unsupported);
  EXPECT_NE(ex.status().message().find("conv2d"), std::string::npos) << ex.status().message();
  Graph bad;
  bad.silu(bad.input(DType::F16, {8, 1, 1, 1}));
  EXPECT_EQ(CpuExecutor::create(std::move(bad)).status().code(), ErrorCode::invalid_argument);
}

TEST(GraphCache, LruPerShapeKey) {
  GraphCache<int> cache(2);
  EXPECT_EQ(cache.find(1), nullptr);
  cache.insert(1, std::make_unique<int>(10));
  cache.insert(2, std::make_unique<int>(20));
  ASSERT_NE(cache.find(1), nullptr);  // 1 is now most recent
  cache.insert(3, std::make_unique<int>(30));  // evicts 2
  EXPECT_EQ(cache.find(2), nullptr);
  EXPECT_EQ(*cache.find(1), 10);
  EXPECT_EQ(*cache.find(3), 30);
  cache.insert(3, std::make_unique<int>(31));
  EXPECT_EQ(*cache.find(3), 31);
  EXPECT_EQ(cache.size(), 2u);
}

}  // namespace
}  // namespace nm

namespace nm {
namespace {

TEST(CpuExecutorRebind, MovesAKvSlotWithoutRebuilding) {
  std::vector<float> cache_a(8, -1.0f), cache_b(8, -1.0f);
  Graph g;
  NodeId x = g.input(DType::F32, {4, 1, 1, 1}, "x");
  NodeId slot = g.weight(Tensor::make(DType::F32, {4, 1, 1, 1}, cache_a.data() + 4), "slot");
  NodeId w = g.cpy(x, slot);
  g.output(w);
  auto ex = CpuExecutor::create(std::move(g));
  ASSERT_TRUE(ex.ok()) << ex.status().to_string();
  ThreadPool pool(2);
  float* in = (*ex)->tensor(x).as<float>();
  for (int i = 0; i < 4; ++i) in[i] = (float)i;
  ASSERT_TRUE((*ex)->run(pool).ok());
  EXPECT_EQ(cache_a[4 + 3], 3.0f);
  ASSERT_TRUE((*ex)->rebind(slot, cache_b.data()).ok());
  for (int i = 0; i < 4; ++i) in[i] = 10.0f + (float)i;
  ASSERT_TRUE((*ex)->run(pool).ok());
  EXPECT_EQ(cache_b[0], 10.0f);
  EXPECT_EQ(cache_b[3], 13.0f);
  EXPECT_EQ(cache_b[4], -1.0f);
  EXPECT_EQ(cache_a[4 + 3], 3.0f);  // the old slot is no longer written
  EXPECT_FALSE((*ex)->rebind(x, cache_b.data()).ok());  // inputs live in the arena
}

}  // namespace
}  // namespace nm
