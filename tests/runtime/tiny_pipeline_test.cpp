// Issue 12's placement test on a tiny random-weight LLM + mmproj written by tools/
// (make_tiny_llm.py: LLaMA-shaped, 2 layers; make_tiny_mmproj.py: a CLIP ViT with an MLP
// projector; fresh weights per run, seed printed, NM_SEED replays), beside the demo
// model's (frame_stream_test.cpp):
// - the same greedy tokens whatever the placement: default CPU, cpu, declared clusters
//   vision=cpu:0,text=cpu:1, and OpenCL on PoCL for either brick or both;
// - on each placement, a stream's answers are the same token for token pipelined or
//   sequential, with keep or on-demand residency, and no byte is copied between bricks.
//
// Tolerance for the first (placements): both files hold F32 weights and the KV cache is
// F32, so every device computes every op in f32. brick_devices_test.cpp bounds the text
// brick's CPU-OpenCL difference at 4e-5·|L| and the vision brick's at 2e-4·|Y|; the image
// embeddings' difference enters the prompt and goes through two layers of random weights
// of gain about 1, so the logits of two placements agree within 1e-3·|L| (5x margin).
// Greedy tokens must be identical except at a genuine tie: two placements within d of
// each other can only pick differently where the top-2 gap is within 2d; the test
// reports such a step and stops comparing that frame there (the answers continue from
// different tokens). The modes of one placement run the same arithmetic on the same
// device, so their answers must be equal exactly.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "../generated_models.h"
#include "bounded_stream.h"
#include "core/image.h"
#include "runtime/text_session.h"
#include "../sanitizers.h"

