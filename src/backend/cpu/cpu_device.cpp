// CpuDevice: adapts CpuExecutor to the Device interface.
#include "backend/cpu/cpu_device.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <vector>

#include "backend/cpu/cpu_executor.h"

namespace nm {
namespace {

class HostBuffer final : public DeviceBuffer {
 public:
  HostBuffer(void* p, size_t n, bool owned) : p_(p), n_(n), owned_(owned) {}
  ~HostBuffer() override {
    if (owned_) std::free(p_);
  }
  void* host_ptr() const override { return p_; }
  size_t size() const override { return n_; }
  bool zero_copy() const override { return true; }

 private:
  void* p_;
  size_t n_;
  bool owned_;
};

class CpuExecutable final : public Executable {
 public:
  explicit CpuExecutable(std::unique_ptr<CpuExecutor> ex) : ex_(std::move(ex)) {}
  const Graph& graph() const override { return ex_->graph(); }
  CpuExecutor& executor() { return *ex_; }
  Status rebind(NodeId weight_leaf, void* data) override { return ex_->rebind(weight_leaf, data); }

 private:
  std::unique_ptr<CpuExecutor> ex_;
};

class DoneEvent final : public DeviceEvent {
 public:
  bool done() const override { return true; }
  Status wait() override { return Status::ok_status(); }
};

}  // namespace

size_t host_memory_bytes() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? (size_t)pages * (size_t)page : 0;
}

CpuDevice::CpuDevice(CpuCluster cluster, int n_threads)
    : cluster_(std::move(cluster)),
      n_threads_(n_threads > 0 ? n_threads : std::max<int>(1, (int)cluster_.physical.size())) {}

DeviceMemoryInfo CpuDevice::memory() const { return {host_memory_bytes(), true}; }

bool CpuDevice::supports(const Graph& graph, const Node& node) const { return CpuExecutor::supports(graph, node); }

Result<std::unique_ptr<DeviceBuffer>> CpuDevice::allocate(size_t bytes) {
  const size_t page = (size_t)sysconf(_SC_PAGESIZE);
  void* p = std::aligned_alloc(page, (std::max<size_t>(bytes, 1) + page - 1) / page * page);
  if (!p) return error(ErrorCode::out_of_memory, name() + ": cannot allocate " + std::to_string(bytes) + " bytes");
  return std::unique_ptr<DeviceBuffer>(new HostBuffer(p, bytes, true));
}

Result<std::unique_ptr<DeviceBuffer>> CpuDevice::import_host(void* ptr, size_t bytes) {
  if (!ptr && bytes) return error(ErrorCode::invalid_argument, name() + ": import of a null pointer");
  return std::unique_ptr<DeviceBuffer>(new HostBuffer(ptr, bytes, false));
}

Result<std::unique_ptr<Executable>> CpuDevice::prepare(Graph graph) { return prepare(std::move(graph), nullptr); }

Result<std::unique_ptr<Executable>> CpuDevice::prepare(Graph graph, PackedWeights* packed,
                                                       const WeightStreaming* streaming) {
  NM_ASSIGN_OR_RETURN(std::unique_ptr<CpuExecutor> ex,
                      CpuExecutor::create(std::move(graph), best_isa(), packed, streaming));
  return std::unique_ptr<Executable>(new CpuExecutable(std::move(ex)));
}

ThreadPool& CpuDevice::pool() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!pool_) pool_ = std::make_unique<ThreadPool>(n_threads_, cluster_.physical);
  return *pool_;
}

Status CpuDevice::run(Executable& exe) {
  auto* cpu = dynamic_cast<CpuExecutable*>(&exe);
  if (!cpu) return error(ErrorCode::invalid_argument, name() + ": executable was prepared by another device");
  ThreadPool& p = pool();
  std::lock_guard<std::mutex> lock(mu_);
  return cpu->executor().run(p);
}

Result<std::unique_ptr<DeviceEvent>> CpuDevice::record_event() {
  return std::unique_ptr<DeviceEvent>(new DoneEvent());
}

Result<DeviceSpeed> CpuDevice::measure_speed() {
  using clock = std::chrono::steady_clock;
  ThreadPool& p = pool();
  std::lock_guard<std::mutex> lock(mu_);
  DeviceSpeed speed;
  // Bandwidth: every thread sums its slice of a 128 MiB buffer; best of 3.
  const size_t n = (size_t)32 << 20;
  std::vector<float> buf(n, 1.0f);
  std::vector<double> sink((size_t)p.size() * 16, 0.0);  // 16 doubles apart: no false sharing
  struct Ctx { const float* x; size_t n; double* sink; int flops_iters; };
  Ctx ctx{buf.data(), n, sink.data(), 0};
  double best = 1e30;
  for (int rep = 0; rep < 3; ++rep) {
    const auto t0 = clock::now();
    p.run([&ctx](int ith, int nth) {
      const size_t lo = ctx.n * (size_t)ith / (size_t)nth, hi = ctx.n * (size_t)(ith + 1) / (size_t)nth;
      float acc[16] = {};
      for (size_t i = lo; i + 16 <= hi; i += 16) {
        for (int j = 0; j < 16; ++j) acc[j] += ctx.x[i + (size_t)j];
      }
      double s = 0;
      for (float a : acc) s += a;
      ctx.sink[(size_t)ith * 16] += s;
    });
    best = std::min(best, std::chrono::duration<double>(clock::now() - t0).count());
  }
  speed.read_gb_per_s = (double)n * 4 / best / 1e9;
  // FMA throughput: 32 independent accumulators per thread (enough to hide latency).
  ctx.flops_iters = 1 << 21;
  best = 1e30;
  for (int rep = 0; rep < 3; ++rep) {
    const auto t0 = clock::now();
    p.run([&ctx](int ith, int nth) {
      float a[32], b = 0.999f, c = 0.001f;
      for (int j = 0; j < 32; ++j) a[j] = (float)(j + ith);
      for (int it = 0; it < ctx.flops_iters; ++it) {
        for (int j = 0; j < 32; ++j) a[j] = a[j] * b + c;
      }
      double s = 0;
      for (float v : a) s += v;
      ctx.sink[(size_t)ith * 16] += s;
    });
    best = std::min(best, std::chrono::duration<double>(clock::now() - t0).count());
  }
  speed.gflop_per_s = 2.0 * 32 * (double)ctx.flops_iters * p.size() / best / 1e9;
  return speed;
}

}  // namespace nm
