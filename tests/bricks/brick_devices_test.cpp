// Whole bricks on the OpenCL device (PoCL in CI) against the same bricks on the CPU:
// the tiny text model (tools/make_tiny_llm.py) and tiny vision encoders
// (tools/make_tiny_mmproj.py), fresh random weights per run (seed printed; replay with
// NM_SEED). Skipped, with the reason, when no OpenCL platform exists.
//
// Tolerances (fractions of the largest CPU logit / feature |L|):
// - F32 weights, f32 KV cache: both devices compute every op in f32 (eps 1.2e-7) with
//   sums of at most a few hundred terms over 2 layers; each is within 2e-5·|L| of a
//   float64 reference (tests/python/test_text_model.py), so they agree within 4e-5·|L|.
//   Greedy tokens must be identical, except at a genuine tie (CPU top-2 gap within that
//   bound), which the test reports and continues from the CPU's token.
// - F32 weights, Q8_0 KV cache: both devices quantise K and V with ggml's
//   quantize_row_q8_0 in f32 (d = amax/127, q = round(x/d)) and dequantise them in
//   attention, so with IEEE f32 division (PoCL) the caches are bit-identical and the
//   f32 bound above applies. (A device whose division is not correctly rounded may flip
//   a rare rounding by one quant step; this test would show it.)
// - Quantised weights (Q8_0, Q4_0, Q4_K), f16 KV cache: the CPU quantises every matmul's
//   activations to 8 bits per block (llama.cpp's arrangement) while the OpenCL kernels
//   multiply f32 activations with the dequantised weights, so the devices differ by the
//   CPU's activation rounding: bound 1.2e-1·|L|, as the CPU's own bound against the
//   float64 reference (test_text_model.py; typically 2-3.5e-2). Wrong block layouts or
//   scales give errors of the order of |L|.
// - Vision, F32 / F16 weights: 2 x 1e-4·|Y| (test_vision.py's bound per device);
//   Q8_0: the CPU's activation rounding, 4e-2·|Y| (test_vision.py). F16 weights on a
//   device computing them in half (cl_khr_fp16): activations rounded to 11 bits, of the
//   order of the CPU's 8-bit rounding of Q8_0, so the Q8_0 bound, 4e-2·|Y|.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backend/device_registry.h"
#include "../generated_models.h"
#include "runtime/text_context.h"
#include "bricks/text/text_model.h"
#include "bricks/vision/mmproj.h"
#include "runtime/vision_encoder.h"
#include "core/thread_pool.h"
#ifdef NM_HAVE_OPENCL
#include "backend/opencl/opencl_device.h"
#endif

