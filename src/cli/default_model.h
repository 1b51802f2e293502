// The default model: what `run`, `chat` and `bench` load when no -m is given, so a
// newcomer's first command works offline.
//
// Two candidates, both looked up in the bundled models/ folder:
//  * SmolLM2-135M-Instruct Q4_1 (fetched by scripts/fetch-models.sh with its pinned sha256,
//    unchanged) behind NanoMind's own vision file models/nanomind-smollm2-vision-mmproj.gguf
//    (trained by tools/demo_model on varied scenes of coloured shapes). It is the default
//    when that vision file is shipped and the LLM is fetched. The vision file is shipped only
//    once it measures better than the toy on held-out styles (tools/demo_model/README.md);
//  * otherwise the toy demo model (models/nanomind-demo-*.gguf: a 4-layer decoder trained
//    on the toy generator's scenes, also the tests' small fixture), which is the default
//    today.
#pragma once

#include <optional>
#include <string>

namespace nm::cli {

inline constexpr const char* kDemoLlmFile = "nanomind-demo-llm.gguf";
inline constexpr const char* kDemoMmprojFile = "nanomind-demo-mmproj.gguf";
inline constexpr const char* kDefaultLlmFile = "smollm2-135m-instruct-q4_1.gguf";
inline constexpr const char* kDefaultMmprojFile = "nanomind-smollm2-vision-mmproj.gguf";

struct DefaultModel {
  std::string llm, mmproj;
  std::string models_dir;  // the bundled models/ folder (samples live there)
  bool toy = false;        // the toy demo model stands in (below)
  std::string missing_llm;  // where the default LLM was looked for when its vision file is shipped but it is not
};

// The first folder holding the bundled models (the toy LLM file), searched in this order:
// $NANOMIND_MODELS, <executable>/../../models (a build tree inside the checkout),
// <executable>/../share/nanomind/models (an install), the source tree this binary was
// built from. Empty if none.
std::string find_demo_model_dir();

// Folders find_demo_model_dir() looks in, for the error message when none has the model.
std::string demo_model_search_path();

// Where scripts/fetch-models.sh puts files: $NM_MODELS_DIR, else
// $XDG_CACHE_HOME/nanomind/models, else $HOME/.cache/nanomind/models.
std::string fetched_models_dir();

// The default model (above), or nothing when not even the toy model is found.
std::optional<DefaultModel> find_default_model();

}  // namespace nm::cli
