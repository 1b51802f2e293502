// Brick placement from the --device option: which device each brick's graphs run on.
// Grammar: "" (default: every brick on the CPU executor), "NAME" (every brick on NAME),
// or "BRICK=NAME,BRICK=NAME" with bricks text and vision; NAME is a device name from
// DeviceRegistry ("cpu", "cpu:big", "opencl", ...). Thread-safety: plain functions.
#pragma once

#include <string>
#include <string_view>

#include "backend/device_registry.h"
#include "core/status.h"

namespace nm {

struct BrickPlacement {
  std::string text, vision;  // device names; empty = the default CPU executor
  bool empty() const { return text.empty() && vision.empty(); }
};

// Parses the option text. Errors name the bad part and the accepted forms.
Result<BrickPlacement> parse_device_spec(std::string_view spec);

// The device called `name` in `registry`. Empty name: nullptr (the default CPU executor).
// "opencl" where no OpenCL device exists: nullptr, after one log line through the
// registry saying the CPU is used. Any other unknown name: invalid_argument listing
// the devices this machine has.
Result<Device*> resolve_device(const DeviceRegistry& registry, const std::string& name);

}  // namespace nm
