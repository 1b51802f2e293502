// What the OpenCL backend runs and how: supports() is the exact capability table, and
// plan_node() turns one node into kernel launches (kernel, arguments, sizes) once per
// shape, so run() only sets arguments and enqueues. One dispatch switch per op kind.
// Thread-safety: plain functions; launches belong to one executable.
#pragma once

#include <CL/cl.h>

#include <array>
#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

#include "core/status.h"
#include "graph/graph.h"

namespace nm {

class OpenClDevice;

struct ClArg {
  size_t size = 0;
  std::array<unsigned char, 8> bytes{};
};

struct ClLaunch {
  cl_kernel kernel = nullptr;
  std::vector<ClArg> args;
  int dims = 1;
  std::array<size_t, 3> global{1, 1, 1};
  std::array<size_t, 3> local{1, 1, 1};
  bool use_local = false;  // false: the driver picks the work-group size
  NodeId node = kInvalidNode;
};

// Host pointer (inside the arena or an imported range) -> buffer and byte offset.
using ClResolver = std::function<std::pair<cl_mem, uint64_t>(const void*)>;

bool opencl_supports(const OpenClDevice& device, const Graph& graph, const Node& node);

// Appends the launches of node `id` (none for views and leaves).
Status opencl_plan_node(OpenClDevice& device, const Graph& graph, NodeId id, const ClResolver& resolve,
                        std::vector<ClLaunch>* launches);

}  // namespace nm
