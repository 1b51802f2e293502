// The bundled demo model (models/) loaded once per test program, for the runtime tests.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "runtime/pipeline.h"
#include "runtime/text_session.h"

namespace nm::test {

inline const std::string kModels = std::string(NM_SOURCE_DIR) + "/models/";

inline const PipelineModels& demo_models() {
  static const std::unique_ptr<PipelineModels> m = [] {
    auto r = PipelineModels::load(kModels + "nanomind-demo-llm.gguf", kModels + "nanomind-demo-mmproj.gguf");
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    return r.ok() ? std::move(r).value() : nullptr;
  }();
  return *m;
}

// A greedy session of the demo model on 2 threads with the given residency.
inline std::unique_ptr<TextSession> demo_session(Residency residency) {
  TextSessionParams p;
  p.pipeline.n_threads = 2;
  p.pipeline.residency = residency;
  p.sampling.temperature = 0;
  auto s = TextSession::create(demo_models(), p);
  EXPECT_TRUE(s.ok()) << s.status().to_string();
  return s.ok() ? std::move(s).value() : nullptr;
}

}  // namespace nm::test
