// The bundled demo model (models/) loaded once per test program, for the runtime tests.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "runtime/pipeline.h"

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

}  // namespace nm::test
