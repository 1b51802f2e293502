// CpuDevice: one CPU core cluster (cpu_topology.h) as a Device. Graphs run through the
// existing CpuExecutor, unchanged, on the cluster's own thread pool: one thread per
// physical core, workers pinned to the cluster's cores, created on first use.
// Thread-safety: as Device; the pool is shared, so run() calls are serialised.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "backend/cpu/cpu_executor.h"
#include "backend/cpu/cpu_topology.h"
#include "backend/cpu/packed_weights.h"
#include "backend/device.h"
#include "core/thread_pool.h"

namespace nm {

class CpuDevice final : public Device {
 public:
  // n_threads <= 0: one per physical core of the cluster.
  explicit CpuDevice(CpuCluster cluster, int n_threads = 0);

  DeviceKind kind() const override { return DeviceKind::cpu; }
  const std::string& name() const override { return cluster_.name; }
  std::string description() const override { return cluster_.description(); }
  DeviceMemoryInfo memory() const override;
  bool supports(const Graph& graph, const Node& node) const override;
  Result<std::unique_ptr<DeviceBuffer>> allocate(size_t bytes) override;
  Result<std::unique_ptr<DeviceBuffer>> import_host(void* ptr, size_t bytes) override;
  Result<std::unique_ptr<Executable>> prepare(Graph graph) override;
  // As prepare(), with matmuls on the packed weight copies `packed` can make (may be null).
  // With `streaming`, weights leave the resident set after their last reader (WeightStreaming).
  Result<std::unique_ptr<Executable>> prepare(Graph graph, PackedWeights* packed,
                                              const WeightStreaming* streaming = nullptr);
  Status run(Executable& exe) override;
  Status synchronize() override { return Status::ok_status(); }  // run() is synchronous
  Result<std::unique_ptr<DeviceEvent>> record_event() override;
  // Portable C++ loops (the baseline ISA the library is compiled for), all threads.
  Result<DeviceSpeed> measure_speed() override;

  const CpuCluster& cluster() const { return cluster_; }
  int n_threads() const { return n_threads_; }
  ThreadPool& pool();  // creates the pinned pool on first call

 private:
  CpuCluster cluster_;
  int n_threads_;
  std::mutex mu_;  // guards pool_ creation and serialises run()
  std::unique_ptr<ThreadPool> pool_;
};

// Bytes of RAM of this machine (0 if unknown).
size_t host_memory_bytes();

}  // namespace nm
