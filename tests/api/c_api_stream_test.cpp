// The C API's streams (nm_stream_begin / push / end) on the bundled demo model: frames
// pushed from the application's thread are answered in order on the stream's thread, a
// frame without pixels gets an error answer while the others are answered, the answers
// equal the ones a chat turn gives for the same picture, and bad parameters are refused.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "nanomind/nanomind.h"

namespace {

const std::string kModels = std::string(NM_SOURCE_DIR) + "/models/";

struct Demo {
  nm_model* model = nullptr;
  nm_session* session = nullptr;
  Demo() {
    nm_model_params mp = nm_model_default_params();
    const std::string llm = kModels + "nanomind-demo-llm.gguf", mm = kModels + "nanomind-demo-mmproj.gguf";
    mp.model_path = llm.c_str();
    mp.mmproj_path = mm.c_str();
    mp.n_threads = 2;
    char err[256];
    if (nm_model_load(&mp, &model, err, sizeof err) != NM_OK) ADD_FAILURE() << err;
    nm_session_params sp = nm_session_default_params();
    sp.sampling.temperature = 0;
    if (model && nm_session_init(model, &sp, &session, err, sizeof err) != NM_OK) ADD_FAILURE() << err;
  }
  ~Demo() {
    nm_session_free(session);
    nm_model_free(model);
  }
};

struct Answer {
  int64_t frame;
  std::string name, text;
  nm_status status;
  int32_t power_mode;
  double battery_level;
};

void collect(const nm_frame_answer* a, void* user) {
  static_cast<std::vector<Answer>*>(user)->push_back(
      {a->frame, a->name, a->text, a->status, a->power_mode, a->battery_level});
}

int append(const char* piece, int32_t, void* user) {
  *static_cast<std::string*>(user) += piece;
  return 0;
}

TEST(CApiStream, PushedFramesAreAnsweredInOrder) {
  Demo d;
  ASSERT_NE(d.session, nullptr);
  nm_stream_params p = nm_stream_default_params();
  p.question = "How many shapes are there?";
  p.n_predict = 10;
  std::vector<Answer> got;
  nm_stream* st = nullptr;
  ASSERT_EQ(nm_stream_begin(d.session, &p, collect, &got, &st), NM_OK) << nm_session_last_error(d.session);
  const std::vector<std::string> files = {"scene_3.png", "scene_7.png", "scene_11.png"};
  for (size_t i = 0; i < files.size(); ++i) {
    const std::string path = kModels + "samples/" + files[i];
    nm_image img{path.c_str(), nullptr, 0, 0};
    EXPECT_EQ(nm_stream_push(st, &img, files[i].c_str()), NM_OK);
    if (i == 1) {
      nm_image none{nullptr, nullptr, 0, 0};
      EXPECT_EQ(nm_stream_push(st, &none, "empty"), NM_OK);  // reported in its answer
    }
  }
  nm_stream_stats stats{};
  ASSERT_EQ(nm_stream_end(st, &stats), NM_OK) << nm_session_last_error(d.session);
  EXPECT_EQ(stats.asked, 4);
  EXPECT_EQ(stats.answered, 3);
  EXPECT_EQ(stats.failed, 1);
  EXPECT_EQ(stats.bytes_copied_between_bricks, 0u);
  ASSERT_EQ(got.size(), 4u);
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].frame, (int64_t)i);
    EXPECT_EQ(got[i].power_mode, NM_POWER_NONE);  // no power policy asked for
  }
  EXPECT_EQ(got[2].name, "empty");
  EXPECT_NE(got[2].status, NM_OK);
  EXPECT_FALSE(got[2].text.empty());

  // The answer about scene_7 equals a chat turn's about the same picture.
  nm_session_reset(d.session);
  const std::string path = kModels + "samples/scene_7.png";
  nm_image img{path.c_str(), nullptr, 0, 0};
  std::string reply;
  ASSERT_EQ(nm_session_chat_images(d.session, p.question, &img, 1, p.n_predict, append, &reply), NM_OK);
  EXPECT_EQ(reply, got[1].text);
}

