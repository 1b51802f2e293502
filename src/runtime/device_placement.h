// Brick placement from the --device option: which device each brick's graphs run on.
// Grammar: "" (default: every brick on the CPU executor), "NAME" (every brick on NAME),
// or "BRICK=NAME,BRICK=NAME" with bricks named as brick_kind_name() says (text, vision,
// audio, asr, tts); NAME is a device name from DeviceRegistry ("cpu", "cpu:big", "cpu:0",
// "opencl", ...). Thread-safety: plain functions.
#pragma once

#include <map>
#include <string>
#include <vector>
#include <string_view>

#include "backend/device_registry.h"
#include "bricks/brick.h"
#include "core/status.h"

namespace nm {

struct BrickPlacement {
  std::string all;                              // every brick not named below; "" = the default CPU executor
  std::map<BrickKind, std::string> per_brick;   // BRICK=NAME items
  // The device name for a brick ("" = the default CPU executor).
  const std::string& device_for(BrickKind brick) const;
  bool empty() const { return all.empty() && per_brick.empty(); }
  // Every device name the placement mentions, once each, in order of mention.
  std::vector<std::string> device_names() const;
};

// Parses the option text. Errors name the bad part and the accepted forms.
Result<BrickPlacement> parse_device_spec(std::string_view spec);

// The device called `name` in `registry`. Empty name: nullptr (the default CPU executor).
// "opencl" where no OpenCL device exists: nullptr, after one log line through the
// registry saying the CPU is used. Any other unknown name: invalid_argument listing
// the devices this machine has.
Result<Device*> resolve_device(const DeviceRegistry& registry, const std::string& name);

}  // namespace nm