namespace nm {
namespace {

uint64_t seed() { return test::run_seed("brick_devices_test"); }

// The OpenCL device of a registry made once for the whole suite (programs compile once).
Device* opencl_device() {
  static DeviceRegistry* reg = [] {
    DeviceRegistryOptions o;
    o.log = [](const std::string&) {};
    return new DeviceRegistry(DeviceRegistry::create(o));
  }();
  for (const auto& d : reg->devices()) {
    if (d->name().rfind("opencl", 0) == 0) return d.get();
  }
  return nullptr;
}

#define SKIP_WITHOUT_OPENCL()                                                        \
  Device* cl = opencl_device();                                                      \
  if (!cl) GTEST_SKIP() << "no OpenCL platform (install pocl-opencl-icd to run this)"

std::string make_file(const std::string& tool, const std::string& args, const std::string& out_name) {
  return test::make_model_file(tool, args, out_name);
}
void remove_file(const std::string& path) { test::remove_generated_file(path); }

struct TextRun {
  std::vector<std::vector<float>> logits;  // per step: the last position's logits
  std::vector<int32_t> tokens;             // greedy picks
};

int32_t argmax(const std::vector<float>& v) { return (int32_t)(std::max_element(v.begin(), v.end()) - v.begin()); }

// `dims`: extra make_tiny_llm.py flags (Q4_K needs rows of 256 values).
void compare_text(const std::string& wtype, DType kv, double frac, const std::string& dims = "") {
  SKIP_WITHOUT_OPENCL();
  const uint64_t s = seed() + std::hash<std::string>{}(wtype) % 1000;
  const std::string path = make_file("make_tiny_llm.py", "--preset tiny --type " + wtype + " --seed " + std::to_string(s) + dims,
                                     "llm-" + wtype + ".gguf");
  ASSERT_FALSE(path.empty());
  auto model = TextModel::load(path);
  remove_file(path);
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  const TextModel& m = **model;
  TextContextParams cpu_p;
  cpu_p.n_ctx = 64;
  cpu_p.kv_type = kv;
  TextContextParams cl_p = cpu_p;
  cl_p.run.device = cl;
  auto cpu_ctx = TextContext::create(m, cpu_p);
  auto cl_ctx = TextContext::create(m, cl_p);
  ASSERT_TRUE(cpu_ctx.ok()) << cpu_ctx.status().to_string();
  ASSERT_TRUE(cl_ctx.ok()) << cl_ctx.status().to_string();
  ThreadPool pool(2);

  std::mt19937 rng((uint32_t)s);
  std::vector<int32_t> prompt(7);
  for (int32_t& t : prompt) t = (int32_t)(rng() % (uint32_t)m.hparams().n_vocab);
  std::vector<int32_t> next = prompt;  // prefill, then one token per step
  int ties = 0;
  double worst = 0, scale = 0;
  for (int step = 0; step < 12; ++step) {
    Status a = (*cpu_ctx)->eval_tokens(next, pool);
    ASSERT_TRUE(a.ok()) << "cpu: " << a.to_string();
    Status b = (*cl_ctx)->eval_tokens(next, pool);
    ASSERT_TRUE(b.ok()) << cl->name() << ": " << b.to_string();
    const int V = m.hparams().n_vocab;
    std::vector<float> lc((*cpu_ctx)->logits(), (*cpu_ctx)->logits() + V);
    std::vector<float> lg((*cl_ctx)->logits(), (*cl_ctx)->logits() + V);
    double L = 0, err = 0;
    for (int i = 0; i < V; ++i) {
      ASSERT_TRUE(std::isfinite(lg[(size_t)i])) << "non-finite logit " << i << " at step " << step;
      L = std::max(L, (double)std::abs(lc[(size_t)i]));
      err = std::max(err, (double)std::abs(lc[(size_t)i] - lg[(size_t)i]));
    }
    ASSERT_LE(err, frac * L) << wtype << " step " << step << ": max |cpu - " << cl->name() << "| logit difference";
    worst = std::max(worst, err / L);
    scale = std::max(scale, L);
    const int32_t tc = argmax(lc), tg = argmax(lg);
    if (wtype == "f32" && tc != tg) {
      // Only a genuine tie may differ: the CPU's own logits of the two picks within the bound.
      EXPECT_LE(lc[(size_t)tc] - lc[(size_t)tg], 2 * frac * L) << "step " << step << ": greedy token cpu " << tc << " vs "
                                                               << cl->name() << " " << tg;
      ++ties;
    }
    next = {tc};
  }
  std::printf("[%s] %s weights, %s KV: max |cpu - opencl| = %.3g x |L| (|L| %.3g, bound %.3g), greedy ties %d\n",
              cl->description().c_str(), wtype.c_str(), std::string(dtype_name(kv)).c_str(), worst, scale, frac, ties);
}

TEST(BrickDevices, TextF32SameGreedyTokens) { compare_text("f32", DType::F32, 4e-5); }
TEST(BrickDevices, TextQ8_0) { compare_text("q8_0", DType::F16, 1.2e-1); }
TEST(BrickDevices, TextQ4_0) { compare_text("q4_0", DType::F16, 1.2e-1); }
// The CPU rounds Q4_K's activations to Q8_K, one scale per 256 values (Q8_0 has one per
// 32), so its logits sit further from the device's: over NM_SEED=1..100 the worst step was
// 0.21 x |L| (two seeds above 0.12; Q8_0 / Q4_0 stayed under 0.07).
TEST(BrickDevices, TextQ4_K) { compare_text("q4_k", DType::F16, 3e-1, " --n-embd 256 --n-ff 512"); }
// Q8_0 KV: the two devices' f32 K/V projections differ in the last bits, so a value at a
// Q8_0 rounding midpoint can land one step apart in the two caches. Typically 1e-6 x |L|;
// such a flip gave up to 1.7e-3 x |L| (3 of NM_SEED=1..80, the tighter 4e-5 bound failed them).
TEST(BrickDevices, TextF32Q8_0KvCache) { compare_text("f32", DType::Q8_0, 1e-2, " --n-embd 128"); }

// An op the device has no kernel for fails when the graph is prepared, naming the op and
// the device; nothing runs on the CPU behind the caller's back. (Q5_0 weights: the OpenCL
// backend has no Q5_0 matmul or get_rows.)
TEST(BrickDevices, UnsupportedOpNamesOpAndDevice) {
  SKIP_WITHOUT_OPENCL();
  const std::string path = make_file("make_tiny_llm.py", "--preset tiny --type q5_0 --seed " + std::to_string(seed()), "llm-q5_0.gguf");
  ASSERT_FALSE(path.empty());
  auto model = TextModel::load(path);
  remove_file(path);
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  TextContextParams p;
  p.n_ctx = 32;
  p.run.device = cl;
  auto ctx = TextContext::create(**model, p);
  ASSERT_TRUE(ctx.ok()) << ctx.status().to_string();
  ThreadPool pool(1);
  const std::vector<int32_t> tokens{1, 2, 3};
  const Status st = (*ctx)->eval_tokens(tokens, pool);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), ErrorCode::unsupported);
  EXPECT_NE(st.message().find(cl->name()), std::string::npos) << st.message();
  EXPECT_TRUE(st.message().find("matmul") != std::string::npos || st.message().find("get_rows") != std::string::npos)
      << st.message();
  EXPECT_NE(st.message().find("q5_0"), std::string::npos) << st.message();
}

