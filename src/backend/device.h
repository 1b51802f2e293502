// Device: the one interface every compute unit implements (a CPU core cluster, an
// OpenCL GPU, later CUDA or an NPU runtime). A backend lives entirely in
// src/backend/<name>/ and is registered in device_registry.cpp; nothing else changes.
//
// Life of a graph on a device (MNN's split of per-shape and per-call work):
//   1. supports(graph, node) for every node -- the planner and the tests ask this;
//   2. prepare(graph): per-shape work (memory plan, buffers, compiled kernels, weight
//      import) -> an Executable. Fails naming the first node the device cannot run;
//   3. write inputs through exe.tensor(id).data, run(exe), read outputs the same way.
//      Re-run as often as wanted; run() allocates nothing.
// Thread-safety: a Device may be used from several threads for distinct executables;
// one run() at a time per Executable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/status.h"
#include "graph/graph.h"

namespace nm {

enum class DeviceKind : uint8_t { cpu, gpu, npu };
const char* device_kind_name(DeviceKind kind);  // "cpu", "gpu", "npu"

struct DeviceMemoryInfo {
  size_t total_bytes = 0;   // memory the device can address (0 = unknown)
  bool unified = false;     // shares DRAM with the host: import_host() is zero-copy
};

// Quick measured speed (nanomind devices; a first device profile for the planner).
struct DeviceSpeed {
  double read_gb_per_s = 0;  // streaming read bandwidth
  double gflop_per_s = 0;    // f32 multiply-add throughput (2 flops each)
};

// Memory owned or imported by a device. host_ptr() is where the host reads and writes
// it; for imports it is the pointer given to import_host().
class DeviceBuffer {
 public:
  virtual ~DeviceBuffer() = default;
  virtual void* host_ptr() const = 0;
  virtual size_t size() const = 0;
  // True when the device works on the host bytes themselves (no copy was made).
  virtual bool zero_copy() const = 0;
};

// Completion marker for work submitted to a device so far.
class DeviceEvent {
 public:
  virtual ~DeviceEvent() = default;
  virtual bool done() const = 0;
  virtual Status wait() = 0;
};

// A graph prepared for one device and one shape. tensor(id) is the node's descriptor;
// for inputs and results its data pointer is host memory valid between runs (the
// device keeps host and device views coherent around run()).
class Executable {
 public:
  virtual ~Executable() = default;
  virtual const Graph& graph() const = 0;
  const Tensor& tensor(NodeId id) const { return graph().node(id).t; }
  // Points a weight leaf or external node (Graph::set_external) at other host memory
  // (e.g. this step's KV-cache rows, a token-ring slot) and re-derives every view and cpy
  // result that aliases it, as CpuExecutor::rebind does. The new range must lie inside
  // memory the graph already used when it was prepared (for the text brick: the same
  // cache layer) or inside one of the graph's regions (Graph::add_region). No allocation.
  virtual Status rebind(NodeId weight_leaf, void* data) = 0;
};

class Device {
 public:
  virtual ~Device() = default;
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  virtual DeviceKind kind() const = 0;
  // Stable name used for placement: "cpu", "cpu:big", "cpu:little", "opencl", ...
  virtual const std::string& name() const = 0;
  // One line for people: "4x Cortex-A76 @ 2.40 GHz", "Mali-G610 (OpenCL 3.0)",
  // "pthread-skylake (PoCL: CPU)".
  virtual std::string description() const = 0;
  virtual DeviceMemoryInfo memory() const = 0;

  // Whether this device runs `node` (op, dtypes, layout) of `graph` correctly. Exact:
  // prepare() accepts a graph iff supports() is true for every node.
  virtual bool supports(const Graph& graph, const Node& node) const = 0;

  // Device memory of `bytes`, host-visible (page-aligned host pointer).
  virtual Result<std::unique_ptr<DeviceBuffer>> allocate(size_t bytes) = 0;
  // Makes host memory (e.g. an mmapped weight file) usable by the device, zero-copy
  // where the device and driver allow; the memory must outlive the buffer. Page-aligned
  // pointers give the best chance of zero-copy.
  virtual Result<std::unique_ptr<DeviceBuffer>> import_host(void* ptr, size_t bytes) = 0;

  // Per-shape preparation. Fails with `unsupported` naming the first node this device
  // cannot run, with the graph's build error, or with out_of_memory.
  virtual Result<std::unique_ptr<Executable>> prepare(Graph graph) = 0;
  // Executes every node once; returns when the results are readable on the host.
  // `exe` must come from this device's prepare().
  virtual Status run(Executable& exe) = 0;
  // Waits for everything submitted to this device.
  virtual Status synchronize() = 0;
  // An event that completes when the work submitted so far has completed.
  virtual Result<std::unique_ptr<DeviceEvent>> record_event() = 0;
  // A short (~0.1-1 s) measurement of bandwidth and f32 FMA throughput.
  virtual Result<DeviceSpeed> measure_speed() = 0;
  // Optional: a device that wraps another (e.g. one that injects delay, in tests) returns
  // it, so that a brick's worker pins itself where the work really runs.
  virtual const Device* wrapped() const { return nullptr; }

 protected:
  Device() = default;
};

// How errors name a node: "matmul (node 7 'ffn_up')".
std::string node_label(const Graph& graph, NodeId id);

}  // namespace nm
