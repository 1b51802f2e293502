// Memory planner: places every arena-backed node of a Graph (inputs and non-view op
// results) at a byte offset in ONE arena so that nodes whose lifetimes overlap never
// share bytes. Lifetime of a storage node = [first step it is written, last step any
// node aliasing it (views, cpy results) is read]; inputs live from step 0, outputs to
// the end. Placement is greedy best-fit, largest first (TFLite's "greedy by size").
// Weights and nodes made external (Graph::set_external) are never in the arena. After planning, bind() fills t.data of
// every node, so executing allocates nothing.
// Thread-safety: plain functions on caller-owned data.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/status.h"
#include "graph/graph.h"

namespace nm {

constexpr size_t kArenaAlignment = 64;

struct MemoryPlan {
  static constexpr size_t kNotInArena = SIZE_MAX;
  size_t arena_size = 0;            // bytes; a multiple of the alignment
  size_t alignment = kArenaAlignment;
  // Per node id: arena byte offset of the node's storage (kNotInArena for weights and
  // views; a view's bytes are its storage node's).
  std::vector<size_t> offset;
  // Per node id, for storage nodes in the arena: live steps [first_use, last_use]
  // (node ids double as steps). -1 elsewhere.
  std::vector<int32_t> first_use, last_use;
  // Largest sum of sizes live at one step: no plan can use a smaller arena.
  size_t max_live_bytes = 0;
};

// Fails (invalid_argument) if the graph recorded a build error.
Result<MemoryPlan> plan_memory(const Graph& graph, size_t alignment = kArenaAlignment);

// Sets t.data of every node: arena nodes to arena_base + offset, views to their
// storage's data + storage_offset, weights keep theirs. arena_base must be aligned to
// plan.alignment and hold plan.arena_size bytes (may be null when arena_size is 0).
Status bind(Graph& graph, const MemoryPlan& plan, void* arena_base);

}  // namespace nm
