// The planner's bricks (plan_model.h) from the model files people run: the vision brick
// (mmproj: encoder + projector, one run per camera frame) and the text brick (prefill of
// the image tokens and the prompt, then one decode step per answer token), with their
// work counted by energy/event_work.h from the GGUF tensor table and hyper-parameters
// (only headers are read: a file of the right shapes with no weights costs the same),
// their weight bytes, the text brick's KV cache and layers, and each graph's activation
// arena estimated from its shapes.
// Thread-safety: plain functions.
#pragma once

#include <string>
#include <vector>

#include "core/gguf_reader.h"
#include "runtime/energy/event_work.h"
#include "runtime/plan/plan_model.h"

namespace nm::plan {

// `mmproj` may be null (text only). `notes` receives one line per brick on what was counted.
Result<std::vector<PlanBrick>> bricks_from_files(const GgufFile& llm, const GgufFile* mmproj,
                                                 const energy::EventShape& shape, std::vector<std::string>* notes);

}  // namespace nm::plan
