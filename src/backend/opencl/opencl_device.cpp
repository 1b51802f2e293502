// OpenClDevice: platform/device choice, host-pointer buffers, program building with the
// binary cache, executables (per-shape launch lists) and their execution.
#include "backend/opencl/opencl_device.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "backend/opencl/opencl_kernels.h"
#include "backend/opencl/opencl_ops.h"
#include "graph/memory_planner.h"

namespace nm {
namespace {

size_t page_size() { return (size_t)sysconf(_SC_PAGESIZE); }
uintptr_t page_floor(uintptr_t p) { return p / page_size() * page_size(); }
uintptr_t page_ceil(uintptr_t p) { return (p + page_size() - 1) / page_size() * page_size(); }

std::string device_string(cl_device_id d, cl_device_info what) {
  size_t n = 0;
  if (clGetDeviceInfo(d, what, 0, nullptr, &n) != CL_SUCCESS || n == 0) return "";
  std::string s(n, '\0');
  clGetDeviceInfo(d, what, n, s.data(), nullptr);
  while (!s.empty() && (s.back() == '\0' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string platform_string(cl_platform_id p, cl_platform_info what) {
  size_t n = 0;
  if (clGetPlatformInfo(p, what, 0, nullptr, &n) != CL_SUCCESS || n == 0) return "";
  std::string s(n, '\0');
  clGetPlatformInfo(p, what, n, s.data(), nullptr);
  while (!s.empty() && (s.back() == '\0' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string lower(std::string s) {
  for (char& c : s) c = (char)std::tolower((unsigned char)c);
  return s;
}

Status cl_status(cl_int err, const std::string& what) {
  if (err == CL_SUCCESS) return Status::ok_status();
  const ErrorCode code = err == CL_OUT_OF_HOST_MEMORY || err == CL_MEM_OBJECT_ALLOCATION_FAILURE ||
                                 err == CL_OUT_OF_RESOURCES
                             ? ErrorCode::out_of_memory
                             : ErrorCode::internal;
  return error(code, what + ": " + cl_error_name(err));
}

struct Candidate {
  cl_platform_id platform;
  cl_device_id device;
  int platform_index, device_index;
  cl_device_type type;
  std::string name;
};

std::vector<Candidate> list_devices() {
  std::vector<Candidate> out;
  cl_uint np = 0;
  if (clGetPlatformIDs(0, nullptr, &np) != CL_SUCCESS || np == 0) return out;
  std::vector<cl_platform_id> platforms(np);
  clGetPlatformIDs(np, platforms.data(), nullptr);
  for (cl_uint p = 0; p < np; ++p) {
    cl_uint nd = 0;
    if (clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, 0, nullptr, &nd) != CL_SUCCESS || nd == 0) continue;
    std::vector<cl_device_id> devices(nd);
    clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, nd, devices.data(), nullptr);
    for (cl_uint d = 0; d < nd; ++d) {
      cl_device_type t = 0;
      clGetDeviceInfo(devices[d], CL_DEVICE_TYPE, sizeof t, &t, nullptr);
      out.push_back({platforms[p], devices[d], (int)p, (int)d, t, device_string(devices[d], CL_DEVICE_NAME)});
    }
  }
  return out;
}

// Host memory the device works on. Owned (page-aligned allocation) or imported.
class ClBuffer final : public DeviceBuffer {
 public:
  ClBuffer(cl_mem mem, void* host, size_t n, bool owned, bool zero_copy)
      : mem_(mem), host_(host), n_(n), owned_(owned), zero_copy_(zero_copy) {}
  ~ClBuffer() override {
    if (mem_) clReleaseMemObject(mem_);
    if (owned_) std::free(host_);
  }
  void* host_ptr() const override { return host_; }
  size_t size() const override { return n_; }
  bool zero_copy() const override { return zero_copy_; }
  cl_mem mem() const { return mem_; }

 private:
  cl_mem mem_;
  void* host_;
  size_t n_;
  bool owned_, zero_copy_;
};

class ClEvent final : public DeviceEvent {
 public:
  explicit ClEvent(cl_event e) : e_(e) {}
  ~ClEvent() override { clReleaseEvent(e_); }
  bool done() const override {
    cl_int st = CL_COMPLETE;
    clGetEventInfo(e_, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof st, &st, nullptr);
    return st == CL_COMPLETE || st < 0;
  }
  Status wait() override { return cl_status(clWaitForEvents(1, &e_), "waiting for an OpenCL event"); }

 private:
  cl_event e_;
};

// A host range wrapped as one buffer (USE_HOST_PTR). `mapped`: the host currently owns it.
struct ClRange {
  char* base = nullptr;
  size_t size = 0;
  cl_mem mem = nullptr;
  bool sync = false;    // written by the graph (arena, cpy targets): map/unmap around run()
  bool mapped = false;
};

class ClExecutable final : public Executable {
 public:
  ~ClExecutable() override {
    for (ClRange& r : ranges) {
      if (r.mapped) clEnqueueUnmapMemObject(queue, r.mem, r.base, 0, nullptr, nullptr);
    }
    if (queue) clFinish(queue);
    for (ClRange& r : ranges) clReleaseMemObject(r.mem);
    std::free(arena);
  }
  const Graph& graph() const override { return graph_; }
  Status rebind(NodeId leaf, void* data) override;

  OpenClDevice* dev = nullptr;
  Graph graph_;
  MemoryPlan plan;
  char* arena = nullptr;
  cl_command_queue queue = nullptr;
  std::vector<ClRange> ranges;  // [0] = the arena when it is non-empty
  std::vector<ClLaunch> launches;
  std::vector<int> launch_of;       // node id -> index in launches, -1 for none
  std::vector<NodeId> checked_ids;  // get_rows nodes whose ids are checked on the host
  bool covered(const void* p, size_t n) const {
    const char* c = static_cast<const char*>(p);
    for (const ClRange& r : ranges) {
      if (c >= r.base && c + n <= r.base + r.size) return true;
    }
    return false;
  }
  std::pair<cl_mem, uint64_t> resolve(const void* p) const {
    const char* c = static_cast<const char*>(p);
    for (const ClRange& r : ranges) {
      if (c >= r.base && c <= r.base + r.size) return {r.mem, (uint64_t)(c - r.base)};
    }
    return {ranges.empty() ? nullptr : ranges[0].mem, 0};  // zero-sized tensors only
  }
};

Status map_range(cl_command_queue q, ClRange& r) {
  cl_int err = CL_SUCCESS;
  void* p = clEnqueueMapBuffer(q, r.mem, CL_TRUE, CL_MAP_READ | CL_MAP_WRITE, 0, r.size, 0, nullptr, nullptr, &err);
  NM_RETURN_IF_ERROR(cl_status(err, "mapping an OpenCL buffer"));
  if (p != r.base) {
    // USE_HOST_PTR buffers must map at their host pointer (OpenCL 1.2 §5.4.2).
    clEnqueueUnmapMemObject(q, r.mem, p, 0, nullptr, nullptr);
    return error(ErrorCode::internal, "OpenCL driver mapped a host-pointer buffer elsewhere");
  }
  r.mapped = true;
  return Status::ok_status();
}

// Re-points the leaf and its aliases, then re-plans only the launches that read or write
// them (kernels are cached, so this is argument packing only).
Status ClExecutable::rebind(NodeId leaf, void* data) {
  if (leaf < 0 || leaf >= graph_.size() || !graph_.node(leaf).external) {
    return error(ErrorCode::internal, "rebind: node " + std::to_string(leaf) + " is not a weight leaf or external node");
  }
  if (!covered(data, graph_.node(leaf).t.n_bytes())) {
    return error(ErrorCode::invalid_argument, dev->name() + ": rebind of " + node_label(graph_, leaf) +
                                                  " outside the memory imported when the graph was prepared");
  }
  std::vector<bool> moved((size_t)graph_.size(), false);
  for (NodeId i = 0; i < graph_.size(); ++i) {
    Node& n = graph_.node(i);
    if (n.storage != leaf) continue;
    n.t.data = static_cast<char*>(data) + n.storage_offset;
    moved[(size_t)i] = true;
  }
  const ClResolver resolve = [this](const void* p) { return this->resolve(p); };
  for (NodeId i = 0; i < graph_.size(); ++i) {
    const Node& n = graph_.node(i);
    bool touched = moved[(size_t)i];
    for (int s = 0; s < n.n_src; ++s) touched |= n.src[(size_t)s] != kInvalidNode && moved[(size_t)n.src[(size_t)s]];
    const int at = launch_of[(size_t)i];
    if (!touched || at < 0) continue;
    std::vector<ClLaunch> one;
    NM_RETURN_IF_ERROR(opencl_plan_node(*dev, graph_, i, resolve, &one));
    if (one.size() != 1) return error(ErrorCode::internal, "rebind: " + node_label(graph_, i) + " re-planned differently");
    launches[(size_t)at] = std::move(one.front());
  }
  return Status::ok_status();
}

}  // namespace

std::string cl_error_name(cl_int err) {
  static const std::pair<cl_int, const char*> kNames[] = {
      {CL_DEVICE_NOT_FOUND, "CL_DEVICE_NOT_FOUND"}, {CL_DEVICE_NOT_AVAILABLE, "CL_DEVICE_NOT_AVAILABLE"},
      {CL_COMPILER_NOT_AVAILABLE, "CL_COMPILER_NOT_AVAILABLE"},
      {CL_MEM_OBJECT_ALLOCATION_FAILURE, "CL_MEM_OBJECT_ALLOCATION_FAILURE"},
      {CL_OUT_OF_RESOURCES, "CL_OUT_OF_RESOURCES"}, {CL_OUT_OF_HOST_MEMORY, "CL_OUT_OF_HOST_MEMORY"},
      {CL_BUILD_PROGRAM_FAILURE, "CL_BUILD_PROGRAM_FAILURE"}, {CL_MAP_FAILURE, "CL_MAP_FAILURE"},
      {CL_INVALID_VALUE, "CL_INVALID_VALUE"}, {CL_INVALID_DEVICE, "CL_INVALID_DEVICE"},
      {CL_INVALID_CONTEXT, "CL_INVALID_CONTEXT"}, {CL_INVALID_MEM_OBJECT, "CL_INVALID_MEM_OBJECT"},
      {CL_INVALID_HOST_PTR, "CL_INVALID_HOST_PTR"}, {CL_INVALID_BINARY, "CL_INVALID_BINARY"},
      {CL_INVALID_BUILD_OPTIONS, "CL_INVALID_BUILD_OPTIONS"}, {CL_INVALID_PROGRAM, "CL_INVALID_PROGRAM"},
      {CL_INVALID_KERNEL_NAME, "CL_INVALID_KERNEL_NAME"}, {CL_INVALID_KERNEL_ARGS, "CL_INVALID_KERNEL_ARGS"},
      {CL_INVALID_ARG_INDEX, "CL_INVALID_ARG_INDEX"}, {CL_INVALID_ARG_SIZE, "CL_INVALID_ARG_SIZE"},
      {CL_INVALID_WORK_GROUP_SIZE, "CL_INVALID_WORK_GROUP_SIZE"},
      {CL_INVALID_WORK_ITEM_SIZE, "CL_INVALID_WORK_ITEM_SIZE"},
      {CL_INVALID_GLOBAL_WORK_SIZE, "CL_INVALID_GLOBAL_WORK_SIZE"},
      {CL_INVALID_BUFFER_SIZE, "CL_INVALID_BUFFER_SIZE"}, {-1001, "CL_PLATFORM_NOT_FOUND_KHR"}};
  for (const auto& [code, name] : kNames) {
    if (code == err) return std::string(name) + " (" + std::to_string(err) + ")";
  }
  return "OpenCL error " + std::to_string(err);
}

Result<std::unique_ptr<OpenClDevice>> OpenClDevice::create(std::string name, OpenClOptions options) {
  const std::vector<Candidate> all = list_devices();
  if (all.empty()) return error(ErrorCode::unsupported, "no OpenCL platform found: using the CPU");
  const Candidate* pick = nullptr;
  if (const char* want = std::getenv("NM_OPENCL_DEVICE"); want && *want) {
    int p = -1, d = -1;
    char tail = 0;
    const bool indices = std::sscanf(want, "%d:%d%c", &p, &d, &tail) == 2;
    for (const Candidate& c : all) {
      if (indices ? (c.platform_index == p && c.device_index == d)
                  : lower(c.name).find(lower(want)) != std::string::npos) {
        pick = &c;
        break;
      }
    }
    if (!pick) return error(ErrorCode::invalid_argument, std::string("NM_OPENCL_DEVICE='") + want + "' matches no OpenCL device");
  }
  for (const Candidate& c : all) {
    if (!pick && (c.type & CL_DEVICE_TYPE_GPU)) pick = &c;
  }
  if (!pick) pick = &all.front();

  std::unique_ptr<OpenClDevice> dev(new OpenClDevice());
  dev->name_ = std::move(name);
  dev->platform_ = pick->platform;
  dev->device_ = pick->device;
  OpenClInfo& in = dev->info_;
  in.platform_name = platform_string(pick->platform, CL_PLATFORM_NAME);
  in.platform_version = platform_string(pick->platform, CL_PLATFORM_VERSION);
  in.device_name = pick->name;
  in.device_version = device_string(pick->device, CL_DEVICE_VERSION);
  in.driver_version = device_string(pick->device, CL_DRIVER_VERSION);
  in.type = pick->type;
  cl_ulong mem = 0;
  clGetDeviceInfo(pick->device, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof mem, &mem, nullptr);
  in.global_mem = (size_t)mem;
  size_t wg = 0;
  clGetDeviceInfo(pick->device, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof wg, &wg, nullptr);
  in.max_work_group = wg;
  cl_ulong local_mem = 0;
  clGetDeviceInfo(pick->device, CL_DEVICE_LOCAL_MEM_SIZE, sizeof local_mem, &local_mem, nullptr);
  in.local_mem = (size_t)local_mem;
  cl_bool unified = CL_FALSE;
  clGetDeviceInfo(pick->device, CL_DEVICE_HOST_UNIFIED_MEMORY, sizeof unified, &unified, nullptr);
  in.host_unified = unified == CL_TRUE || (pick->type & CL_DEVICE_TYPE_CPU);
  in.has_fp16 = device_string(pick->device, CL_DEVICE_EXTENSIONS).find("cl_khr_fp16") != std::string::npos;
  dev->half_math_ = options.half_math;
  dev->log_ = options.log;
  if (options.half_math == ClHalfMath::device) {
    const char* e = std::getenv("NM_OPENCL_FP16");
    const bool forced_off = e && (std::strcmp(e, "0") == 0 || lower(e) == "off");
    dev->half_math_ = in.has_fp16 && !forced_off ? ClHalfMath::device : ClHalfMath::off;
  }
  in.is_pocl = lower(in.platform_name).find("portable computing language") != std::string::npos ||
               in.platform_version.find("PoCL") != std::string::npos;
  // Reduction width: 64 suits GPUs; CPU devices (PoCL) run 8 lanes faster (measured with
  // bench_opencl: q4_0 decode matmul ~3x faster than 64). $NM_OPENCL_WG overrides it.
  int want_wg = (pick->type & CL_DEVICE_TYPE_CPU) ? 8 : 64;
  if (const char* e = std::getenv("NM_OPENCL_WG"); e && std::atoi(e) > 0) want_wg = std::atoi(e);
  dev->wg_ = 1;
  while (dev->wg_ * 2 <= want_wg && (size_t)dev->wg_ * 2 <= std::max<size_t>(wg, 1)) dev->wg_ *= 2;

  cl_int err = CL_SUCCESS;
  cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)pick->platform, 0};
  dev->context_ = clCreateContext(props, 1, &pick->device, nullptr, nullptr, &err);
  NM_RETURN_IF_ERROR(cl_status(err, "creating an OpenCL context on " + in.device_name));
  dev->queue_ = clCreateCommandQueue(dev->context_, pick->device, 0, &err);
  NM_RETURN_IF_ERROR(cl_status(err, "creating an OpenCL queue on " + in.device_name));
  return dev;
}

OpenClDevice::~OpenClDevice() {
  if (queue_) clFinish(queue_);
  for (auto& [k, v] : kernels_) clReleaseKernel(v);
  for (auto& [k, v] : programs_) clReleaseProgram(v);
  if (queue_) clReleaseCommandQueue(queue_);
  if (context_) clReleaseContext(context_);
}

DeviceKind OpenClDevice::kind() const {
  return (info_.type & CL_DEVICE_TYPE_GPU) ? DeviceKind::gpu : (info_.type & CL_DEVICE_TYPE_ACCELERATOR) ? DeviceKind::npu : DeviceKind::cpu;
}

std::string OpenClDevice::description() const {
  std::string s = info_.device_name + " (" + info_.device_version + ")";
  if (info_.is_pocl) s += (info_.type & CL_DEVICE_TYPE_CPU) ? " (PoCL: CPU)" : " (PoCL)";
  if (half_math_ == ClHalfMath::device) s += " (fp16 arithmetic)";
  if (half_math_ == ClHalfMath::emulate) s += " (emulated fp16 arithmetic)";
  return s;
}

bool OpenClDevice::supports(const Graph& graph, const Node& node) const { return opencl_supports(*this, graph, node); }

Result<std::unique_ptr<DeviceBuffer>> OpenClDevice::allocate(size_t bytes) {
  const size_t n = page_ceil(std::max<size_t>(bytes, 1));
  void* host = std::aligned_alloc(page_size(), n);
  if (!host) return error(ErrorCode::out_of_memory, name_ + ": cannot allocate " + std::to_string(bytes) + " bytes");
  cl_int err = CL_SUCCESS;
  cl_mem mem = clCreateBuffer(context_, CL_MEM_READ_WRITE | CL_MEM_USE_HOST_PTR, n, host, &err);
  if (err != CL_SUCCESS) {
    std::free(host);
    return cl_status(err, name_ + ": allocating " + std::to_string(bytes) + " bytes");
  }
  return std::unique_ptr<DeviceBuffer>(new ClBuffer(mem, host, bytes, true, info_.host_unified));
}

Result<std::unique_ptr<DeviceBuffer>> OpenClDevice::import_host(void* ptr, size_t bytes) {
  if (!ptr || bytes == 0) return error(ErrorCode::invalid_argument, name_ + ": import of an empty range");
  cl_int err = CL_SUCCESS;
  cl_mem mem = clCreateBuffer(context_, CL_MEM_READ_WRITE | CL_MEM_USE_HOST_PTR, bytes, ptr, &err);
  NM_RETURN_IF_ERROR(cl_status(err, name_ + ": importing " + std::to_string(bytes) + " bytes of host memory"));
  const bool aligned = (uintptr_t)ptr % page_size() == 0;
  return std::unique_ptr<DeviceBuffer>(new ClBuffer(mem, ptr, bytes, false, info_.host_unified && aligned));
}

Result<cl_program> OpenClDevice::build_program(const std::string& program, const char* op) {
  // Quantised formats are shared by the programs that read weights.
  std::string source;
  auto append = [&](const char* file) {
    for (const EmbeddedKernel& k : opencl_embedded_kernels()) {
      if (std::strcmp(k.name, file) == 0) source.append(k.source);
    }
  };
  if (program == "matmul" || program == "matmul_tiled" || program == "get_rows" || program == "attention") append("quant");
  append(program.c_str());
  if (source.empty()) return error(ErrorCode::internal, "no OpenCL program '" + program + "' is embedded");
  const std::string options = "-cl-std=CL1.2 -DNM_WG=" + std::to_string(wg_) +
                              (half_math_ == ClHalfMath::device ? " -DNM_HAS_FP16=1"
                               : half_math_ == ClHalfMath::emulate ? " -DNM_FP16_EMULATE=1" : "");
  const std::string dev_id = info_.platform_version + "|" + info_.device_name + "|" + info_.driver_version;
  const uint64_t key = OpenClProgramCache::key(dev_id, options, source);
  cl_int err = CL_SUCCESS;
  if (auto bin = cache_.load(key)) {
    const unsigned char* data = bin->data();
    const size_t size = bin->size();
    cl_int bin_status = CL_SUCCESS;
    cl_program p = clCreateProgramWithBinary(context_, 1, &device_, &size, &data, &bin_status, &err);
    if (err == CL_SUCCESS && bin_status == CL_SUCCESS &&
        clBuildProgram(p, 1, &device_, options.c_str(), nullptr, nullptr) == CL_SUCCESS) {
      ++n_cached_;
      return p;
    }
    if (p) clReleaseProgram(p);  // stale entry: rebuild from source below and overwrite it
  }
  if (!compile_announced_ && log_) {
    // Seconds on a first run (PoCL: ~2 s for the text brick's programs); later runs load the cache.
    log_("compiling the OpenCL kernels for " + info_.device_name + " (once: compiled programs are kept in " +
         (cache_.dir().empty() ? std::string("no cache directory: set NM_OPENCL_CACHE_DIR") : cache_.dir()) + ")");
  }
  compile_announced_ = true;
  const char* src = source.c_str();
  const size_t len = source.size();
  cl_program p = clCreateProgramWithSource(context_, 1, &src, &len, &err);
  NM_RETURN_IF_ERROR(cl_status(err, "creating OpenCL program '" + program + "'"));
  err = clBuildProgram(p, 1, &device_, options.c_str(), nullptr, nullptr);
  if (err != CL_SUCCESS) {
    size_t n = 0;
    clGetProgramBuildInfo(p, device_, CL_PROGRAM_BUILD_LOG, 0, nullptr, &n);
    std::string log(n, '\0');
    clGetProgramBuildInfo(p, device_, CL_PROGRAM_BUILD_LOG, n, log.data(), nullptr);
    clReleaseProgram(p);
    if (log.size() > 2000) log = log.substr(0, 2000) + "...";
    return error(ErrorCode::unsupported, std::string("OpenCL kernels for ") + op + " (program '" + program +
                                             ".cl') failed to compile on " + info_.device_name + ": " +
                                             cl_error_name(err) + "\n" + log);
  }
  ++n_compiled_;
  size_t bin_size = 0;
  if (clGetProgramInfo(p, CL_PROGRAM_BINARY_SIZES, sizeof bin_size, &bin_size, nullptr) == CL_SUCCESS && bin_size > 0) {
    std::vector<unsigned char> bin(bin_size);
    unsigned char* ptr = bin.data();
    if (clGetProgramInfo(p, CL_PROGRAM_BINARIES, sizeof ptr, &ptr, nullptr) == CL_SUCCESS) cache_.store(key, bin);
  }
  return p;
}

Result<cl_kernel> OpenClDevice::kernel(const std::string& program, const char* kernel_name, const char* op) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string key = program + "/" + kernel_name;
  if (auto it = kernels_.find(key); it != kernels_.end()) return it->second;
  auto pit = programs_.find(program);
  if (pit == programs_.end()) {
    NM_ASSIGN_OR_RETURN(cl_program p, build_program(program, op));
    pit = programs_.emplace(program, p).first;
  }
  cl_int err = CL_SUCCESS;
  cl_kernel k = clCreateKernel(pit->second, kernel_name, &err);
  NM_RETURN_IF_ERROR(cl_status(err, std::string("OpenCL kernel ") + kernel_name + " for " + op + " on " + info_.device_name));
  kernels_.emplace(key, k);
  return k;
}

Result<std::unique_ptr<Executable>> OpenClDevice::prepare(Graph graph) {
  if (!graph.status().ok()) return graph.status();
  for (NodeId i = 0; i < graph.size(); ++i) {
    if (!supports(graph, graph.node(i))) {
      const Node& n = graph.node(i);
      std::string inputs;
      for (int s = 0; s < n.n_src; ++s) {
        if (n.src[(size_t)s] != kInvalidNode) inputs += (inputs.empty() ? "" : ", ") + Graph::shape_str(graph.node(n.src[(size_t)s]).t);
      }
      return error(ErrorCode::unsupported, name_ + " (" + info_.device_name + ") cannot run " + node_label(graph, i) + ": " +
                                               Graph::shape_str(n.t) + " from " + inputs);
    }
  }
  std::unique_ptr<ClExecutable> ex(new ClExecutable());
  ex->queue = queue_;
  ex->dev = this;
  NM_ASSIGN_OR_RETURN(ex->plan, plan_memory(graph, std::max<size_t>(kArenaAlignment, 128)));
  const size_t arena_bytes = page_ceil(std::max<size_t>(ex->plan.arena_size, 1));
  ex->arena = static_cast<char*>(std::aligned_alloc(page_size(), arena_bytes));
  if (!ex->arena) return error(ErrorCode::out_of_memory, name_ + ": graph arena of " + std::to_string(arena_bytes) + " bytes");
  NM_RETURN_IF_ERROR(bind(graph, ex->plan, ex->arena));
  cl_int err = CL_SUCCESS;
  ClRange arena{ex->arena, arena_bytes, nullptr, true, false};
  arena.mem = clCreateBuffer(context_, CL_MEM_READ_WRITE | CL_MEM_USE_HOST_PTR, arena_bytes, ex->arena, &err);
  NM_RETURN_IF_ERROR(cl_status(err, name_ + ": graph arena of " + std::to_string(arena_bytes) + " bytes"));
  ex->ranges.push_back(arena);

  // Weights, external nodes and the graph's regions: page-aligned ranges around each,
  // overlapping ranges merged, each wrapped once (buffers over overlapping host memory are
  // undefined in OpenCL). Ranges the graph writes or the host fills between runs (cpy
  // targets, external inputs and results, regions) are mapped back to the host around run().
  std::vector<std::pair<uintptr_t, uintptr_t>> spans;
  std::vector<std::pair<uintptr_t, uintptr_t>> written;
  for (const Node& n : graph.nodes()) {
    if (!n.external || n.t.n_bytes() == 0) continue;
    const uintptr_t p = (uintptr_t)n.t.data;
    spans.push_back({page_floor(p), page_ceil(p + n.t.n_bytes())});
    if (n.op != OpKind::weight) written.push_back({p, p + 1});
  }
  for (const MemoryRegion& r : graph.regions()) {
    if (r.bytes == 0) continue;
    const uintptr_t p = (uintptr_t)r.base;
    spans.push_back({page_floor(p), page_ceil(p + r.bytes)});
    written.push_back({p, p + 1});
  }
  for (const Node& n : graph.nodes()) {
    if (n.op == OpKind::cpy) written.push_back({(uintptr_t)n.t.data, (uintptr_t)n.t.data + 1});
  }
  std::sort(spans.begin(), spans.end());
  std::vector<std::pair<uintptr_t, uintptr_t>> merged;
  for (const auto& s : spans) {
    if (!merged.empty() && s.first <= merged.back().second) merged.back().second = std::max(merged.back().second, s.second);
    else merged.push_back(s);
  }
  for (const auto& [lo, hi] : merged) {
    ClRange r{reinterpret_cast<char*>(lo), hi - lo, nullptr, false, false};
    for (const auto& w : written) r.sync |= w.first >= lo && w.first < hi;
    r.mem = clCreateBuffer(context_, CL_MEM_READ_WRITE | CL_MEM_USE_HOST_PTR, r.size, r.base, &err);
    NM_RETURN_IF_ERROR(cl_status(err, name_ + ": importing " + std::to_string(r.size) + " bytes of weights"));
    ex->ranges.push_back(r);
  }
  const ClResolver resolve = [e = ex.get()](const void* p) { return e->resolve(p); };
  ex->launch_of.assign((size_t)graph.size(), -1);
  for (NodeId i = 0; i < graph.size(); ++i) {
    const size_t before = ex->launches.size();
    NM_RETURN_IF_ERROR(opencl_plan_node(*this, graph, i, resolve, &ex->launches));
    if (ex->launches.size() == before + 1) ex->launch_of[(size_t)i] = (int)before;
    const Node& n = graph.node(i);
    if (n.op == OpKind::get_rows) ex->checked_ids.push_back(i);
  }
  for (ClRange& r : ex->ranges) {
    if (r.sync) NM_RETURN_IF_ERROR(map_range(queue_, r));  // the host owns inputs until run()
  }
  ex->graph_ = std::move(graph);
  return std::unique_ptr<Executable>(std::move(ex));
}

Status OpenClDevice::run(Executable& exe) {
  auto* ex = dynamic_cast<ClExecutable*>(&exe);
  if (!ex || ex->queue != queue_) return error(ErrorCode::invalid_argument, name_ + ": executable was prepared by another device");
  std::lock_guard<std::mutex> lock(run_mu_);
  const Graph& g = ex->graph_;
  // Token ids are host-written: check them here, as the CPU does, instead of reading
  // out of bounds on the device.
  for (NodeId id : ex->checked_ids) {
    const Node& n = g.node(id);
    const Tensor& ids = g.node(n.src[1]).t;
    const int64_t n_rows = g.node(n.src[0]).t.ne[1];
    for (int64_t i = 0; i < ids.ne[0]; ++i) {
      const int32_t r = ids.as<const int32_t>()[i];
      if (r < 0 || r >= n_rows) {
        return error(ErrorCode::out_of_range, node_label(g, id) + ": row id " + std::to_string(r) + " outside [0, " +
                                                  std::to_string(n_rows) + ")");
      }
    }
  }
  for (ClRange& r : ex->ranges) {
    if (r.mapped) {
      NM_RETURN_IF_ERROR(cl_status(clEnqueueUnmapMemObject(queue_, r.mem, r.base, 0, nullptr, nullptr), "unmapping"));
      r.mapped = false;
    }
  }
  Status st;
  for (const ClLaunch& l : ex->launches) {
    for (size_t a = 0; a < l.args.size() && st.ok(); ++a) {
      st = cl_status(clSetKernelArg(l.kernel, (cl_uint)a, l.args[a].size, l.args[a].bytes.data()),
                     name_ + ": argument " + std::to_string(a) + " of " + node_label(g, l.node));
    }
    if (!st.ok()) break;
    st = cl_status(clEnqueueNDRangeKernel(queue_, l.kernel, (cl_uint)l.dims, nullptr, l.global.data(),
                                          l.use_local ? l.local.data() : nullptr, 0, nullptr, nullptr),
                   name_ + " (" + info_.device_name + "): " + node_label(g, l.node));
    if (!st.ok()) break;
  }
  for (ClRange& r : ex->ranges) {  // hand results back to the host, also after an error
    if (r.sync) {
      Status m = map_range(queue_, r);
      if (st.ok()) st = std::move(m);
    }
  }
  return st;
}

Status OpenClDevice::synchronize() { return cl_status(clFinish(queue_), name_ + ": clFinish"); }

Result<std::unique_ptr<DeviceEvent>> OpenClDevice::record_event() {
  cl_event e = nullptr;
  NM_RETURN_IF_ERROR(cl_status(clEnqueueMarkerWithWaitList(queue_, 0, nullptr, &e), name_ + ": marker"));
  return std::unique_ptr<DeviceEvent>(new ClEvent(e));
}

Result<double> OpenClDevice::time_kernel(cl_kernel k, size_t global, size_t local, int reps) {
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    NM_RETURN_IF_ERROR(cl_status(clEnqueueNDRangeKernel(queue_, k, 1, nullptr, &global, local ? &local : nullptr, 0, nullptr, nullptr),
                                 name_ + ": timing a kernel"));
    NM_RETURN_IF_ERROR(synchronize());
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

Result<DeviceSpeed> OpenClDevice::measure_speed() {
  std::lock_guard<std::mutex> lock(run_mu_);
  DeviceSpeed speed;
  const size_t n_items = 1 << 16;
  const int per = 128;  // 2^16 work-items x 128 float4 = 128 MiB
  const size_t bytes = n_items * (size_t)per * 16;
  cl_int err = CL_SUCCESS;
  cl_mem x = clCreateBuffer(context_, CL_MEM_READ_ONLY, bytes, nullptr, &err);
  NM_RETURN_IF_ERROR(cl_status(err, name_ + ": probe buffer"));
  cl_mem out = clCreateBuffer(context_, CL_MEM_WRITE_ONLY, n_items * 4, nullptr, &err);
  if (err != CL_SUCCESS) {
    clReleaseMemObject(x);
    return cl_status(err, name_ + ": probe buffer");
  }
  const float zero = 0.0f;
  Status st = cl_status(clEnqueueFillBuffer(queue_, x, &zero, sizeof zero, 0, bytes, 0, nullptr, nullptr), "fill");
  Result<cl_kernel> kr = kernel("probe", "probe_read", "probe");
  Result<cl_kernel> kf = kernel("probe", "probe_fma", "probe");
  if (st.ok() && !kr.ok()) st = kr.status();
  if (st.ok() && !kf.ok()) st = kf.status();
  if (st.ok()) {
    clSetKernelArg(*kr, 0, sizeof x, &x);
    clSetKernelArg(*kr, 1, sizeof out, &out);
    clSetKernelArg(*kr, 2, sizeof per, &per);
    const int contiguous = (info_.type & CL_DEVICE_TYPE_CPU) ? 1 : 0;
    clSetKernelArg(*kr, 3, sizeof contiguous, &contiguous);
    Result<double> t = time_kernel(*kr, n_items, 0, 4);
    if (t.ok()) speed.read_gb_per_s = (double)bytes / *t / 1e9;
    else st = t.status();
  }
  if (st.ok()) {
    const int iters = 4096;
    const float b = 0.999f, c = 0.001f;
    clSetKernelArg(*kf, 0, sizeof out, &out);
    clSetKernelArg(*kf, 1, sizeof iters, &iters);
    clSetKernelArg(*kf, 2, sizeof b, &b);
    clSetKernelArg(*kf, 3, sizeof c, &c);
    const size_t items = (info_.type & CL_DEVICE_TYPE_CPU) ? 4096 : n_items;
    Result<double> t = time_kernel(*kf, items, 0, 3);
    if (t.ok()) speed.gflop_per_s = 128.0 * iters * (double)items / *t / 1e9;
    else st = t.status();
  }
  clReleaseMemObject(x);
  clReleaseMemObject(out);
  if (!st.ok()) return st;
  return speed;
}

void add_opencl_devices(DeviceRegistry& registry, const std::function<void(const std::string&)>& log) {
  OpenClOptions options;
  options.log = log;
  Result<std::unique_ptr<OpenClDevice>> dev = OpenClDevice::create("opencl", options);
  if (!dev.ok()) {
    registry.log(dev.status().message());
    return;
  }
  registry.add(std::move(dev).value());
}

}  // namespace nm
