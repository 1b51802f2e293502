// The C API's streams (nm_stream_begin / push / end) on the bundled demo model: frames
// pushed from the application's thread are answered in order on the stream's thread, a
// frame without pixels gets an error answer while the others are answered, the answers
// equal the ones a chat turn gives for the same picture, and bad parameters are refused.
#include <gtest/gtest.h>

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
};

void collect(const nm_frame_answer* a, void* user) {
  static_cast<std::vector<Answer>*>(user)->push_back({a->frame, a->name, a->text, a->status});
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
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i].frame, (int64_t)i);
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
  EXPECT_NE(nm_session_run_stream(d.session, "/no/such/folder", &p, collect, nullptr, nullptr), NM_OK);
  EXPECT_NE(std::string(nm_session_last_error(d.session)).find("/no/such/folder"), std::string::npos);
}

}  // namespace
