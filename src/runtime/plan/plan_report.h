// What `nanomind plan` prints: the chosen placement with each brick's predicted time,
// joules and bytes, the answer's end-to-end figures, the runner-up and why it lost, and the
// cost model's arithmetic -- as text for people and as JSON for scripts. Every figure is a
// prediction from a device profile and is labelled so.
// Thread-safety: plain functions.
#pragma once

#include <string>
#include <vector>

#include "runtime/plan/planner.h"

namespace nm::plan {

struct PlanContext {
  const DeviceProfile* profile = nullptr;
  std::string profile_why;               // "calibrated 3 min ago", "shipped board profile", ...
  const std::vector<PlanBrick>* bricks = nullptr;
  PlanRequest request;
  std::vector<std::string> notes;        // what was counted per brick
  std::string model;                     // "llm.gguf + mmproj.gguf"
};

std::string plan_text(const PlanContext& ctx, const PlanResult& r, bool verbose);
std::string plan_json(const PlanContext& ctx, const PlanResult& r);

}  // namespace nm::plan
