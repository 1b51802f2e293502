// The work of one camera question, read from the model files people run: how many
// multiply-adds and bytes the vision brick (one image) and the text brick (prefill of
// the image tokens and the prompt, then one decode step per answer token) cost, from the
// GGUF tensor table and the architecture's hyper-parameters. Matmuls are counted from
// every 2-D+ weight; attention from tokens, width and layers; decode reads every matrix
// once per token plus the f16 KV cache; the ops of each graph run are counted from the
// tensor table (BrickWork::ops). This feeds the profile-based battery estimate
// (mode_costs.h); it reads only the files' headers (tensor data stays unread).
// Thread-safety: plain functions.
#pragma once

#include <string>
#include <vector>

#include "core/gguf_reader.h"
#include "runtime/energy/mode_costs.h"

namespace nm::energy {

struct EventShape {
  int prompt_tokens = 24;   // the question and the chat template around it
  int answer_tokens = 32;
  int image_tokens = 0;     // tokens the image adds to the prompt; 0 = from the mmproj
};

struct EventPlacement {
  std::string vision_device;  // profile device names
  std::string text_device;
};

// The default placement on a profile: vision on the NPU if there is one, else the GPU,
// else the first CPU cluster; text on the first CPU cluster (the fastest, listed first).
EventPlacement default_placement(const DeviceProfile& profile);

// `mmproj` may be null (a text question). `notes` receives one line per brick saying what
// was counted.
Result<std::vector<BrickWork>> question_work(const GgufFile& llm, const GgufFile* mmproj, const EventShape& shape,
                                             const EventPlacement& placement, std::vector<std::string>* notes);

}  // namespace nm::energy