size_t resident_bytes() {
  long total = 0, resident = 0;
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  const int n = std::fscanf(f, "%ld %ld", &total, &resident);
  std::fclose(f);
  return n == 2 ? (size_t)resident * (size_t)sysconf(_SC_PAGESIZE) : 0;
}

// The text brick placed on a unified-memory OpenCL device works on the mmapped weights
// in place: resident memory grows by far less than the weights when the brick's graph
// is prepared and run there (a copy would add all of them again). Weights are made
// resident first by a CPU run; programs are compiled first on a small model.
TEST(BrickDevices, TextWeightsAreNotDuplicatedOnUnifiedMemory) {
  SKIP_WITHOUT_OPENCL();
  if (!cl->memory().unified) GTEST_SKIP() << cl->description() << " does not share memory with the host";
  ThreadPool pool(2);
  const std::vector<int32_t> tokens{1, 5, 9, 13};
  {  // warm-up: every program the text graph needs, compiled or loaded from the cache
    const std::string small = make_file("make_tiny_llm.py", "--preset tiny --seed 1", "llm-warm.gguf");
    ASSERT_FALSE(small.empty());
    auto m = TextModel::load(small);
    remove_file(small);
    ASSERT_TRUE(m.ok());
    TextContextParams p;
    p.n_ctx = 32;
    p.run.device = cl;
    auto ctx = TextContext::create(**m, p);
    ASSERT_TRUE(ctx.ok() && (*ctx)->eval_tokens(tokens, pool).ok());
  }
  // ~64 MiB of f32 weights (4 layers of 512 x 2048).
  const std::string path = make_file("make_tiny_llm.py", "--preset tiny --n-embd 512 --n-ff 2048 --n-layer 4 --seed " +
                                         std::to_string(seed()), "llm-big.gguf");
  ASSERT_FALSE(path.empty());
  auto model = TextModel::load(path);
  remove_file(path);
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  const double weights_mib = (double)(*model)->weight_bytes() / (1 << 20);
  TextContextParams p;
  p.n_ctx = 32;
  auto cpu_ctx = TextContext::create(**model, p);
  ASSERT_TRUE(cpu_ctx.ok() && (*cpu_ctx)->eval_tokens(tokens, pool).ok());  // weights resident
  p.run.device = cl;
  auto cl_ctx = TextContext::create(**model, p);
  ASSERT_TRUE(cl_ctx.ok());
  const size_t before = resident_bytes();
  const Status st = (*cl_ctx)->eval_tokens(tokens, pool);
  ASSERT_TRUE(st.ok()) << st.to_string();
  const size_t after = resident_bytes();
  const double grew_mib = ((double)after - (double)before) / (1 << 20);
  std::printf("[%s] text brick, %.1f MiB of weights: resident %.1f -> %.1f MiB (+%.1f MiB)\n", cl->description().c_str(),
              weights_mib, (double)before / (1 << 20), (double)after / (1 << 20), grew_mib);
  ASSERT_GT(weights_mib, 48.0);
  // Arena, KV cache (32 positions), launch lists and driver bookkeeping: a few MiB.
  EXPECT_LT(grew_mib, 0.5 * weights_mib) << "the weights were duplicated";
}

