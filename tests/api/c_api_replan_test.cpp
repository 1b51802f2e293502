// The C API's re-planning switch (nm_stream_params.replan): a value other than 0, 1 or 2 is
// refused with a message naming the field, before any frame is read; 1 on the default
// placement (one device, nowhere to move) answers as 0 does.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "nanomind/nanomind.h"

namespace {

const std::string kModels = std::string(NM_SOURCE_DIR) + "/models/";

void collect(const nm_frame_answer* a, void* user) { static_cast<std::vector<std::string>*>(user)->push_back(a->text); }

TEST(CApiReplan, ABadValueIsRefusedAndOnOneDeviceNothingChanges) {
  nm_model_params mp = nm_model_default_params();
  const std::string llm = kModels + "nanomind-demo-llm.gguf", mm = kModels + "nanomind-demo-mmproj.gguf";
  mp.model_path = llm.c_str();
  mp.mmproj_path = mm.c_str();
  mp.n_threads = 2;
  nm_model* model = nullptr;
  nm_session* session = nullptr;
  char err[256];
  ASSERT_EQ(nm_model_load(&mp, &model, err, sizeof err), NM_OK) << err;
  nm_session_params sp = nm_session_default_params();
  sp.sampling.temperature = 0;
  ASSERT_EQ(nm_session_init(model, &sp, &session, err, sizeof err), NM_OK) << err;
  const std::string dir = kModels + "samples";
  nm_stream_params p = nm_stream_default_params();
  EXPECT_EQ(p.replan, 0);
  p.question = "How many shapes are there?";
  p.n_predict = 4;
  p.max_frames = 3;
  std::vector<std::string> got[2];
  for (int bad : {3, -1}) {
    p.replan = bad;
    EXPECT_EQ(nm_session_run_stream(session, dir.c_str(), &p, collect, &got[0], nullptr), NM_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(nm_session_last_error(session)).find("replan must be 0"), std::string::npos)
        << nm_session_last_error(session);
  }
  EXPECT_TRUE(got[0].empty());
  for (int on = 0; on < 2; ++on) {
    p.replan = on;
    ASSERT_EQ(nm_session_run_stream(session, dir.c_str(), &p, collect, &got[on], nullptr), NM_OK)
        << nm_session_last_error(session);
  }
  EXPECT_EQ(got[0].size(), 3u);
  EXPECT_EQ(got[1], got[0]);
  nm_session_free(session);
  nm_model_free(model);
}

}  // namespace
