// Small shared helpers of the Device interface.
#include "backend/device.h"

namespace nm {

const char* device_kind_name(DeviceKind kind) {
  switch (kind) {
    case DeviceKind::cpu: return "cpu";
    case DeviceKind::gpu: return "gpu";
    case DeviceKind::npu: return "npu";
  }
  return "?";
}

std::string node_label(const Graph& graph, NodeId id) {
  const Node& n = graph.node(id);
  return std::string(op_name(n.op)) + " (node " + std::to_string(id) + (n.name.empty() ? "" : " '" + n.name + "'") + ")";
}

}  // namespace nm
