// The bundled demo model (models/, trained by tools/demo_model): what `run`, `chat` and
// `bench` load when no -m is given, so a newcomer's first command works offline.
#pragma once

#include <string>

namespace nm::cli {

inline constexpr const char* kDemoLlmFile = "nanomind-demo-llm.gguf";
inline constexpr const char* kDemoMmprojFile = "nanomind-demo-mmproj.gguf";

// The first folder holding the demo LLM file, searched in this order: $NANOMIND_MODELS,
// <executable>/../../models (a build tree inside the checkout), <executable>/../share/
// nanomind/models (an install), the source tree this binary was built from. Empty if none.
std::string find_demo_model_dir();

// Folders find_demo_model_dir() looks in, for the error message when none has the model.
std::string demo_model_search_path();

}  // namespace nm::cli