namespace nm {
namespace {

namespace fs = std::filesystem;

const std::string kSamples = std::string(NM_SOURCE_DIR) + "/models/samples/";
const char* const kScenes[] = {"scene_3", "scene_11", "scene_42"};
const char* const kQuestion = "What is in the picture?";
constexpr int kAnswerTokens = 12;
constexpr double kPlacementBound = 1e-3;  // fraction of the largest logit (header comment)

uint64_t seed() { return test::run_seed("tiny_pipeline_test"); }

// The tiny random pair, written and loaded once per test program.
const PipelineModels* tiny() {
  static const std::unique_ptr<PipelineModels> m = []() -> std::unique_ptr<PipelineModels> {
    const std::string s = std::to_string(seed());
    const std::string llm =
        test::make_model_file("make_tiny_llm.py", "--preset tiny --type f32 --tied no --seed " + s, "tiny-llm.gguf");
    const std::string mm = test::make_model_file(
        "make_tiny_mmproj.py", "--kind clip-mlp --type f32 --n-embd-llm 64 --seed " + s, "tiny-mmproj.gguf");
    if (llm.empty() || mm.empty()) return nullptr;
    auto r = PipelineModels::load(llm, mm);
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    test::remove_generated_file(llm);
    test::remove_generated_file(mm);
    return r.ok() ? std::move(r).value() : nullptr;
  }();
  return m.get();
}

// Every placement this machine offers.
std::vector<std::string> placements() {
  std::vector<std::string> v = {"", "cpu"};
  if (sysconf(_SC_NPROCESSORS_ONLN) >= 2) v.push_back("vision=cpu:0,text=cpu:1");
#if !NM_TEST_TSAN
  // PoCL's own threads are not instrumented: ThreadSanitizer would report its internals.
  for (const char* d : {"vision=opencl,text=cpu", "vision=cpu,text=opencl", "opencl"}) v.push_back(d);
#endif
  return v;
}

std::unique_ptr<TextSession> session(const std::string& devices, Residency residency) {
  TextSessionParams p;
  p.pipeline.n_threads = 2;
  p.pipeline.devices = devices;
  p.pipeline.kv_type = DType::F32;
  p.pipeline.residency = residency;
  if (devices.find("cpu:") != std::string::npos) p.pipeline.cpu_clusters = "0|1";
  p.sampling.temperature = 0;
  auto s = TextSession::create(*tiny(), p);
  EXPECT_TRUE(s.ok()) << "--device '" << devices << "': " << s.status().to_string();
  return s.ok() ? std::move(s).value() : nullptr;
}

// Whether an OpenCL placement really ran there (without a platform it runs on the CPU).
void note_devices(TextSession& s, const std::string& devices) {
  const std::string v = s.vision_device_name(), t = s.text_device_name();
  std::printf("--device '%s': vision on %s, text on %s\n", devices.c_str(), v.c_str(), t.c_str());
  if (devices == "opencl" && v.rfind("opencl", 0) != 0) std::printf("  no OpenCL platform: ran on the CPU\n");
}

struct Greedy {
  std::vector<int32_t> tokens;
  std::vector<std::vector<float>> logits;  // the logits each token was picked from
};

// One question about `image` in a fresh conversation, step by step, keeping each step's logits.
Greedy answer(TextSession& s, const Image& image) {
  Greedy g;
  GenerationParams gp;
  gp.n_predict = kAnswerTokens;
  gp.sampling.temperature = 0;
  gp.ignore_eos = true;
  const Status st = s.begin_chat({{"user", kQuestion, 1}}, {image}, gp);
  EXPECT_TRUE(st.ok()) << st.to_string();
  if (!st.ok()) return g;
  const int n_vocab = tiny()->text->hparams().n_vocab;
  for (int i = 0; i < kAnswerTokens; ++i) {
    auto l = s.last_logits();
    EXPECT_TRUE(l.ok()) << l.status().to_string();
    if (!l.ok()) break;
    g.logits.emplace_back(l.value(), l.value() + n_vocab);
    auto step = s.next();
    EXPECT_TRUE(step.ok()) << step.status().to_string();
    if (!step.ok() || step->token < 0) break;
    g.tokens.push_back(step->token);
    const std::vector<float>& last = g.logits.back();
    EXPECT_EQ(step->token, (int32_t)(std::max_element(last.begin(), last.end()) - last.begin())) << "not greedy";
    if (step->finished != FinishReason::none) break;
    const Status e = s.eval_pending();
    EXPECT_TRUE(e.ok()) << e.to_string();
    if (!e.ok()) break;
  }
  return g;
}

// `got` against `ref` step by step: logits within the bound, the same token unless the
// reference's top two are within twice the bound (a tie, counted; comparison stops there).
// Returns the largest difference seen, as a fraction of the largest logit.
double compare(const Greedy& ref, const Greedy& got, const std::string& what, int& ties) {
  double worst = 0;
  EXPECT_EQ(ref.tokens.size(), got.tokens.size()) << what;
  const size_t n = std::min(ref.tokens.size(), got.tokens.size());
  for (size_t i = 0; i < n; ++i) {
    const std::vector<float>& a = ref.logits[i];
    const std::vector<float>& b = got.logits[i];
    float big = 0, diff = 0;
    for (size_t j = 0; j < a.size(); ++j) {
      big = std::max(big, std::fabs(a[j]));
      diff = std::max(diff, std::fabs(a[j] - b[j]));
    }
    worst = std::max(worst, (double)diff / big);
    EXPECT_LE(diff, kPlacementBound * big) << what << ", step " << i;
    if (ref.tokens[i] == got.tokens[i]) continue;
    std::vector<float> top(a);
    std::partial_sort(top.begin(), top.begin() + 2, top.end(), std::greater<float>());
    EXPECT_LE(top[0] - top[1], 2 * kPlacementBound * big)
        << what << ", step " << i << ": token " << got.tokens[i] << " instead of " << ref.tokens[i] << " without a tie";
    std::printf("  %s, step %zu: a tie (top-2 gap %.3g x |L|): tokens %d / %d, compared up to here\n", what.c_str(), i,
                (top[0] - top[1]) / big, ref.tokens[i], got.tokens[i]);
    ++ties;
    break;
  }
  return worst;
}

std::vector<Image> scenes() {
  std::vector<Image> v;
  for (const char* s : kScenes) {
    auto img = load_image(kSamples + s + ".png");
    EXPECT_TRUE(img.ok()) << img.status().to_string();
    if (img.ok()) v.push_back(std::move(img).value());
  }
  return v;
}

TEST(TinyPipeline, GreedyTokensAreTheSameOnEveryPlacement) {
  ASSERT_NE(tiny(), nullptr);
  const std::vector<Image> images = scenes();
  ASSERT_EQ(images.size(), std::size(kScenes));
  std::vector<Greedy> ref;
  int ties = 0;
  double worst = 0;
  for (const std::string& devices : placements()) {
    SCOPED_TRACE("--device '" + devices + "'");
    auto s = session(devices, Residency::keep);
    ASSERT_NE(s, nullptr);
    note_devices(*s, devices);
    for (size_t f = 0; f < images.size(); ++f) {
      Greedy g = answer(*s, images[f]);
      ASSERT_EQ(g.tokens.size(), (size_t)kAnswerTokens) << kScenes[f];
      if (devices.empty()) {
        ref.push_back(std::move(g));
      } else {
        worst = std::max(worst, compare(ref[f], g, "'" + devices + "' " + kScenes[f], ties));
      }
    }
    EXPECT_EQ(s->pipeline().bytes_copied_between_bricks(), 0u);
  }
  // The pictures matter: were the image rows ignored, every placement would agree whatever
  // its vision brick computed. Two scenes' first logits differ by far more than the bound.
  ASSERT_EQ(ref.size(), images.size());
  float big = 0, diff = 0;
  for (size_t j = 0; j < ref[0].logits[0].size(); ++j) {
    big = std::max(big, std::fabs(ref[0].logits[0][j]));
    diff = std::max(diff, std::fabs(ref[0].logits[0][j] - ref[1].logits[0][j]));
  }
  std::printf("%s vs %s: first logits differ by %.3g x |L|\n", kScenes[0], kScenes[1], diff / big);
  EXPECT_GT(diff, 10 * kPlacementBound * big);
  std::printf("placements: largest logit difference from the default CPU placement %.3g x |L| (bound %.3g), ties %d\n",
              worst, kPlacementBound, ties);
}

// The sample scenes as a folder of frames.
struct Frames {
  fs::path dir = fs::temp_directory_path() / ("nm_tiny_frames_" + std::to_string(::getpid()));
  Frames() {
    fs::create_directories(dir);
    int i = 0;
    for (const char* s : kScenes) fs::copy_file(kSamples + s + ".png", dir / ("f" + std::to_string(i++) + ".png"));
  }
  ~Frames() { fs::remove_all(dir); }
};

TEST(TinyPipeline, StreamAnswersAreTheSamePipelinedOrNotKeptOrOnDemand) {
  ASSERT_NE(tiny(), nullptr);
  Frames frames;
  const int n = (int)std::size(kScenes);
  for (const std::string& devices : placements()) {
    SCOPED_TRACE("--device '" + devices + "'");
    std::vector<FrameAnswer> first;
    std::string first_mode;
    for (const Residency residency : {Residency::keep, Residency::on_demand}) {
      for (const bool pipelined : {false, true}) {
        const std::string mode = std::string(pipelined ? "pipelined" : "sequential") + ", " + residency_name(residency);
        SCOPED_TRACE(mode);
        auto s = session(devices, residency);
        ASSERT_NE(s, nullptr);
        auto src = open_folder_source(frames.dir.string());
        ASSERT_TRUE(src.ok()) << src.status().to_string();
        FrameStreamParams p;
        p.question = kQuestion;
        p.n_predict = kAnswerTokens;
        p.pipelined = pipelined;
        p.ignore_eos = true;  // random weights may pick an end token first: answers of kAnswerTokens
        std::vector<FrameAnswer> out;
        auto st = test::run_bounded(*s, *src.value(), p, out);
        ASSERT_TRUE(st.ok()) << st.status().to_string();
        EXPECT_EQ(st->asked, n);
        EXPECT_EQ(st->answered, n);
        EXPECT_EQ(s->pipeline().bytes_copied_between_bricks(), 0u);
        Pipeline& pipe = s->pipeline();
        for (int i = 0; i < pipe.ring()->n_slots(); ++i) EXPECT_EQ(pipe.ring()->state(i), SlotState::free);
        ASSERT_EQ(out.size(), (size_t)n);
        for (const FrameAnswer& a : out) {
          EXPECT_TRUE(a.status.ok()) << a.name << ": " << a.status.to_string();
          EXPECT_EQ(a.n_generated, kAnswerTokens) << a.name;
        }
        if (first.empty()) {
          first = std::move(out);
          first_mode = mode;
          continue;
        }
        for (int i = 0; i < n; ++i) {
          EXPECT_EQ(out[(size_t)i].frame, (uint64_t)i);
          EXPECT_EQ(out[(size_t)i].text, first[(size_t)i].text) << "frame " << i << ": " << mode << " vs " << first_mode;
        }
      }
    }
  }
}

}  // namespace
}  // namespace nm