void compare_vision(const std::string& kind, const std::string& wtype, double frac) {
  SKIP_WITHOUT_OPENCL();
#ifdef NM_HAVE_OPENCL
  if (const auto* d = dynamic_cast<const OpenClDevice*>(cl); d && d->half_math() && wtype == "f16") frac = 4e-2;
#endif
  const uint64_t s = seed() + std::hash<std::string>{}(kind + wtype) % 1000;
  const std::string path = make_file("make_tiny_mmproj.py", "--kind " + kind + " --type " + wtype + " --seed " + std::to_string(s),
                                     "mmproj-" + kind + "-" + wtype + ".gguf");
  ASSERT_FALSE(path.empty());
  auto model = MmprojModel::load(path);
  remove_file(path);
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  VisionEncoderParams cpu_p;
  VisionEncoderParams cl_p;
  cl_p.run.device = cl;
  auto cpu_enc = VisionEncoder::create(**model, cpu_p);
  ASSERT_TRUE(cpu_enc.ok()) << cpu_enc.status().to_string();
  auto cl_enc = VisionEncoder::create(**model, cl_p);
  ASSERT_TRUE(cl_enc.ok()) << cl_enc.status().to_string();
  const int side = (*model)->hparams().image_size;
  EncoderInput img;
  img.width = img.height = side;
  std::mt19937 rng((uint32_t)s);
  std::uniform_real_distribution<float> u(-2.f, 2.f);
  img.chw.resize((size_t)3 * side * side);
  for (float& v : img.chw) v = u(rng);
  ThreadPool pool(2);
  std::vector<float> a, b;
  ASSERT_TRUE((*cpu_enc)->encode(img, pool, a).ok());
  Status st = (*cl_enc)->encode(img, pool, b);
  ASSERT_TRUE(st.ok()) << st.to_string();
  ASSERT_EQ(a.size(), b.size());
  double Y = 0, err = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_TRUE(std::isfinite(b[i])) << "non-finite feature " << i;
    Y = std::max(Y, (double)std::abs(a[i]));
    err = std::max(err, (double)std::abs(a[i] - b[i]));
  }
  EXPECT_LE(err, frac * Y) << kind << "/" << wtype << ": max |cpu - " << cl->name() << "| feature difference";
  std::printf("[%s] vision %s %s: max |cpu - opencl| = %.3g x |Y| (|Y| %.3g, bound %.3g)\n", cl->description().c_str(),
              kind.c_str(), wtype.c_str(), err / Y, Y, frac);
}

TEST(BrickDevices, VisionClipF32) { compare_vision("clip-mlp", "f32", 2e-4); }
TEST(BrickDevices, VisionSiglipIdefics3F16) { compare_vision("siglip-idefics3", "f16", 2e-4); }
TEST(BrickDevices, VisionSiglipQ8_0) { compare_vision("siglip-mlp", "q8_0", 4e-2); }

}  // namespace
}  // namespace nm
