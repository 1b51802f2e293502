// The brick interface (bricks/brick.h) on the bundled demo model: ports give the token
// counts the runtime sizes ring slots from (checked against what the vision brick really
// writes), and costs agree with what the graphs themselves contain — FLOPs counted node by
// node from the built graph, activation bytes from the CPU executor's arena, KV bytes per
// token from a KV cache's layout.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "backend/cpu/cpu_executor.h"
#include "bricks/kv_cache.h"
#include "bricks/text/text_graph.h"
#include "bricks/text/text_model.h"
#include "bricks/vision/image_plan.h"
#include "bricks/vision/mmproj.h"
#include "bricks/vision/vision_graph.h"
#include "core/image.h"
#include "runtime/image_encoder.h"

namespace nm {
namespace {

const std::string kModels = std::string(NM_SOURCE_DIR) + "/models/";

// 2 x multiply-adds of every matmul of a graph, and of attention with `visible(i)` keys
// for query row i (all keys when null).
double graph_flops(const Graph& g, int n_past = -1) {
  double f = 0;
  for (const Node& n : g.nodes()) {
    if (n.op == OpKind::matmul) {
      const Tensor& a = g.node(n.src[0]).t;
      const Tensor& b = g.node(n.src[1]).t;
      f += 2.0 * (double)a.ne[0] * (double)a.ne[1] * (double)(b.ne[1] * b.ne[2] * b.ne[3]);
    } else if (n.op == OpKind::attention) {
      const Tensor& q = g.node(n.src[0]).t;  // [D, T, H, B]
      const Tensor& k = g.node(n.src[1]).t;  // [D, n_kv, Hkv, B]
      const Tensor& v = g.node(n.src[2]).t;
      const double T = (double)q.ne[1], H = (double)q.ne[2] * (double)q.ne[3];
      // Causal (the text brick): row i sees n_past + i + 1 keys; else every key.
      const double keys = n_past >= 0 ? T * n_past + T * (T + 1) / 2 : T * (double)k.ne[1];
      f += 2.0 * H * keys * (double)(q.ne[0] + v.ne[0]);
    }
  }
  return f;
}

TEST(Brick, TextPortsAndCostsMatchItsGraph) {
  auto m = TextModel::load(kModels + "nanomind-demo-llm.gguf");
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  const TextModel& t = *m.value();
  EXPECT_EQ(t.kind(), BrickKind::text);
  ASSERT_EQ(t.files().size(), 1u);
  EXPECT_EQ(t.files()[0], &t.file());
  const TextHparams& hp = t.hparams();

  auto out = t.outputs({.n_tokens = 7});
  ASSERT_TRUE(out.ok());
  ASSERT_EQ(out->size(), 1u);
  EXPECT_EQ((*out)[0].kind, PortKind::logits);
  EXPECT_EQ((*out)[0].width, hp.n_vocab);
  auto in = t.inputs({.n_tokens = 7});
  ASSERT_TRUE(in.ok());
  EXPECT_EQ((*in)[1].kind, PortKind::embeddings);
  EXPECT_EQ((*in)[1].bytes(), (size_t)7 * hp.n_embd * sizeof(float));
  EXPECT_FALSE(t.cost({.n_tokens = 0}).ok());

  for (int n_past : {0, 37}) {
    for (int n : {1, 9}) {
      auto c = t.cost({.n_tokens = n, .n_past = n_past});
      ASSERT_TRUE(c.ok()) << c.status().to_string();
      // The graph of exactly that run: n new tokens after n_past, attending n_past + n keys.
      auto cache = KvCache::create({hp.n_layer, n_past + n, hp.n_head_kv, hp.head_dim, DType::F16});
      ASSERT_TRUE(cache.ok());
      auto g = build_text_graph(t, *cache, n, n_past + n, false);
      ASSERT_TRUE(g.ok()) << g.status().to_string();
      EXPECT_NEAR(c->flops, graph_flops(g.value()->graph, n_past), 1e-9 * c->flops) << "n " << n << " past " << n_past;
      EXPECT_EQ(c->n_graph_runs, 1);
      EXPECT_EQ(c->weight_bytes_read, t.weight_bytes_per_token());
      EXPECT_EQ(c->resident_weight_bytes, t.weight_bytes());
      // The arena the CPU executor allocates for the same graph.
      auto ex = CpuExecutor::create(std::move(g.value()->graph));
      ASSERT_TRUE(ex.ok()) << ex.status().to_string();
      EXPECT_EQ(c->activation_bytes, ex.value()->plan().arena_size);
    }
  }
  // A prefill longer than one chunk runs one graph per 512 tokens.
  auto big = t.cost({.n_tokens = 1100});
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(big->n_graph_runs, 3);
  // KV bytes per token: what one position occupies in a cache of each type.
  for (DType kv : {DType::F16, DType::F32, DType::Q8_0}) {
    auto cache = KvCache::create({hp.n_layer, 16, hp.n_head_kv, hp.head_dim, kv});
    ASSERT_TRUE(cache.ok());
    EXPECT_EQ(t.kv_bytes_per_token(kv), 2 * (size_t)hp.n_layer * cache->token_bytes());
  }
  EXPECT_EQ(big->kv_bytes_per_token, t.kv_bytes_per_token(DType::F16));
}

TEST(Brick, VisionPortsCountTheTokensItWrites) {
  auto m = MmprojModel::load(kModels + "nanomind-demo-mmproj.gguf");
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  const MmprojModel& v = *m.value();
  EXPECT_EQ(v.kind(), BrickKind::vision);
  const VisionHparams& hp = v.hparams();

  auto enc = ImageEncoder::create(v, {});
  ASSERT_TRUE(enc.ok()) << enc.status().to_string();
  ThreadPool pool(2);
  for (auto [w, h] : {std::pair{hp.image_size, hp.image_size}, std::pair{97, 41}}) {
    auto out = v.outputs({.width = w, .height = h});
    ASSERT_TRUE(out.ok()) << out.status().to_string();
    ASSERT_EQ(out->size(), 1u);
    const PortSpec& p = (*out)[0];
    EXPECT_EQ(p.kind, PortKind::embeddings);
    EXPECT_EQ(p.width, hp.n_embd_out);
    // The encoder fills exactly a buffer of that many rows (it refuses any other size),
    // and writes every row.
    Image img;
    img.width = w;
    img.height = h;
    img.rgb.assign((size_t)w * h * 3, 0);
    for (size_t i = 0; i < img.rgb.size(); ++i) img.rgb[i] = (uint8_t)(i * 37 % 251);
    auto plan = enc.value()->plan(w, h);
    ASSERT_TRUE(plan.ok());
    EXPECT_EQ(plan->n_tokens, p.n_tokens);
    std::vector<float> buf((size_t)p.n_tokens * p.width, std::nanf(""));
    ASSERT_TRUE(enc.value()->encode(img, plan.value(), pool, buf).ok());
    for (float x : buf) ASSERT_TRUE(std::isfinite(x));
    std::vector<float> one_less(buf.size() - (size_t)p.width);
    EXPECT_FALSE(enc.value()->encode(img, plan.value(), pool, one_less).ok());
    auto most = max_image_tokens(v, {});
    ASSERT_TRUE(most.ok());
    EXPECT_LE(p.n_tokens, most.value());
  }
  auto c = v.cost({});
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  auto g = build_vision_graph(v, hp.image_size, hp.image_size);
  ASSERT_TRUE(g.ok());
  EXPECT_NEAR(c->flops, graph_flops(g.value()->graph), 1e-9 * c->flops);
  EXPECT_EQ(c->n_graph_runs, 1);
  EXPECT_EQ(c->weight_bytes_read, v.weight_bytes());
  EXPECT_EQ(c->kv_bytes_per_token, 0u);
  auto ex = CpuExecutor::create(std::move(g.value()->graph));
  ASSERT_TRUE(ex.ok());
  EXPECT_EQ(c->activation_bytes, ex.value()->plan().arena_size);
  // Static shape: one fixed input, whatever the picture.
  auto fixed = plan_image(v, 640, 480, {hp.image_size * 2, hp.image_size});
  ASSERT_TRUE(fixed.ok());
  EXPECT_EQ(fixed->n_encodes, 1);
  EXPECT_EQ(fixed->n_tokens, v.encoder_tokens(hp.image_size * 2, hp.image_size).value());
  EXPECT_FALSE(plan_image(v, 640, 480, {hp.patch_size + 1, 3}).ok());
}

TEST(Brick, FilesAndTensorsAreCheckedOnLoad) {
  auto t = open_brick_file(kModels + "nanomind-demo-llm.gguf");
  ASSERT_TRUE(t.ok());
  BrickTensors tensors(*t.value(), "the model file");
  Tensor w;
  const Status missing = tensors.get("no.such.weight", {1, 1, 1, 1}, BrickTensors::Role::matrix, w);
  EXPECT_EQ(missing.code(), ErrorCode::invalid_file);
  EXPECT_NE(missing.message().find("no.such.weight"), std::string::npos);
  const Status shape = tensors.get("output_norm.weight", {3, 1, 1, 1}, BrickTensors::Role::f32, w);
  EXPECT_EQ(shape.code(), ErrorCode::invalid_file);
  EXPECT_NE(shape.message().find("expected [3]"), std::string::npos) << shape.message();
  EXPECT_TRUE(tensors.get_optional("no.such.weight", {1, 1, 1, 1}, BrickTensors::Role::f32, w).ok());
  EXPECT_EQ(w.data, nullptr);
  EXPECT_EQ(tensors.bytes(), 0u);
  EXPECT_FALSE(open_brick_file(kModels + "no-such-file.gguf").ok());
}

}  // namespace
}  // namespace nm
