// The graph's compute ops on the CPU (everything but matmul, which runs in its own two
// phases): maps each node's tensors and parameters onto kernels/ops.h. supported() is
// checked once when an executor is created; run() is called by every pool thread with
// its (ith, nth) and allocates nothing.
#pragma once

#include <atomic>
#include <cstdint>

#include "core/status.h"
#include "graph/graph.h"
#include "kernels/cpu_features.h"

namespace nm {

bool cpu_compute_supported(const Graph& g, const Node& n);
// Scratch bytes the node needs (im2col buffers).
size_t cpu_compute_scratch(const Graph& g, const Node& n);
// next_unit: for attention, the shared work counter of kernels::AttentionParams (0 on
// entry, for a ThreadPool::run_stealable task), or null.
Status cpu_compute(const Graph& g, const Node& n, Isa isa, void* scratch, int ith, int nth,
                   std::atomic<int64_t>* next_unit = nullptr);

}  // namespace nm
