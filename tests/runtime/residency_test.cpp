// Residency (--residency keep|on-demand, runtime/pipeline.h), measured from /proc: a
// released brick's model file leaves this process's resident set (its mapped pages in
// /proc/self/smaps) and the process's resident memory drops; on demand, a brick is given
// back after each run by itself, and the answers are token for token those of keep mode.
// Also the /proc readers (runtime/memory_usage.h).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "demo_models.h"
#include "runtime/memory_usage.h"
#include "runtime/text_session.h"

namespace nm {
namespace {

const std::string kLlm = test::kModels + "nanomind-demo-llm.gguf";
const std::string kMmproj = test::kModels + "nanomind-demo-mmproj.gguf";

size_t file_rss(const std::string& path) {
  auto r = mapped_file_rss(path);
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  return r.ok() ? r.value() : 0;
}

// Positions before the first picture.
size_t opening_positions(const std::vector<PromptPosition>& positions) {
  size_t n = 0;
  while (n < positions.size() && positions[n].image < 0) ++n;
  return n;
}

TEST(MemoryUsage, ParsesProcStatus) {
  auto m = parse_proc_status("Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\nRssAnon:\t 512 kB\nRssFile:\t 256 kB\n");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->rss, 1024u * 1024);
  EXPECT_EQ(m->peak_rss, 2048u * 1024);
  EXPECT_EQ(m->rss_anon, 512u * 1024);
  EXPECT_EQ(m->rss_file, 256u * 1024);
  EXPECT_FALSE(parse_proc_status("Name:\tx\n").ok());
  auto self = read_process_memory();
  ASSERT_TRUE(self.ok()) << self.status().to_string();
  EXPECT_GT(self->rss, 0u);
  EXPECT_GE(self->peak_rss, self->rss);
  auto none = mapped_file_rss("/no/such/file");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none.value(), 0u);
}

TEST(Residency, ParsesItsNames) {
  EXPECT_EQ(parse_residency("keep").value(), Residency::keep);
  EXPECT_EQ(parse_residency("on-demand").value(), Residency::on_demand);
  EXPECT_FALSE(parse_residency("sometimes").ok());
  EXPECT_STREQ(residency_name(Residency::on_demand), "on-demand");
}

TEST(Residency, ReleasingABrickDropsItsPagesFromTheResidentSet) {
  auto s = test::demo_session(Residency::keep);
  ASSERT_NE(s, nullptr);
  auto img = load_image(test::kModels + "samples/scene_7.png");
  ASSERT_TRUE(img.ok());
  std::string reply;
  ASSERT_TRUE(s->chat("How many shapes are there?", {img.value()}, 8, [&](const std::string& p, int32_t) {
    reply += p;
    return true;
  }).ok());
  // Both bricks ran: their weights (f16/f32, used in place from the mapping) are resident.
  const size_t vision_before = file_rss(kMmproj), text_before = file_rss(kLlm);
  const size_t vision_weights = test::demo_models().vision->weight_bytes();
  EXPECT_GT(vision_before, vision_weights / 2) << "the vision weights should be mapped after a run";
  auto before = read_process_memory();
  ASSERT_TRUE(before.ok());
  s->pipeline().release_vision();
  auto after = read_process_memory();
  ASSERT_TRUE(after.ok());
  const size_t vision_after = file_rss(kMmproj);
  std::printf("vision brick released: its file %.0f -> %.0f KiB resident, process %.0f -> %.0f KiB\n",
              vision_before / 1024.0, vision_after / 1024.0, before->rss / 1024.0, after->rss / 1024.0);
  EXPECT_LT(vision_after, vision_before / 8);
  EXPECT_LT(after->rss + vision_weights / 2, before->rss);
  EXPECT_GT(file_rss(kLlm), text_before / 2) << "releasing the vision brick left the text brick alone";

  // The text brick keeps only the conversation's opening before the picture in its KV cache.
  const size_t opening = opening_positions(s->pipeline().positions());
  ASSERT_LT(opening, s->pipeline().positions().size()) << "the conversation has a picture";
  s->pipeline().release_text();
  EXPECT_LT(file_rss(kLlm), text_before / 8);
  EXPECT_EQ(s->pipeline().text().n_past(), (int)opening);
  EXPECT_EQ(s->pipeline().positions().size(), opening);
  // Released bricks come back when next needed: the same question gets the same answer.
  s->reset();
  std::string again;
  ASSERT_TRUE(s->chat("How many shapes are there?", {img.value()}, 8, [&](const std::string& p, int32_t) {
    again += p;
    return true;
  }).ok());
  EXPECT_EQ(again, reply);
}

TEST(Residency, AnOnDemandSessionHoldsNoModelPagesBeforeItsFirstRun) {
  // A keep session's answer maps both files' pages into this process.
  auto keep = test::demo_session(Residency::keep);
  ASSERT_NE(keep, nullptr);
  auto img = load_image(test::kModels + "samples/scene_3.png");
  ASSERT_TRUE(img.ok());
  ASSERT_TRUE(keep->chat("How many shapes are there?", {img.value()}, 4, [](const std::string&, int32_t) {
    return true;
  }).ok());
  ASSERT_GT(file_rss(kMmproj), 0u);
  ASSERT_GT(file_rss(kLlm), 0u);
  // A session made on demand gives them back at once: a server or a camera stream waiting
  // for its first event holds no model pages (issue 16: between events, 0 resident model bytes).
  auto lazy = test::demo_session(Residency::on_demand);
  ASSERT_NE(lazy, nullptr);
  EXPECT_EQ(file_rss(kMmproj), 0u);
  EXPECT_EQ(file_rss(kLlm), 0u);
}

TEST(Residency, OnDemandGivesEachBrickBackAfterItsRunWithTheSameAnswers) {
  auto keep = test::demo_session(Residency::keep);
  auto lazy = test::demo_session(Residency::on_demand);
  ASSERT_NE(keep, nullptr);
  ASSERT_NE(lazy, nullptr);
  for (const char* scene : {"scene_3", "scene_11", "scene_42"}) {
    auto img = load_image(test::kModels + "samples/" + scene + ".png");
    ASSERT_TRUE(img.ok());
    std::vector<std::string> replies;
    for (TextSession* s : {keep.get(), lazy.get()}) {
      s->reset();
      std::string reply;
      ASSERT_TRUE(s->chat("How many shapes are there?", {img.value()}, 10, [&](const std::string& p, int32_t) {
        reply += p;
        return true;
      }).ok());
      // A second turn about the same picture: on demand it prefills everything again.
      ASSERT_TRUE(s->chat("What colour is the largest?", 6, [&](const std::string& p, int32_t) {
        reply += "|" + p;
        return true;
      }).ok());
      replies.push_back(reply);
    }
    EXPECT_EQ(replies[0], replies[1]) << scene;
    EXPECT_FALSE(replies[0].empty());
    // On demand, nothing of either brick stays mapped after the answer, and the KV cache
    // holds only the opening before the picture.
    EXPECT_GT(lazy->pipeline().text().n_past(), 0);
    EXPECT_EQ((size_t)lazy->pipeline().text().n_past(), opening_positions(lazy->pipeline().positions()));
    EXPECT_EQ(lazy->pipeline().positions().size(), (size_t)lazy->pipeline().text().n_past());
  }
  EXPECT_LT(file_rss(kMmproj), test::demo_models().vision->weight_bytes() / 8);
  EXPECT_LT(file_rss(kLlm), test::demo_models().text->weight_bytes() / 8);
}

}  // namespace
}  // namespace nm
