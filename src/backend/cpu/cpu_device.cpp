// CpuDevice: adapts CpuExecutor to the Device interface.
#include "backend/cpu/cpu_device.h"

#include <unistd.h>

#include <cstdlib>

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

Result<std::unique_ptr<Executable>> CpuDevice::prepare(Graph graph) {
  NM_ASSIGN_OR_RETURN(std::unique_ptr<CpuExecutor> ex, CpuExecutor::create(std::move(graph)));
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

}  // namespace nm
