// Greedy-by-size arena placement with best-fit gaps.
#include "graph/memory_planner.h"

#include <algorithm>
#include <numeric>
#include <string>

namespace nm {
namespace {

size_t align_up(size_t n, size_t a) { return (n + a - 1) / a * a; }

// Bytes a storage node needs (storage nodes are contiguous; views never exceed them).
size_t storage_bytes(const Tensor& t) { return t.n_bytes(); }

}  // namespace

Result<MemoryPlan> plan_memory(const Graph& graph, size_t alignment) {
  if (!graph.status().ok()) return graph.status();
  if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
    return error(ErrorCode::invalid_argument, "plan_memory: alignment must be a power of two");
  }
  const int n = graph.size();
  MemoryPlan plan;
  plan.alignment = alignment;
  plan.offset.assign((size_t)n, MemoryPlan::kNotInArena);
  plan.first_use.assign((size_t)n, -1);
  plan.last_use.assign((size_t)n, -1);

  std::vector<NodeId> arena_nodes;
  for (NodeId i = 0; i < n; ++i) {
    const Node& nd = graph.node(i);
    if (op_is_view(nd.op) || nd.external) continue;  // weights and caller memory are not in the arena
    arena_nodes.push_back(i);
    plan.first_use[(size_t)i] = nd.op == OpKind::input ? 0 : i;  // caller fills inputs before step 0
    plan.last_use[(size_t)i] = i;
  }
  // Every read of a node is a read of its storage; a view keeps its storage alive for
  // as long as the view is read (views of views resolve to the same root).
  for (NodeId i = 0; i < n; ++i) {
    const Node& nd = graph.node(i);
    for (int s = 0; s < nd.n_src; ++s) {
      const NodeId root = graph.node(nd.src[(size_t)s]).storage;
      if (plan.last_use[(size_t)root] >= 0) plan.last_use[(size_t)root] = std::max(plan.last_use[(size_t)root], i);
    }
    if (nd.is_output && plan.last_use[(size_t)nd.storage] >= 0) plan.last_use[(size_t)nd.storage] = n;
  }

  // Largest first; ties by earlier definition so plans are deterministic.
  std::vector<NodeId> order = arena_nodes;
  std::stable_sort(order.begin(), order.end(), [&](NodeId a, NodeId b) {
    return storage_bytes(graph.node(a).t) > storage_bytes(graph.node(b).t);
  });
  std::vector<NodeId> placed;
  placed.reserve(order.size());
  std::vector<std::pair<size_t, size_t>> busy;  // [begin, end) of conflicting placements
  for (NodeId id : order) {
    const size_t size = align_up(std::max<size_t>(storage_bytes(graph.node(id).t), 1), alignment);
    busy.clear();
    for (NodeId p : placed) {
      const bool overlap = plan.first_use[(size_t)p] <= plan.last_use[(size_t)id] &&
                           plan.first_use[(size_t)id] <= plan.last_use[(size_t)p];
      if (overlap) {
        busy.emplace_back(plan.offset[(size_t)p],
                          plan.offset[(size_t)p] + align_up(storage_bytes(graph.node(p).t), alignment));
      }
    }
    std::sort(busy.begin(), busy.end());
    // Best fit: the smallest gap between live neighbours that holds `size`; else the end.
    size_t best = MemoryPlan::kNotInArena, best_gap = SIZE_MAX, cursor = 0;
    for (const auto& [b, e] : busy) {
      if (b > cursor && b - cursor >= size && b - cursor < best_gap) {
        best = cursor;
        best_gap = b - cursor;
      }
      cursor = std::max(cursor, e);
    }
    if (best == MemoryPlan::kNotInArena) best = cursor;
    plan.offset[(size_t)id] = best;
    plan.arena_size = std::max(plan.arena_size, best + size);
    placed.push_back(id);
  }

  // Lower bound for reports and tests: the largest live set over all steps.
  for (int step = 0; step <= n; ++step) {
    size_t live = 0;
    for (NodeId id : arena_nodes) {
      if (plan.first_use[(size_t)id] <= step && step <= plan.last_use[(size_t)id]) {
        live += storage_bytes(graph.node(id).t);
      }
    }
    plan.max_live_bytes = std::max(plan.max_live_bytes, live);
  }
  return plan;
}

Status bind(Graph& graph, const MemoryPlan& plan, void* arena_base) {
  if (plan.offset.size() != (size_t)graph.size()) {
    return error(ErrorCode::invalid_argument, "bind: the plan was made for a different graph");
  }
  if (plan.arena_size > 0 && (arena_base == nullptr || (uintptr_t)arena_base % plan.alignment != 0)) {
    return error(ErrorCode::invalid_argument,
                 "bind: arena must be non-null and aligned to " + std::to_string(plan.alignment) + " bytes");
  }
  auto* base = static_cast<char*>(arena_base);
  for (NodeId i = 0; i < graph.size(); ++i) {
    Node& nd = graph.node(i);
    if (nd.external) continue;  // weights and caller memory keep their pointers
    if (plan.offset[(size_t)i] != MemoryPlan::kNotInArena) {
      nd.t.data = base + plan.offset[(size_t)i];
    } else {
      // Views come after their storage in id order, so the storage is bound already.
      nd.t.data = static_cast<char*>(graph.node(nd.storage).t.data) + nd.storage_offset;
    }
  }
  return Status::ok_status();
}

}  // namespace nm
