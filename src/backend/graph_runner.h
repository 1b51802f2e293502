// GraphRunner: how a brick runs one prepared graph wherever it was placed. Without a
// device it is the CPU executor on the caller's thread pool (the default placement);
// with a device it is that device's Executable (cpu:big on its own pinned pool, OpenCL,
// ...). Either way inputs are written and results read through tensor(id).data, and
// KV-cache slots are re-pointed with rebind(). Ops the device cannot run fail in create()
// with a message naming the op and the device: nothing falls back to the CPU silently.
// Thread-safety: one run() at a time per runner.
#pragma once

#include <memory>
#include <string>

#include "backend/cpu/cpu_executor.h"
#include "backend/device.h"
#include "core/status.h"
#include "core/thread_pool.h"
#include "graph/graph.h"

namespace nm {

class GraphRunner {
 public:
  // device == nullptr: the CpuExecutor with `isa`, run on the pool given to run().
  // `packed` (may be null): packed weight copies for graphs that run on a CPU.
  // `streaming` (may be null): on a CPU, weights leave the resident set after their last
  // reader in each run (WeightStreaming); other devices ignore it.
  static Result<std::unique_ptr<GraphRunner>> create(Graph graph, Device* device, Isa isa,
                                                     PackedWeights* packed = nullptr,
                                                     const WeightStreaming* streaming = nullptr);

  const Tensor& tensor(NodeId id) const;
  const Graph& graph() const;
  Status rebind(NodeId weight_leaf, void* data);
  // `pool` is used only without a device (a device runs on its own workers).
  Status run(ThreadPool& pool);
  Device* device() const { return device_; }

 private:
  GraphRunner() = default;
  Device* device_ = nullptr;
  std::unique_ptr<CpuExecutor> cpu_;
  std::unique_ptr<Executable> exe_;
};

// Name shown for a placement: the device's name, or "cpu" for the default.
std::string placement_name(const Device* device);

}  // namespace nm
