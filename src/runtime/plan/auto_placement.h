// Automatic placement (issue 15 item 6): when the user names no device, run, chat, bench and
// serve place the bricks where the planner says, on this machine's devices, from its
// calibrated profile (nanomind calibrate) or, without one, from a built-in estimate (the
// board's shipped profile, else x86-server-vcpu) -- which the caller says once. The answer is
// a --device spec: bricks planned on the machine's only CPU device stay on the default CPU
// executor ("" in the spec), which keeps the server's batched decoding.
// Thread-safety: plain functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "backend/device.h"
#include "core/gguf_reader.h"
#include "runtime/plan/plan_model.h"

namespace nm::plan {

struct AutoPlacement {
  std::string device_spec;  // for --device / nm_session_params.devices ("" = every brick on the default CPU)
  std::string placement;    // "vision -> cpu, text -> opencl"
  std::string source;       // "calibrated 3 min ago (PATH)" or "built-in estimate x86-server-vcpu"
  bool calibrated = false;
};

// The profile the planner uses on this machine: its calibration (nanomind calibrate) keyed
// by `devices`, else the built-in estimate (the board's shipped profile, else
// x86-server-vcpu). `now`: Unix seconds (the calibration's age).
struct MachineProfile {
  DeviceProfile profile;
  std::string source;  // as AutoPlacement::source
  bool calibrated = false;
};
Result<MachineProfile> machine_profile(const std::vector<Device*>& devices, int64_t now);

// `devices`: this machine's devices (DeviceRegistry), which name the calibration and bound
// the choice. `now`: Unix seconds (the calibration's age).
Result<AutoPlacement> automatic_placement(const GgufFile& llm, const GgufFile* mmproj, Objective objective,
                                          const std::vector<Device*>& devices, int64_t now);

}  // namespace nm::plan
