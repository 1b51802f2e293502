// Parsing of --device and lookup of the named devices.
#include "runtime/device_placement.h"

#include <algorithm>

namespace nm {
namespace {

std::string trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return std::string(s);
}

constexpr const char* kForms = "use --device NAME or --device text=NAME,vision=NAME";
constexpr BrickKind kBricks[] = {BrickKind::vision, BrickKind::text, BrickKind::audio, BrickKind::asr, BrickKind::tts};

}  // namespace

const std::string& BrickPlacement::device_for(BrickKind brick) const {
  auto it = per_brick.find(brick);
  return it != per_brick.end() ? it->second : all;
}

std::vector<std::string> BrickPlacement::device_names() const {
  std::vector<std::string> names;
  auto add = [&](const std::string& n) {
    if (!n.empty() && std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
  };
  add(all);
  for (const auto& [brick, name] : per_brick) add(name);
  return names;
}

Result<BrickPlacement> parse_device_spec(std::string_view spec) {
  BrickPlacement p;
  const std::string all = trim(spec);
  if (all.empty()) return p;
  if (all.find('=') == std::string::npos) {
    if (all.find(',') != std::string::npos) {
      return error(ErrorCode::invalid_argument, "--device '" + all + "': several devices need brick names (" + kForms + ")");
    }
    p.all = all;
    return p;
  }
  size_t at = 0;
  while (at <= all.size()) {
    const size_t comma = std::min(all.find(',', at), all.size());
    const std::string item = trim(std::string_view(all).substr(at, comma - at));
    const size_t eq = item.find('=');
    const std::string brick = eq == std::string::npos ? "" : trim(std::string_view(item).substr(0, eq));
    const std::string name = eq == std::string::npos ? "" : trim(std::string_view(item).substr(eq + 1));
    if (brick.empty() || name.empty()) {
      return error(ErrorCode::invalid_argument, "--device '" + all + "': '" + item + "' is not BRICK=DEVICE (" + kForms + ")");
    }
    const BrickKind* kind = std::find_if(std::begin(kBricks), std::end(kBricks),
                                         [&](BrickKind k) { return brick == brick_kind_name(k); });
    if (kind == std::end(kBricks)) {
      std::string known;
      for (BrickKind k : kBricks) known += std::string(known.empty() ? "" : ", ") + brick_kind_name(k);
      return error(ErrorCode::invalid_argument, "--device: unknown brick '" + brick + "' (bricks: " + known + ")");
    }
    if (!p.per_brick.emplace(*kind, name).second) {
      return error(ErrorCode::invalid_argument, "--device: brick '" + brick + "' is placed twice");
    }
    at = comma + 1;
  }
  return p;
}

Result<Device*> resolve_device(const DeviceRegistry& registry, const std::string& name) {
  if (name.empty()) return static_cast<Device*>(nullptr);
  if (Device* d = registry.find(name)) return d;
  if (name == "opencl") {
#ifndef NM_HAVE_OPENCL
    registry.log("this build has no OpenCL backend: using the CPU");
#endif
    // Without a platform the registry has already logged its one line ("no OpenCL
    // platform found: using the CPU").
    return static_cast<Device*>(nullptr);
  }
  std::string names;
  for (const auto& d : registry.devices()) names += (names.empty() ? "" : ", ") + d->name();
  return error(ErrorCode::invalid_argument, "unknown device '" + name + "' (this machine has: " + names + ")");
}

}  // namespace nm
