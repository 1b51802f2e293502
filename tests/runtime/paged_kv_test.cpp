// The KV cache's memory grows with the tokens used, not with the context (-c): it is
// reserved in virtual memory for n_ctx positions, pages arrive when first written and
// truncate/clear give them back (bricks/kv_cache.h; docs/ARCHITECTURE.md, "Paged KV cache",
// says why that is the paging NanoMind uses). Held here by counting the cache's resident
// pages with mincore(2) for f16 and q8_0 caches of a 32768-token context, and by the text
// brick's logits, which are bit for bit the same with -c 32768 as with -c 512.
#include <gtest/gtest.h>

#include <algorithm>
#include <sys/mman.h>
#include <unistd.h>

#include <random>
#include <vector>

#include "bricks/kv_cache.h"
#include "demo_models.h"
#include "runtime/pipeline.h"

namespace nm {
namespace {

// Resident pages of [p, p + bytes) (p page-aligned).
size_t resident_pages(const void* p, size_t bytes) {
  const size_t page = (size_t)sysconf(_SC_PAGESIZE);
  std::vector<unsigned char> v((bytes + page - 1) / page);
  if (mincore(const_cast<void*>(p), bytes, v.data()) != 0) return SIZE_MAX;
  size_t n = 0;
  for (unsigned char c : v) n += c & 1;
  return n;
}

TEST(PagedKv, ResidentMemoryFollowsTheTokensUsedNotTheContext) {
  const size_t page = (size_t)sysconf(_SC_PAGESIZE);
  for (DType type : {DType::F16, DType::Q8_0}) {
    SCOPED_TRACE(type == DType::F16 ? "f16" : "q8_0");
    const KvCacheShape shape{4, 32768, 4, 64, type};  // TinyLlama-like heads, 4 layers
    auto c = KvCache::create(shape);
    ASSERT_TRUE(c.ok()) << c.status().to_string();
    const size_t all = c->layer_bytes() * shape.n_layer;  // per K (or V) buffer
    // The buffers are one reservation each: layer 0's view starts it.
    EXPECT_EQ(resident_pages(c->k(0).data, all), 0u);
    const int n = 100;
    std::vector<float> rows((size_t)n * shape.n_head_kv * shape.head_dim);
    std::mt19937 rng(7);
    for (float& x : rows) x = std::uniform_real_distribution<float>(-1, 1)(rng);
    for (int layer = 0; layer < shape.n_layer; ++layer) ASSERT_TRUE(c->write(layer, 0, n, rows.data(), rows.data()).ok());
    c->set_n_tokens(n);
    const size_t used_pages_per_layer = (n * c->token_bytes() + page - 1) / page;
    const size_t k_pages = resident_pages(c->k(0).data, all), v_pages = resident_pages(c->v(0).data, all);
    std::printf("%s: %d of %d tokens: K %zu pages resident (%zu KiB) of %zu reserved (%zu KiB)\n",
                type == DType::F16 ? "f16" : "q8_0", n, shape.n_ctx, k_pages, k_pages * page / 1024, all / page,
                all / 1024);
    // Each layer holds only the pages its 100 tokens were written to (+1 for a partial page).
    EXPECT_GE(k_pages, used_pages_per_layer * shape.n_layer);
    EXPECT_LE(k_pages, (used_pages_per_layer + 1) * shape.n_layer);
    EXPECT_LE(v_pages, (used_pages_per_layer + 1) * shape.n_layer);
    EXPECT_LT(k_pages * page * 50, all);  // 100 tokens of 32768 cost well under 2% of -c
    // Cut back to a 20-token opening (on-demand residency keeps one): each layer keeps the
    // pages those positions touch and gives the rest back; the opening is untouched.
    const int opening = 20;
    const size_t opening_bytes = opening * c->token_bytes();
    const auto* layer1 = static_cast<const uint8_t*>(c->k(1).data);
    const std::vector<uint8_t> before(layer1, layer1 + opening_bytes);
    c->truncate(opening);
    EXPECT_EQ(c->n_tokens(), opening);
    const size_t opening_pages_per_layer = (opening_bytes + page - 1) / page;
    EXPECT_LE(resident_pages(c->k(0).data, all), opening_pages_per_layer * shape.n_layer);
    EXPECT_LE(resident_pages(c->v(0).data, all), opening_pages_per_layer * shape.n_layer);
    EXPECT_TRUE(std::equal(before.begin(), before.end(), layer1)) << "the kept opening changed";
    c->clear();
    EXPECT_EQ(resident_pages(c->k(0).data, all), 0u);
    EXPECT_EQ(resident_pages(c->v(0).data, all), 0u);
  }
}

TEST(PagedKv, ALongContextGivesTheSameLogitsAsAShortOne) {
  for (DType type : {DType::F16, DType::Q8_0}) {
    std::vector<std::vector<float>> logits;
    for (int n_ctx : {512, 32768}) {
      PipelineParams p;
      p.n_ctx = n_ctx;
      p.kv_type = type;
      p.n_threads = 2;
      auto pipe = Pipeline::create(test::demo_models(), p);
      ASSERT_TRUE(pipe.ok()) << pipe.status().to_string();
      std::vector<int32_t> tokens;
      std::mt19937 rng(11);
      for (int i = 0; i < 40; ++i) tokens.push_back((int32_t)(rng() % (uint32_t)test::demo_models().text->hparams().n_vocab));
      ASSERT_TRUE((*pipe)->append(tokens, true).ok());
      for (int i = 0; i < 5; ++i) ASSERT_TRUE((*pipe)->append(std::vector<int32_t>{tokens[(size_t)i]}).ok());
      const TextContext& t = (*pipe)->text();
      logits.emplace_back(t.logits(), t.logits() + (size_t)t.n_logit_rows() * test::demo_models().text->hparams().n_vocab);
    }
    ASSERT_EQ(logits[0].size(), logits[1].size());
    EXPECT_EQ(logits[0], logits[1]) << (type == DType::F16 ? "f16" : "q8_0");
  }
}

}  // namespace
}  // namespace nm