// The power policy through the C API: a folder stream forced on demand answers as the
// plain stream does, each answer saying its mode; a pushed stream on a simulated battery
// reports the reading before each frame; the stats count answers per mode.
TEST(CApiStream, PowerModesDriveTheStream) {
  Demo d;
  ASSERT_NE(d.session, nullptr);
  const std::string folder = kModels + "samples";
  nm_stream_params p = nm_stream_default_params();
  p.question = "How many shapes are there?";
  p.n_predict = 8;
  EXPECT_EQ(p.battery, nullptr);
  EXPECT_EQ(p.power_mode, nullptr);
  std::vector<Answer> plain, lazy;
  ASSERT_EQ(nm_session_run_stream(d.session, folder.c_str(), &p, collect, &plain, nullptr), NM_OK)
      << nm_session_last_error(d.session);
  p.power_mode = "on-demand";
  nm_stream_stats stats{};
  ASSERT_EQ(nm_session_run_stream(d.session, folder.c_str(), &p, collect, &lazy, &stats), NM_OK)
      << nm_session_last_error(d.session);
  ASSERT_EQ(lazy.size(), plain.size());
  for (size_t i = 0; i < lazy.size(); ++i) {
    EXPECT_EQ(lazy[i].text, plain[i].text) << lazy[i].name;
    EXPECT_EQ(lazy[i].power_mode, NM_POWER_ON_DEMAND);
    EXPECT_TRUE(std::isnan(lazy[i].battery_level));
  }
  EXPECT_EQ(stats.answered_per_mode[NM_POWER_ON_DEMAND], stats.answered);
  EXPECT_EQ(stats.answered_per_mode[NM_POWER_PARALLEL], 0);
  EXPECT_EQ(stats.mode_changes, 0);

  // A pushed stream on a big simulated battery at 80%: parallel, the reading before each frame.
  p.power_mode = nullptr;
  p.battery = "sim:2000mAh@3.7V,start=80%";
  std::vector<Answer> pushed;
  nm_stream* st = nullptr;
  ASSERT_EQ(nm_stream_begin(d.session, &p, collect, &pushed, &st), NM_OK) << nm_session_last_error(d.session);
  const std::string path = kModels + "samples/scene_7.png";
  nm_image img{path.c_str(), nullptr, 0, 0};
  for (int i = 0; i < 2; ++i) EXPECT_EQ(nm_stream_push(st, &img, "scene_7"), NM_OK);
  ASSERT_EQ(nm_stream_end(st, &stats), NM_OK) << nm_session_last_error(d.session);
  ASSERT_EQ(pushed.size(), 2u);
  for (const Answer& a : pushed) {
    EXPECT_EQ(a.power_mode, NM_POWER_PARALLEL);
    EXPECT_LE(a.battery_level, 0.8);
    EXPECT_GT(a.battery_level, 0.79);  // a few joules of 26.6 kJ
  }
  EXPECT_EQ(pushed[0].battery_level, 0.8);  // read before anything ran
  EXPECT_EQ(stats.answered_per_mode[NM_POWER_PARALLEL], 2);
  EXPECT_EQ(stats.joules_per_mode[NM_POWER_ON_DEMAND], 0.0);  // never in that mode

  // Thresholds of the caller's: at 70% between 60% and 80%, throttled.
  p.battery = "sim:2000mAh@3.7V,start=70%";
  p.t_high = 80;
  p.t_low = 60;
  std::vector<Answer> between;
  ASSERT_EQ(nm_session_run_stream(d.session, folder.c_str(), &p, collect, &between, &stats), NM_OK)
      << nm_session_last_error(d.session);
  ASSERT_FALSE(between.empty());
  int32_t ok = 0;  // the folder's samples.json is asked about too, and fails
  for (const Answer& a : between) {
    EXPECT_EQ(a.power_mode, NM_POWER_THROTTLED) << a.name;
    ok += a.status == NM_OK;
  }
  EXPECT_EQ(stats.answered_per_mode[NM_POWER_THROTTLED], ok);
  EXPECT_EQ(stats.answered, ok);
}

TEST(CApiStream, RefusesBadParameters) {
  Demo d;
  ASSERT_NE(d.session, nullptr);
  nm_stream* st = nullptr;
  nm_stream_params p = nm_stream_default_params();  // no question
  EXPECT_EQ(nm_stream_begin(d.session, &p, collect, nullptr, &st), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(st, nullptr);
  EXPECT_EQ(nm_stream_begin(d.session, nullptr, collect, nullptr, &st), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_stream_begin(d.session, &p, collect, nullptr, nullptr), NM_ERR_INVALID_ARGUMENT);
  p.question = "Hi";
  p.every = -1;
  EXPECT_EQ(nm_stream_begin(d.session, &p, collect, nullptr, &st), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_stream_push(nullptr, nullptr, nullptr), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_stream_end(nullptr, nullptr), NM_ERR_INVALID_ARGUMENT);
  p.every = 1;
  p.battery = "sim:lots";
  EXPECT_EQ(nm_stream_begin(d.session, &p, collect, nullptr, &st), NM_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(nm_session_last_error(d.session)).find("'lots'"), std::string::npos);
  p.battery = nullptr;
  p.power_mode = "sometimes";
  EXPECT_EQ(nm_stream_begin(d.session, &p, collect, nullptr, &st), NM_ERR_INVALID_ARGUMENT);
  p.power_mode = nullptr;
  EXPECT_NE(nm_session_run_stream(d.session, "/no/such/folder", &p, collect, nullptr, nullptr), NM_OK);
  EXPECT_NE(std::string(nm_session_last_error(d.session)).find("/no/such/folder"), std::string::npos);
}

}  // namespace
