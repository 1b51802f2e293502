// CPU execution loop with one dispatch switch per op kind: data movement here
// (cpu_data_movement), compute ops through cpu_compute (kernels/ops.h), matmul through
// kernels/matmul.h.
#include "backend/cpu/cpu_executor.h"

#include <algorithm>
#include <string>

#include "backend/cpu/cpu_compute.h"
#include "backend/cpu/cpu_data_movement.h"
#include "core/page_advice.h"
#include "kernels/conv1d_gemm.h"
#include "kernels/matmul.h"
#include "kernels/matmul_packed.h"

namespace nm {
namespace {

size_t align_up(size_t n, size_t a) { return (n + a - 1) / a * a; }

void* aligned_bytes(size_t n, size_t alignment) {
  return n == 0 ? nullptr : std::aligned_alloc(alignment, align_up(n, alignment));
}

// matmul: a [K, N] (weights, any type, rows a.nb[1] apart) times b f32 [K, M...] whose
// rows are evenly strided -> y f32 [N, M...]. Batched weights (a.ne[2..3] > 1) are not run.
bool matmul_layout_ok(const Graph& g, const Node& n) {
  const Tensor& a = g.node(n.src[0]).t;
  const Tensor& b = g.node(n.src[1]).t;
  return matmul_supports(a.type) && a.ne[2] == 1 && a.ne[3] == 1 && a.nb[0] == type_traits(a.type)->type_size &&
         b.type == DType::F32 && b.nb[0] == 4 && b.nb[1] % 4 == 0 && b.nb[2] == b.nb[1] * (size_t)b.ne[1] &&
         b.nb[3] == b.nb[2] * (size_t)b.ne[2] && n.t.is_contiguous();
}

MatmulArgs matmul_args(const Graph& g, const Node& n) {
  const Tensor& a = g.node(n.src[0]).t;
  const Tensor& b = g.node(n.src[1]).t;
  MatmulArgs m;
  m.w_type = a.type;
  m.w = a.data;
  m.w_row_bytes = a.nb[1];
  m.m = a.ne[1];
  m.k = a.ne[0];
  m.x = static_cast<const float*>(b.data);
  m.x_stride = (int64_t)(b.nb[1] / 4);
  m.n = b.n_rows();
  m.y = static_cast<float*>(n.t.data);
  m.y_stride = (int64_t)(n.t.nb[1] / 4);
  return m;
}

kernels::Conv1dRows conv1d_rows_shape(const Graph& g, const Node& n) {
  const Tensor& x = g.node(n.src[1]).t;
  const auto& p = std::get<Conv1dRowsParams>(n.params);
  return kernels::Conv1dRows{x.ne[0], x.ne[1], p.k, p.stride, p.pad, p.dilation};
}

// Per-node scratch the kernels need (activations quantised for a matmul, im2col buffers).
size_t node_scratch_bytes(const Graph& g, const Node& n) {
  if (n.op == OpKind::matmul) {
    const Tensor& a = g.node(n.src[0]).t;
    return matmul_scratch_bytes(a.type, a.ne[1], a.ne[0], g.node(n.src[1]).t.n_rows());
  }
  if (n.op == OpKind::conv1d_rows) return conv1d_gemm_scratch_bytes(conv1d_rows_shape(g, n), n.t.ne[0]);
  return cpu_compute_scratch(g, n);
}

std::string node_label(const Graph& g, NodeId id) {
  const Node& n = g.node(id);
  return std::string(op_name(n.op)) + " (node " + std::to_string(id) + (n.name.empty() ? "" : " '" + n.name + "'") + ")";
}

}  // namespace

bool CpuExecutor::supports(const Graph& g, const Node& n) {
  switch (n.op) {
    case OpKind::input: case OpKind::weight: case OpKind::output: case OpKind::reshape:
    case OpKind::view: case OpKind::permute: case OpKind::transpose:
      return true;
    case OpKind::cpy: return cpu_copy_supported(g.node(n.src[0]).t, n.t);
    case OpKind::cont: return cpu_copy_supported(g.node(n.src[0]).t, n.t);
    case OpKind::concat: return true;
    case OpKind::get_rows: {
      const Tensor& table = g.node(n.src[0]).t;
      return table.nb[0] == type_traits(table.type)->type_size;
    }
    case OpKind::matmul:
      return matmul_layout_ok(g, n);
    default:
      return cpu_compute_supported(g, n);
  }
}

Result<std::unique_ptr<CpuExecutor>> CpuExecutor::create(Graph graph, Isa isa, PackedWeights* packed,
                                                         const WeightStreaming* streaming) {
  if (!graph.status().ok()) return graph.status();
  for (NodeId i = 0; i < graph.size(); ++i) {
    if (!supports(graph, graph.node(i))) {
      return error(ErrorCode::unsupported, "CPU backend cannot run " + node_label(graph, i) + " with " +
                                               Graph::shape_str(graph.node(i).t) + " yet");
    }
  }
  std::unique_ptr<CpuExecutor> ex(new CpuExecutor());
  ex->isa_ = isa;
  NM_ASSIGN_OR_RETURN(ex->plan_, plan_memory(graph));
  ex->arena_.reset(static_cast<char*>(aligned_bytes(ex->plan_.arena_size, ex->plan_.alignment)));
  if (ex->plan_.arena_size > 0 && !ex->arena_) {
    return error(ErrorCode::out_of_memory, "graph arena of " + std::to_string(ex->plan_.arena_size) + " bytes");
  }
  for (const Node& n : graph.nodes()) ex->scratch_size_ = std::max(ex->scratch_size_, node_scratch_bytes(graph, n));
  ex->scratch_.reset(static_cast<char*>(aligned_bytes(ex->scratch_size_, kArenaAlignment)));
  if (ex->scratch_size_ > 0 && !ex->scratch_) {
    return error(ErrorCode::out_of_memory, "kernel scratch of " + std::to_string(ex->scratch_size_) + " bytes");
  }
  NM_RETURN_IF_ERROR(bind(graph, ex->plan_, ex->arena_.get()));
  ex->packed_w_.assign((size_t)graph.size(), nullptr);
  for (NodeId i = 0; packed && i < graph.size(); ++i) {
    const Node& n = graph.node(i);
    if (n.op == OpKind::matmul && graph.node(n.src[0]).op == OpKind::weight) {
      ex->packed_w_[(size_t)i] = packed->get(isa, graph.node(n.src[0]).t);
    }
  }
  ex->graph_ = std::move(graph);
  if (streaming) ex->plan_weight_drops(*streaming, packed);
  return ex;
}

void CpuExecutor::plan_weight_drops(const WeightStreaming& streaming, PackedWeights* packed) {
  const Graph& g = graph_;
  std::vector<NodeId> last_reader((size_t)g.size(), kInvalidNode);
  std::vector<const void*> copy((size_t)g.size(), nullptr);  // per weight leaf: its packed copy
  for (NodeId i = 0; i < g.size(); ++i) {
    const Node& n = g.node(i);
    for (int s = 0; s < n.n_src; ++s) {
      const NodeId leaf = g.node(n.src[s]).storage;  // a view reads its storage's memory
      if (leaf == kInvalidNode || g.node(leaf).op != OpKind::weight) continue;
      last_reader[(size_t)leaf] = i;
      if (s == 0 && packed_w_[(size_t)i]) copy[(size_t)leaf] = packed_w_[(size_t)i];
    }
  }
  const bool copies_droppable = packed && packed->copies_file_backed();
  const char* file = static_cast<const char*>(streaming.file);
  for (NodeId w = 0; w < g.size(); ++w) {
    if (last_reader[(size_t)w] == kInvalidNode) continue;
    const Tensor& t = g.node(w).t;
    const char* p = static_cast<const char*>(t.data);
    if (const void* c = copy[(size_t)w]) {  // read from the copy only: its file pages are dropped already
      if (!copies_droppable) continue;
      const size_t bytes = matmul_packed_bytes(t.type, t.ne[1], t.ne[0]);
      drop_whole_pages(c, bytes);  // packed (written) just now: leave it to the page cache until used
      drops_.push_back({last_reader[(size_t)w], c, bytes});
    } else if (file && p >= file && p + t.n_bytes() <= file + streaming.file_bytes) {
      drops_.push_back({last_reader[(size_t)w], p, t.n_bytes()});
    }
  }
  std::stable_sort(drops_.begin(), drops_.end(), [](const WeightDrop& a, const WeightDrop& b) { return a.after < b.after; });
}

void CpuExecutor::record_error(Status s) {
  std::lock_guard<std::mutex> lock(error_mu_);
  if (first_error_.ok()) first_error_ = std::move(s);
}

void CpuExecutor::run_node_part(int ith, int nth) {
  const Node& n = *current_;
  Status s;
  switch (n.op) {
    case OpKind::cpy:
    case OpKind::cont:
      s = cpu_copy(graph_.node(n.src[0]).t, n.t, ith, nth);
      break;
    case OpKind::concat:
      cpu_concat(graph_.node(n.src[0]).t, graph_.node(n.src[1]).t, std::get<ConcatParams>(n.params).dim, n.t, ith, nth);
      break;
    case OpKind::get_rows:
      s = cpu_get_rows(graph_.node(n.src[0]).t, graph_.node(n.src[1]).t, n.t, ith, nth);
      break;
    case OpKind::attention:
      s = cpu_compute(graph_, n, isa_, scratch_.get(), ith, nth, &next_unit_);
      break;
    default:
      s = cpu_compute(graph_, n, isa_, scratch_.get(), ith, nth);
      break;
  }
  if (!s.ok()) record_error(std::move(s));
}

// Row and element ops this small finish faster on the calling thread than the pool can
// wake and re-join its workers (a decode step has ~10 of them per layer). Attention and
// convolutions do work out of proportion to their output size, so they always split.
bool CpuExecutor::runs_inline(const Node& n) {
  constexpr int64_t kInlineElements = 8192;
  switch (n.op) {
    case OpKind::attention: case OpKind::im2col: case OpKind::conv2d: case OpKind::conv1d:
    case OpKind::rel_attention: case OpKind::unfold1d: case OpKind::col2im1d: case OpKind::conv1d_dw: return false;
    default: return n.t.n_elements() <= kInlineElements;
  }
}

Status CpuExecutor::execute(NodeId id, ThreadPool& pool) {
  const Node& n = graph_.node(id);
  switch (n.op) {
    case OpKind::input: case OpKind::weight: case OpKind::output: case OpKind::reshape:
    case OpKind::view: case OpKind::permute: case OpKind::transpose:
      return Status::ok_status();  // no data moves: bind() set the pointers
    case OpKind::matmul: {
      MatmulArgs args = matmul_args(graph_, n);
      if (const void* p = packed_w_[(size_t)id]) {
        args.w = p;
        args.w_packed = true;
      }
      return matmul(isa_, args, scratch_.get(), pool);
    }
    case OpKind::conv1d_rows: {  // runs the pool itself (implicit GEMM), like matmul
      Conv1dGemmArgs args;
      args.x = static_cast<const float*>(graph_.node(n.src[1]).t.data);
      args.s = conv1d_rows_shape(graph_, n);
      args.slope = std::get<Conv1dRowsParams>(n.params).slope;
      args.w = static_cast<const float*>(graph_.node(n.src[0]).t.data);
      const auto& p = std::get<Conv1dRowsParams>(n.params);
      const int n_bias = n.n_src - 2 - (p.residual ? 1 : 0);  // sources: weight, x, [bias], [residual]
      args.bias = n_bias > 0 ? static_cast<const float*>(graph_.node(n.src[2]).t.data) : nullptr;
      args.residual = p.residual ? static_cast<const float*>(graph_.node(n.src[n.n_src - 1]).t.data) : nullptr;
      args.oc = n.t.ne[0];
      args.y = static_cast<float*>(n.t.data);
      return conv1d_gemm(isa_, args, scratch_.get(), pool);
    }
    default:
      current_ = &n;
      if (runs_inline(n)) {
        run_node_part(0, 1);  // every op splits by rows, so 1 part equals N parts bit for bit
      } else if (n.op == OpKind::attention) {
        // Units from a shared counter, and the caller does not wait for a worker that has
        // not started (ThreadPool::run_stealable): a decode step has an attention per layer,
        // and on a loaded machine each waited for the scheduler to run the other thread
        // (Gemma 3 270M tg128 4.1 +- 4.5 t/s against llama.cpp's 8.5 in one run, load ~15).
        next_unit_.store(0, std::memory_order_relaxed);
        pool.run_stealable([this](int ith, int nth) { run_node_part(ith, nth); });
      } else {
        pool.run([this](int ith, int nth) { run_node_part(ith, nth); });  // captures 1 pointer: no allocation
      }
      return Status::ok_status();
  }
}

Status CpuExecutor::rebind(NodeId leaf, void* data) {
  if (leaf < 0 || leaf >= graph_.size() || !graph_.node(leaf).external) {
    return error(ErrorCode::internal, "rebind: node " + std::to_string(leaf) + " is not a weight leaf or external node");
  }
  for (Node& n : graph_.nodes()) {
    if (n.storage == leaf) n.t.data = static_cast<char*>(data) + n.storage_offset;
  }
  return Status::ok_status();
}

Status CpuExecutor::run(ThreadPool& pool) {
  first_error_ = Status();
  size_t next_drop = 0;
  for (NodeId i = 0; i < graph_.size(); ++i) {
    Status s = execute(i, pool);
    if (s.ok() && !first_error_.ok()) s = std::move(first_error_);
    if (!s.ok()) return error(s.code(), node_label(graph_, i) + ": " + s.message());
    for (; next_drop < drops_.size() && drops_[next_drop].after == i; ++next_drop) {
      drop_whole_pages(drops_[next_drop].p, drops_[next_drop].bytes);
    }
  }
  return Status::ok_status();
}

}  // namespace nm
