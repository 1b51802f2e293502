// OpenClDevice: an OpenCL 1.2/2.0 device (Mali, Adreno, Intel/AMD iGPU; PoCL in tests)
// behind the Device interface. Choice: $NM_OPENCL_DEVICE ("<platform>:<device>" indices
// or a case-insensitive substring of the device name), else the first GPU, else the
// first device. Memory is host memory wrapped with CL_MEM_USE_HOST_PTR (page-aligned),
// so inputs, results and imported (mmapped) weights are not copied where the driver
// works on host memory. Programs come from kernels/*.cl, compiled on first use with
// an on-disk binary cache (opencl_program_cache.h). Kernels that read f16 / quantised
// weights compute in half where the device has cl_khr_fp16 (kernels/quant.cl), unless
// OpenClOptions or $NM_OPENCL_FP16=0 asks for f32.
// Thread-safety: programs/kernels are created under a mutex; run() calls are
// serialised per device (one in-order queue).
#pragma once

#include <CL/cl.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "backend/device.h"
#include "backend/device_registry.h"
#include "backend/opencl/opencl_program_cache.h"

namespace nm {

struct OpenClInfo {
  std::string platform_name, platform_version, device_name, device_version, driver_version;
  cl_device_type type = 0;
  size_t global_mem = 0;
  size_t max_work_group = 0;
  size_t local_mem = 0;       // CL_DEVICE_LOCAL_MEM_SIZE, bytes
  bool host_unified = false;  // CL_DEVICE_HOST_UNIFIED_MEMORY or a CPU device
  bool has_fp16 = false;      // cl_khr_fp16
  bool is_pocl = false;
};

// Arithmetic of the matmul kernels for f16 / quantised weights (f32 weights: always f32).
enum class ClHalfMath {
  device,   // half where the device reports cl_khr_fp16, else f32 ($NM_OPENCL_FP16=0: f32)
  off,      // f32
  emulate,  // half results emulated in f32 (rounded after each operation): tests the half
            // algorithm on devices without fp16
};

struct OpenClOptions {
  ClHalfMath half_math = ClHalfMath::device;
  // Receives notices a user should see once (the first compilation of the kernels, which
  // takes seconds); none when empty. DeviceRegistry passes its log.
  std::function<void(const std::string&)> log;
};

class OpenClDevice final : public Device {
 public:
  // Picks a device as described above. Fails (unsupported) when there is no platform
  // or device; the message says so in one line.
  static Result<std::unique_ptr<OpenClDevice>> create(std::string name = "opencl", OpenClOptions options = {});
  ~OpenClDevice() override;

  DeviceKind kind() const override;
  const std::string& name() const override { return name_; }
  std::string description() const override;
  DeviceMemoryInfo memory() const override { return {info_.global_mem, info_.host_unified}; }
  bool supports(const Graph& graph, const Node& node) const override;
  Result<std::unique_ptr<DeviceBuffer>> allocate(size_t bytes) override;
  Result<std::unique_ptr<DeviceBuffer>> import_host(void* ptr, size_t bytes) override;
  Result<std::unique_ptr<Executable>> prepare(Graph graph) override;
  Status run(Executable& exe) override;
  Status synchronize() override;
  Result<std::unique_ptr<DeviceEvent>> record_event() override;
  Result<DeviceSpeed> measure_speed() override;  // kernels/probe.cl
  // Runs `kernel` on a 1-D range `reps` times; best wall time in seconds.
  Result<double> time_kernel(cl_kernel kernel, size_t global, size_t local, int reps);

  const OpenClInfo& info() const { return info_; }
  // True when the f16 / quantised matmul kernels compute in (real or emulated) half.
  bool half_math() const { return half_math_ != ClHalfMath::off; }
  cl_context context() const { return context_; }
  cl_command_queue queue() const { return queue_; }
  // Work-group size the reduction kernels are compiled for (power of two, <= 64).
  int work_group() const { return wg_; }
  // Kernel `kernel_name` of program `program` (a kernels/*.cl file name), compiling it
  // on first use. Errors name `op` and this device.
  Result<cl_kernel> kernel(const std::string& program, const char* kernel_name, const char* op);
  OpenClProgramCache& program_cache() { return cache_; }
  // Count of programs compiled from source / loaded from the cache (for tests).
  int programs_compiled() const { return n_compiled_; }
  int programs_from_cache() const { return n_cached_; }

 private:
  OpenClDevice() = default;
  Result<cl_program> build_program(const std::string& program, const char* op);

  std::string name_;
  OpenClInfo info_;
  cl_platform_id platform_ = nullptr;
  cl_device_id device_ = nullptr;
  cl_context context_ = nullptr;
  cl_command_queue queue_ = nullptr;
  int wg_ = 64;
  ClHalfMath half_math_ = ClHalfMath::off;  // resolved: off, emulate, or device (has fp16)
  OpenClProgramCache cache_;
  std::mutex mu_;      // programs_, kernels_
  std::mutex run_mu_;  // serialises run()
  std::map<std::string, cl_program> programs_;
  std::map<std::string, cl_kernel> kernels_;
  int n_compiled_ = 0, n_cached_ = 0;
  std::function<void(const std::string&)> log_;
  bool compile_announced_ = false;  // the first compilation from source has been announced
};

// Adds the chosen OpenCL device to the registry (its notices go to `log`), or logs exactly
// one line saying why there is none (e.g. "no OpenCL platform found: using the CPU").
void add_opencl_devices(DeviceRegistry& registry, const std::function<void(const std::string&)>& log);

// "CL_OUT_OF_RESOURCES (-5)"
std::string cl_error_name(cl_int err);

}  // namespace nm
