// The Whisper bricks (bricks/whisper/whisper_bricks.h) on the small model of the fuzz corpus:
// ports with token counts known before running, costs from the shapes, graphs that build;
// the runtime places them (--device) and a placed transcription is the default one.
#include <string>

#include <gtest/gtest.h>

#include "bricks/whisper/whisper_bricks.h"
#include "core/thread_pool.h"
#include "runtime/whisper_transcribe.h"

namespace nm {
namespace {

std::shared_ptr<const WhisperModel> tiny() {
  auto m = WhisperModel::load(std::string(NM_SOURCE_DIR) + "/tests/fuzz/corpus/whisper_fuzz/tiny_q4_0.bin");
  EXPECT_TRUE(m.ok()) << m.status().to_string();
  return m.ok() ? m.value() : nullptr;
}

TEST(WhisperBricks, PortsCostsAndGraphs) {
  auto m = tiny();
  ASSERT_TRUE(m);
  const WhisperAudioBrick audio(m);
  const WhisperAsrBrick asr(m);
  EXPECT_EQ(audio.kind(), BrickKind::audio);
  EXPECT_EQ(asr.kind(), BrickKind::asr);
  EXPECT_NE(audio.description().find("whisper encoder"), std::string::npos);
  // The two bricks split the model's weights between them (the arena also aligns).
  EXPECT_GT(audio.weight_bytes(), 0u);
  EXPECT_GT(asr.weight_bytes(), 0u);
  EXPECT_LE(audio.weight_bytes() + asr.weight_bytes(), m->weight_bytes());
  BrickInput in;
  in.n_samples = 16000 * 45;  // 45 s: two windows
  auto out = audio.outputs(in);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->at(0).n_tokens, 2 * 1500);
  EXPECT_EQ(out->at(0).width, 32);
  auto asr_in = asr.inputs(in);
  ASSERT_TRUE(asr_in.ok());
  EXPECT_EQ(asr_in->at(0).n_tokens, out->at(0).n_tokens);  // audio's output is asr's input
  auto c = audio.cost(in);
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(c->n_graph_runs, 2);
  EXPECT_DOUBLE_EQ(c->flops, 2 * audio.encoder_flops());
  EXPECT_GT(c->activation_bytes, (size_t)1500 * 32 * 4);
  in.n_tokens = 40;
  auto d = asr.cost(in);
  ASSERT_TRUE(d.ok()) << d.status().to_string();
  EXPECT_EQ(d->n_graph_runs, 2 + 40);
  EXPECT_EQ(d->kv_bytes_per_token, (size_t)2 * 1 * 32 * 2);
  EXPECT_GT(d->flops, 0.0);
  BrickInput negative;
  negative.n_samples = -1;
  EXPECT_FALSE(audio.inputs(negative).ok());
  auto g = asr.build_graph({4, 32, true, 0, 0}, nullptr);
  ASSERT_TRUE(g.ok()) << g.status().to_string();
  EXPECT_EQ(g.value()->graph.node(g.value()->out).t.ne[1], 4);  // all logits
  EXPECT_FALSE(asr.build_graph({0, 0, false, 0, 0}, nullptr).ok());
}

// The transcriber places its bricks as the pipeline places text and vision: on the CPU
// device of the registry both give the very tokens of the default executor; bad
// placements are clear errors.
TEST(WhisperBricks, PlacedTranscriptionIsTheDefaultOne) {
  auto m = tiny();
  ASSERT_TRUE(m);
  std::vector<float> pcm(16000 * 3);
  uint32_t x = 12345;  // a fixed noise signal: the random-weight model decodes some tokens
  for (float& s : pcm) s = (float)((x = x * 1664525u + 1013904223u) >> 8) / (float)(1u << 24) - 0.5f;
  WhisperTranscribeOptions o;
  o.language = "en";
  o.beam_size = 1;
  o.best_of = 1;
  o.temperatures = {0.0f};
  ThreadPool pool(2);
  auto plain = WhisperTranscriber::create(m, {}, 1);
  ASSERT_TRUE(plain.ok()) << plain.status().to_string();
  EXPECT_EQ((*plain)->audio_device_name(), "cpu");
  auto a = (*plain)->transcribe(pcm, o, pool);
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  WhisperPlacement where;
  where.devices = "audio=cpu,asr=cpu";
  auto placed = WhisperTranscriber::create(m, where, 1);
  ASSERT_TRUE(placed.ok()) << placed.status().to_string();
  auto b = (*placed)->transcribe(pcm, o, pool);
  ASSERT_TRUE(b.ok()) << b.status().to_string();
  ASSERT_EQ(a->segments.size(), b->segments.size());
  ASSERT_FALSE(a->segments.empty());
  for (size_t i = 0; i < a->segments.size(); ++i) EXPECT_EQ(a->segments[i].tokens, b->segments[i].tokens);
  for (const char* bad : {"speaker=cpu", "asr=no-such-device", "audio="}) {
    where.devices = bad;
    auto r = WhisperTranscriber::create(m, where, 1);
    EXPECT_FALSE(r.ok()) << bad;
  }
}

}  // namespace
}  // namespace nm
