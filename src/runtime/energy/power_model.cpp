// PowerModel device matching (see power_model.h).
#include "runtime/energy/power_model.h"

#include <algorithm>

namespace nm::energy {

namespace {

std::string kind_of_runtime_device(const std::string& name) {
  const std::string family = name.substr(0, name.find(':'));
  if (family == "opencl" || family == "gpu" || family == "cuda" || family == "vulkan") return "gpu";
  if (family == "npu" || family == "rknpu") return "npu";
  return "cpu";
}

}  // namespace

const DevicePower* PowerModel::match(const std::string& runtime_device, const std::string& kind_hint) const {
  for (const DevicePower& d : devices)
    if (d.name == runtime_device) return &d;
  const std::string kind = kind_hint.empty() ? kind_of_runtime_device(runtime_device) : kind_hint;
  for (const DevicePower& d : devices)
    if (d.kind == kind) return &d;
  return nullptr;
}

double PowerModel::busy_watts(const std::string& runtime_device, int threads, const std::string& kind) const {
  const DevicePower* d = match(runtime_device, kind);
  if (!d) return 0;
  if (d->kind != "cpu" || d->cores <= 0 || threads <= 0) return d->active_w;
  // Active CPU power grows roughly with the number of busy cores (same frequency).
  return d->active_w * std::min(1.0, static_cast<double>(threads) / d->cores);
}

}  // namespace nm::energy
