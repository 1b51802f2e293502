#include "bricks/kv_cache.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace nm {
namespace {

TEST(KvCache, WritesRowsAtTheirPositions) {
  KvCacheShape s{2, 16, 2, 8, DType::F32};
  auto c = KvCache::create(s);
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  std::vector<float> k(3 * 16), v(3 * 16);
  std::mt19937 rng(1);
  for (auto& x : k) x = std::uniform_real_distribution<float>(-1, 1)(rng);
  for (auto& x : v) x = std::uniform_real_distribution<float>(-1, 1)(rng);
  ASSERT_TRUE(c->write(1, 5, 3, k.data(), v.data()).ok());
  Tensor kt = c->k(1), vt = c->v(1);
  EXPECT_EQ(kt.ne[0], 8);
  EXPECT_EQ(kt.ne[1], 2);
  EXPECT_EQ(kt.ne[2], 16);
  for (int t = 0; t < 3; ++t)
    for (int h = 0; h < 2; ++h)
      for (int d = 0; d < 8; ++d) {
        const size_t off = (size_t)(5 + t) * kt.nb[2] + h * kt.nb[1] + d * 4;
        EXPECT_EQ(*(float*)((char*)kt.data + off), k[(size_t)t * 16 + h * 8 + d]);
        EXPECT_EQ(*(float*)((char*)vt.data + off), v[(size_t)t * 16 + h * 8 + d]);
      }
  // Layer 0 untouched: reserved memory reads as zero.
  EXPECT_EQ(*(float*)c->k(0).data, 0.0f);
}

TEST(KvCache, F16RoundsEachValue) {
  KvCacheShape s{1, 4, 1, 4, DType::F16};
  auto c = KvCache::create(s);
  ASSERT_TRUE(c.ok());
  std::vector<float> k = {1.0f, 0.1f, -2.5f, 1000.3f};
  ASSERT_TRUE(c->write(0, 0, 1, k.data(), k.data()).ok());
  const auto* h = static_cast<const fp16_t*>(c->k(0).data);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(h[i], fp32_to_fp16(k[(size_t)i]));
}

TEST(KvCache, RefusesWritesPastTheContext) {
  auto c = KvCache::create({1, 4, 1, 4, DType::F32});
  ASSERT_TRUE(c.ok());
  std::vector<float> k(8);
  Status st = c->write(0, 3, 2, k.data(), k.data());
  EXPECT_EQ(st.code(), ErrorCode::out_of_range);
  EXPECT_NE(st.message().find("n_ctx 4"), std::string::npos) << st.message();
}

TEST(KvCache, RejectsBadShapes) {
  EXPECT_EQ(KvCache::create({1, 4, 1, 0, DType::F16}).status().code(), ErrorCode::invalid_argument);
  EXPECT_EQ(KvCache::create({1, 4, 1, 20, DType::Q8_0}).status().code(), ErrorCode::invalid_argument);
  EXPECT_EQ(KvCache::create({1, 4, 1, 32, DType::Q4_0}).status().code(), ErrorCode::invalid_argument);
}

}  // namespace
}  // namespace nm
