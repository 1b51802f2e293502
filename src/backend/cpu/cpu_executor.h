// CpuExecutor: runs a Graph on the CPU. create() plans the memory (one arena), allocates
// the arena and the kernel scratch once, and binds every node's data pointer; run()
// then executes the nodes in id (topological) order and allocates nothing.
// Graphs are built once per shape bucket and re-run with new input data: write inputs
// through tensor(input_id).data, call run(), read tensor(output_id). Cache executors per
// shape with graph/graph_cache.h.
// Thread-safety: one run() at a time per executor; distinct executors are independent.
#pragma once

#include <atomic>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <vector>

#include "backend/cpu/packed_weights.h"
#include "core/status.h"
#include "core/thread_pool.h"
#include "graph/graph.h"
#include "graph/memory_planner.h"
#include "kernels/cpu_features.h"

namespace nm {

// Weights a graph gives back as soon as the last node that reads them has run: for a brick
// that reads each weight once per run (a vision encoder, layer after layer) on on-demand
// residency, only about one layer's weights are resident at a time instead of the whole
// brick's. Dropped are pages of the read-only model file mapping [file, file + file_bytes)
// and packed copies that are file-backed (PackedWeights::copies_file_backed): both come
// back from the page cache at the next run. Other weights stay as they are.
struct WeightStreaming {
  const void* file = nullptr;
  size_t file_bytes = 0;
};

class CpuExecutor {
 public:
  // Fails with the graph's build error, or `unsupported` naming the first op the CPU
  // backend cannot run yet, or out_of_memory. With `packed`, matmuls whose weights it can
  // pack run on its packed copies (it must outlive the executor). With `streaming`, weights
  // leave the resident set after their last reader in every run (WeightStreaming), packed
  // copies also right after they are made.
  static Result<std::unique_ptr<CpuExecutor>> create(Graph graph, Isa isa = best_isa(),
                                                     PackedWeights* packed = nullptr,
                                                     const WeightStreaming* streaming = nullptr);

  // Whether the CPU backend can execute this node (dtypes and layout included).
  static bool supports(const Graph& graph, const Node& node);

  // Bound descriptor of a node (data points into the arena or external memory).
  const Tensor& tensor(NodeId id) const { return graph_.node(id).t; }
  const Graph& graph() const { return graph_; }
  const MemoryPlan& plan() const { return plan_; }
  size_t scratch_bytes() const { return scratch_size_; }

  // Points a weight leaf or external node (Graph::set_external) at new memory (e.g. the
  // KV-cache slot of this step, a token-ring slot) and re-derives every view and cpy
  // result that aliases it. No allocation.
  Status rebind(NodeId weight_leaf, void* data);

  // Executes every node once. Errors (e.g. a token id outside the embedding table)
  // stop the run and name the op and node.
  Status run(ThreadPool& pool);

 private:
  struct FreeDeleter { void operator()(void* p) const { std::free(p); } };
  CpuExecutor() = default;
  void run_node_part(int ith, int nth);  // body of one pool task for current_
  Status execute(NodeId id, ThreadPool& pool);
  static bool runs_inline(const Node& node);
  void record_error(Status s);
  void plan_weight_drops(const WeightStreaming& streaming, PackedWeights* packed);

  Graph graph_;
  MemoryPlan plan_;
  Isa isa_ = Isa::scalar;
  std::unique_ptr<char, FreeDeleter> arena_;
  std::unique_ptr<char, FreeDeleter> scratch_;
  size_t scratch_size_ = 0;
  std::vector<const void*> packed_w_;  // per node: packed weights of a matmul, else nullptr
  struct WeightDrop {
    NodeId after;  // the weight's last reader
    const void* p;
    size_t bytes;
  };
  std::vector<WeightDrop> drops_;  // by `after`; empty without streaming
  const Node* current_ = nullptr;
  std::atomic<int64_t> next_unit_{0};  // attention's shared work counter (run_stealable)
  std::mutex error_mu_;  // taken only on the error path
  Status first_error_;
};

}  // namespace nm
